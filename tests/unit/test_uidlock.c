/* test_uidlock.c -- one request at a time per pod UID (src/common/uidlock.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "uidlock.h"

typedef struct {
    il_uidlock *set;
    const char *uid;
    atomic_int *holders;    /* threads holding uid at once, at most */
    atomic_int *peak;
} worker;

static void *hold_briefly(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 50; i++) {
        il_uidlock_acquire(w->set, w->uid);
        int now = atomic_fetch_add(w->holders, 1) + 1;
        int peak = atomic_load(w->peak);
        while (now > peak && !atomic_compare_exchange_weak(w->peak, &peak, now)) {}
        usleep(100);
        atomic_fetch_sub(w->holders, 1);
        il_uidlock_release(w->set, w->uid);
    }
    return NULL;
}

static void one_holder_per_uid(void **state)
{
    (void)state;
    il_uidlock set = IL_UIDLOCK_INIT;
    atomic_int holders = 0, peak = 0;
    worker w = {&set, "3f0c2a8e-0000-4000-8000-000000000001", &holders, &peak};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hold_briefly, &w);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(peak, 1);
    assert_int_equal(set.n, 0);
    il_uidlock_free(&set);
}

static void other_uids_do_not_wait(void **state)
{
    (void)state;
    il_uidlock set = IL_UIDLOCK_INIT;
    il_uidlock_acquire(&set, "a");
    il_uidlock_acquire(&set, "b");   /* would block forever if "a" held it */
    assert_int_equal(set.n, 2);
    il_uidlock_release(&set, "a");
    il_uidlock_acquire(&set, "a");   /* released: free again */
    il_uidlock_release(&set, "a");
    il_uidlock_release(&set, "b");
    assert_int_equal(set.n, 0);
    il_uidlock_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_holder_per_uid),
        cmocka_unit_test(other_uids_do_not_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
