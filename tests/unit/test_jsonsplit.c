/* test_jsonsplit.c -- the array splitter finds each element's exact bytes
 * (strings with brackets, commas and escaped quotes inside, nesting,
 * scalars, whitespace anywhere), refuses every malformed array, finds the
 * same fed in pieces, and the joiner writes what json_dumps(JSON_COMPACT)
 * writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonsplit.h"

/* The elements of text joined by '|', or "ERR" when it does not split. */
static char *split_all(const char *text)
{
    il_json_split s;
    il_buf out = IL_BUF_INIT;
    if (il_json_split_begin(&s, text, strlen(text)) != 0)
        return strdup("NOT-ARRAY");
    const char *elem;
    size_t len;
    char err[256];
    int got;
    while ((got = il_json_split_next(&s, &elem, &len, err, sizeof(err))) == 1) {
        if (out.len)
            il_buf_append(&out, "|", 1);
        il_buf_append(&out, elem, len);
    }
    if (got < 0) {
        assert_true(strlen(err) > 0);
        il_buf_free(&out);
        return strdup("ERR");
    }
    assert_int_equal(il_json_split_next(&s, &elem, &len, err, sizeof(err)), 0);   /* stays done */
    return il_buf_steal(&out);
}

static void expect_split(const char *text, const char *want)
{
    char *got = split_all(text);
    assert_string_equal(got, want);
    free(got);
}

static void test_elements(void **state)
{
    (void)state;
    expect_split("[]", "");
    expect_split("  [ ]\n", "");
    expect_split("[1]", "1");
    expect_split("[1,2,3]", "1|2|3");
    expect_split(" [ 1 ,\n\t2 , 3 ] ", "1|2|3");
    expect_split("[{\"a\":1},{\"b\":[2,3]}]", "{\"a\":1}|{\"b\":[2,3]}");
    expect_split("[[[]],[{}],{\"x\":{\"y\":[]}}]", "[[]]|[{}]|{\"x\":{\"y\":[]}}");
    expect_split("[true,false,null,-1.5e3,\"s\"]", "true|false|null|-1.5e3|\"s\"");
}

/* Brackets, commas, quotes and backslashes inside strings end nothing. */
static void test_strings(void **state)
{
    (void)state;
    expect_split("[\"a,b\",\"]\",\"[\"]", "\"a,b\"|\"]\"|\"[\"");
    expect_split("[{\"k\":\"}],{\"}]", "{\"k\":\"}],{\"}");
    expect_split("[\"q\\\"]\",\"\\\\\"]", "\"q\\\"]\"|\"\\\\\"");
    expect_split("[{\"\\\\\":\"\\\\\\\"\"}]", "{\"\\\\\":\"\\\\\\\"\"}");
    expect_split("[\"ü ✓\",\"\\u005d\"]", "\"ü ✓\"|\"\\u005d\"");
}

