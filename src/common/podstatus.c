/* podstatus.c -- PodStatus <-> C, and the phase Kubernetes would derive.
 *
 * Owns the JSON shape of container states (Kubernetes' ContainerStatus, as
 * the VK copies it into the pod), tolerant parsing of what plugins send,
 * and the phase rule. */
#include "podstatus.h"

#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "util.h"

json_t *il_time_json(il_time t)
{
    if (il_time_is_zero(t))
        return json_null();
    char buf[IL_RFC3339_MAX];
    il_time_format(t, false, buf);
    return json_string(buf);
}

/* Set key to s only when s is non-NULL (Go's omitempty on strings). */
static void set_opt_string(json_t *obj, const char *key, const char *s)
{
    if (s && *s)
        json_object_set_new(obj, key, json_string(s));
}

static json_t *state_json(const il_container_status *cs)
{
    json_t *inner = json_object();
    const char *kind;
    switch (cs->state) {
    case IL_STATE_RUNNING:
        kind = "running";
        json_object_set_new(inner, "startedAt", il_time_json(cs->started_at));
        break;
    case IL_STATE_TERMINATED:
        kind = "terminated";
        json_object_set_new(inner, "exitCode", json_integer(cs->exit_code));
        if (cs->signal)
            json_object_set_new(inner, "signal", json_integer(cs->signal));
        set_opt_string(inner, "reason", cs->reason);
        set_opt_string(inner, "message", cs->message);
        json_object_set_new(inner, "startedAt", il_time_json(cs->started_at));
        json_object_set_new(inner, "finishedAt", il_time_json(cs->finished_at));
        set_opt_string(inner, "containerID", cs->container_id);
        break;
    case IL_STATE_WAITING:
    default:
        kind = "waiting";
        set_opt_string(inner, "reason", cs->reason);
        set_opt_string(inner, "message", cs->message);
        break;
    }
    return json_pack("{s:o}", kind, inner);
}

static json_t *container_status_json(const il_container_status *cs)
{
    json_t *o = json_pack("{s:s, s:o, s:{}, s:b, s:i, s:s, s:s}", "name", cs->name ? cs->name : "",
                          "state", state_json(cs), "lastState", "ready", cs->ready,
                          "restartCount", cs->restart_count, "image", cs->image ? cs->image : "",
                          "imageID", "");
    set_opt_string(o, "containerID", cs->container_id);
    bool started = cs->started == IL_STARTED_UNSET ? cs->state == IL_STATE_RUNNING
                                                   : cs->started == IL_STARTED_YES;
    json_object_set_new(o, "started", json_boolean(started));
    return o;
}

static json_t *container_statuses_json(const il_container_status *cs, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, container_status_json(&cs[i]));
    return arr;
}

json_t *il_pod_status_to_json(const il_pod_status *st)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "name", st->name ? st->name : "",
                          "UID", st->uid ? st->uid : "", "namespace", st->ns ? st->ns : "", "JID",
                          st->job_id ? st->job_id : "", "containers",
                          container_statuses_json(st->containers, st->n_containers),
                          "initContainers",
                          container_statuses_json(st->init_containers, st->n_init_containers));
    if (st->tunnel)
        json_object_set(j, "tunnel", st->tunnel);
    return j;
}

/* Copy obj[key] (an optional string) into *out. */
static int dup_field(const json_t *obj, const char *parent, const char *key, char **out,
                     char *err, size_t errlen)
{
    const char *s;
    if (il_jstring(obj, parent, key, &s, err, errlen) < 0)
        return -1;
    if (s && !*out)
        *out = il_xstrdup(s);
    return 0;
}

static int int_field(const json_t *obj, const char *parent, const char *key, int *out,
                     char *err, size_t errlen)
{
    int64_t v;
    if (il_jint(obj, parent, key, 0, &v, err, errlen) < 0)
        return -1;
    if (v < INT32_MIN || v > INT32_MAX) {
        char path[IL_JPATH_MAX];
        il_jpath_key(path, parent, key);
        return il_jfail(err, errlen, path, "out of range");
    }
    *out = (int)v;
    return 0;
}

/* state: {terminated} wins over {running} over {waiting}; missing = waiting. */
static int state_from_json(const json_t *c, const char *path, il_container_status *cs,
                           char *err, size_t errlen)
{
    json_t *state, *inner;
    char spath[IL_JPATH_MAX], ipath[IL_JPATH_MAX];
    il_jpath_key(spath, path, "state");
    if (il_jobject(c, path, "state", &state, err, errlen) < 0)
        return -1;
    static const struct { const char *key; il_state_kind kind; } kinds[] = {
        {"terminated", IL_STATE_TERMINATED}, {"running", IL_STATE_RUNNING},
        {"waiting", IL_STATE_WAITING}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (il_jobject(state, spath, kinds[i].key, &inner, err, errlen) < 0)
            return -1;
        if (!inner)
            continue;
        il_jpath_key(ipath, spath, kinds[i].key);
        cs->state = kinds[i].kind;
        if (dup_field(inner, ipath, "reason", &cs->reason, err, errlen) < 0 ||
            dup_field(inner, ipath, "message", &cs->message, err, errlen) < 0 ||
            dup_field(inner, ipath, "containerID", &cs->container_id, err, errlen) < 0 ||
            int_field(inner, ipath, "exitCode", &cs->exit_code, err, errlen) < 0 ||
            int_field(inner, ipath, "signal", &cs->signal, err, errlen) < 0 ||
            il_jtime(inner, ipath, "startedAt", &cs->started_at, err, errlen) < 0 ||
            il_jtime(inner, ipath, "finishedAt", &cs->finished_at, err, errlen) < 0)
            return -1;
        return 0;
    }
    cs->state = IL_STATE_WAITING;
    return 0;
}

