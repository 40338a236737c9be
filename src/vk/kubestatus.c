/* kubestatus.c -- from interLink's PodStatus to the Kubernetes pod status.
 *
 * Owns container states (waiting/running/terminated with the plugin's
 * reasons and times), readiness, the phase, the PodScheduled / Initialized
 * / ContainersReady / Ready conditions, and the "did anything change"
 * comparison that keeps the VK from rewriting an unchanged status.
 *
 * Upstream's mapping (docs/upstream.md) overwrote OOMKilled with
 * "Error: 137", called a pod with zero reported containers Succeeded, left
 * a pod whose init container failed Pending forever, and replaced all
 * conditions by one Ready (appending duplicates).  Each of those is a test
 * in test_vk_kubestatus.c. */
#include "kubestatus.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- container statuses ------------------------------------------------ */

static const il_container_status *reported(const il_container_status *list, size_t n,
                                           const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (list[i].name && !strcmp(list[i].name, name))
            return &list[i];
    return NULL;
}

/* The reason Kubernetes would give when the plugin gives none. */
static const char *default_reason(const il_container_status *cs)
{
    if (cs->state == IL_STATE_TERMINATED)
        return cs->exit_code == 0 ? "Completed" : "Error";
    return cs->state == IL_STATE_WAITING ? "ContainerCreating" : NULL;
}

/* Set key to s unless s is NULL or empty: status patches carry no nulls
 * (the API server drops them on decode; a list replaced atomically, as
 * containerStatuses is, would otherwise keep them). */
static void set_str(json_t *obj, const char *key, const char *s)
{
    if (s && *s)
        json_object_set_new(obj, key, json_string(s));
}

/* {"waiting"|"running"|"terminated": {...}}: exactly one kind.  The
 * containerStatuses list is replaced as a whole by a strategic merge (it
 * has no patch merge key), so the other kinds need no null to go away. */
static json_t *state_json(const il_container_status *cs)
{
    const char *reason = cs->reason && *cs->reason ? cs->reason : default_reason(cs);
    json_t *inner;
    const char *kind;
    switch (cs->state) {
    case IL_STATE_RUNNING:
        kind = "running";
        inner = json_object();
        if (!il_time_is_zero(cs->started_at))
            json_object_set_new(inner, "startedAt", il_time_json(cs->started_at));
        break;
    case IL_STATE_TERMINATED:
        kind = "terminated";
        inner = json_pack("{s:i}", "exitCode", cs->exit_code);
        set_str(inner, "reason", reason);
        set_str(inner, "message", cs->message);
        if (!il_time_is_zero(cs->started_at))
            json_object_set_new(inner, "startedAt", il_time_json(cs->started_at));
        if (!il_time_is_zero(cs->finished_at))
            json_object_set_new(inner, "finishedAt", il_time_json(cs->finished_at));
        if (cs->signal)
            json_object_set_new(inner, "signal", json_integer(cs->signal));
        set_str(inner, "containerID", cs->container_id);
        break;
    case IL_STATE_WAITING:
    default:
        kind = "waiting";
        inner = json_object();
        set_str(inner, "reason", reason);
        set_str(inner, "message", cs->message);
        break;
    }
    return json_pack("{s:o}", kind, inner);
}

/* A plugin that sends `started` runs probes and hooks itself (ours
 * does): its ready and started are the verdicts.  Without it (upstream's
 * plugins), a container without a readiness probe is ready while it runs,
 * the kubelet's rule, and with one the plugin's word is all there is. */
static bool container_ready(const json_t *spec, const il_container_status *cs, bool init)
{
    if (init)   /* init containers are ready once they completed */
        return cs->state == IL_STATE_TERMINATED && cs->exit_code == 0;
    if (cs->state != IL_STATE_RUNNING)
        return false;
    if (cs->started != IL_STARTED_UNSET)
        return cs->ready;
    return json_object_get(spec, "readinessProbe") ? cs->ready : true;
}

static bool container_started(const il_container_status *cs)
{
    if (cs->state != IL_STATE_RUNNING)
        return false;
    return cs->started != IL_STARTED_NO;
}

