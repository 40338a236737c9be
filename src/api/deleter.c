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
 * /status reports what the backend says. */
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

int deleter_intend(api *a, const char *uid, const char *body, size_t len)
{
    long long due = (long long)time(NULL) + a->cfg.pending_delete_retry_s +
                    a->cfg.sidecar_timeout_s;
    return store_put_pending_delete(a->store, uid, body, len, "being relayed to the plugin", due);
}

int deleter_record(api *a, const char *uid, const char *body, size_t len,
                   const il_http_result *res, int transport_rc)
{
    char *reason = deleter_reason(res, transport_rc);
    long long next = (long long)time(NULL) + a->cfg.pending_delete_retry_s;
    int rc = store_put_pending_delete(a->store, uid, body, len, reason, next);
    if (rc == 0)
        il_warn("delete of %s not confirmed (%s): retrying every %llds", uid, reason,
                (long long)a->cfg.pending_delete_retry_s);
    else
        il_error("delete of %s not confirmed (%s) and not recorded for a retry", uid, reason);
    free(reason);
    return rc;
}

/* One retry; true when the plugin confirmed it (and the pod is forgotten). */
static bool retry_one(api *a, const store_pending_delete *p)
{
    il_http_result res;
    int rc = relay_call(a, NULL, "POST", "/delete", p->body, strlen(p->body), &res);
    bool done = rc == 0 && res.status == 200;
    if (done && store_delete(a->store, p->uid) == 0) {
        il_info("pending delete of %s confirmed after %lld attempts", p->uid, p->attempts + 1);
    } else if (rc == 0 && res.status >= 400 && res.status < 500) {
        il_error("pending delete of %s refused by the plugin (%ld): given up", p->uid,
                 res.status);
        store_forget_pending_delete(a->store, p->uid);
    } else if (!done) {
        deleter_record(a, p->uid, p->body, strlen(p->body), &res, rc);
    }
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