static void test_not_an_array(void **state)
{
    (void)state;
    expect_split("", "NOT-ARRAY");
    expect_split("   ", "NOT-ARRAY");
    expect_split("{\"a\":[1]}", "NOT-ARRAY");
    expect_split("null", "NOT-ARRAY");
    expect_split("\"[1]\"", "NOT-ARRAY");
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[", "[1", "[1,", "[1,]", "[,1]", "[1 2]", "[1,,2]", "[{\"a\":1}", "[{\"a\":1}{}]",
        "[\"abc", "[\"abc\\\"]", "[{\"a\":\"]\"]", "[1]x", "[1] [2]", "[1]]", "[}]", "[]]",
        "[{]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *got = split_all(bad[i]);
        if (strcmp(got, "ERR") != 0)
            fail_msg("%s split into %s", bad[i], got);
        free(got);
    }
}

/* What the splitter cannot see (a bad element) is the parser's: the
 * range is still exactly the element, so json_loadb on it refuses it. */
static void test_bad_element_is_whole(void **state)
{
    (void)state;
    expect_split("[{\"a\":[}],1]", "{\"a\":[}]|1");
    expect_split("[{\"a\" 1},tru]", "{\"a\" 1}|tru");
    assert_null(json_loadb("{\"a\":[}]", 8, JSON_DECODE_ANY, NULL));
    assert_null(json_loadb("tru", 3, JSON_DECODE_ANY, NULL));
}

/* The elements of text fed in pieces of step bytes, as split_all says. */
static char *split_stream(const char *text, size_t step)
{
    il_json_split_stream f;
    il_json_split_stream_init(&f);
    il_buf out = IL_BUF_INIT;
    size_t n = strlen(text), at = 0;
    const char *elem;
    size_t len;
    char err[256];
    int got;
    for (;;) {
        bool eof = at == n;
        while ((got = il_json_split_stream_next(&f, eof, &elem, &len, err, sizeof(err))) == 1) {
            if (out.len)
                il_buf_append(&out, "|", 1);
            il_buf_append(&out, elem, len);
        }
        if (got < 0 || eof)
            break;
        size_t take = n - at < step ? n - at : step;
        il_json_split_stream_add(&f, text + at, take);
        at += take;
        /* never more kept than the element being received and a piece */
        assert_true(f.buf.len <= 64 + step);
    }
    il_json_split_stream_free(&f);
    if (got < 0) {
        assert_true(strlen(err) > 0);
        il_buf_free(&out);
        return strdup(f.begun ? "ERR" : "NOT-ARRAY");
    }
    return il_buf_steal(&out);
}

/* Fed in pieces of every size, the stream finds what the whole text
 * gives, and keeps only the element being received. */
static void test_stream(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "[]", "  [ ]\n", "[1]", "[1,2,3]", " [ 1 ,\n\t2 , 3 ] ", "[12345,-1.5e3,true,null]",
        "[{\"a\":1},{\"b\":[2,3]}]", "[\"a,b\",\"]\",\"[\"]", "[\"q\\\"]\",\"\\\\\"]",
        "[{\"k\":\"}],{\"}]", "", "   ", "{\"a\":[1]}", "null", "[", "[1", "[1,", "[1,]",
        "[,1]", "[1 2]", "[1,,2]", "[{\"a\":1}", "[{\"a\":1}{}]", "[\"abc", "[1]x", "[1] [2]",
        "[1]]", "[]]", "[1]  x",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char *want = split_all(texts[i]);
        for (size_t step = 1; step <= strlen(texts[i]) + 1; step++) {
            char *got = split_stream(texts[i], step);
            if (strcmp(got, want) != 0)
                fail_msg("%s in pieces of %zu: %s, whole: %s", texts[i], step, got, want);
            free(got);
        }
        free(want);
    }
}

static void test_join(void **state)
{
    (void)state;
    il_buf b = IL_BUF_INIT;
    il_json_join_end(&b);
    assert_string_equal(il_buf_cstr(&b), "[]");
    il_buf_free(&b);

    json_t *arr = json_pack("[{s:s, s:[i, i]}, {s:{}}, s, n]", "UID", "u\"ü/", "n", 1, 2,
                            "o", "x");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        il_json_join_add_json(&b, v);
    il_json_join_end(&b);
    char *want = json_dumps(arr, JSON_COMPACT);
    assert_string_equal(il_buf_cstr(&b), want);
    free(want);

    /* Elements as text round-trip through the splitter. */
    il_buf again = IL_BUF_INIT;
    il_json_split s;
    assert_int_equal(il_json_split_begin(&s, b.data, b.len), 0);
    const char *elem;
    size_t len;
    char err[128];
    while (il_json_split_next(&s, &elem, &len, err, sizeof(err)) == 1)
        il_json_join_add(&again, elem, len);
    il_json_join_end(&again);
    assert_string_equal(il_buf_cstr(&again), il_buf_cstr(&b));
    il_buf_free(&again);
    il_buf_free(&b);
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elements),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_not_an_array),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_element_is_whole),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
