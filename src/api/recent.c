/* recent.c -- which pods a caller's /status refreshed lately (see recent.h).
 *
 * While somebody watches, the refresher asks the plugin about every
 * unfinished pod each StatusRefreshSeconds; a virtual kubelet's status
 * cycle asks about the same pods every few seconds.  At 10,000 SLURM pods
 * each of those calls is a third of a second of the plugin's CPU and a
 * squeue, so the refresher skips the pods a caller's call refreshed (and
 * interlink stored) within its period: every unfinished pod is still asked
 * about at least once a period, by one or the other.
 *
 * Marks are appended as calls complete and taken whole by the refresher,
 * which sorts them once per round.  A mark older than a period is of no
 * use and is dropped as new ones come, so the list holds about one
 * period's calls also while nobody watches (and no refresher takes them):
 * two VK cycles' worth at most, 10,000 pods each. */
#include "recent.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RECENT_MAX 65536   /* marks kept (3 MB); more are not kept */

typedef struct mark {
    char uid[40];             /* Kubernetes UIDs are 36 bytes; longer ones are not kept */
    int64_t at_ms;
} mark;

struct recent {
    pthread_mutex_t mu;
    int64_t keep_ms;          /* a mark older than this is dropped */
    mark *marks;              /* about in the order made */
    size_t n, cap;
};

struct recent_set {
    mark *marks;              /* sorted by UID, newest first within one UID */
    size_t n;
};

recent *recent_new(int64_t keep_ms)
{
    recent *r = il_xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->keep_ms = keep_ms;
    return r;
}

void recent_free(recent *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r->marks);
    free(r);
}

/* Under r->mu. */
static void drop_older(recent *r, int64_t before_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->marks[i].at_ms >= before_ms)
            r->marks[kept++] = r->marks[i];
    r->n = kept;
}

void recent_mark(recent *r, const char *const *uids, size_t n, int64_t at_ms)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    if (r->n && r->marks[0].at_ms < at_ms - r->keep_ms)
        drop_older(r, at_ms - r->keep_ms);   /* once a period: the oldest go first */
    for (size_t i = 0; i < n && r->n < RECENT_MAX; i++) {
        size_t len = strlen(uids[i]);
        if (len >= sizeof(r->marks->uid))
            continue;   /* not kept: the refresher asks about it as before */
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 1024;
            r->marks = il_xrealloc(r->marks, r->cap * sizeof(*r->marks));
        }
        mark *m = &r->marks[r->n++];
        memcpy(m->uid, uids[i], len + 1);
        m->at_ms = at_ms;
    }
    pthread_mutex_unlock(&r->mu);
}

static int by_uid_newest_first(const void *a, const void *b)
{
    const mark *x = a, *y = b;
    int c = strcmp(x->uid, y->uid);
    return c ? c : (x->at_ms < y->at_ms) - (x->at_ms > y->at_ms);
}

recent_set *recent_take(recent *r)
{
    recent_set *s = il_xcalloc(1, sizeof(*s));
    if (!r)
        return s;
    pthread_mutex_lock(&r->mu);
    s->marks = r->marks;
    s->n = r->n;
    r->marks = NULL;
    r->n = r->cap = 0;
    pthread_mutex_unlock(&r->mu);
    if (s->n)   /* qsort's base must not be NULL, even for nothing */
        qsort(s->marks, s->n, sizeof(*s->marks), by_uid_newest_first);
    return s;
}

bool recent_since(const recent_set *s, const char *uid, int64_t since_ms)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {   /* the first mark whose UID is not below uid: its newest */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->marks[mid].uid, uid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && strcmp(s->marks[lo].uid, uid) == 0 && s->marks[lo].at_ms >= since_ms;
}

void recent_set_free(recent_set *s)
{
    if (!s)
        return;
    free(s->marks);
    free(s);
}
