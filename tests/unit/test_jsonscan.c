/* test_jsonscan.c -- il_json_scan and il_pod_scan_ref on pods and on hostile
 * text: truncated JSON, duplicate keys, a UID in a nested object, escaped
 * keys, huge strings, valid and invalid UTF-8, numbers jansson refuses,
 * deep nesting; and thousands of mutations of a real pod.  Every case also
 * goes through the oracle (tests/fuzz/jsonscan_oracle.h): what the scan
 * vouches for, jansson and il_pod_parse_meta read the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../fuzz/jsonscan_oracle.h"
#include "util.h"

static const char pod_text[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"cyc-00001\","
    "\"namespace\":\"vk-bench\",\"uid\":\"0b6c2f0e-1d2c-4e5f-8a9b-0c1d2e3f4a5b\","
    "\"resourceVersion\":\"100001\",\"labels\":{\"app\":\"vk-bench\"},"
    "\"annotations\":{\"interlink.eu/pod-jobid\":\"job-1\",\"note\":null},"
    "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"uid\":\"6b1f\"}]},"
    "\"spec\":{\"nodeName\":\"vk-bench\",\"restartPolicy\":\"Never\","
    "\"terminationGracePeriodSeconds\":30,\"containers\":[{\"name\":\"main\","
    "\"image\":\"busybox\",\"command\":[\"sleep\",\"600\"],\"resources\":{}}],"
    "\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\",\"tolerationSeconds\":300,"
    "\"x\":[true,false,null,-1.5e3,0,0.25]}]}}";

static int scan(const char *text)
{
    return jsonscan_oracle(text, strlen(text));
}

/* 0 and the pod's ref from il_pod_scan_ref, or -1. */
static int scan_pod(const char *text, il_pod_ref *ref)
{
    scan(text);   /* the oracle's checks */
    return il_pod_scan_ref(text, strlen(text), ref);
}

static void expect_pod_ref(const char *text, const char *uid, const char *ns, const char *name,
                           const char *policy)
{
    il_pod_ref ref;
    assert_int_equal(scan_pod(text, &ref), 0);
    assert_string_equal(ref.uid, uid);
#define SAME(got, want) (want ? assert_string_equal(got, want) : assert_null(got))
    SAME(ref.ns, ns);
    SAME(ref.name, name);
    SAME(ref.restart_policy, policy);
#undef SAME
    il_pod_ref_free(&ref);
}

static void expect_no_pod_ref(const char *text)
{
    il_pod_ref ref;
    assert_int_equal(scan_pod(text, &ref), -1);
}

static void test_pod(void **state)
{
    (void)state;
    expect_pod_ref(pod_text, "0b6c2f0e-1d2c-4e5f-8a9b-0c1d2e3f4a5b", "vk-bench", "cyc-00001",
                   "Never");
    expect_pod_ref(" {\"metadata\":{\"uid\":\"u\"}}\n", "u", NULL, NULL, NULL);
    expect_pod_ref("{\"metadata\":{\"uid\":\"u\",\"name\":null,\"namespace\":\"\"},"
                   "\"spec\":[{\"restartPolicy\":\"Never\"}]}", "u", "", NULL, NULL);
    expect_pod_ref("{\"spec\":{\"restartPolicy\":7},\"metadata\":{\"uid\":\"u\"}}", "u", NULL,
                   NULL, NULL);
    /* A UID in a nested object is not the pod's. */
    expect_pod_ref("{\"spec\":{\"metadata\":{\"uid\":\"nested\"}},\"x\":[{\"metadata\":"
                   "{\"uid\":\"in-array\"}}],\"metadata\":{\"labels\":{\"uid\":\"label\"},"
                   "\"uid\":\"real\"}}", "real", NULL, NULL, NULL);
    expect_no_pod_ref("{\"spec\":{\"metadata\":{\"uid\":\"nested\"}}}");
}

