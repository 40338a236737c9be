/* test_vk_pods.c -- the pod table's "work implied" answers.  A pod stuck
 * Terminating (issue 14): the reply to one of our PATCHes already carried
 * the deletionTimestamp, was stored without reporting the work, and the
 * watch event that followed looked old, so no backend delete was queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pods.h"
#include "recdeflate.h"

#define UID "0b7e2f8a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

static json_t *pod(const char *rv, bool deleting)
{
    json_t *p = json_pack("{s:{s:s, s:s, s:s, s:s}}", "metadata", "uid", UID, "name", "p",
                          "namespace", "default", "resourceVersion", rv);
    if (deleting)
        json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
                            json_string("2026-12-06T09:00:00Z"));
    return p;
}

static void test_refresh_reports_a_deletion(void **state)
{
    (void)state;
    vk_pods *t = vk_pods_new();
    json_t *created = pod("10", false), *patched = pod("12", true), *event = pod("12", true);
    assert_true(vk_pods_put(t, created));          /* new: work */
    assert_true(vk_pods_refresh(t, patched));      /* our PATCH's reply: deleting now */
    assert_false(vk_pods_put(t, event));           /* the watch event: no news */
    json_t *again = pod("13", true);
    assert_false(vk_pods_refresh(t, again));       /* still deleting: nothing new */
    json_decref(created);
    json_decref(patched);
    json_decref(event);
    json_decref(again);
    vk_pods_free(t);
}

static void test_refresh_of_unknown_or_old_pod(void **state)
{
    (void)state;
    vk_pods *t = vk_pods_new();
    json_t *unknown = pod("5", true);
    assert_false(vk_pods_refresh(t, unknown));     /* not in the table: not brought back */
    json_t *cur = pod("20", false), *stale = pod("19", true);
    assert_true(vk_pods_put(t, cur));
    assert_false(vk_pods_refresh(t, stale));       /* older than what we hold */
    json_decref(unknown);
    json_decref(cur);
    json_decref(stale);
    vk_pods_free(t);
}

/* A record keeps the fields the hot paths read and gives the object back
 * (but managedFields); what the status cycle sends leaves the status and
 * managedFields out and leaves the pod untouched. */
