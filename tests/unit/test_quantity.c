/* test_quantity.c -- Kubernetes quantity grammar, rounding and rejects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "quantity.h"

typedef struct {
    const char *text;
    int64_t milli;    /* expected il_quantity_milli, or -2 = must fail */
    int64_t value;    /* expected il_quantity_value, or -2 = must fail */
} quantity_case;

#define FAILS (-2)

static const quantity_case cases[] = {
    {"0", 0, 0},
    {"-0", 0, 0},
    {"2", 2000, 2},
    {"+2", 2000, 2},
    {"500m", 500, 1},
    {"1500m", 1500, 2},
    {"0.1", 100, 1},
    {".5", 500, 1},
    {"1.", 1000, 1},
    {"1.5", 1500, 2},
    {"0.0001", 1, 1},               /* rounds up */
    {"100n", 1, 1},
    {"1u", 1, 1},
    {"1k", 1000000, 1000},
    {"1M", 1000000000, 1000000},
    {"1G", 1000000000000, 1000000000},
    {"1T", 1000000000000000, 1000000000000},
    {"1P", 1000000000000000000, 1000000000000000},
    {"1E", FAILS, 1000000000000000000},
    {"1Ki", 1024000, 1024},
    {"1Mi", 1048576000, 1048576},
    {"1Gi", 1073741824000, 1073741824},
    {"1.5Gi", 1610612736000, 1610612736},
    {"0.1Ki", 102400, 103},          /* 102.4 -> 103 */
    {"1Ti", 1099511627776000, 1099511627776},
    {"1Pi", 1125899906842624000, 1125899906842624},
    {"7Ei", FAILS, 8070450532247928832},
    {"8Ei", FAILS, FAILS},           /* 2^63: one past INT64_MAX */
    {"1e3", 1000000, 1000},
    {"1E3", 1000000, 1000},
    {"1e+3", 1000000, 1000},
    {"12e-1", 1200, 2},
    {"1e-9", 1, 1},
    {"1e999", FAILS, FAILS},
    {"1e-999", 1, 1},
    {"0e999", 0, 0},
    {"9223372036854775807", FAILS, INT64_MAX},
    {"9223372036854775808", FAILS, FAILS},
    {"9223372036854775806.5", FAILS, INT64_MAX},
    {"0.000000000000000000000000000001", 1, 1},
    {"-1", FAILS, FAILS},
    {"-500m", FAILS, FAILS},
    {"", FAILS, FAILS},
    {"Mi", FAILS, FAILS},
    {"1.2.3", FAILS, FAILS},
    {"1 Gi", FAILS, FAILS},
    {" 1", FAILS, FAILS},
    {"--1", FAILS, FAILS},
    {"+-1", FAILS, FAILS},
    {".", FAILS, FAILS},
    {"1K", FAILS, FAILS},
    {"1mi", FAILS, FAILS},
    {"1e", FAILS, FAILS},
    {"1e+", FAILS, FAILS},
    {"1e3Ki", FAILS, FAILS},
    {"1Gix", FAILS, FAILS},
    {"0x10", FAILS, FAILS},
};

static void check(const char *text, int (*fn)(const char *, int64_t *), int64_t expected,
                  const char *which)
{
    int64_t got = -12345;
    int rc = fn(text, &got);
    if (expected == FAILS) {
        if (rc != -1)
            fail_msg("%s(\"%s\"): expected failure, got %lld", which, text, (long long)got);
        if (got != -12345)
            fail_msg("%s(\"%s\"): output written on failure", which, text);
    } else if (rc != 0 || got != expected) {
        fail_msg("%s(\"%s\"): rc %d value %lld, expected %lld", which, text, rc, (long long)got,
                 (long long)expected);
    }
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check(cases[i].text, il_quantity_milli, cases[i].milli, "milli");
        check(cases[i].text, il_quantity_value, cases[i].value, "value");
    }
}

static void test_null_and_long_input(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(il_quantity_value(NULL, &v), -1);
    char big[4096];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = '9';
    big[sizeof big - 1] = '\0';
    assert_int_equal(il_quantity_value(big, &v), -1);
    big[0] = '0';
    big[1] = '.';
    assert_int_equal(il_quantity_value(big, &v), 0);
    assert_int_equal(v, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_null_and_long_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
