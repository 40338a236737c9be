/* node.c -- the virtual Node object, its patches and its Lease.
 *
 * Owns what the node shows (labels, taints, capacity, conditions,
 * addresses, endpoints), how a ping changes it, and the comparison that
 * keeps the VK from writing an unchanged node.  Differences from upstream,
 * on purpose: Ready follows the ping from the first answer (not after
 * 30 s) and says why when false; transition times move only on a real
 * transition; plugin taints and resources reach the API server (spec and
 * status), and resources that disappear are removed. */
#include "node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quantity.h"
#include "util.h"
#include "wire.h"

#define OWNED_TAINTS_ANNOTATION "interlink.virtual-kubelet.io/taints"
#define PING_BODY_MAX 16384   /* annotations share a 256 KiB budget */

/* ---- state ------------------------------------------------------------- */

static void condition_set(vk_condition *c, bool status, const char *reason, const char *message,
                          il_time now)
{
    if (c->status != status || il_time_is_zero(c->since))
        c->since = now;
    c->status = status;
    free(c->reason);
    free(c->message);
    c->reason = il_xstrdup(reason);
    c->message = il_xstrdup(message);
}

static void accels_free(vk_accelerator *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].type);
        free(a[i].model);
    }
    free(a);
}

/* Add amount to type's capacity (configured accelerators of one type are
 * summed, as upstream does). */
static void accel_add(vk_node *n, const char *type, int64_t amount, bool replace)
{
    for (size_t i = 0; i < n->n_accels; i++) {
        if (!strcmp(n->accels[i].type, type)) {
            n->accels[i].available = replace ? amount : n->accels[i].available + amount;
            return;
        }
    }
    n->accels = il_xrealloc(n->accels, (n->n_accels + 1) * sizeof *n->accels);
    n->accels[n->n_accels++] = (vk_accelerator){il_xstrdup(type), NULL, amount};
}

void vk_node_init(vk_node *n, const vk_config *cfg, il_time now)
{
    memset(n, 0, sizeof *n);
    n->cfg = cfg;
    n->cpu = il_xstrdup(cfg->cpu);
    n->memory = il_xstrdup(cfg->memory);
    n->pods = il_xstrdup(cfg->pods);
    for (size_t i = 0; i < cfg->n_accelerators; i++)
        accel_add(n, cfg->accelerators[i].type, cfg->accelerators[i].available, false);
    n->started = now;
    condition_set(&n->ready, false, "KubeletNotReady", "waiting for the first interlink ping",
                  now);
    condition_set(&n->connectivity, false, "InterlinkPingPending",
                  "interlink has not been pinged yet", now);
}

void vk_node_free(vk_node *n)
{
    free(n->cpu);
    free(n->memory);
    free(n->pods);
    accels_free(n->accels, n->n_accels);
    vk_taints_free(n->plugin_taints, n->n_plugin_taints);
    free(n->ping_body);
    free(n->ready.reason);
    free(n->ready.message);
    free(n->connectivity.reason);
    free(n->connectivity.message);
    for (size_t i = 0; i < n->n_plugin_conds; i++) {
        free(n->plugin_conds[i].type);
        free(n->plugin_conds[i].c.reason);
        free(n->plugin_conds[i].c.message);
    }
    memset(n, 0, sizeof *n);
}

/* ---- ping -------------------------------------------------------------- */

/* Replace *slot with a valid quantity from resources[key]; a bad one is
 * logged and ignored, as upstream does, so one odd field does not make the
 * node lose its capacity. */
static void take_quantity(const json_t *resources, const char *key, bool whole, char **slot)
{
    const char *s = json_string_value(json_object_get(resources, key));
    int64_t milli;
    if (!s || !*s)
        return;
    if (il_quantity_milli(s, &milli) < 0 || (whole && milli % 1000 != 0)) {
        il_warn("ping: resources.%s \"%s\" is not a valid quantity (ignored)", key, s);
        return;
    }
    free(*slot);
    *slot = il_xstrdup(s);
}

static void take_accelerators(vk_node *n, const json_t *list)
{
    if (!json_is_array(list))
        return;
    accels_free(n->accels, n->n_accels);
    n->accels = NULL;
    n->n_accels = 0;
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a) {
        const char *type = json_string_value(json_object_get(a, "resourceType"));
        const char *avail = json_string_value(json_object_get(a, "available"));
        int64_t milli = 0;
        if (!type || !*type)
            continue;
        if (avail && *avail && (il_quantity_milli(avail, &milli) < 0 || milli % 1000 != 0)) {
            il_warn("ping: accelerator %s available \"%s\" is not a whole number (ignored)", type,
                    avail);
            continue;
        }
        accel_add(n, type, milli / 1000, true);
    }
}

