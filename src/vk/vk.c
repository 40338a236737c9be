/* vk.c -- the VK's life cycle: build the shared context, start one thread
 * per loop plus the workers, and on SIGTERM/SIGINT stop them in order
 * (wake every sleeper, shut the queue, join) so nothing is leaked.  Only
 * main.c calls it; the threads share wake.c, not this file. */
#include "vk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "events.h"
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
    vk_tunnelgw *gw = vk_tunnelgw_new(cfg, err, errlen);
    if (!gw && *err) {
        vk_interlink_free(il);
        vk_kube_free(kube);
        return NULL;
    }
    vk *v = il_xcalloc(1, sizeof *v);
    v->cfg = cfg;
    v->kube = kube;
    v->il = il;
    v->gateway = gw;
    v->pods = vk_pods_new();
    v->queue = vk_queue_new();
    v->refcache = vk_refcache_new(cfg->refs_cache_s * 1000);
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
    vk_tunnelgw_free(v->gateway);
    vk_pods_free(v->pods);
    vk_queue_free(v->queue);
    vk_refcache_free(v->refcache);
    free(v->node_uid);
    free(v->cluster_ca);
    pthread_cond_destroy(&v->wake);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

typedef void *(*loop_fn)(void *);

int vk_run(vk *v)
{
    static const struct { const char *name; loop_fn fn; } loops[] = {
        {"node", vk_node_loop}, {"lease", vk_lease_loop}, {"watch", vk_watch_loop},
        {"status", vk_status_loop}, {"changes", vk_changes_loop},
        {"cert", vk_kubelet_cert_loop}};
    enum { N_LOOPS = sizeof loops / sizeof loops[0] };
    size_t n_threads = N_LOOPS + (size_t)v->cfg->workers;
    pthread_t threads[N_LOOPS + VK_MAX_WORKERS];
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
    vk_events_start((int)v->cfg->events_per_second, (int)v->cfg->event_burst);
    for (size_t i = 0; i < n_threads; i++) {
        loop_fn fn = i < N_LOOPS ? loops[i].fn : vk_worker_loop;
        int e = pthread_create(&threads[started], NULL, fn, v);
        if (e != 0) {
            il_error("cannot start a thread: %s", strerror(e));
            break;
        }
        started++;
    }
    int rc = started == n_threads ? 0 : 1;
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
    vk_events_stop();
    vk_kubelet_stop(v->kubelet);
    v->kubelet = NULL;
    il_httpd_stop(metrics);
    return rc;
}
