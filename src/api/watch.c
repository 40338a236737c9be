/* watch.c -- GET /watch (see watch.h).
 *
 * Owns the change journal (a ring of the last WATCH_JOURNAL_SIZE stored
 * status changes, each under its generation), the watcher count and its
 * limit, and the long-poll answer.  It tells the refresher (refresher.c)
 * whether anyone watches; it calls nothing back.
 *
 * Generations: the one before a run's first change is the start time in
 * microseconds, so generations only grow across restarts, and a watcher
 * holding a previous run's generation is told to resync instead of being
 * answered from a journal that never held its changes.
 *
 * Blocking: a watcher that must wait gets a pulled stream (httpd.c) whose
 * reader waits at most a second at a time for a change; between waits the
 * server checks whether the watcher hung up (its slot is then freed at
 * once, not at its timeout) and whether the server is stopping. */
#include "watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "tenants.h"
#include "timeutil.h"
#include "util.h"

/* A watcher that just got its answer comes back within this; the
 * refresher keeps going over such gaps. */
#define WATCH_LINGER_MS 10000

typedef struct watch_change {
    uint64_t gen;
    char *uid, *ns, *name, *phase;
} watch_change;

struct watch_hub {
    pthread_mutex_t mu;
    pthread_cond_t changed;          /* a change was recorded, or stopping */
    uint64_t gen;                    /* the latest generation */
    watch_change ring[WATCH_JOURNAL_SIZE];   /* generation g at g % size */
    size_t kept;                     /* changes in the ring */
    int64_t max_watchers;
    bool has_watched;
    int64_t last_watch_ms;           /* monotonic: when a watcher last came or left */
    bool stopping;
    metrics_watch counts;            /* watchers, generation and event counts */
};

watch_hub *watch_hub_new(int64_t max_watchers)
{
    watch_hub *h = il_xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->changed, &attr);
    pthread_condattr_destroy(&attr);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    h->gen = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    h->max_watchers = max_watchers;
    h->counts.generation = h->gen;
    metrics_set_watch(&h->counts);
    return h;
}

static void change_free(watch_change *c)
{
    free(c->uid);
    free(c->ns);
    free(c->name);
    free(c->phase);
    memset(c, 0, sizeof *c);
}

void watch_hub_free(watch_hub *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < WATCH_JOURNAL_SIZE; i++)
        change_free(&h->ring[i]);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Under h->mu: push the numbers to /metrics. */
static void publish(watch_hub *h)
{
    h->counts.generation = h->gen;
    metrics_set_watch(&h->counts);
}

/* Under h->mu: wait for a change or stopping until the monotonic deadline;
 * false when the deadline passed. */
static bool wait_until(watch_hub *h, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000L};
    return pthread_cond_timedwait(&h->changed, &h->mu, &ts) != ETIMEDOUT;
}

void watch_record_pods(watch_hub *h, const watch_pod *pods, size_t n)
{
    if (!h || n == 0)
        return;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        watch_change *c = &h->ring[++h->gen % WATCH_JOURNAL_SIZE];
        change_free(c);
        c->gen = h->gen;
        c->uid = il_xstrdup(pods[i].uid);
        c->ns = il_xstrdup(pods[i].ns);
        c->name = il_xstrdup(pods[i].name);
        c->phase = il_xstrdup(pods[i].phase);
        if (h->kept < WATCH_JOURNAL_SIZE)
            h->kept++;
    }
    publish(h);
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->mu);
}

/* Under h->mu: the journal holds every change after since. */
static bool since_known(const watch_hub *h, uint64_t since)
{
    return since <= h->gen && since >= h->gen - h->kept;
}

/* Under h->mu: the answer {generation, pods, resync}: each pod changed
 * after since once, with its latest phase, oldest change first.  resync
 * when the journal no longer reaches back to since (more changes than it
 * holds arrived while the watcher waited): the pods listed are then only
 * the latest ones and the caller must look at all of its pods. */
