/* deleter.c -- pending deletes: a /delete the plugin did not confirm.
 *
 * A plugin answers a delete with success only once its backend confirmed
 * the pod's work gone; when the plugin cannot be reached, times out or
 * answers an error (503: slurmctld is down), the pod is not deleted.  The
 * caller gets that failure, and the delete is recorded in the state
 * database (store.c, pending_deletes) and retried here, every
 * PendingDeleteRetrySeconds, until the plugin confirms it; then the pod is
 * forgotten.  So a delete from interlinkctl or from an upstream virtual
 * kubelet, which do not retry, is never lost, not even across a restart.
 * Until then the pod stays in /pods (with "deletePending": the reason) and
 * /status reports what the backend says.
 *
 * A refusal (4xx) is never a reason to forget the delete: that would leave
 * the pod's work running with nobody to stop it.  deleter_judge() sorts
 * the answers: 404/410 mean the plugin no longer knows the pod (done,
 * once its /status agrees: a wrong URL answers 404 too);
 * 401/403, 408, 409, 423, 425 and 429 are cured by time (a token rotated
 * on one side, a conflict, a rate limit); any other 4xx is retried with a
 * growing delay, up to REFUSED_DELAY_CAP_S, and logged as an error. */
#include "deleter.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "timeutil.h"

/* The longest wait between two tries of a delete the plugin refused. */
#define REFUSED_DELAY_CAP_S 3600

typedef struct deleter {
    pthread_mutex_t mu;
    pthread_cond_t wake;      /* stopping, or a delete was recorded */
    atomic_bool stopping;
    bool started;
    pthread_t thread;
} deleter;

char *deleter_reason(const il_http_result *res, int transport_rc)
{
    if (transport_rc != 0)
        return il_xasprintf("plugin unreachable: %s", res->timed_out ? "timed out" : res->error);
    size_t len = res->body.len;
    const char *body = il_buf_cstr(&res->body);
    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
        len--;
    return il_xasprintf("plugin answered %ld: %.*s", res->status, (int)(len > 500 ? 500 : len),
                        body);
}

deleter_outcome deleter_judge(const il_http_result *res, int transport_rc)
{
    if (transport_rc != 0)
        return DELETER_TRANSIENT;
    switch (res->status) {
    case 200:
        return DELETER_CONFIRMED;
    case 404:
    case 410:
        return DELETER_GONE;
    case 401:
    case 403:
    case 408:
    case 409:
    case 423:
    case 425:
    case 429:
        return DELETER_TRANSIENT;
    default:
        return res->status >= 400 && res->status < 500 ? DELETER_REFUSED : DELETER_TRANSIENT;
    }
}

/* True when the plugin answers /status for the pod in body with an empty
 * list: it does not know the pod. */
static bool plugin_does_not_know(api *a, const char *body, size_t len)
{
    char *list = il_xasprintf("[%.*s]", (int)len, body);
    il_http_result res;
    int rc = relay_call(a, NULL, "GET", "/status", list, strlen(list), &res);
    bool unknown = false;
    if (rc == 0 && res.status == 200) {
        json_t *answer = json_loadb(res.body.data, res.body.len, 0, NULL);
        unknown = json_is_array(answer) && json_array_size(answer) == 0;
        json_decref(answer);
    }
    il_http_result_free(&res);
    free(list);
    return unknown;
}

deleter_outcome deleter_verdict(api *a, const char *body, size_t len, const il_http_result *res,
                                int transport_rc)
{
    deleter_outcome o = deleter_judge(res, transport_rc);
    if (o == DELETER_GONE && !plugin_does_not_know(a, body, len))
        return DELETER_TRANSIENT;
    return o;
}

/* Seconds until the next try: the retry interval, doubled per refusal. */
static long long retry_delay(const api *a, deleter_outcome o, long long attempts)
{
    long long delay = a->cfg.pending_delete_retry_s;
    if (o != DELETER_REFUSED)
        return delay;
    for (long long i = 0; i < attempts && delay < REFUSED_DELAY_CAP_S; i++)
        delay *= 2;
    return delay < REFUSED_DELAY_CAP_S ? delay : REFUSED_DELAY_CAP_S;
}