static json_t *container_status_json(const json_t *spec, const il_container_status *cs,
                                     bool init)
{
    const char *image = json_string_value(json_object_get(spec, "image"));
    json_t *o = json_pack("{s:s, s:o, s:{}, s:b, s:i, s:s, s:s, s:b}", "name", cs->name, "state",
                          state_json(cs), "lastState", "ready", container_ready(spec, cs, init),
                          "restartCount", cs->restart_count, "image", image ? image : "",
                          "imageID", "", "started", container_started(cs));
    if (cs->container_id && *cs->container_id)
        json_object_set_new(o, "containerID", json_string(cs->container_id));
    return o;
}

/* The spec's containers (key "containers" or "initContainers") in spec
 * order, each with the plugin's status or a waiting placeholder, written
 * into full[].  Strings are borrowed from rep and the spec.  A status for
 * a container the spec does not have is ignored. */
static size_t spec_statuses(const json_t *spec, const char *key, const il_container_status *rep,
                            size_t nrep, const char *waiting_reason, il_container_status *full)
{
    const json_t *list = json_object_get(spec, key);
    size_t i;
    const json_t *c;
    json_array_foreach(list, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const il_container_status *cs = reported(rep, nrep, name);
        if (cs) {
            full[i] = *cs;
        } else {
            memset(&full[i], 0, sizeof full[i]);
            full[i].state = IL_STATE_WAITING;
            full[i].reason = (char *)waiting_reason;
        }
        full[i].name = (char *)(name ? name : "");
    }
    return json_array_size(list);
}

static json_t *statuses_json(const json_t *spec, const char *key, const il_container_status *full,
                             size_t n, bool init)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, container_status_json(json_array_get(json_object_get(spec, key),
                                                                        i), &full[i], init));
    return arr;
}

/* ---- conditions -------------------------------------------------------- */

static const json_t *old_condition(const json_t *cur_status, const char *type)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(cur_status, "conditions"), i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && !strcmp(t, type))
            return c;
    }
    return NULL;
}

/* Conditions merge by type, key by key: a reason or message the condition
 * no longer has must be deleted, and in a strategic merge patch that is a
 * null -- the only nulls we write, and only for keys the pod has now
 * (what the kubelet's two-way merge patch sends). */
static void set_or_delete(json_t *cond, const json_t *old, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(cond, key, json_string(value));
    else if (json_object_get(old, key) && !json_is_null(json_object_get(old, key)))
        json_object_set_new(cond, key, json_null());
}

/* lastTransitionTime moves only when the status does. */
static json_t *condition(const json_t *cur_status, const char *type, bool status,
                         const char *reason, const char *message, il_time now)
{
    const char *st = status ? "True" : "False";
    const json_t *old = old_condition(cur_status, type);
    const char *old_st = json_string_value(json_object_get(old, "status"));
    json_t *since = json_object_get(old, "lastTransitionTime");
    bool kept = old_st && !strcmp(old_st, st) && json_is_string(since);
    json_t *cond = json_pack("{s:s, s:s, s:o}", "type", type, "status", st, "lastTransitionTime",
                             kept ? json_incref(since) : il_time_json(now));
    set_or_delete(cond, old, "reason", reason);
    set_or_delete(cond, old, "message", message);
    return cond;
}

/* "containers with unready status: [a b]", as the kubelet words it, from
 * the built statuses' ready flags; NULL when all are ready. */
static char *names_not_ready(const json_t *statuses, const char *what)
{
    il_buf names = IL_BUF_INIT;
    size_t i;
    const json_t *c;
    json_array_foreach(statuses, i, c)
        if (!json_is_true(json_object_get(c, "ready")))
            il_buf_printf(&names, "%s%s", names.len ? " " : "",
                          json_string_value(json_object_get(c, "name")));
    char *msg = names.len ? il_xasprintf("containers with %s status: [%s]", what, names.data)
                          : NULL;
    il_buf_free(&names);
    return msg;
}

static bool inits_done(const il_container_status *init, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (init[i].state != IL_STATE_TERMINATED || init[i].exit_code != 0)
            return false;
    return true;
}

