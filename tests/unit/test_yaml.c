/* test_yaml.c -- YAML to JSON: documents, scalars, anchors, errors, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamljson.h"

static json_t *load_all(const char *s, char *err)
{
    return il_yaml_load_all(s, strlen(s), err, 256);
}

/* Assert the YAML text loads (as one document) to exactly the JSON text. */
static void assert_yaml_json(const char *yaml, const char *json)
{
    char err[256] = "";
    json_t *got = il_yaml_load_one(yaml, strlen(yaml), err, sizeof err);
    if (!got)
        fail_msg("yaml %s: %s", yaml, err);
    json_t *want = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *s = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        fail_msg("yaml %s -> %s, expected %s", yaml, s, json);
    }
    json_decref(got);
    json_decref(want);
}

static void assert_yaml_error(const char *yaml, const char *expected_err)
{
    char err[256] = "";
    json_t *got = load_all(yaml, err);
    if (got)
        fail_msg("yaml accepted: %s", yaml);
    if (!strstr(err, expected_err))
        fail_msg("yaml %s: error \"%s\" lacks \"%s\"", yaml, err, expected_err);
}

static void test_multi_document(void **state)
{
    (void)state;
    char err[256];
    json_t *docs = load_all("a: 1\n---\n---\n- x\n- y\n---\nb: {c: d}\n", err);
    assert_non_null(docs);
    assert_int_equal(json_array_size(docs), 3);   /* the empty document is skipped */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(docs, 0), "a")), 1);
    assert_string_equal(json_string_value(json_array_get(json_array_get(docs, 1), 1)), "y");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(docs, 2), "b"), "c")),
        "d");
    json_decref(docs);
}

static void test_scalars(void **state)
{
    (void)state;
    assert_yaml_json("a: ~\nb: null\nc:\nd: Null\n",
                     "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}");
    assert_yaml_json("[true, False, TRUE, false, yes, no, on]",
                     "[true,false,true,false,\"yes\",\"no\",\"on\"]");
    assert_yaml_json("[42, -7, +3, 0, 0x1F, 0o17, 0644, 09]", "[42,-7,3,0,31,15,420,9.0]");
    assert_yaml_json("[1.5, -0.25, 1e3, .5, 2.]", "[1.5,-0.25,1000.0,0.5,2.0]");
    assert_yaml_json("[.inf, -.inf, .nan, 1.2.3, 3000abc]",
                     "[\".inf\",\"-.inf\",\".nan\",\"1.2.3\",\"3000abc\"]");
    assert_yaml_json("[\"42\", '3.5', \"true\", 'null', !!str 12, \"\"]",
                     "[\"42\",\"3.5\",\"true\",\"null\",\"12\",\"\"]");
    assert_yaml_json("[9223372036854775807, -9223372036854775808, 9223372036854775808]",
                     "[9223372036854775807,-9223372036854775808,9.2233720368547758e18]");
    assert_yaml_json("1: one\ntrue: x\n", "{\"1\":\"one\",\"true\":\"x\"}");
    assert_yaml_json("s: |\n  line1\n  line2\n", "{\"s\":\"line1\\nline2\\n\"}");
}

static void test_anchors(void **state)
{
    (void)state;
    assert_yaml_json(
        "base: &b {x: 1, y: [a, b]}\ncopy: *b\nlist: [&s str, *s]\n",
        "{\"base\":{\"x\":1,\"y\":[\"a\",\"b\"]},\"copy\":{\"x\":1,\"y\":[\"a\",\"b\"]},"
        "\"list\":[\"str\",\"str\"]}");
    assert_yaml_error("a: *nope\n", "line 1: unknown anchor \"nope\"");
    /* Anchors do not cross documents. */
    assert_yaml_error("a: &x 1\n---\nb: *x\n", "line 3: unknown anchor \"x\"");
}

static void test_errors_with_lines(void **state)
{
    (void)state;
    assert_yaml_error("a: 1\nb: 2\na: 3\n", "line 3: duplicate key \"a\"");
    assert_yaml_error("a: 1\nb: [1, 2\n", "line 3:");
    assert_yaml_error("a:\n  - x\n  y: z\n", "line 3:");
    assert_yaml_error("? [a, b]\n: c\n", "line 1: mapping keys must be scalars");
    char err[256];
    assert_null(il_yaml_load_one("a: 1\n---\nb: 2\n", 14, err, sizeof err));
    assert_non_null(strstr(err, "single YAML document"));
}

static void test_load_one_empty(void **state)
{
    (void)state;
    char err[256];
    json_t *v = il_yaml_load_one("", 0, err, sizeof err);
    assert_true(json_is_object(v));
    assert_int_equal(json_object_size(v), 0);
    json_decref(v);
    v = il_yaml_load_one("# only a comment\n", 17, err, sizeof err);
    assert_true(json_is_object(v) && json_object_size(v) == 0);
    json_decref(v);
}

static void test_depth_limit(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *s = malloc(depth * 2 + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[depth * 2] = '\0';
    char err[256];
    assert_null(il_yaml_load_all(s, depth * 2, err, sizeof err));
    assert_non_null(strstr(err, "nesting deeper than"));
    /* 150 levels is fine. */
    memset(s, '[', 150);
    memset(s + 150, ']', 150);
    json_t *ok = il_yaml_load_all(s, 300, err, sizeof err);
    assert_non_null(ok);
    json_decref(ok);
    free(s);
}

static void test_billion_laughs(void **state)
{
    (void)state;
    char doc[4096];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 12; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n,
                              "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                              "*a%d]\n",
                              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                              i - 1);
    char err[256];
    assert_null(il_yaml_load_all(doc, n, err, sizeof err));
    assert_non_null(strstr(err, "document too large"));
}

static void test_hostile_bytes(void **state)
{
    (void)state;
    /* Garbage, NULs and invalid UTF-8 must fail cleanly, never crash. */
    static const char junk[] = "a: \"\xff\xfe\"\n\0b: [\x01\x02\n{{{{: ]]]\t\t-";
    char err[256];
    json_t *v = il_yaml_load_all(junk, sizeof junk - 1, err, sizeof err);
    assert_null(v);
    assert_non_null(strstr(err, "line "));
    unsigned int seed = 7;
    char buf[512];
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = "ab:-[]{}&*!|>'\"\n #,?\\x0."[rand_r(&seed) % 25];
        json_t *r = il_yaml_load_all(buf, sizeof buf, err, sizeof err);
        json_decref(r);
    }
}

static void test_load_file(void **state)
{
    (void)state;
    char err[256];
    assert_null(il_yaml_load_file_all("/nonexistent/x.yaml", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/x.yaml"));
    char path[512];
    snprintf(path, sizeof path, "%s/pods.yaml", getenv("IL_TEST_DATA") ? getenv("IL_TEST_DATA")
                                                                      : "tests/data");
    json_t *docs = il_yaml_load_file_all(path, err, sizeof err);
    if (!docs)
        fail_msg("%s", err);
    assert_int_equal(json_array_size(docs), 2);
    json_t *vol = json_array_get(json_object_get(json_object_get(json_array_get(docs, 0), "spec"),
                                                 "volumes"), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(vol, "configMap"),
                                                        "defaultMode")), 0644);
    json_decref(docs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_document), cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_anchors),        cmocka_unit_test(test_errors_with_lines),
        cmocka_unit_test(test_load_one_empty), cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_billion_laughs), cmocka_unit_test(test_hostile_bytes),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
