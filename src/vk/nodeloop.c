/* nodeloop.c -- the Node and its Lease on the API server.
 *
 * Owns two threads.  The node thread pings interlink (first ping at once,
 * then every PingIntervalSeconds), keeps the vk_node state (node.c) that
 * the ping drives, registers the Node and writes its metadata (labels,
 * taints) and status only when they changed, plus a full status every
 * STATUS_REFRESH_MS as a kubelet's nodeStatusReportFrequency.  The lease
 * thread renews kube-node-lease/NAME every LeaseDurationSeconds/4, which
 * is what the node lifecycle controller reads as "this node is alive".
 * The node state is touched by the node thread only, so it needs no lock. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"
#include "timeutil.h"
#include "util.h"
#include "vk.h"

#define STATUS_REFRESH_MS (5 * 60 * 1000)
#define LEASE_PATH "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

typedef struct node_state {
    vk_node node;
    json_t *cur;              /* the Node as the API server last returned it */
    json_t *written;          /* the status last written, NULL = write it all */
    int64_t written_at;       /* monotonic ms */
    char *path;               /* /api/v1/nodes/NAME */
} node_state;

/* ---- ping -------------------------------------------------------------- */

static void ping(vk *v, vk_node *n)
{
    il_http_result res;
    int rc = vk_interlink_call(v->il, "POST", "/pinglink", "PingInterLink", NULL, &res);
    char why[512];
    bool was_ready = n->ready.status;
    bool was_failing = n->ready.reason && !strcmp(n->ready.reason, "InterlinkPingFailed");
    il_time now = il_time_now();
    if (vk_interlink_ok(&res, rc, why, sizeof why) == 0) {
        vk_node_ping_ok(n, res.body.data, res.body.len, now);
        if (!was_ready)
            il_info("interlink %s answers: node %s is Ready", vk_interlink_url(v->il),
                    v->cfg->node_name);
    } else {
        vk_node_ping_failed(n, why, now);
        if (!was_failing)   /* once per outage */
            il_warn("interlink ping failed (%s): node %s is NotReady", why, v->cfg->node_name);
    }
    il_http_result_free(&res);
}

/* ---- node object ------------------------------------------------------- */

static void take_node(vk *v, node_state *s, json_t *body)
{
    json_decref(s->cur);
    s->cur = json_incref(body);
    vk_set_node_uid(v, json_string_value(json_object_get(json_object_get(body, "metadata"),
                                                         "uid")));
}

/* Find the Node, or create it.  0 once the API server has it. */
static int node_register(vk *v, node_state *s)
{
    vk_kube_result res;
    int rc = vk_kube_get(v->kube, s->path, &res);
    if (rc < 0 && vk_kube_is(&res, 404)) {
        vk_kube_result_free(&res);
        json_t *obj = vk_node_object(&s->node, il_time_now());
        rc = vk_kube_create(v->kube, "/api/v1/nodes", obj, &res);
        json_decref(obj);
        if (rc == 0)
            il_info("node %s created", v->cfg->node_name);
    }
    if (rc == 0)
        take_node(v, s, res.body);
    else
        il_warn("node %s: %s", v->cfg->node_name, res.error);
    vk_kube_result_free(&res);
    return rc;
}

/* Labels, taints and the ping annotation, when they differ from cur. */
static void write_meta(vk *v, node_state *s)
{
    json_t *patch = vk_node_meta_patch(&s->node, s->cur);
    if (!patch)
        return;
    vk_kube_result res;
    if (vk_kube_patch(v->kube, s->path, VK_PATCH_MERGE, patch, &res) == 0) {
        take_node(v, s, res.body);
    } else {
        il_warn("node %s: %s", v->cfg->node_name, res.error);
        vk_kube_result_free(&res);   /* 409: someone else wrote; re-read for the next try */
        if (vk_kube_get(v->kube, s->path, &res) == 0)
            take_node(v, s, res.body);
    }
    vk_kube_result_free(&res);
    json_decref(patch);
}