static int container_status_from_json(const json_t *c, const char *path, il_container_status *cs,
                                      char *err, size_t errlen)
{
    if (!json_is_object(c))
        return il_jfail(err, errlen, path, "expected an object");
    if (dup_field(c, path, "name", &cs->name, err, errlen) < 0 ||
        dup_field(c, path, "image", &cs->image, err, errlen) < 0 ||
        dup_field(c, path, "containerID", &cs->container_id, err, errlen) < 0 ||
        il_jbool(c, path, "ready", false, &cs->ready, err, errlen) < 0 ||
        int_field(c, path, "restartCount", &cs->restart_count, err, errlen) < 0)
        return -1;
    json_t *started = il_jget(c, "started");
    if (started && !json_is_boolean(started)) {
        char spath[IL_JPATH_MAX];
        il_jpath_key(spath, path, "started");
        return il_jfail(err, errlen, spath, "expected a boolean");
    }
    if (started)
        cs->started = json_is_true(started) ? IL_STARTED_YES : IL_STARTED_NO;
    return state_from_json(c, path, cs, err, errlen);
}

static int statuses_from_json(const json_t *obj, const char *key, il_container_status **out,
                              size_t *n, char *err, size_t errlen)
{
    json_t *arr;
    if (il_jarray(obj, "", key, &arr, err, errlen) < 0)
        return -1;
    if (!arr || json_array_size(arr) == 0)
        return 0;
    *out = il_xcalloc(json_array_size(arr), sizeof **out);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c) {
        char path[IL_JPATH_MAX];
        il_jpath_idx(path, key, i);
        (*n)++;
        if (container_status_from_json(c, path, &(*out)[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

int il_pod_status_from_json(json_t *json, il_pod_status *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(json))
        return il_jfail(err, errlen, "PodStatus", "expected an object");
    if (dup_field(json, "", "name", &out->name, err, errlen) < 0 ||
        dup_field(json, "", "UID", &out->uid, err, errlen) < 0 ||
        dup_field(json, "", "namespace", &out->ns, err, errlen) < 0 ||
        dup_field(json, "", "JID", &out->job_id, err, errlen) < 0 ||
        statuses_from_json(json, "containers", &out->containers, &out->n_containers, err,
                           errlen) < 0 ||
        statuses_from_json(json, "initContainers", &out->init_containers,
                           &out->n_init_containers, err, errlen) < 0) {
        il_pod_status_free(out);
        return -1;
    }
    json_t *tunnel = json_object_get(json, "tunnel");
    if (json_is_object(tunnel))
        out->tunnel = json_incref(tunnel);
    return 0;
}

void il_container_status_free(il_container_status *cs)
{
    if (!cs)
        return;
    free(cs->name);
    free(cs->image);
    free(cs->reason);
    free(cs->message);
    free(cs->container_id);
    memset(cs, 0, sizeof *cs);
}

void il_pod_status_free(il_pod_status *st)
{
    if (!st)
        return;
    free(st->name);
    free(st->ns);
    free(st->uid);
    free(st->job_id);
    json_decref(st->tunnel);
    for (size_t i = 0; i < st->n_containers; i++)
        il_container_status_free(&st->containers[i]);
    free(st->containers);
    for (size_t i = 0; i < st->n_init_containers; i++)
        il_container_status_free(&st->init_containers[i]);
    free(st->init_containers);
    memset(st, 0, sizeof *st);
}

/* ---- phase ------------------------------------------------------------- */

/* Kubernetes' phase rules, specialised to backends that never restart a
 * container: a failed init container fails the pod whatever the
 * restartPolicy (a kubelet would retry it under OnFailure/Always, but
 * nothing here will), and with every container terminated the pod is
 * Succeeded or Failed by exit codes even under restartPolicy Always.  The
 * policy is therefore accepted for API symmetry but does not change the
 * result today. */
const char *il_pod_phase(const il_pod_status *st, const char *restart_policy)
{
    (void)restart_policy;
    for (size_t i = 0; i < st->n_init_containers; i++) {
        const il_container_status *cs = &st->init_containers[i];
        if (cs->state == IL_STATE_TERMINATED && cs->exit_code != 0)
            return "Failed";
    }
    for (size_t i = 0; i < st->n_init_containers; i++)
        if (st->init_containers[i].state != IL_STATE_TERMINATED)
            return "Pending";
    size_t terminated = 0, running = 0, failed = 0;
    for (size_t i = 0; i < st->n_containers; i++) {
        const il_container_status *cs = &st->containers[i];
        running += cs->state == IL_STATE_RUNNING;
        terminated += cs->state == IL_STATE_TERMINATED;
        failed += cs->state == IL_STATE_TERMINATED && cs->exit_code != 0;
    }
    if (st->n_containers > 0 && terminated == st->n_containers)
        return failed ? "Failed" : "Succeeded";
    if (running > 0 || terminated > 0)
        return "Running";
    return "Pending";
}

/* A PodStatus that does not parse yields "Pending": it says nothing. */
const char *il_pod_phase_json(json_t *pod_status, const char *restart_policy)
{
    il_pod_status st;
    char err[256];
    if (il_pod_status_from_json(pod_status, &st, err, sizeof err) < 0)
        return "Pending";
    const char *phase = il_pod_phase(&st, restart_policy);
    il_pod_status_free(&st);
    return phase;
}

bool il_phase_is_terminal(const char *phase)
{
    return phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
}

