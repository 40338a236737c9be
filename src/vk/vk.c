/* vk.c -- the VK's life cycle: build the shared context, start one thread
 * per loop plus the workers, and on SIGTERM/SIGINT stop them in order
 * (wake every sleeper, shut the queue, join) so nothing is leaked. */
#include "vk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "timeutil.h"
#include "util.h"
#include "vkmetrics.h"

vk *vk_new(const vk_config *cfg, const vk_kubeconfig *kc, char *err, size_t errlen)
{
    vk_kube *kube = vk_kube_new(kc, cfg->timeout_s * 1000, err, errlen);
    if (!kube)
        return NULL;
    vk_interlink *il = vk_interlink_new(cfg, err, errlen);
    if (!il) {
        vk_kube_free(kube);
        return NULL;
    }
    vk *v = il_xcalloc(1, sizeof *v);
    v->cfg = cfg;
    v->kube = kube;
    v->il = il;
    v->pods = vk_pods_new();
    v->queue = vk_queue_new();
    v->cluster_ca = kc->ca.len ? il_xstrndup(kc->ca.data, kc->ca.len) : NULL;
    pthread_mutex_init(&v->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&v->wake, &attr);
    pthread_condattr_destroy(&attr);
    return v;
}

void vk_free(vk *v)
{
    if (!v)
        return;
    vk_kube_free(v->kube);
    vk_interlink_free(v->il);
    vk_pods_free(v->pods);
    vk_queue_free(v->queue);
    free(v->node_uid);
    free(v->cluster_ca);
    pthread_cond_destroy(&v->wake);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

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
    v->status_poked = true;
    pthread_cond_broadcast(&v->wake);   /* other sleepers wake, see no stop, sleep on */
    pthread_mutex_unlock(&v->lock);
}

void vk_pod_written(vk *v, json_t *pod)
{
    if (vk_pods_refresh(v->pods, pod))
        vk_queue_add(v->queue, vk_pod_uid(pod), 0);
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

typedef void *(*loop_fn)(void *);

int vk_run(vk *v)
{
    static const struct { const char *name; loop_fn fn; } loops[] = {
        {"node", vk_node_loop}, {"lease", vk_lease_loop}, {"watch", vk_watch_loop},
        {"status", vk_status_loop}, {"changes", vk_changes_loop},
        {"cert", vk_kubelet_cert_loop}};
    enum { N_LOOPS = sizeof loops / sizeof loops[0] };
    pthread_t threads[N_LOOPS + VK_WORKERS];
    size_t started = 0;
    char err[512];
    if (!(v->kubelet = vk_kubelet_start(v, err, sizeof err))) {
        il_error("kubelet API: %s", err);
        return 1;
    }
    il_httpd *metrics = vk_metrics_listen(v, err, sizeof err);
    if (!metrics && *err) {
        il_error("metrics: %s", err);
        vk_kubelet_stop(v->kubelet);
        v->kubelet = NULL;
        return 1;
    }
    for (size_t i = 0; i < N_LOOPS + VK_WORKERS; i++) {
        loop_fn fn = i < N_LOOPS ? loops[i].fn : vk_worker_loop;
        int e = pthread_create(&threads[started], NULL, fn, v);
        if (e != 0) {
            il_error("cannot start a thread: %s", strerror(e));
            break;
        }
        started++;
    }
    int rc = started == N_LOOPS + VK_WORKERS ? 0 : 1;
    if (rc == 0) {
        int sig = il_daemon_wait_for_signal();
        il_info("signal %d: stopping", sig);
    }
    pthread_mutex_lock(&v->lock);
    v->stopping = true;
    pthread_cond_broadcast(&v->wake);
    pthread_mutex_unlock(&v->lock);
    vk_queue_shutdown(v->queue);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    vk_kubelet_stop(v->kubelet);
    v->kubelet = NULL;
    il_httpd_stop(metrics);
    return rc;
}