static void write_status(vk *v, node_state *s)
{
    il_time now = il_time_now();
    if (il_monotonic_ms() - s->written_at > STATUS_REFRESH_MS) {
        json_decref(s->written);
        s->written = NULL;
    }
    json_t *patch = vk_node_status_patch(&s->node, s->written, now);
    if (!patch)
        return;
    char *path = il_xasprintf("%s/status", s->path);
    vk_kube_result res;
    if (vk_kube_patch(v->kube, path, VK_PATCH_MERGE, patch, &res) == 0) {
        json_decref(s->written);
        s->written = vk_node_status(&s->node, now);
        s->written_at = il_monotonic_ms();
        take_node(v, s, res.body);
    } else {
        il_warn("node %s status: %s", v->cfg->node_name, res.error);
    }
    vk_kube_result_free(&res);
    free(path);
    json_decref(patch);
}

void *vk_node_loop(void *arg)
{
    vk *v = arg;
    node_state s = {.path = il_xasprintf("/api/v1/nodes/%s", v->cfg->node_name)};
    vk_node_init(&s.node, v->cfg, il_time_now());
    int64_t period = v->cfg->ping_interval_s * 1000;
    bool registered = false;
    int failures = 0;
    do {
        ping(v, &s.node);   /* first, so the Node is created Ready when it can be */
        if (!registered && node_register(v, &s) < 0) {
            if (!vk_sleep(v, vk_backoff_ms(++failures, 500, period)))
                break;
            continue;
        }
        registered = true;
        write_meta(v, &s);
        write_status(v, &s);
    } while (vk_sleep(v, period));
    json_decref(s.cur);
    json_decref(s.written);
    vk_node_free(&s.node);
    free(s.path);
    return NULL;
}

/* ---- lease ------------------------------------------------------------- */

/* Create or update the Lease; *rv is the resourceVersion last seen (NULL
 * before the first read).  0 on success. */
static int lease_renew(vk *v, const char *node_uid, char **rv)
{
    const char *node = v->cfg->node_name;
    char *path = il_xasprintf(LEASE_PATH "/%s", node);
    vk_kube_result res = {0};
    int rc = 0;
    if (!*rv && (rc = vk_kube_get(v->kube, path, &res)) == 0)
        *rv = il_xstrdup(json_string_value(json_object_get(
            json_object_get(res.body, "metadata"), "resourceVersion")));
    if (!*rv && (rc == 0 || !vk_kube_is(&res, 404)))
        goto out;   /* a read that failed, or answered without a version */
    vk_kube_result_free(&res);
    json_t *lease = vk_lease_object(node, node_uid, v->cfg->lease_duration_s, il_time_now());
    if (*rv) {
        json_object_set_new(json_object_get(lease, "metadata"), "resourceVersion",
                            json_string(*rv));
        rc = vk_kube_update(v->kube, path, lease, &res);
    } else {
        rc = vk_kube_create(v->kube, LEASE_PATH, lease, &res);
    }
    json_decref(lease);
    free(*rv);
    *rv = rc == 0 ? il_xstrdup(json_string_value(json_object_get(
                        json_object_get(res.body, "metadata"), "resourceVersion")))
                  : NULL;   /* 409 or 404: read it again next time */
out:
    if (rc < 0)
        il_warn("lease %s: %s", node, res.error);
    vk_kube_result_free(&res);
    free(path);
    return rc;
}

void *vk_lease_loop(void *arg)
{
    vk *v = arg;
    int64_t period = v->cfg->lease_duration_s * 1000 / 4;
    char *rv = NULL;
    int failures = 0;
    int64_t next;
    do {
        char *uid = vk_node_uid(v);
        next = 200;   /* the Node is not registered yet: look again soon */
        if (uid && lease_renew(v, uid, &rv) == 0) {
            failures = 0;
            next = period;
        } else if (uid) {
            next = vk_backoff_ms(++failures, 200, period);
        }
        free(uid);
    } while (vk_sleep(v, next));
    free(rv);
    return NULL;
}