static void taint_clear(vk_taint *t)
{
    free(t->key);
    free(t->value);
    free(t->effect);
    memset(t, 0, sizeof *t);
}

static void take_taints(vk_node *n, const json_t *list)
{
    if (!json_is_array(list))
        return;   /* absent: leave the plugin's taints as they are */
    vk_taints_free(n->plugin_taints, n->n_plugin_taints);
    n->plugin_taints = il_xcalloc(json_array_size(list), sizeof *n->plugin_taints);
    n->n_plugin_taints = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        char path[64], err[256];
        snprintf(path, sizeof path, "ping taints[%zu]", i);
        vk_taint *t = &n->plugin_taints[n->n_plugin_taints];
        if (vk_taint_from_json(json_array_get(list, i), path, t, err, sizeof err) < 0)
            il_warn("%s (ignored)", err);
        else if (strcmp(t->key, VK_SYSTEM_TAINT) == 0)
            taint_clear(t);   /* the system taint is not the plugin's to set */
        else
            n->n_plugin_taints++;
    }
}

static vk_plugin_condition *plugin_cond_find(vk_node *n, const char *type)
{
    for (size_t i = 0; i < n->n_plugin_conds; i++)
        if (strcmp(n->plugin_conds[i].type, type) == 0)
            return &n->plugin_conds[i];
    return NULL;
}

/* Conditions whose type a kubelet owns are not the plugin's to set. */
static bool plugin_may_set(const char *type)
{
    static const char *const ours[] = {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure",
                                       "NetworkUnavailable", "InterlinkConnectivity"};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (strcmp(type, ours[i]) == 0)
            return false;
    return type[0] != '\0';
}

/* The list replaces the previous one; a type seen before keeps its
 * lastTransitionTime while its status holds. */
static void take_conditions(vk_node *n, const json_t *list, il_time now)
{
    vk_plugin_condition next[VK_PLUGIN_CONDITIONS_MAX];
    size_t n_next = 0;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *status = json_string_value(json_object_get(c, "status"));
        const char *reason = json_string_value(json_object_get(c, "reason"));
        const char *message = json_string_value(json_object_get(c, "message"));
        if (!type || !status || !plugin_may_set(type) ||
            (strcmp(status, "True") != 0 && strcmp(status, "False") != 0) ||
            n_next == VK_PLUGIN_CONDITIONS_MAX) {
            il_warn("ping conditions[%zu]: not a condition the plugin may set (ignored)", i);
            continue;
        }
        vk_plugin_condition *old = plugin_cond_find(n, type);
        vk_plugin_condition *nc = &next[n_next++];
        memset(nc, 0, sizeof *nc);
        nc->type = il_xstrdup(type);
        if (old)
            nc->c.status = old->c.status, nc->c.since = old->c.since;
        condition_set(&nc->c, strcmp(status, "True") == 0, reason ? reason : "",
                      message ? message : "", now);
    }
    for (size_t k = 0; k < n->n_plugin_conds; k++) {
        free(n->plugin_conds[k].type);
        free(n->plugin_conds[k].c.reason);
        free(n->plugin_conds[k].c.message);
    }
    memcpy(n->plugin_conds, next, n_next * sizeof next[0]);
    n->n_plugin_conds = n_next;
}

void vk_node_ping_ok(vk_node *n, const char *body, size_t len, il_time now)
{
    json_t *ping = json_loadb(body ? body : "", len, 0, NULL);
    if (json_is_object(ping)) {   /* else opaque text: older plugins */
        const json_t *res = json_object_get(ping, "resources");
        take_quantity(res, "cpu", false, &n->cpu);
        take_quantity(res, "memory", false, &n->memory);
        take_quantity(res, "pods", true, &n->pods);
        take_accelerators(n, json_object_get(res, "accelerators"));
        take_taints(n, json_object_get(ping, "taints"));
        take_conditions(n, json_object_get(ping, "conditions"), now);
    }
    json_decref(ping);
    free(n->ping_body);
    n->ping_body = il_xstrndup(body ? body : "", len < PING_BODY_MAX ? len : PING_BODY_MAX);
    condition_set(&n->ready, true, "KubeletReady", "interlink and its plugin answer", now);
    condition_set(&n->connectivity, true, "InterlinkPingSuccessful",
                  "Ping successful with code 200", now);
}