/* What il_pod_parse_meta refuses, the scan leaves to it (its error). */
static void test_invalid_pods_left_to_the_parser(void **state)
{
    (void)state;
    const char *bad[] = {
        "[]", "\"pod\"", "{}", "{\"metadata\":null}", "{\"metadata\":[]}",
        "{\"metadata\":{}}", "{\"metadata\":{\"uid\":\"\"}}", "{\"metadata\":{\"uid\":7}}",
        "{\"metadata\":{\"uid\":\"..\"}}", "{\"metadata\":{\"uid\":\"a/b\"}}",
        "{\"metadata\":{\"uid\":\"$(x)\"}}", "{\"metadata\":{\"uid\":\"u\",\"name\":5}}",
        "{\"metadata\":{\"uid\":\"u\",\"namespace\":{}}}",
        "{\"metadata\":{\"uid\":\"u\",\"labels\":[]}}",
        "{\"metadata\":{\"uid\":\"u\",\"annotations\":{\"a\":1}}}",
        "{\"metadata\":{\"uid\":\"u\",\"annotations\":{\"a\":{}}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_no_pod_ref(bad[i]);
        json_t *j = json_loads(bad[i], 0, NULL);
        il_pod pod;
        char err[256];
        assert_int_equal(il_pod_parse_meta(j, &pod, err, sizeof err), -1);
        json_decref(j);
    }
}

/* Where jansson's tree might differ from what a scan would report, the
 * scan says no and the caller parses: duplicates, escaped keys. */
static void test_unsure_is_no(void **state)
{
    (void)state;
    expect_no_pod_ref("{\"metadata\":{\"uid\":\"a\",\"uid\":\"b\"}}");
    expect_no_pod_ref("{\"metadata\":{\"uid\":\"a\"},\"metadata\":{\"uid\":\"b\"}}");
    expect_no_pod_ref("{\"metadata\":{\"uid\":\"a\"},\"spec\":{},\"spec\":{}}");
    expect_no_pod_ref("{\"metadata\":{\"ui\\u0064\":\"x\",\"uid\":\"u\"}}");
    expect_no_pod_ref("{\"m\\u0065tadata\":{\"uid\":\"x\"},\"metadata\":{\"uid\":\"u\"}}");
    expect_no_pod_ref("{\"metadata\":{\"uid\":\"\\u0075\"}}");   /* escaped value */
    expect_no_pod_ref("{\"metadata\":{\"uid\":\"u\",\"name\":\"\\\"\"}}");
    /* Off the wanted paths, duplicates and escaped keys are fine. */
    expect_pod_ref("{\"metadata\":{\"uid\":\"u\",\"x\":{\"k\\u0065y\":1,\"a\":1,\"a\":2}}}",
                   "u", NULL, NULL, NULL);
    /* Escaped strings in annotations are strings: the pod is taken. */
    expect_pod_ref("{\"metadata\":{\"uid\":\"u\",\"annotations\":{\"a\":\"\\n\\u00e9\"}}}", "u",
                   NULL, NULL, NULL);
}

static void test_truncated(void **state)
{
    (void)state;
    size_t len = strlen(pod_text);
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(jsonscan_oracle(pod_text, n), -1);
        assert_null(json_loadb(pod_text, n, 0, NULL));
    }
    assert_int_equal(jsonscan_oracle(pod_text, len), 0);
}

static void test_not_json(void **state)
{
    (void)state;
    const char *bad[] = {
        "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[,1]", "{a:1}",
        "{'a':1}", "{\"a\":1}x", "{\"a\":1} {}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":truex}",
        "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}",
        "{\"a\":\"\t\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"x}", "{\"a\":[1}", "{\"a\":1]", "{\"a\":1}}", "\xef\xbb\xbf{}",
        "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":1e400}", "{\"a\":-1e400}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (scan(bad[i]) != -1)
            fail_msg("scanned as JSON: %s", bad[i]);
    }
    /* Accepted by jansson, left to it: too deep, integers strtoll may refuse. */
    assert_int_equal(scan("{\"a\":123456789012345678901}"), -1);
    assert_int_equal(scan("{\"a\":1e1000}"), -1);
    char deep[2 * (IL_JSON_SCAN_DEPTH + 2) + 1];
    memset(deep, '[', IL_JSON_SCAN_DEPTH + 2);
    memset(deep + IL_JSON_SCAN_DEPTH + 2, ']', IL_JSON_SCAN_DEPTH + 2);
    deep[sizeof deep - 1] = '\0';
    assert_int_equal(scan(deep), -1);
    assert_int_equal(scan("{\"a\":[[[[[[[[[[]]]]]]]]]]}"), 0);
    assert_int_equal(scan("{\"a\":[123456789012345678,-0,0.5e-99,1E+2,-12.25e10]}"), 0);
}