int deleter_intend(api *a, const char *uid, const char *body, size_t len)
{
    long long due = (long long)time(NULL) + a->cfg.pending_delete_retry_s +
                    a->cfg.sidecar_timeout_s;
    return store_put_pending_delete(a->store, uid, body, len, "being relayed to the plugin", due);
}

int deleter_record(api *a, const char *uid, const char *body, size_t len,
                   const il_http_result *res, int transport_rc, long long attempts)
{
    char *reason = deleter_reason(res, transport_rc);
    deleter_outcome o = deleter_judge(res, transport_rc);
    long long delay = retry_delay(a, o, attempts);
    int rc = store_put_pending_delete(a->store, uid, body, len, reason,
                                      (long long)time(NULL) + delay);
    if (rc == 0 && o == DELETER_REFUSED)
        il_error("delete of %s refused by the plugin (%s): retrying in %llds (the pod's work "
                 "may still run)", uid, reason, delay);
    else if (rc == 0)
        il_warn("delete of %s not confirmed (%s): retrying in %llds", uid, reason, delay);
    else
        il_error("delete of %s not confirmed (%s) and not recorded for a retry", uid, reason);
    free(reason);
    return rc;
}

/* One retry; true when the plugin confirmed it (and the pod is forgotten).
 * A confirmed delete whose row cannot be removed yet (disk full) stays
 * due and is tried again on the next pass. */
static bool retry_one(api *a, const store_pending_delete *p)
{
    il_http_result res;
    int rc = relay_call(a, NULL, "POST", "/delete", p->body, strlen(p->body), &res);
    deleter_outcome o = deleter_verdict(a, p->body, strlen(p->body), &res, rc);
    bool done = o == DELETER_CONFIRMED || o == DELETER_GONE;
    if (done && store_delete(a->store, p->uid) == 0)
        il_info("pending delete of %s %s after %lld attempts", p->uid,
                o == DELETER_GONE ? "done (the plugin no longer knows the pod)" : "confirmed",
                p->attempts + 1);
    else if (!done)
        deleter_record(a, p->uid, p->body, strlen(p->body), &res, rc, p->attempts);
    il_http_result_free(&res);
    return done;
}

static void retry_due(api *a)
{
    store_pending_delete *due;
    size_t n;
    if (store_list_pending_deletes(a->store, (long long)time(NULL), &due, &n) != 0)
        return;
    for (size_t i = 0; i < n && !a->deleter->stopping; i++)
        retry_one(a, &due[i]);
    store_pending_deletes_free(due, n);
}

static void *deleter_loop(void *arg)
{
    api *a = arg;
    deleter *d = a->deleter;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        pthread_mutex_unlock(&d->mu);
        retry_due(a);
        pthread_mutex_lock(&d->mu);
        /* Wake each second: due times are in whole seconds. */
        int64_t deadline = il_monotonic_ms() + 1000;
        struct timespec ts = {.tv_sec = deadline / 1000,
                              .tv_nsec = (deadline % 1000) * 1000000L};
        if (!d->stopping)
            pthread_cond_timedwait(&d->wake, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int deleter_start(api *a)
{
    deleter *d = il_xcalloc(1, sizeof(*d));
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);   /* il_monotonic_ms's clock */
    pthread_cond_init(&d->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&d->mu, NULL);
    a->deleter = d;
    int e = pthread_create(&d->thread, NULL, deleter_loop, a);
    if (e != 0) {
        il_error("cannot start the pending-delete retrier: %s", strerror(e));
        return -1;
    }
    d->started = true;
    return 0;
}

void deleter_stop(api *a)
{
    deleter *d = a->deleter;
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->mu);
    if (d->started)
        pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->mu);
    free(d);
    a->deleter = NULL;
}
