/* wake.c -- what the VK's threads share to sleep, wake and stop: the stop
 * flag, sleeps a stop interrupts, the status loop's poke, the node's UID,
 * and the backoff every retry uses.  It calls nothing else of the VK, so
 * every thread can use it without a way back. */
#include "vk.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

bool vk_stopping(vk *v)
{
    pthread_mutex_lock(&v->lock);
    bool s = v->stopping;
    pthread_mutex_unlock(&v->lock);
    return s;
}

/* The monotonic time ms from now, for pthread_cond_timedwait on v->wake. */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

bool vk_sleep(vk *v, int64_t ms)
{
    struct timespec ts = deadline_in(ms);
    pthread_mutex_lock(&v->lock);
    while (!v->stopping && pthread_cond_timedwait(&v->wake, &v->lock, &ts) != ETIMEDOUT)
        ;
    bool go_on = !v->stopping;
    pthread_mutex_unlock(&v->lock);
    return go_on;
}

void vk_status_poke(vk *v)
{
    pthread_mutex_lock(&v->lock);
    if (!v->status_poked)   /* poked already: the status loop knows (every create pokes) */
        pthread_cond_broadcast(&v->wake);   /* other sleepers wake, see no stop, sleep on */
    v->status_poked = true;
    pthread_mutex_unlock(&v->lock);
}

bool vk_status_wait(vk *v, int64_t ms)
{
    struct timespec ts = deadline_in(ms);
    pthread_mutex_lock(&v->lock);
    while (!v->stopping && !v->status_poked &&
           pthread_cond_timedwait(&v->wake, &v->lock, &ts) != ETIMEDOUT)
        ;
    v->status_poked = false;
    bool go_on = !v->stopping;
    pthread_mutex_unlock(&v->lock);
    return go_on;
}

char *vk_node_uid(vk *v)
{
    pthread_mutex_lock(&v->lock);
    char *uid = il_xstrdup(v->node_uid);
    pthread_mutex_unlock(&v->lock);
    return uid;
}

void vk_set_node_uid(vk *v, const char *uid)
{
    pthread_mutex_lock(&v->lock);
    free(v->node_uid);
    v->node_uid = il_xstrdup(uid);
    pthread_mutex_unlock(&v->lock);
}

int64_t vk_backoff_ms(int failures, int64_t base_ms, int64_t cap_ms)
{
    int64_t d = base_ms;
    for (int i = 1; i < failures && d < cap_ms; i++)
        d *= 2;
    return d < cap_ms ? d : cap_ms;
}
