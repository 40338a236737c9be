/* events.c -- Events about pods: what a kubelet posts (Created, Started,
 * Failed, Killing, FailedMount), so `kubectl describe pod` tells the story.
 *
 * Repeats are aggregated as the kubelet's event correlator does: the same
 * pod, type, reason and message within AGGREGATE_WINDOW_MS updates the
 * first Event's count and lastTimestamp instead of adding another, so a
 * pod retried every few seconds for an hour is one Event, not a thousand.
 *
 * Once vk_events_start has run, Events are posted by EVENT_SENDERS threads
 * of their own from a bounded queue, as the kubelet's event broadcaster
 * does: a pod's create or status write never waits for its Events (two API
 * writes per started pod), and when the API server falls behind by more
 * than EVENT_QUEUE_MAX Events the newest are dropped and counted, never the
 * work they describe.  Each Event keeps the time it was raised.
 *
 * The senders post at most EventsPerSecond (after a burst of EventBurst),
 * as the kubelet's event recorder is limited: Events are two of a started
 * pod's three API writes, and where the API server is what bounds how fast
 * pods start, a burst of pods should spend it on their statuses first and
 * tell the story a little later (with the times it happened).
 *
 * A queued Event is one block (its strings follow it) in recslab.c's
 * slabs, not a jansson tree and four strings on the heap: a burst of
 * 10,000 pods fills the queue, which then drains for over a minute, and
 * its ~40,000 small chunks, spread among the pages that the burst's parsed
 * pods had used, kept megabytes of freed heap resident that no trim could
 * return. */
#include "events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pods.h"
#include "recslab.h"
#include "timeutil.h"
#include "util.h"

#define AGGREGATE_WINDOW_MS (10 * 60 * 1000)
#define AGGREGATE_SLOTS 1024
#define EVENT_SENDERS 4
#define EVENT_QUEUE_MAX 4096
#define EVENT_DRAIN_MS 2000   /* what vk_events_stop waits for the queue */

/* An Event raised: about which pod (its identity only: the pod object may
 * be gone from the table by the time it is sent), what, when.  A queued
 * one is a single block holding its strings (raised_copy). */
typedef struct raised {
    struct raised *next;
    void *owner;              /* vk_recslab_alloc's */
    vk_kube *kube;
    const char *ns, *name, *uid;
    const char *node, *type, *reason, *text;
    il_time t;
} raised;

/* An Event posted recently: what it was about and its name, to update.
 * key and name are one block in the record slabs: remembered by the
 * senders among the heap chunks of the posts around them, a thousand of
 * them kept that many heap pages resident once the posts were freed. */
typedef struct recent {
    char *key;                /* uid, type, reason, message joined by '\x1f' */
    char *name;               /* follows key in its block */
    void *owner;              /* vk_recslab_alloc's */
    int count;
    int64_t first_ms;         /* monotonic */
    int64_t used_ms;
} recent;

static pthread_mutex_t recent_lock = PTHREAD_MUTEX_INITIALIZER;
static recent slots[AGGREGATE_SLOTS];

/* The slot of key (a live match), or the one to reuse: empty, expired or
 * least recently used.  Called with recent_lock held. */
static recent *slot_for(const char *key, int64_t now)
{
    recent *victim = NULL;
    bool victim_live = true;
    for (size_t i = 0; i < AGGREGATE_SLOTS; i++) {
        recent *r = &slots[i];
        bool live = r->key && now - r->first_ms < AGGREGATE_WINDOW_MS;
        if (live && strcmp(r->key, key) == 0)
            return r;
        if (!victim || (victim_live && (!live || r->used_ms < victim->used_ms))) {
            victim = r;
            victim_live = live;
        }
    }
    if (victim->key)
        vk_recslab_free(victim->key, victim->owner);
    *victim = (recent){0};
    return victim;
}

/* A repeat: count + 1 and the new lastTimestamp on the existing Event.
 * false when there is no such Event (first time, or it expired). */
static bool update_repeat(const raised *e, const char *key)
{
    int64_t now = il_monotonic_ms();
    pthread_mutex_lock(&recent_lock);
    recent *r = slot_for(key, now);
    bool repeat = r->key != NULL;
    char *name = repeat ? il_xstrdup(r->name) : NULL;
    int count = repeat ? ++r->count : 0;
    r->used_ms = now;
    pthread_mutex_unlock(&recent_lock);
    if (!repeat)
        return false;
    char ts[IL_RFC3339_MAX];
    il_time_format(e->t, false, ts);
    json_t *patch = json_pack("{s:i, s:s}", "count", count, "lastTimestamp", ts);
    char *path = il_xasprintf("/api/v1/namespaces/%s/events/%s", e->ns, name);
    vk_kube_result res;
    int rc = vk_kube_patch(e->kube, path, VK_PATCH_MERGE, patch, &res);
    bool gone = rc < 0 && vk_kube_is(&res, 404);   /* expired: post a new one */
    if (rc < 0 && !gone)
        il_warn("event %s not updated: %s", name, res.error);
    vk_kube_result_free(&res);
    free(path);
    json_decref(patch);
    free(name);
    return !gone;
}

