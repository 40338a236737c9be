/* test_vk_statuscache.c -- what one status cycle keeps for the next: a
 * pod's request text until its resourceVersion changes, and the answer
 * elements that changed nothing, for the same pod object only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "statuscache.h"
#include "util.h"

static json_t *pod(const char *uid, const char *rv, const char *image)
{
    return json_pack("{s:{s:s,s:s,s:s,s:s,s:[{s:s}]},s:{s:[{s:s,s:s}]},s:{s:s}}",
                     "metadata", "name", "p", "namespace", "ns", "uid", uid,
                     "resourceVersion", rv, "managedFields", "manager", "x", "spec",
                     "containers", "name", "main", "image", image, "status", "phase",
                     "Running");
}

static char *request(vk_status_cache *c, const json_t *pods)
{
    il_buf b = {0};
    vk_status_cache_request(c, pods, &b);
    char *s = il_xstrdup(il_buf_cstr(&b));
    il_buf_free(&b);
    return s;
}

static void test_request_pod(void **state)
{
    (void)state;
    json_t *p = pod("u1", "1", "busybox");
    json_t *r = vk_status_request_pod(p);
    assert_null(json_object_get(r, "status"));
    assert_null(json_object_get(json_object_get(r, "metadata"), "managedFields"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "metadata"),
                                                          "uid")), "u1");
    assert_non_null(json_object_get(r, "spec"));
    /* the pod itself is untouched */
    assert_non_null(json_object_get(p, "status"));
    assert_non_null(json_object_get(json_object_get(p, "metadata"), "managedFields"));
    json_decref(r);
    json_decref(p);
}

static void test_request_texts(void **state)
{
    (void)state;
    vk_status_cache *c = vk_status_cache_new();
    json_t *a = pod("u1", "1", "busybox"), *b = pod("u2", "7", "alpine");
    json_t *pods = json_pack("[OO]", a, b);
    char *first = request(c, pods);
    json_t *parsed = json_loads(first, 0, NULL);
    assert_int_equal(json_array_size(parsed), 2);
    json_t *want = json_pack("[oo]", vk_status_request_pod(a), vk_status_request_pod(b));
    assert_true(json_equal(parsed, want));
    json_decref(want);
    json_decref(parsed);

    /* Changed in place at the same resourceVersion: the text kept is sent
     * (which shows it is kept: a pod object never changes without a new
     * resourceVersion). */
    json_object_set_new(json_object_get(b, "spec"), "nodeName", json_string("n"));
    char *again = request(c, pods);
    assert_string_equal(again, first);
    /* A new resourceVersion: serialized again. */
    json_object_set_new(json_object_get(b, "metadata"), "resourceVersion", json_string("8"));
    char *third = request(c, pods);
    assert_non_null(strstr(third, "\"nodeName\":\"n\""));
    /* No pods: "[]". */
    json_t *none = json_array();
    char *empty = request(c, none);
    assert_string_equal(empty, "[]");
    /* ...and the texts were forgotten with the pods. */
    json_object_set_new(json_object_get(a, "spec"), "nodeName", json_string("m"));
    char *back = request(c, pods);
    assert_non_null(strstr(back, "\"nodeName\":\"m\""));
    free(first);
    free(again);
    free(third);
    free(empty);
    free(back);
    json_decref(none);
    json_decref(pods);
    json_decref(a);
    json_decref(b);
    vk_status_cache_free(c);
}

static void test_quiet_elements(void **state)
{
    (void)state;
    vk_status_cache *c = vk_status_cache_new();
    json_t *p = pod("u1", "1", "busybox");
    json_t *by_uid = json_pack("{s:O}", "u1", p);
    const char *e = "{\"UID\":\"u1\",\"containers\":[]}", *other = "{\"UID\":\"u1\"}";
    const char *uid = NULL;
    assert_false(vk_status_cache_quiet(c, e, strlen(e), by_uid, &uid));
    vk_status_cache_note_quiet(c, e, strlen(e), p);
    /* noted for the next cycle, not this one */
    assert_false(vk_status_cache_quiet(c, e, strlen(e), by_uid, &uid));
    vk_status_cache_next(c);
    assert_true(vk_status_cache_quiet(c, e, strlen(e), by_uid, &uid));
    assert_string_equal(uid, "u1");
    /* other bytes, a prefix of them, or the pod gone: not quiet */
    assert_false(vk_status_cache_quiet(c, other, strlen(other), by_uid, &uid));
    assert_false(vk_status_cache_quiet(c, e, strlen(e) - 1, by_uid, &uid));
    json_t *empty = json_object();
    assert_false(vk_status_cache_quiet(c, e, strlen(e), empty, &uid));
    /* the pod object changed: not quiet */
    json_object_set_new(json_object_get(p, "metadata"), "resourceVersion", json_string("2"));
    assert_false(vk_status_cache_quiet(c, e, strlen(e), by_uid, &uid));
    /* a cycle that did not note it forgets it */
    json_object_set_new(json_object_get(p, "metadata"), "resourceVersion", json_string("1"));
    assert_true(vk_status_cache_quiet(c, e, strlen(e), by_uid, &uid));
    vk_status_cache_next(c);
    assert_false(vk_status_cache_quiet(c, e, strlen(e), by_uid, &uid));
    /* a pod without a resourceVersion is never remembered */
    json_object_del(json_object_get(p, "metadata"), "resourceVersion");
    vk_status_cache_note_quiet(c, e, strlen(e), p);
    vk_status_cache_next(c);
    assert_false(vk_status_cache_quiet(c, e, strlen(e), by_uid, &uid));
    json_decref(empty);
    json_decref(by_uid);
    json_decref(p);
    vk_status_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_pod),
        cmocka_unit_test(test_request_texts),
        cmocka_unit_test(test_quiet_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
