/* test_base64.c -- il_base64_encode/decode against RFC 4648's test vectors
 * and Go's StdEncoding rules (padding required, CR/LF skipped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

static const char *const vectors[][2] = {
    {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char *enc = il_base64_encode(vectors[i][0], strlen(vectors[i][0]));
        assert_string_equal(enc, vectors[i][1]);
        free(enc);
        size_t len = 99;
        unsigned char *dec = il_base64_decode(vectors[i][1], &len);
        assert_non_null(dec);
        assert_int_equal(len, strlen(vectors[i][0]));
        assert_memory_equal(dec, vectors[i][0], len);
        free(dec);
    }
}

static void test_binary_round_trip(void **state)
{
    (void)state;
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)(255 - i);
    char *enc = il_base64_encode(bytes, sizeof(bytes));
    size_t len = 0;
    unsigned char *dec = il_base64_decode(enc, &len);
    assert_int_equal(len, sizeof(bytes));
    assert_memory_equal(dec, bytes, sizeof(bytes));
    free(enc);
    free(dec);
}

static void test_line_breaks_skipped(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *dec = il_base64_decode("Zm9v\r\nYmFy\n", &len);
    assert_non_null(dec);
    assert_int_equal(len, 6);
    assert_memory_equal(dec, "foobar", 6);
    free(dec);
}

static void test_malformed_rejected(void **state)
{
    (void)state;
    const char *bad[] = {"Zg", "Zg=", "Zm9", "Z===", "Zm=v", "Zm9v!", "Zm9vYg==Zg==", "=Zg="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = 0;
        unsigned char *dec = il_base64_decode(bad[i], &len);
        if (dec)
            fail_msg("\"%s\" decoded but is malformed", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_binary_round_trip),
        cmocka_unit_test(test_line_breaks_skipped),
        cmocka_unit_test(test_malformed_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