void vk_node_ping_failed(vk_node *n, const char *message, il_time now)
{
    char *msg = il_xasprintf("interlink ping failed: %s", message);
    condition_set(&n->ready, false, "InterlinkPingFailed", msg, now);
    condition_set(&n->connectivity, false, "InterlinkPingFailed", msg, now);
    free(msg);
}

/* ---- labels and taints ------------------------------------------------- */

static json_t *node_labels(const vk_node *n)
{
    const char *name = n->cfg->node_name;
    json_t *l = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
                          "alpha.service-controller.kubernetes.io/exclude-balancer", "true",
                          "kubernetes.io/os", "virtual-kubelet", "kubernetes.io/hostname", name,
                          "kubernetes.io/role", "agent",
                          "node.kubernetes.io/exclude-from-external-load-balancers", "true",
                          "virtual-node.interlink/type", "virtual-kubelet");
    static const struct { const char *type, *label; } models[] = {
        {"nvidia.com/gpu", "nvidia-gpu-type"}, {"xilinx.com/fpga", "xilinx-fpga-type"},
        {"intel.com/fpga", "intel-fpga-type"}};
    for (size_t i = 0; i < n->cfg->n_accelerators; i++) {
        const vk_accelerator *a = &n->cfg->accelerators[i];
        for (size_t j = 0; *a->model && j < sizeof models / sizeof models[0]; j++)
            if (!strcmp(a->type, models[j].type))
                json_object_set_new(l, models[j].label, json_string(a->model));
    }
    for (size_t i = 0; i < n->cfg->n_labels; i++)
        json_object_set_new(l, n->cfg->labels[i].key, json_string(n->cfg->labels[i].value));
    return l;
}

static json_t *taint_json(const char *key, const char *value, const char *effect)
{
    json_t *t = json_pack("{s:s, s:s}", "key", key, "effect", effect);
    if (value && *value)
        json_object_set_new(t, "value", json_string(value));
    return t;
}

/* Append t unless a taint with its key and effect is there: a taint is
 * identified by both, and the first (system, then config) wins. */
static void taint_add(json_t *list, json_t *t)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (json_equal(json_object_get(e, "key"), json_object_get(t, "key")) &&
            json_equal(json_object_get(e, "effect"), json_object_get(t, "effect"))) {
            json_decref(t);
            return;
        }
    }
    json_array_append_new(list, t);
}

/* The taints this VK owns: the system one, NodeTaints, the plugin's. */
static json_t *our_taints(const vk_node *n)
{
    json_t *list = json_array();
    taint_add(list, taint_json(VK_SYSTEM_TAINT, "true", "NoSchedule"));
    for (size_t i = 0; i < n->cfg->n_taints; i++)
        taint_add(list, taint_json(n->cfg->taints[i].key, n->cfg->taints[i].value,
                                   n->cfg->taints[i].effect));
    for (size_t i = 0; i < n->n_plugin_taints; i++)
        taint_add(list, taint_json(n->plugin_taints[i].key, n->plugin_taints[i].value,
                                   n->plugin_taints[i].effect));
    return list;
}

static bool taint_listed(const json_t *list, const json_t *t)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
        if (json_equal(json_object_get(e, "key"), json_object_get(t, "key")) &&
            json_equal(json_object_get(e, "effect"), json_object_get(t, "effect")))
            return true;
    return false;
}

/* cur's taints that neither we own now nor owned before (per the
 * annotation we keep on the node), then ours. */
static json_t *merged_taints(const json_t *cur, json_t *ours)
{
    const json_t *meta = json_object_get(cur, "metadata");
    const char *owned_text = json_string_value(
        json_object_get(json_object_get(meta, "annotations"), OWNED_TAINTS_ANNOTATION));
    json_t *owned = owned_text ? json_loads(owned_text, 0, NULL) : NULL;
    json_t *list = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(cur, "spec"), "taints"), i, t) {
        bool ours_before = json_is_array(owned) && taint_listed(owned, t);
        bool system = json_equal(json_object_get(t, "key"), json_object_get(json_array_get(
                                                                ours, 0), "key"));
        if (!ours_before && !system && !taint_listed(ours, t))
            json_array_append(list, t);
    }
    json_decref(owned);
    json_array_extend(list, ours);
    return list;
}