typedef struct mapped {
    il_container_status *init, *main;
    size_t n_init, n_main;
    const char *phase;
    json_t *init_json, *main_json;   /* built statuses */
    bool ready;               /* every container ready, pod not terminal */
} mapped;

static json_t *conditions(const json_t *cur, const mapped *m, il_time now)
{
    bool terminal = il_phase_is_terminal(m->phase);
    char *uninit = names_not_ready(m->init_json, "incomplete");
    char *unready = names_not_ready(m->main_json, "unready");
    const char *not_ready_reason = terminal ? "PodCompleted" : "ContainersNotReady";
    const char *not_ready_msg = terminal ? NULL : unready;
    json_t *list = json_array();
    json_array_append_new(list, condition(cur, "PodScheduled", true, NULL, NULL, now));
    json_array_append_new(list, condition(cur, "Initialized", !uninit,
                                          uninit ? "ContainersNotInitialized" : NULL, uninit, now));
    json_array_append_new(list, condition(cur, "ContainersReady", m->ready,
                                          m->ready ? NULL : not_ready_reason,
                                          m->ready ? NULL : not_ready_msg, now));
    json_array_append_new(list, condition(cur, "Ready", m->ready,
                                          m->ready ? NULL : not_ready_reason,
                                          m->ready ? NULL : not_ready_msg, now));
    free(uninit);
    free(unready);
    return list;
}

/* ---- the status -------------------------------------------------------- */

/* The plugin's statuses laid over the spec: m->init/main in spec order. */
static void map_containers(const json_t *spec, const il_pod_status *st, mapped *m)
{
    m->init = il_xcalloc(json_array_size(json_object_get(spec, "initContainers")) + 1,
                         sizeof *m->init);
    m->main = il_xcalloc(json_array_size(json_object_get(spec, "containers")) + 1,
                         sizeof *m->main);
    m->n_init = spec_statuses(spec, "initContainers", st->init_containers,
                              st->n_init_containers, "PodInitializing", m->init);
    m->n_main = spec_statuses(spec, "containers", st->containers, st->n_containers,
                              inits_done(m->init, m->n_init) ? "ContainerCreating"
                                                             : "PodInitializing",
                              m->main);
    il_pod_status full = {.containers = m->main, .n_containers = m->n_main,
                          .init_containers = m->init, .n_init_containers = m->n_init};
    m->phase = il_pod_phase(&full, json_string_value(json_object_get(spec, "restartPolicy")));
    m->init_json = statuses_json(spec, "initContainers", m->init, m->n_init, true);
    m->main_json = statuses_json(spec, "containers", m->main, m->n_main, false);
    char *unready = names_not_ready(m->main_json, "unready");
    m->ready = m->n_main > 0 && !unready && !il_phase_is_terminal(m->phase);
    free(unready);
}

static void earliest(il_time *t, il_time cand)
{
    if (!il_time_is_zero(cand) && il_time_to_ns(cand) < il_time_to_ns(*t))
        *t = cand;
}

/* The kubelet sets startTime before it starts any container, so it is
 * never later than a container's startedAt; the VK learns of the start
 * afterwards, so it takes the earliest of its first look and the
 * containers' start times.  Once set it is kept (only ever moved back). */
static il_time start_time(const json_t *cur, const mapped *m, il_time now)
{
    il_time t = now;
    const char *text = json_string_value(json_object_get(cur, "startTime"));
    il_time was;
    if (text && il_time_parse(text, &was) == 0)
        t = was;
    for (size_t i = 0; i < m->n_init; i++)
        earliest(&t, m->init[i].started_at);
    for (size_t i = 0; i < m->n_main; i++)
        earliest(&t, m->main[i].started_at);
    return t;
}

/* An offloaded pod has no address of its own: without a tunnel it is
 * reached, as far as it can be, at its node's (upstream writes 127.0.0.1).
 * Services and the downward API need one; an empty podIP makes a pod look
 * as if it never started.  hostIPs is left out: v1.23 API servers drop it,
 * so it would count as a change on every pass. */
static void set_addresses(json_t *status, const char *ip)
{
    if (!ip || !*ip)
        return;
    json_object_set_new(status, "hostIP", json_string(ip));
    json_object_set_new(status, "podIP", json_string(ip));
    json_object_set_new(status, "podIPs", json_pack("[{s:s}]", "ip", ip));
}

