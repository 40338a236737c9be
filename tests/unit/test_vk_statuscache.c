/* test_vk_statuscache.c -- the status request built from the pods' texts,
 * and what one status cycle keeps for the next: the answer elements that
 * changed nothing, for the same pod object only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
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

/* The body read `step` bytes at a time; its length checked. */
static char *request(vk_podrec **recs, size_t n, size_t step)
{
    vk_status_body body;
    vk_status_body_init(&body, recs, n);
    il_buf out = {0};
    char piece[64];
    size_t got;
    while ((got = vk_status_body_read(piece, step, &body)) > 0) {
        assert_true(got <= step);
        il_buf_append(&out, piece, got);
    }
    assert_int_equal(out.len, vk_status_body_len(&body));
    vk_status_body_free(&body);
    return il_buf_steal(&out);
}

/* The request is the pods' texts as one JSON array: what serializing each
 * pod without its status and managedFields gives, however it is read. */
static void test_request(void **state)
{
    (void)state;
    json_t *a = pod("u1", "1", "busybox"), *b = pod("u2", "7", "alpine");
    vk_podrec *recs[] = {vk_podrec_new(a), vk_podrec_new(b)};
    char *text = request(recs, 2, 7);
    json_t *parsed = json_loads(text, 0, NULL);
    assert_int_equal(json_array_size(parsed), 2);
    json_t *want = json_pack("[oo]", vk_pod_for_status(a), vk_pod_for_status(b));
    assert_true(json_equal(parsed, want));
    char *one = json_dumps(json_array_get(want, 1), JSON_COMPACT);
    assert_non_null(strstr(text, one));   /* byte for byte as json_dumps gives it */
    char *empty = request(recs, 0, 1);
    assert_string_equal(empty, "[]");
    /* read in other steps, and again from the start after a rewind */
    char *whole = request(recs, 2, 64);
    assert_string_equal(whole, text);
    vk_status_body body;
    vk_status_body_init(&body, recs, 2);
    char piece[64];
    assert_int_equal(vk_status_body_read(piece, 10, &body), 10);
    assert_int_equal(vk_status_body_rewind(&body), 0);
    assert_int_equal(vk_status_body_read(piece, 10, &body), 10);
    assert_memory_equal(piece, text, 10);
    vk_status_body_free(&body);
    free(whole);
    free(one);
    free(empty);
    free(text);
    json_decref(want);
    json_decref(parsed);
    vk_podrec_unref(recs[0]);
    vk_podrec_unref(recs[1]);
    json_decref(a);
    json_decref(b);
}

/* What apply() checks: seen last cycle, for the same UID and version. */
static bool quiet(vk_status_cache *c, const char *e, size_t len, const vk_podrec *now)
{
    const char *uid = NULL, *rv = NULL;
    return vk_status_cache_seen(c, e, len, &uid, &rv) && now && !strcmp(uid, now->uid) &&
           now->rv && !strcmp(rv, now->rv);
}

static void test_quiet_elements(void **state)
{
    (void)state;
    vk_status_cache *c = vk_status_cache_new();
    json_t *p = pod("u1", "1", "busybox");
    vk_podrec *r = vk_podrec_new(p);
    const char *e = "{\"UID\":\"u1\",\"containers\":[]}", *other = "{\"UID\":\"u1\"}";
    assert_false(quiet(c, e, strlen(e), r));
    vk_status_cache_note_quiet(c, e, strlen(e), r);
    /* noted for the next cycle, not this one */
    assert_false(quiet(c, e, strlen(e), r));
    vk_status_cache_next(c);
    assert_true(quiet(c, e, strlen(e), r));
    /* other bytes, a prefix of them, or the pod gone: not quiet */
    assert_false(quiet(c, other, strlen(other), r));
    assert_false(quiet(c, e, strlen(e) - 1, r));
    assert_false(quiet(c, e, strlen(e), NULL));
    /* the pod object changed: not quiet */
    json_object_set_new(json_object_get(p, "metadata"), "resourceVersion", json_string("2"));
    vk_podrec *r2 = vk_podrec_new(p);
    assert_false(quiet(c, e, strlen(e), r2));
    /* a cycle that did not note it forgets it */
    assert_true(quiet(c, e, strlen(e), r));
    vk_status_cache_next(c);
    assert_false(quiet(c, e, strlen(e), r));
    /* a pod without a resourceVersion is never remembered */
    json_object_del(json_object_get(p, "metadata"), "resourceVersion");
    vk_podrec *r3 = vk_podrec_new(p);
    vk_status_cache_note_quiet(c, e, strlen(e), r3);
    vk_status_cache_next(c);
    const char *uid, *rv;
    assert_false(vk_status_cache_seen(c, e, strlen(e), &uid, &rv));
    /* many at once: the table grows and keeps them all, and only them */
    char many[300][48];
    for (int i = 0; i < 300; i++) {
        snprintf(many[i], sizeof many[i], "{\"UID\":\"u1\",\"n\":%d}", i);
        vk_status_cache_note_quiet(c, many[i], strlen(many[i]), r);
    }
    vk_status_cache_next(c);
    for (int i = 0; i < 300; i++)
        assert_true(quiet(c, many[i], strlen(many[i]), r));
    assert_false(quiet(c, e, strlen(e), r));
    /* a cycle noting every third again, and new ones past the old room:
     * the next knows exactly those */
    char more[200][48];
    for (int i = 0; i < 300; i += 3)
        vk_status_cache_note_quiet(c, many[i], strlen(many[i]), r);
    for (int i = 0; i < 200; i++) {
        snprintf(more[i], sizeof more[i], "{\"UID\":\"u1\",\"m\":%d}", i);
        vk_status_cache_note_quiet(c, more[i], strlen(more[i]), r);
    }
    vk_status_cache_next(c);
    for (int i = 0; i < 300; i++)
        assert_true(quiet(c, many[i], strlen(many[i]), r) == (i % 3 == 0));
    for (int i = 0; i < 200; i++)
        assert_true(quiet(c, more[i], strlen(more[i]), r));
    vk_podrec_unref(r);
    vk_podrec_unref(r2);
    vk_podrec_unref(r3);
    json_decref(p);
    vk_status_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_quiet_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
