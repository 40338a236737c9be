/* test_vk_queue.c -- the workers' queue: a take that gives up after a
 * while without work (a worker's thread then ends and a fresh one takes
 * its place), a due key taken at once, shutdown, and a burst of thousands
 * of keys added, taken and done leaving it as usable as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "timeutil.h"

static void test_take_gives_up_when_idle(void **state)
{
    (void)state;
    vk_queue *q = vk_queue_new();
    bool idle = false;
    int64_t t0 = il_monotonic_ms();
    assert_null(vk_queue_take_for(q, 150, &idle));
    int64_t waited = il_monotonic_ms() - t0;
    assert_true(idle);
    assert_true(waited >= 150 && waited < 2000);

    /* A key due later than the idle bound is not waited for. */
    vk_queue_add(q, "later", 5000);
    assert_null(vk_queue_take_for(q, 100, &idle));
    assert_true(idle);

    /* A key due now is taken at once. */
    vk_queue_add(q, "now", 0);
    char *key = vk_queue_take_for(q, 100, &idle);
    assert_string_equal(key, "now");
    assert_false(idle);
    vk_queue_done(q, key);
    free(key);

    /* Shutdown: NULL, and not for idleness. */
    vk_queue_shutdown(q);
    assert_null(vk_queue_take_for(q, 10000, &idle));
    assert_false(idle);
    vk_queue_free(q);
}

static void test_burst_drains(void **state)
{
    (void)state;
    vk_queue *q = vk_queue_new();
    char name[32];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(name, sizeof name, "pod-%d", i);
            vk_queue_add(q, name, 0);
        }
        bool seen[5000] = {false};
        bool idle;
        for (int i = 0; i < 5000; i++) {
            char *key = vk_queue_take_for(q, 1000, &idle);
            assert_non_null(key);
            int n = atoi(key + 4);
            assert_false(seen[n]);
            seen[n] = true;
            vk_queue_done(q, key);
            free(key);
        }
        assert_null(vk_queue_take_for(q, 50, &idle));   /* nothing left */
        assert_true(idle);
    }
    vk_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_gives_up_when_idle),
        cmocka_unit_test(test_burst_drains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
