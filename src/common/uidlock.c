/* uidlock.c -- one request at a time per pod UID (see uidlock.h).
 *
 * A linear set: it holds only the requests in progress (a few dozen at
 * most, bounded by the server's threads), so a hash would not pay. */
#include "uidlock.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util.h"

static ssize_t busy_index(const il_uidlock *set, const char *uid)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->uids[i], uid) == 0)
            return (ssize_t)i;
    return -1;
}

void il_uidlock_acquire(il_uidlock *set, const char *uid)
{
    pthread_mutex_lock(&set->mu);
    while (busy_index(set, uid) >= 0)
        pthread_cond_wait(&set->changed, &set->mu);
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 16;
        set->uids = il_xrealloc(set->uids, set->cap * sizeof(*set->uids));
    }
    set->uids[set->n++] = il_xstrdup(uid);
    pthread_mutex_unlock(&set->mu);
}

void il_uidlock_release(il_uidlock *set, const char *uid)
{
    pthread_mutex_lock(&set->mu);
    ssize_t i = busy_index(set, uid);
    if (i >= 0) {
        free(set->uids[i]);
        set->uids[i] = set->uids[--set->n];
    }
    pthread_cond_broadcast(&set->changed);
    pthread_mutex_unlock(&set->mu);
}

void il_uidlock_free(il_uidlock *set)
{
    free(set->uids);
    set->uids = NULL;
    set->n = set->cap = 0;
}