static void remember(const char *key, const char *name)
{
    int64_t now = il_monotonic_ms();
    pthread_mutex_lock(&recent_lock);
    recent *r = slot_for(key, now);
    if (r->key)
        vk_recslab_free(r->key, r->owner);
    size_t klen = strlen(key) + 1, nlen = strlen(name) + 1;
    void *owner;
    char *block = vk_recslab_alloc(klen + nlen, &owner);
    memcpy(block, key, klen);
    memcpy(block + klen, name, nlen);
    *r = (recent){.key = block, .name = block + klen, .owner = owner, .count = 1,
                  .first_ms = now, .used_ms = now};
    pthread_mutex_unlock(&recent_lock);
}

static json_t *event_object(const raised *e)
{
    char now[IL_RFC3339_MAX], name[128];
    il_time_format(e->t, false, now);
    /* The kubelet's naming: the object's name, then a unique hex suffix. */
    snprintf(name, sizeof name, "%.100s.%llx", e->name, (unsigned long long)il_time_to_ns(e->t));
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, "
                     "s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s}",
                     "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                     e->ns, "involvedObject", "apiVersion", "v1", "kind", "Pod", "name", e->name,
                     "namespace", e->ns, "uid", e->uid, "reason", e->reason, "message", e->text,
                     "type", e->type, "source", "component", "interlink-vk", "host", e->node,
                     "firstTimestamp", now, "lastTimestamp", now, "count", 1,
                     "reportingComponent", "interlink-vk", "reportingInstance", e->node);
}

/* Post one Event (or count a repeat), now. */
static void post(const raised *e)
{
    char *key = il_xasprintf("%s\x1f%s\x1f%s\x1f%s", e->uid, e->type, e->reason, e->text);
    if (update_repeat(e, key)) {
        free(key);
        return;
    }
    json_t *ev = event_object(e);
    char *path = il_xasprintf("/api/v1/namespaces/%s/events", e->ns);
    vk_kube_result res;
    if (vk_kube_create(e->kube, path, ev, &res) < 0)
        il_warn("event %s for pod %s/%s not recorded: %s", e->reason, e->ns, e->name,
                res.error);
    else
        remember(key, json_string_value(json_object_get(json_object_get(ev, "metadata"),
                                                        "name")));
    vk_kube_result_free(&res);
    free(path);
    json_decref(ev);
    free(key);
}

/* ---- the senders ------------------------------------------------------- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t more;
    raised *head, *tail;
    size_t queued;
    unsigned long dropped;
    bool running, stopping;
    int64_t drain_until;      /* monotonic ms; after it, queued Events are dropped */
    double per_second;        /* the token bucket; <= 0: no limit */
    double burst, tokens;
    int64_t refilled_ms;      /* monotonic */
    pthread_t threads[EVENT_SENDERS];
    size_t n_threads;
} q = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

/* s copied to *at, which moves past its NUL. */
static const char *pack(char **at, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = memcpy(*at, s, n);
    *at += n;
    return p;
}

/* e as one block, strings included. */
static raised *raised_copy(const raised *e)
{
    const char *const strs[] = {e->ns, e->name, e->uid, e->node, e->type, e->reason, e->text};
    size_t size = sizeof *e;
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        size += strlen(strs[i]) + 1;
    void *owner;
    raised *c = vk_recslab_alloc(size, &owner);
    char *at = (char *)(c + 1);
    *c = (raised){.owner = owner, .kube = e->kube, .t = e->t};
    c->ns = pack(&at, e->ns);
    c->name = pack(&at, e->name);
    c->uid = pack(&at, e->uid);
    c->node = pack(&at, e->node);
    c->type = pack(&at, e->type);
    c->reason = pack(&at, e->reason);
    c->text = pack(&at, e->text);
    return c;
}

static void raised_free(raised *e)
{
    vk_recslab_free(e, e->owner);
}

/* Take a token for one post (q.lock held): 0 when taken, else the ms
 * until the next one.  Stopping posts what is left without a limit. */
static int64_t take_token(void)
{
    if (q.per_second <= 0 || q.stopping)
        return 0;
    int64_t now = il_monotonic_ms();
    q.tokens += (double)(now - q.refilled_ms) * q.per_second / 1000.0;
    if (q.tokens > q.burst)
        q.tokens = q.burst;
    q.refilled_ms = now;
    if (q.tokens >= 1.0) {
        q.tokens -= 1.0;
        return 0;
    }
    return (int64_t)((1.0 - q.tokens) * 1000.0 / q.per_second) + 1;
}

static void wait_more(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);   /* q.more's clock */
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&q.more, &q.lock, &ts);
}

