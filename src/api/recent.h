/* recent.h -- which pods a caller's /status refreshed lately, so that the
 * status refresher (refresher.c) need not ask the plugin about them again
 * within its period.  Thread-safe; every function accepts a NULL recent
 * (the refresher is off) and then keeps nothing. */
#ifndef IL_RECENT_H
#define IL_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct recent recent;
typedef struct recent_set recent_set;

/* Marks older than keep_ms (the refresher's period) are dropped. */
recent *recent_new(int64_t keep_ms);
void recent_free(recent *r);

/* The n pods were refreshed from the plugin by a call that began at at_ms
 * (monotonic), and what changed is stored. */
void recent_mark(recent *r, const char *const *uids, size_t n, int64_t at_ms);

/* Everything marked since the last take, for lookups (the caller frees it
 * with recent_set_free); r keeps nothing of it. */
recent_set *recent_take(recent *r);
/* uid was refreshed at since_ms or later. */
bool recent_since(const recent_set *s, const char *uid, int64_t since_ms);
void recent_set_free(recent_set *s);

#endif
