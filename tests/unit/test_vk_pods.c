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

#include "pods.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_reports_a_deletion),
        cmocka_unit_test(test_refresh_of_unknown_or_old_pod),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