/* A sender's thread that posted some Events ends once it had none to post
 * for this long, and a fresh one takes its place: its cache of freed
 * blocks (glibc's tcache, kept until the thread ends) goes back to the
 * heap, as a worker's does (podsync.c). */
#define SENDER_IDLE_MS 2000

/* Post until stopped and drained (NULL) or, after some posts,
 * SENDER_IDLE_MS without an Event (non-NULL). */
static void *send_events(void *arg)
{
    (void)arg;
    bool idle = false, posted = false;
    pthread_mutex_lock(&q.lock);
    for (;;) {
        int64_t until = il_monotonic_ms() + SENDER_IDLE_MS;
        while (!q.head && !q.stopping && !(idle = il_monotonic_ms() >= until && posted)) {
            int64_t left = until - il_monotonic_ms();
            wait_more(left > 1 ? left : 1000);   /* past it and nothing posted: wait on */
        }
        if (!q.head)
            break;
        idle = false;
        posted = true;
        int64_t wait = take_token();
        if (wait > 0) {
            wait_more(wait);
            continue;
        }
        raised *e = q.head;
        q.head = e->next;
        if (!q.head)
            q.tail = NULL;
        q.queued--;
        bool late = q.stopping && il_monotonic_ms() > q.drain_until;
        if (late)
            q.dropped++;
        pthread_mutex_unlock(&q.lock);
        if (!late)
            post(e);
        raised_free(e);
        pthread_mutex_lock(&q.lock);
    }
    idle = idle && !q.stopping;
    pthread_mutex_unlock(&q.lock);
    return idle ? &q : NULL;
}

/* One sender: its posting in a thread renewed whenever it went idle. */
static void *sender(void *arg)
{
    il_thread_renewing(send_events, arg);
    return NULL;
}

void vk_events_start(int per_second, int burst)
{
    pthread_mutex_lock(&q.lock);
    if (!q.running) {
        q.stopping = false;
        q.dropped = 0;
        q.per_second = per_second;
        q.burst = q.tokens = burst > 1 ? burst : 1;
        q.refilled_ms = il_monotonic_ms();
        for (size_t i = 0; i < EVENT_SENDERS; i++)
            if (pthread_create(&q.threads[q.n_threads], NULL, sender, NULL) == 0)
                q.n_threads++;
        q.running = q.n_threads > 0;
    }
    pthread_mutex_unlock(&q.lock);
}

void vk_events_stop(void)
{
    pthread_mutex_lock(&q.lock);
    bool running = q.running;
    q.stopping = true;
    q.drain_until = il_monotonic_ms() + EVENT_DRAIN_MS;
    pthread_cond_broadcast(&q.more);
    pthread_mutex_unlock(&q.lock);
    if (!running)
        return;
    for (size_t i = 0; i < q.n_threads; i++)
        pthread_join(q.threads[i], NULL);
    pthread_mutex_lock(&q.lock);
    q.n_threads = 0;
    q.running = false;
    if (q.dropped)
        il_warn("%lu Events not posted: the API server fell behind", q.dropped);
    pthread_mutex_unlock(&q.lock);
}

size_t vk_events_queued(void)
{
    pthread_mutex_lock(&q.lock);
    size_t n = q.queued;
    pthread_mutex_unlock(&q.lock);
    return n;
}

/* Queue a copy of e for the senders; false when they are not running
 * (post it now). */
static bool enqueue(const raised *ev)
{
    pthread_mutex_lock(&q.lock);
    if (!q.running || q.stopping) {
        pthread_mutex_unlock(&q.lock);
        return false;
    }
    if (q.queued >= EVENT_QUEUE_MAX) {
        if (q.dropped++ % 1000 == 0)
            il_warn("Event %s for pod %s/%s dropped: %zu Events wait for the API server",
                    ev->reason, ev->ns, ev->name, q.queued);
        pthread_mutex_unlock(&q.lock);
        return true;
    }
    raised *e = raised_copy(ev);
    if (q.tail)
        q.tail->next = e;
    else
        q.head = e;
    q.tail = e;
    q.queued++;
    pthread_cond_signal(&q.more);
    pthread_mutex_unlock(&q.lock);
    return true;
}

void vk_event(vk_kube *k, const char *node, const json_t *pod, const char *type,
              const char *reason, const char *fmt, ...)
{
    if (!vk_pod_name(pod) || !vk_pod_uid(pod))
        return;
    va_list ap;
    va_start(ap, fmt);
    char *message = NULL;
    if (vasprintf(&message, fmt, ap) < 0)
        message = NULL;
    va_end(ap);
    raised e = {.kube = k, .ns = vk_pod_ns(pod), .name = vk_pod_name(pod),
                .uid = vk_pod_uid(pod), .node = node, .type = type, .reason = reason,
                .text = message ? message : reason, .t = il_time_now()};
    if (!enqueue(&e))
        post(&e);
    free(message);
}
