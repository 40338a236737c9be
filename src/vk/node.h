/* node.h -- the virtual Node as the API server should see it, and its Lease.
 *
 * vk_node holds what the node shows: configuration, the latest interlink
 * ping (capacity, accelerators, taints from the plugin's PingResponse) and
 * the conditions with their transition times.  The builders are pure: they
 * turn that state into a Node to create, merge patches for the node and its
 * status (NULL when nothing changed, so the API server is written only on
 * change), and a Lease.  The loops that call them live elsewhere. */
#ifndef VK_NODE_H
#define VK_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "timeutil.h"
#include "vkconfig.h"

#define VK_SYSTEM_TAINT "virtual-node.interlink/no-schedule"
#define VK_PING_ANNOTATION "interlink.virtual-kubelet.io/ping-response"

typedef struct vk_condition {
    bool status;
    il_time since;            /* lastTransitionTime: changes only with status */
    char *reason;
    char *message;
} vk_condition;

/* A condition the plugin reports in its ping ("conditions": a drained
 * SLURM node with SLURM's reason), shown on the Node as it is. */
typedef struct vk_plugin_condition {
    char *type;
    vk_condition c;
} vk_plugin_condition;

#define VK_PLUGIN_CONDITIONS_MAX 8

typedef struct vk_node {
    const vk_config *cfg;     /* borrowed; outlives the node */
    char *cpu, *memory, *pods;        /* capacity now (config, then ping) */
    vk_accelerator *accels;           /* capacity by type, summed */
    size_t n_accels;
    vk_taint *plugin_taints;          /* the plugin's latest list */
    size_t n_plugin_taints;
    char *ping_body;                  /* the latest successful ping's body */
    vk_condition ready;
    vk_condition connectivity;
    vk_plugin_condition plugin_conds[VK_PLUGIN_CONDITIONS_MAX];
    size_t n_plugin_conds;
    il_time started;
} vk_node;

/* Not ready until the first ping answers. */
void vk_node_init(vk_node *n, const vk_config *cfg, il_time now);
void vk_node_free(vk_node *n);

/* A ping answered 200 with body (a PingResponse, or opaque text: upstream
 * plugins may send anything).  Resources in it replace the current ones;
 * an accelerators list replaces the accelerator set (so a vanished GPU
 * type leaves capacity); a taints list (even empty) replaces the plugin
 * taints, absent leaves them; a conditions list (type, status "True" or
 * "False", reason, message) replaces the plugin's conditions, absent clears
 * them (the plugin reports a condition while it holds). */
void vk_node_ping_ok(vk_node *n, const char *body, size_t len, il_time now);
/* A ping failed: message says how (status and body, or transport error). */
void vk_node_ping_failed(vk_node *n, const char *message, il_time now);

/* The whole Node, for creation. */
json_t *vk_node_object(const vk_node *n, il_time heartbeat);
/* A merge patch for the node's labels, ping annotation and taints against
 * the node as the API server has it (cur), or NULL when it already shows
 * them.  Taints that other controllers put on the node (not-ready,
 * unreachable, cordon) are kept; ours are replaced.  The patch carries
 * cur's resourceVersion, so a concurrent change gives 409 (re-read, retry). */
json_t *vk_node_meta_patch(const vk_node *n, const json_t *cur);
/* A merge patch for nodes/status, or NULL when prev (the status last
 * written, or NULL) already says the same thing apart from heartbeat
 * times.  Capacity keys that disappeared are sent as null (removed). */
json_t *vk_node_status_patch(const vk_node *n, const json_t *prev, il_time heartbeat);
/* The status part of vk_node_object, to remember what was written. */
json_t *vk_node_status(const vk_node *n, il_time heartbeat);

/* The node's Lease in kube-node-lease, owned by the Node (uid may be NULL
 * before the node exists). */
json_t *vk_lease_object(const char *node, const char *node_uid, int64_t duration_s,
                        il_time renew);
/* metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
void vk_micro_time(il_time t, char out[IL_RFC3339_MAX]);

#endif