static json_t *changes_since(watch_hub *h, uint64_t since)
{
    bool resync = !since_known(h, since);
    uint64_t from = resync ? h->gen - h->kept : since;
    json_t *newest_first = json_array(), *seen = json_object();
    for (uint64_t g = h->gen; g > from; g--) {
        const watch_change *c = &h->ring[g % WATCH_JOURNAL_SIZE];
        if (!c->uid || json_object_get(seen, c->uid))
            continue;
        json_object_set_new(seen, c->uid, json_true());
        json_array_append_new(newest_first,
                              json_pack("{s:s, s:s?, s:s?, s:s?, s:I}", "UID", c->uid,
                                        "namespace", c->ns, "name", c->name, "phase", c->phase,
                                        "generation", (json_int_t)c->gen));
    }
    json_t *pods = json_array();
    for (size_t i = json_array_size(newest_first); i > 0; i--)
        json_array_append(pods, json_array_get(newest_first, i - 1));
    json_decref(newest_first);
    json_decref(seen);
    return json_pack("{s:I, s:o, s:b}", "generation", (json_int_t)h->gen, "pods", pods,
                     "resync", resync);
}

/* Leave out the pods of namespaces the caller may not see (tenants.c). */
static void drop_foreign(api *a, il_request *req, json_t *answer)
{
    json_t *pods = json_object_get(answer, "pods");
    for (size_t i = json_array_size(pods); i > 0; i--) {
        const char *ns = json_string_value(json_object_get(json_array_get(pods, i - 1),
                                                           "namespace"));
        if (!access_may(a, req, ns))
            json_array_remove(pods, i - 1);
    }
}

static void watcher_leaves(watch_hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->counts.watchers--;
    h->last_watch_ms = il_monotonic_ms();
    publish(h);
    pthread_cond_broadcast(&h->changed);   /* watch_stop may wait for the last one */
    pthread_mutex_unlock(&h->mu);
}

/* ---- the long poll ---------------------------------------------------------- */

/* A watcher waiting for its answer: the pulled stream's context. */
typedef struct watch_stream {
    watch_hub *hub;
    api *a;
    il_request *req;                 /* alive while the stream is read */
    uint64_t since;
    int64_t deadline_ms;
    char *body;                      /* the answer, once known */
    size_t len, off;
} watch_stream;

/* Wait up to a second; true once the answer is in ws->body. */
static bool answer_ready(watch_stream *ws)
{
    watch_hub *h = ws->hub;
    int64_t now = il_monotonic_ms();
    int64_t until = now + 1000 < ws->deadline_ms ? now + 1000 : ws->deadline_ms;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping && h->gen == ws->since && wait_until(h, until))
        ;
    bool ready = h->stopping || h->gen != ws->since || il_monotonic_ms() >= ws->deadline_ms;
    json_t *answer = ready ? changes_since(h, ws->since) : NULL;
    pthread_mutex_unlock(&h->mu);
    if (answer) {
        drop_foreign(ws->a, ws->req, answer);
        ws->body = json_dumps(answer, JSON_COMPACT);
        ws->len = strlen(ws->body);
        json_decref(answer);
    }
    return ready;
}

static ssize_t watch_stream_read(void *ctx, char *buf, size_t max)
{
    watch_stream *ws = ctx;
    if (!ws->body && !answer_ready(ws))
        return IL_STREAM_AGAIN;
    size_t n = ws->len - ws->off < max ? ws->len - ws->off : max;
    memcpy(buf, ws->body + ws->off, n);
    ws->off += n;
    return (ssize_t)n;
}

static void watch_stream_free(void *ctx)
{
    watch_stream *ws = ctx;
    watcher_leaves(ws->hub);
    free(ws->body);
    free(ws);
}

/* ---- the request ------------------------------------------------------------ */

typedef struct watch_query {
    bool has_since;
    uint64_t since;
    int64_t timeout_s;
} watch_query;