static void test_utf8(void **state)
{
    (void)state;
    /* 2-, 3- and 4-byte sequences, an escaped surrogate pair */
    expect_pod_ref("{\"metadata\":{\"uid\":\"u\",\"name\":\"caf\xc3\xa9 \xe6\x97\xa5 "
                   "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"}}", "u", NULL,
                   "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", NULL);
    assert_int_equal(scan("{\"a\":\"\\ud83d\\ude00\"}"), 0);
    const char *bad[] = {
        "{\"a\":\"\x80\"}",             /* a stray continuation byte */
        "{\"a\":\"\xc0\x80\"}",         /* overlong NUL */
        "{\"a\":\"\xc1\xbf\"}",         /* overlong */
        "{\"a\":\"\xe0\x80\xaf\"}",     /* overlong '/' */
        "{\"a\":\"\xed\xa0\x80\"}",     /* a surrogate */
        "{\"a\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
        "{\"a\":\"\xf5\x80\x80\x80\"}",
        "{\"a\":\"\xc3\"}",             /* cut short */
        "{\"a\":\"\xe6\x97\"}",
        "{\"a\":\"\xc3\x28\"}",
        "{\"\xff\":1}",                 /* in a key */
        "{\"a\":1,\xc3\xa9:1}",          /* outside a string */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(scan(bad[i]), -1);
        assert_null(json_loads(bad[i], 0, NULL));
    }
}

static void test_huge_string(void **state)
{
    (void)state;
    size_t n = 4 << 20;
    il_buf b = IL_BUF_INIT;
    il_buf_puts(&b, "{\"metadata\":{\"uid\":\"u\",\"name\":\"");
    for (size_t i = 0; i < n; i++)
        il_buf_append(&b, i % 1000 == 999 ? "\xc3\xa9" : "x", i % 1000 == 999 ? 2 : 1);
    il_buf_puts(&b, "\"},\"spec\":{\"restartPolicy\":\"Always\"}}");
    il_pod_ref ref;
    assert_int_equal(jsonscan_oracle(b.data, b.len), 0);
    assert_int_equal(il_pod_scan_ref(b.data, b.len, &ref), 0);
    assert_int_equal(strlen(ref.name), n + n / 1000);
    assert_string_equal(ref.restart_policy, "Always");
    il_pod_ref_free(&ref);
    il_buf_free(&b);
}

/* Thousands of small damages to a real pod: each goes through the oracle. */
static void test_mutations(void **state)
{
    (void)state;
    static const char bytes[] = "{}[]\",:\\ 0-.eEtu\x80\xc3\xff\x01";
    size_t len = strlen(pod_text);
    char *text = malloc(len + 4);
    uint32_t seed = 12345;
    size_t scanned = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(text, pod_text, len + 1);
        size_t n = len;
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            char c = bytes[(seed >> 4) % (sizeof bytes - 1)];
            switch ((seed >> 20) % 3) {
            case 0:
                text[at] = c;
                break;
            case 1:
                memmove(text + at, text + at + 1, n - at);
                n--;
                break;
            default:
                memmove(text + at + 1, text + at, n - at + 1);
                text[at] = c;
                n++;
                break;
            }
        }
        scanned += jsonscan_oracle(text, n) == 0;
    }
    assert_true(scanned > 0);   /* some damage leaves valid JSON */
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod),
        cmocka_unit_test(test_invalid_pods_left_to_the_parser),
        cmocka_unit_test(test_unsure_is_no),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_huge_string),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