json_t *vk_pod_status(const json_t *pod, const il_pod_status *st, const char *ip, il_time now)
{
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *cur = json_object_get(pod, "status");
    il_pod_status none = {0};
    mapped m = {0};
    map_containers(spec, st ? st : &none, &m);
    json_t *status = json_pack("{s:s, s:o, s:o, s:o, s:o}", "phase", m.phase, "conditions",
                               conditions(cur, &m, now), "startTime",
                               il_time_json(start_time(cur, &m, now)), "containerStatuses",
                               m.main_json, "initContainerStatuses", m.init_json);
    set_addresses(status, ip);
    free(m.init);
    free(m.main);
    return status;
}

/* ---- comparison and patch ---------------------------------------------- */

/* A copy without nulls, empty strings, empty objects and empty lists: what the API
 * server drops (omitempty, nil pointers) must not count as a change. */
static json_t *normalized(const json_t *v)
{
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            json_t *n = normalized(x);
            if (n)
                json_object_set_new(o, k, n);
        }
        if (json_object_size(o) == 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    if (json_is_array(v)) {
        if (json_array_size(v) == 0)
            return NULL;   /* the API server stores no empty list (omitempty) */
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            json_t *n = normalized(x);
            json_array_append_new(a, n ? n : json_object());
        }
        return a;
    }
    if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
        return NULL;
    return json_deep_copy(v);
}

static bool same(const json_t *a, const json_t *b)
{
    json_t *na = normalized(a), *nb = normalized(b);
    bool eq = (!na && !nb) || (na && nb && json_equal(na, nb));
    json_decref(na);
    json_decref(nb);
    return eq;
}

bool vk_pod_status_changed(const json_t *cur, const json_t *status)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)status, key, v) {
        if (strcmp(key, "conditions") != 0) {
            if (!same(json_object_get(cur, key), v))
                return true;
            continue;
        }
        size_t i;
        json_t *c;   /* conditions merge by type: compare ours, ignore others */
        json_array_foreach(v, i, c)
            if (!same(old_condition(cur, json_string_value(json_object_get(c, "type"))), c))
                return true;
    }
    return false;
}

json_t *vk_pod_status_patch(const json_t *pod, const il_pod_status *st, const char *ip,
                            il_time now)
{
    return vk_pod_status_patch_ips(pod, st, ip, NULL, now);
}

json_t *vk_pod_status_patch_ips(const json_t *pod, const il_pod_status *st,
                                const char *host_ip, const char *pod_ip, il_time now)
{
    json_t *status = vk_pod_status(pod, st, host_ip, now);
    if (pod_ip && *pod_ip) {
        json_object_set_new(status, "podIP", json_string(pod_ip));
        json_object_set_new(status, "podIPs", json_pack("[{s:s}]", "ip", pod_ip));
    }
    if (!vk_pod_status_changed(json_object_get(pod, "status"), status)) {
        json_decref(status);
        return NULL;
    }
    return vk_pod_status_patch_of(pod, status);
}

/* podIPs is merged by ip in a strategic merge patch, so an address another
 * client put there would stay beside ours: the server then refuses the
 * result (two addresses of one family, 422) or keeps the foreign one (a
 * second family), and the VK, seeing a list that is not its own, would
 * write it again on every cycle.  The VK owns the pod's addresses: its
 * list replaces the stored one ($patch: replace), so a rewrite by another
 * client is corrected by one write.  Only when a list is stored: into a
 * status without one, the server copies the patch's list as it is, the
 * directive with it (and refuses it as an address). */
json_t *vk_pod_status_patch_of(const json_t *pod, json_t *status)
{
    json_t *ips = json_object_get(status, "podIPs");
    const json_t *stored = json_object_get(json_object_get(pod, "status"), "podIPs");
    if (json_is_array(ips) && json_array_size(stored) > 0)
        json_array_append_new(ips, json_pack("{s:s}", "$patch", "replace"));
    const char *uid = json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid"));
    return json_pack("{s:{s:s}, s:o}", "metadata", "uid", uid ? uid : "", "status", status);
}