/* ---- status ------------------------------------------------------------ */

static json_t *capacity(const vk_node *n)
{
    json_t *c = json_pack("{s:s, s:s, s:s}", "cpu", n->cpu, "memory", n->memory, "pods", n->pods);
    for (size_t i = 0; i < n->n_accels; i++) {
        if (n->accels[i].available > 0)   /* zero is omitted, as upstream */
            json_object_set_new(c, n->accels[i].type,
                                json_sprintf("%lld", (long long)n->accels[i].available));
    }
    return c;
}

static json_t *condition_json(const char *type, bool status, const char *reason,
                              const char *message, il_time since, il_time heartbeat)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "type", type, "status",
                     status ? "True" : "False", "lastHeartbeatTime", il_time_json(heartbeat),
                     "lastTransitionTime", il_time_json(since), "reason", reason, "message",
                     message);
}

static json_t *conditions(const vk_node *n, il_time heartbeat)
{
    json_t *list = json_array();
    json_array_append_new(list, condition_json("Ready", n->ready.status, n->ready.reason,
                                               n->ready.message, n->ready.since, heartbeat));
    static const struct { const char *type, *reason, *message; } quiet[] = {
        {"MemoryPressure", "KubeletHasSufficientMemory", "memory is the backend's concern"},
        {"DiskPressure", "KubeletHasNoDiskPressure", "disk is the backend's concern"},
        {"PIDPressure", "KubeletHasSufficientPID", "processes are the backend's concern"}};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++)
        json_array_append_new(list, condition_json(quiet[i].type, false, quiet[i].reason,
                                                   quiet[i].message, n->started, heartbeat));
    json_array_append_new(list, condition_json("InterlinkConnectivity", n->connectivity.status,
                                               n->connectivity.reason, n->connectivity.message,
                                               n->connectivity.since, heartbeat));
    for (size_t i = 0; i < n->n_plugin_conds; i++) {
        const vk_plugin_condition *pc = &n->plugin_conds[i];
        json_array_append_new(list, condition_json(pc->type, pc->c.status, pc->c.reason,
                                                   pc->c.message, pc->c.since, heartbeat));
    }
    return list;
}

json_t *vk_node_status(const vk_node *n, il_time heartbeat)
{
    const vk_config *cfg = n->cfg;
    json_t *addresses = json_array();
    if (cfg->pod_ip && *cfg->pod_ip)
        json_array_append_new(addresses, json_pack("{s:s, s:s}", "type", "InternalIP",
                                                   "address", cfg->pod_ip));
    json_array_append_new(addresses, json_pack("{s:s, s:s}", "type", "Hostname", "address",
                                               cfg->node_name));
    return json_pack("{s:o, s:o, s:o, s:o, s:{s:{s:I}}, s:{s:s, s:s, s:s, s:s}}",
                     "capacity", capacity(n), "allocatable", capacity(n), "conditions",
                     conditions(n, heartbeat), "addresses", addresses, "daemonEndpoints",
                     "kubeletEndpoint", "Port", (json_int_t)cfg->kubelet_port, "nodeInfo",
                     "kubeletVersion", "v" IL_VERSION, "operatingSystem", "linux",
                     "architecture", "virtual-kubelet", "kernelVersion", "");
}

static json_t *annotations(const vk_node *n, const json_t *ours)
{
    char *owned = json_dumps(ours, JSON_COMPACT);
    json_t *a = json_pack("{s:s, s:s}", OWNED_TAINTS_ANNOTATION, owned, VK_PING_ANNOTATION,
                          n->ping_body ? n->ping_body : "");
    free(owned);
    return a;
}

json_t *vk_node_object(const vk_node *n, il_time heartbeat)
{
    json_t *ours = our_taints(n);
    char *provider = il_xasprintf("external:///%s", n->cfg->node_name);
    json_t *spec = json_pack("{s:s, s:O}", "providerID", provider, "taints", ours);
    free(provider);
    if (n->cfg->pod_cidr && *n->cfg->pod_cidr)
        json_object_set_new(spec, "podCIDR", json_string(n->cfg->pod_cidr));
    json_t *node = json_pack("{s:s, s:s, s:{s:s, s:o, s:o}, s:o, s:o}", "apiVersion", "v1",
                             "kind", "Node", "metadata", "name", n->cfg->node_name, "labels",
                             node_labels(n), "annotations", annotations(n, ours), "spec", spec,
                             "status", vk_node_status(n, heartbeat));
    json_decref(ours);
    return node;
}

