/* vk.h -- the running virtual kubelet: what its threads share.
 *
 * One vk value owns the configuration, the two clients (Kubernetes API,
 * interlink), the pod table, the work queue and the stop signal.  Every
 * loop is one thread started by vk_run:
 *
 *   node     register the Node, ping interlink, write node status   (nodeloop.c)
 *   lease    renew the Lease in kube-node-lease                     (nodeloop.c)
 *   watch    list+watch this node's pods into the table             (podwatch.c)
 *   status   one batched interlink /status per cycle                (statusloop.c)
 *   changes  long-poll interlink /watch, wake the status loop        (changes.c)
 *   workers  per-pod create / delete, serialized by pod UID         (podsync.c)
 *   cert     keep the kubelet API's serving certificate current    (kubeletcert.c)
 *
 * plus the kubelet HTTPS API's own server threads (kubelet.c).  How they
 * sleep, wake and stop is wake.c's; vk.c builds, starts and joins them.
 *
 * Threads never share mutable state except through the pod table and
 * the queue (both locked) and the node state (locked in nodeloop.c). */
#ifndef VK_VK_H
#define VK_VK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "interlink.h"
#include "kube.h"
#include "kubelet.h"
#include "pods.h"
#include "queue.h"
#include "refcache.h"
#include "tunnelgw.h"
#include "vkconfig.h"

typedef struct vk {
    const vk_config *cfg;     /* borrowed from main */
    vk_kube *kube;
    vk_interlink *il;
    vk_tunnelgw *gateway;     /* pod tunnels; NULL when none is configured */
    vk_pods *pods;
    vk_queue *queue;
    vk_refcache *refcache;    /* ConfigMaps and Secrets shared between creates */
    vk_kubelet *kubelet;      /* started by vk_run */
    vk_serving_cert *serving_cert; /* the kubelet's, kept current by the cert thread */
    char *cluster_ca;         /* the kubeconfig's CA (PEM), or NULL */

    pthread_mutex_t lock;     /* guards stopping and node_uid; cond wakes sleepers */
    pthread_cond_t wake;
    bool stopping;
    bool status_poked;        /* a status cycle is wanted now (changes.c) */
    char *node_uid;           /* set once the Node exists (the lease's owner) */
} vk;

/* Build the clients from cfg and the kubeconfig in kc.  Returns NULL with
 * err set when a client cannot be made. */
vk *vk_new(const vk_config *cfg, const vk_kubeconfig *kc, char *err, size_t errlen);
void vk_free(vk *v);

/* Start every loop, block until SIGINT/SIGTERM, stop and join them all. */
int vk_run(vk *v);

/* ---- wake.c ---------------------------------------------------------- */

/* Sleep up to ms; false when the VK is stopping (return at once then). */
bool vk_sleep(vk *v, int64_t ms);
bool vk_stopping(vk *v);
/* Ask the status loop for a cycle now; pokes while one is wanted or running
 * add up to one more cycle, never to a second one in flight. */
void vk_status_poke(vk *v);
/* podsync.c: store the API server's reply to one of our pod writes
 * (vk_pods_refresh) and queue the pod for a worker when the reply implies
 * work (a deletionTimestamp we had not seen). */
void vk_pod_written(vk *v, json_t *pod);
/* The status loop's sleep: up to ms, or until poked (the poke is taken).
 * false when the VK is stopping. */
bool vk_status_wait(vk *v, int64_t ms);

/* The Node's UID (caller frees), or NULL before registration. */
char *vk_node_uid(vk *v);
void vk_set_node_uid(vk *v, const char *uid);

/* Exponential backoff: base_ms * 2^failures, capped. */
int64_t vk_backoff_ms(int failures, int64_t base_ms, int64_t cap_ms);

/* Thread bodies (arg is the vk). */
void *vk_node_loop(void *arg);
void *vk_lease_loop(void *arg);
void *vk_watch_loop(void *arg);
void *vk_status_loop(void *arg);
void *vk_changes_loop(void *arg);
void *vk_worker_loop(void *arg);

#endif