static void test_record(void **state)
{
    (void)state;
    json_t *p = json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:{s:s},s:[{s:s}]},s:{s:[{s:s}]},"
                          "s:{s:s,s:s}}",
                          "metadata", "name", "p", "namespace", "ns", "uid", UID,
                          "resourceVersion", "42", "deletionTimestamp", "2026-12-06T09:00:00Z",
                          "annotations", "JobID", "job-7", "managedFields", "manager", "x",
                          "spec", "containers", "name", "main", "status", "phase", "Running",
                          "podIP", "10.0.0.1");
    json_t *part = vk_pod_for_status(p);
    assert_null(json_object_get(part, "status"));
    assert_null(json_object_get(json_object_get(part, "metadata"), "managedFields"));
    assert_non_null(json_object_get(part, "spec"));
    assert_non_null(json_object_get(p, "status"));   /* the pod itself is untouched */
    assert_non_null(json_object_get(json_object_get(p, "metadata"), "managedFields"));

    vk_podrec *r = vk_podrec_new(p);
    assert_string_equal(r->uid, UID);
    assert_string_equal(r->ns, "ns");
    assert_string_equal(r->name, "p");
    assert_string_equal(r->rv, "42");
    assert_string_equal(r->phase, "Running");
    assert_string_equal(r->job, "job-7");
    assert_true(r->deleting);
    char *text = json_dumps(part, JSON_COMPACT);
    il_buf got = {0};
    vk_podrec_text(r, &got);
    assert_int_equal(r->text_len, strlen(text));
    assert_string_equal(il_buf_cstr(&got), text);
    assert_true(r->ztext_len < r->text_len);   /* kept deflated */
    il_buf_free(&got);
    json_t *back = vk_podrec_pod(r);
    json_object_set(part, "status", json_object_get(p, "status"));
    assert_true(json_equal(back, part));
    free(text);
    json_decref(back);
    vk_podrec_unref(r);

    /* no status, no version, no annotation, no namespace */
    json_t *bare = json_pack("{s:{s:s,s:s}}", "metadata", "uid", "u", "name", "b");
    r = vk_podrec_new(bare);
    assert_null(r->rv);
    assert_null(r->job);
    assert_null(r->zstatus);
    assert_int_equal(r->status_len, 0);
    assert_false(r->deleting);
    assert_string_equal(r->phase, "Pending");
    assert_string_equal(r->ns, "default");
    back = vk_podrec_pod(r);
    assert_true(json_equal(back, bare));
    json_decref(back);
    vk_podrec_unref(r);
    json_decref(bare);
    /* many records: several slabs filled, freed blocks reused, emptied */
    vk_podrec *many[2000];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 2000; i++) {
            char uid[32];
            snprintf(uid, sizeof uid, "uid-%d", i);
            json_object_set_new(json_object_get(p, "metadata"), "uid", json_string(uid));
            many[i] = vk_podrec_new(p);
            assert_string_equal(many[i]->uid, uid);
        }
        for (int i = 0; i < 2000; i += 2)
            vk_podrec_unref(many[i]);
        for (int i = 1; i < 2000; i += 2) {
            json_t *again = vk_podrec_pod(many[i]);
            assert_non_null(again);
            json_decref(again);
            vk_podrec_unref(many[i]);
        }
        /* the pooled z_streams freed after a cycle without records (the
         * second call), made anew for the next */
        vk_recdeflate_idle();
        vk_recdeflate_idle();
    }
    json_t *nouid = json_pack("{s:{s:s}}", "metadata", "name", "x");
    assert_null(vk_podrec_new(nouid));
    json_decref(nouid);
    json_decref(part);
    json_decref(p);
}

/* The table hands out what it holds: views parsed from the record, the
 * job id from the annotation, the pods a status cycle asks about. */
static void test_table_views(void **state)
{
    (void)state;
    vk_pods *t = vk_pods_new();
    json_t *a = pod("3", false), *b = json_pack("{s:{s:s,s:s,s:s,s:s,s:{s:s}},s:{s:s}}",
                                                "metadata", "uid", "u2", "name", "q",
                                                "namespace", "ns", "resourceVersion", "4",
                                                "annotations", "JobID", "j2", "status",
                                                "phase", "Running");
    assert_true(vk_pods_put(t, a));
    assert_true(vk_pods_put(t, b));
    assert_true(vk_pods_has(t, "u2"));
    assert_false(vk_pods_has(t, "nope"));
    char *job = vk_pods_job_id(t, "u2");
    assert_string_equal(job, "j2");
    free(job);
    assert_null(vk_pods_job_id(t, UID));
    vk_pod_view v;
    assert_true(vk_pods_find(t, "ns", "q", &v));
    assert_true(json_equal(v.pod, b));
    assert_string_equal(v.job_id, "j2");
    vk_pod_view_free(&v);
    assert_false(vk_pods_find(t, "other", "q", &v));
    size_t n;
    vk_podrec **active = vk_pods_active(t, &n);   /* only the submitted pod */
    assert_int_equal(n, 1);
    assert_string_equal(active[0]->uid, "u2");
    vk_podrecs_free(active, n);
    vk_pods_set_job(t, UID, "j1");
    active = vk_pods_active(t, &n);
    assert_int_equal(n, 2);
    vk_podrecs_free(active, n);
    assert_true(vk_pods_mark_gone(t, "u2"));
    active = vk_pods_active(t, &n);
    assert_int_equal(n, 1);
    vk_podrecs_free(active, n);
    json_decref(a);
    json_decref(b);
    vk_pods_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_reports_a_deletion),
        cmocka_unit_test(test_refresh_of_unknown_or_old_pod),
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_table_views),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
