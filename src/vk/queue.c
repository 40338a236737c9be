/* queue.c -- keyed, delayed work queue for the pod workers.
 *
 * Owns the set of pending keys, their due times and which of them a worker
 * holds.  The set is a plain array scanned on every take: a node carries at
 * most a few thousand pods, and a scan of that is far cheaper than the HTTP
 * calls each piece of work makes. */
#include "queue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"
#include "util.h"
#include "vkmetrics.h"

typedef struct entry {
    char *key;
    int64_t due;              /* monotonic ms */
    bool queued;              /* waiting for a worker */
    bool running;             /* held by a worker */
} entry;

struct vk_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* CLOCK_MONOTONIC */
    entry *v;
    size_t n, cap;
    bool shutdown;
};

/* Keys due and waiting for a worker into the queue-depth gauge: the
 * backlog.  A key due later (a retry's backoff, a new pod's JobID look in
 * 30 s) waits for time, not for a worker, and would make the gauge the
 * number of pods created in the last half minute.  Called with the lock
 * held, on every add, take and done: a key that falls due while every
 * worker is busy is counted at the next of those. */
static void report_depth(const vk_queue *q)
{
    int64_t now = il_monotonic_ms();
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++)
        n += q->v[i].queued && q->v[i].due <= now;
    vk_metrics_queue_depth(n);
}

vk_queue *vk_queue_new(void)
{
    vk_queue *q = il_xcalloc(1, sizeof *q);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&q->lock, NULL);
    return q;
}

void vk_queue_free(vk_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        free(q->v[i].key);
    free(q->v);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static entry *find(vk_queue *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (!strcmp(q->v[i].key, key))
            return &q->v[i];
    return NULL;
}

/* Remove e; the array shrinks as it empties, so a burst of thousands of
 * pods does not leave it at its largest (320 KB at 10,000) for good. */
static void drop(vk_queue *q, entry *e)
{
    free(e->key);
    *e = q->v[--q->n];
    if (q->cap > 64 && q->n <= q->cap / 4) {
        q->cap /= 2;
        q->v = il_xrealloc(q->v, q->cap * sizeof *q->v);
    }
}

void vk_queue_add(vk_queue *q, const char *key, int64_t delay_ms)
{
    int64_t due = il_monotonic_ms() + (delay_ms > 0 ? delay_ms : 0);
    pthread_mutex_lock(&q->lock);
    entry *e = find(q, key);
    if (!e) {
        if (q->n == q->cap) {
            q->cap = q->cap ? q->cap * 2 : 64;
            q->v = il_xrealloc(q->v, q->cap * sizeof *q->v);
        }
        e = &q->v[q->n++];
        *e = (entry){.key = il_xstrdup(key), .due = due};
    } else if (e->queued && e->due <= due) {
        pthread_mutex_unlock(&q->lock);
        return;   /* already due sooner */
    }
    e->queued = true;
    e->due = due;
    report_depth(q);
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

/* The queued, unheld entry due first, or NULL. */
static entry *earliest(vk_queue *q)
{
    entry *best = NULL;
    for (size_t i = 0; i < q->n; i++) {
        entry *e = &q->v[i];
        if (e->queued && !e->running && (!best || e->due < best->due))
            best = e;
    }
    return best;
}

static void wait_until(vk_queue *q, int64_t due_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t wait = due_ms - il_monotonic_ms();
    if (wait > 1000)
        wait = 1000;   /* a bound, so a missed wake-up costs a second at most */
    ts.tv_sec += wait / 1000;
    ts.tv_nsec += (long)(wait % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

char *vk_queue_take_for(vk_queue *q, int64_t idle_ms, bool *idle)
{
    char *key = NULL;
    int64_t until = idle_ms >= 0 ? il_monotonic_ms() + idle_ms : INT64_MAX;
    *idle = false;
    pthread_mutex_lock(&q->lock);
    while (!q->shutdown) {
        entry *e = earliest(q);
        int64_t now = il_monotonic_ms();
        if (e && e->due <= now) {
            e->queued = false;
            e->running = true;
            key = il_xstrdup(e->key);
            report_depth(q);
            break;
        }
        if (now >= until) {
            *idle = true;
            break;
        }
        int64_t wake = e ? e->due : now + 1000;
        wait_until(q, wake < until ? wake : until);
    }
    pthread_mutex_unlock(&q->lock);
    return key;
}

char *vk_queue_take(vk_queue *q)
{
    bool idle;
    return vk_queue_take_for(q, -1, &idle);
}

void vk_queue_done(vk_queue *q, const char *key)
{
    pthread_mutex_lock(&q->lock);
    entry *e = find(q, key);
    if (e) {
        e->running = false;
        if (e->queued)
            pthread_cond_broadcast(&q->cond);   /* added again while held */
        else
            drop(q, e);
        report_depth(q);
    }
    pthread_mutex_unlock(&q->lock);
}

void vk_queue_shutdown(vk_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->shutdown = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

