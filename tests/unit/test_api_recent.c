/* test_api_recent.c -- the pods a caller's /status refreshed lately
 * (src/api/recent.c), as the status refresher looks them up: the newest
 * mark of a pod counts, a take empties the list, marks older than the
 * period go as new ones come, a UID too long to keep is never taken for
 * fresh, and a NULL list (no refresher) keeps nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "recent.h"

#define A "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
#define B "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
#define C "2b3c4d5e-6f70-4b8c-9d0e-1f2a3b4c5d6e"

static void test_newest_mark_counts_and_take_empties(void **state)
{
    (void)state;
    recent *r = recent_new(1000);
    recent_mark(r, (const char *[]){A, B}, 2, 5000);
    recent_mark(r, (const char *[]){A}, 1, 5600);
    recent_set *s = recent_take(r);
    assert_true(recent_since(s, A, 5600));
    assert_false(recent_since(s, A, 5601));
    assert_true(recent_since(s, B, 5000));
    assert_false(recent_since(s, B, 5001));
    assert_false(recent_since(s, C, 0));
    recent_set_free(s);
    s = recent_take(r);   /* taken: nothing left */
    assert_false(recent_since(s, A, 0));
    recent_set_free(s);
    recent_free(r);
}

static void test_marks_older_than_the_period_go(void **state)
{
    (void)state;
    recent *r = recent_new(1000);
    recent_mark(r, (const char *[]){A}, 1, 1000);
    recent_mark(r, (const char *[]){B}, 1, 1800);
    recent_mark(r, (const char *[]){C}, 1, 2500);   /* A is now older than 1000 ms */
    recent_set *s = recent_take(r);
    assert_false(recent_since(s, A, 0));
    assert_true(recent_since(s, B, 0));
    assert_true(recent_since(s, C, 0));
    recent_set_free(s);
    recent_free(r);
}

static void test_long_uids_are_not_kept(void **state)
{
    (void)state;
    char uid[100];
    memset(uid, 'x', sizeof(uid) - 1);
    uid[sizeof(uid) - 1] = '\0';
    recent *r = recent_new(1000);
    recent_mark(r, (const char *[]){uid, A}, 2, 10);
    recent_set *s = recent_take(r);
    assert_false(recent_since(s, uid, 0));
    uid[39] = '\0';   /* 39 bytes: kept */
    assert_true(recent_since(s, A, 0));
    recent_set_free(s);
    recent_mark(r, (const char *[]){uid}, 1, 20);
    s = recent_take(r);
    assert_true(recent_since(s, uid, 20));
    recent_set_free(s);
    recent_free(r);
}

static void test_no_refresher_keeps_nothing(void **state)
{
    (void)state;
    recent_mark(NULL, (const char *[]){A}, 1, 10);
    recent_set *s = recent_take(NULL);
    assert_false(recent_since(s, A, 0));
    recent_set_free(s);
    recent_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newest_mark_counts_and_take_empties),
        cmocka_unit_test(test_marks_older_than_the_period_go),
        cmocka_unit_test(test_long_uids_are_not_kept),
        cmocka_unit_test(test_no_refresher_keeps_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