/* Decimal digits only (no sign, no spaces), at most max. */
static bool parse_count(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (max - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* ?since=GEN&timeoutSeconds=N; answers 400 itself when malformed. */
static int parse_query(il_request *req, watch_query *q)
{
    const char *since = il_request_query(req, "since");
    const char *timeout = il_request_query(req, "timeoutSeconds");
    uint64_t t = WATCH_DEFAULT_TIMEOUT_S;
    *q = (watch_query){.has_since = since != NULL};
    if (since && !parse_count(since, UINT64_MAX, &q->since)) {
        il_respond_error(req, 400, "since must be a generation (a non-negative integer), "
                                   "not \"%.64s\"", since);
        return -1;
    }
    if (timeout && !parse_count(timeout, WATCH_MAX_TIMEOUT_S, &t)) {
        il_respond_error(req, 400, "timeoutSeconds must be an integer from 0 to %d, not \"%.64s\"",
                         WATCH_MAX_TIMEOUT_S, timeout);
        return -1;
    }
    q->timeout_s = (int64_t)t;
    return 0;
}

/* Under h->mu: 410, the caller must look at all of its pods and watch on
 * from the generation given. */
static json_t *resync_answer(watch_hub *h, uint64_t since)
{
    h->counts.resyncs++;
    publish(h);
    char *why = il_xasprintf("generation %llu is unknown or no longer in the journal (it holds "
                             "the changes after %llu up to %llu): look at every pod again and "
                             "watch from %llu", (unsigned long long)since,
                             (unsigned long long)(h->gen - h->kept), (unsigned long long)h->gen,
                             (unsigned long long)h->gen);
    json_t *answer = json_pack("{s:I, s:o, s:b, s:s}", "generation", (json_int_t)h->gen, "pods",
                               json_array(), "resync", true, "error", why);
    free(why);
    return answer;
}

/* Under h->mu: 0 when the caller now holds a watcher slot, else the status
 * of the answer put in *answer (429, 410). */
static int admit(watch_hub *h, const watch_query *q, json_t **answer)
{
    if (h->counts.watchers >= h->max_watchers) {
        h->counts.rejected++;
        publish(h);
        return 429;
    }
    if (q->has_since && !since_known(h, q->since)) {
        *answer = resync_answer(h, q->since);
        return 410;
    }
    h->counts.watchers++;
    h->has_watched = true;
    h->last_watch_ms = il_monotonic_ms();
    publish(h);
    return 0;
}

void handle_watch(il_request *req, void *ud)
{
    api *a = ud;
    watch_hub *h = a->watch;
    watch_query q;
    if (parse_query(req, &q) != 0)
        return;
    json_t *answer = NULL;
    pthread_mutex_lock(&h->mu);
    int refused = admit(h, &q, &answer);
    bool now = refused == 0 && (!q.has_since || q.timeout_s == 0 || h->gen != q.since ||
                                h->stopping);
    if (now)
        answer = changes_since(h, q.has_since ? q.since : h->gen);
    int64_t limit = h->max_watchers;
    pthread_mutex_unlock(&h->mu);
    if (refused == 429) {
        il_respond_error(req, 429, "too many watchers (MaxWatchers is %lld); retry later",
                         (long long)limit);
    } else if (refused) {
        il_respond_json(req, refused, answer);
    } else if (now) {
        drop_foreign(a, req, answer);
        il_respond_json(req, 200, answer);
        watcher_leaves(h);
    } else {
        watch_stream *ws = il_xcalloc(1, sizeof *ws);
        *ws = (watch_stream){.hub = h, .a = a, .req = req, .since = q.since,
                             .deadline_ms = il_monotonic_ms() + q.timeout_s * 1000};
        il_respond_stream(req, 200, "application/json", watch_stream_read, ws,
                          watch_stream_free);
    }
}

/* ---- what the refresher asks (refresher.c) ------------------------------------ */

int watch_wait_for_watchers(watch_hub *h, int64_t period_ms)
{
    pthread_mutex_lock(&h->mu);
    int64_t next = il_monotonic_ms() + period_ms;
    while (!h->stopping && il_monotonic_ms() < next)
        wait_until(h, next);
    bool wanted = h->counts.watchers > 0 ||
                  (h->has_watched && il_monotonic_ms() - h->last_watch_ms < WATCH_LINGER_MS);
    int rc = h->stopping ? -1 : wanted;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

void watch_count_refresh(watch_hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->counts.refreshes++;
    publish(h);
    pthread_mutex_unlock(&h->mu);
}

void watch_stop(watch_hub *h)
{
    if (!h)
        return;
    /* Waiting watchers answer at once; give them a moment to send it, so
     * they see a complete (empty) answer rather than a cut connection. */
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_broadcast(&h->changed);
    int64_t deadline = il_monotonic_ms() + 2000;
    while (h->counts.watchers > 0 && wait_until(h, deadline))
        ;
    pthread_mutex_unlock(&h->mu);
}