/* ---- patches ----------------------------------------------------------- */

/* Keys of want whose value cur lacks or differs from; NULL if none. */
static json_t *map_diff(const json_t *cur, const json_t *want)
{
    json_t *diff = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        if (!json_equal(json_object_get(cur, k), v)) {
            if (!diff)
                diff = json_object();
            json_object_set(diff, k, v);
        }
    }
    return diff;
}

json_t *vk_node_meta_patch(const vk_node *n, const json_t *cur)
{
    const json_t *meta = json_object_get(cur, "metadata");
    json_t *ours = our_taints(n);
    json_t *labels = node_labels(n), *ann = annotations(n, ours);
    json_t *ldiff = map_diff(json_object_get(meta, "labels"), labels);
    json_t *adiff = map_diff(json_object_get(meta, "annotations"), ann);
    json_t *taints = merged_taints(cur, ours);
    bool same_taints = json_equal(taints, json_object_get(json_object_get(cur, "spec"), "taints"));
    json_t *patch = NULL;
    if (ldiff || adiff || !same_taints) {
        const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
        patch = json_pack("{s:{}, s:{s:O}}", "metadata", "spec", "taints", taints);
        json_t *pmeta = json_object_get(patch, "metadata");
        if (rv)
            json_object_set_new(pmeta, "resourceVersion", json_string(rv));
        if (ldiff)
            json_object_set(pmeta, "labels", ldiff);
        if (adiff)
            json_object_set(pmeta, "annotations", adiff);
    }
    json_decref(ldiff);
    json_decref(adiff);
    json_decref(taints);
    json_decref(labels);
    json_decref(ann);
    json_decref(ours);
    return patch;
}

/* A copy of a status without the heartbeat times, for comparison. */
static json_t *without_heartbeats(const json_t *status)
{
    json_t *copy = json_deep_copy(status);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(copy, "conditions"), i, c)
        json_object_del(c, "lastHeartbeatTime");
    return copy;
}

/* In a merge patch, null removes a key: capacity that is gone. */
static void null_removed(json_t *next, const json_t *prev, const char *key)
{
    const char *k;
    json_t *v;
    json_t *want = json_object_get(next, key);
    json_object_foreach(json_object_get(prev, key), k, v)
        if (!json_object_get(want, k))
            json_object_set_new(want, k, json_null());
}

json_t *vk_node_status_patch(const vk_node *n, const json_t *prev, il_time heartbeat)
{
    json_t *next = vk_node_status(n, heartbeat);
    if (prev) {
        json_t *a = without_heartbeats(prev), *b = without_heartbeats(next);
        bool same = json_equal(a, b);
        json_decref(a);
        json_decref(b);
        if (same) {
            json_decref(next);
            return NULL;
        }
        null_removed(next, prev, "capacity");
        null_removed(next, prev, "allocatable");
    }
    return json_pack("{s:o}", "status", next);
}

/* ---- lease ------------------------------------------------------------- */

void vk_micro_time(il_time t, char out[IL_RFC3339_MAX])
{
    char secs[IL_RFC3339_MAX];
    il_time_format(t, false, secs);   /* "...:05Z" */
    size_t len = strlen(secs) - 1;
    unsigned micros = (unsigned)t.nsec / 1000 % 1000000;
    snprintf(out, IL_RFC3339_MAX, "%.*s.%06uZ", (int)(len < 30 ? len : 30), secs, micros);
}

json_t *vk_lease_object(const char *node, const char *node_uid, int64_t duration_s,
                        il_time renew)
{
    char when[IL_RFC3339_MAX];
    vk_micro_time(renew, when);
    json_t *lease = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:I, s:s}}", "apiVersion",
                              "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", node,
                              "namespace", "kube-node-lease", "spec", "holderIdentity", node,
                              "leaseDurationSeconds", (json_int_t)duration_s, "renewTime", when);
    if (node_uid && *node_uid) {
        json_t *owner = json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind", "Node",
                                  "name", node, "uid", node_uid);
        json_object_set_new(json_object_get(lease, "metadata"), "ownerReferences", owner);
    }
    return lease;
}
