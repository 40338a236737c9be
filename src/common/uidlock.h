/* uidlock.h -- one request at a time per pod UID, within a process.
 *
 * A create and a delete of the same pod must not overtake each other: a
 * delete relayed while the create is still on its way finds nothing to
 * delete, answers success, and the create then starts a pod nobody will
 * stop.  Requests of different pods never wait for each other.  The set
 * holds only the UIDs being worked on right now. */
#ifndef IL_UIDLOCK_H
#define IL_UIDLOCK_H

#include <pthread.h>
#include <stddef.h>

typedef struct il_uidlock {
    pthread_mutex_t mu;
    pthread_cond_t changed;
    char **uids;     /* busy UIDs, owned */
    size_t n;
    size_t cap;
} il_uidlock;

#define IL_UIDLOCK_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0}

/* Wait until no other thread holds uid, then hold it. */
void il_uidlock_acquire(il_uidlock *set, const char *uid);
/* Let the next waiter for uid go. */
void il_uidlock_release(il_uidlock *set, const char *uid);
/* Free the set's memory (no UID may be held). */
void il_uidlock_free(il_uidlock *set);

#endif
