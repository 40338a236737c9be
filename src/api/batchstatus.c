/* batchstatus.c -- GET /status, GET /pods and POST /updateCache.
 *
 * A status request for N pods costs at most one plugin call: pods whose
 * stored status is already terminal are answered from the state database,
 * the rest go to the plugin together, and its answers are stored in one
 * transaction.  (Upstream's VK asked one pod per call and interLink kept a
 * memory-only cache that its own /updateCache could not clear.) */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "pod.h"
#include "tenants.h"
#include "timeutil.h"
#include "watch.h"
#include "wire.h"

static const char *pod_uid(json_t *pod)
{
    return json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid"));
}

static const char *pod_restart_policy(json_t *pod)
{
    return json_string_value(json_object_get(json_object_get(pod, "spec"), "restartPolicy"));
}

/* One plugin call for pods; returns {uid: PodStatus} or NULL, and res says
 * why: no response (status 0), an error status, or a 200 whose body is not
 * a list of statuses (res->error describes it). */
static json_t *ask_plugin(api *a, il_request *req, json_t *pods, il_http_result *res)
{
    char *text = json_dumps(pods, JSON_COMPACT);
    int rc = relay_call(a, req, "GET", "/status", text, strlen(text), res);
    free(text);
    if (rc != 0 || res->status != 200)
        return NULL;
    json_error_t jerr;
    json_t *answer = json_loadb(res->body.data, res->body.len, JSON_DECODE_ANY, &jerr);
    if (!json_is_array(answer) && !json_is_null(answer)) {
        snprintf(res->error, sizeof(res->error), "plugin answered /status with %s: %s",
                 answer ? "a non-array" : "invalid JSON", answer ? "" : jerr.text);
        json_decref(answer);
        return NULL;
    }
    json_t *by_uid = json_object();
    size_t i;
    json_t *st;
    json_array_foreach(answer, i, st) {
        const char *uid = json_string_value(json_object_get(st, "UID"));
        if (uid)
            json_object_set(by_uid, uid, st);
    }
    json_decref(answer);
    return by_uid;
}

/* Persist what the plugin said that differs from what is stored, with the
 * phase each pod is now in, and tell the watchers.  A steady batch of
 * running pods writes nothing. */
static void remember(api *a, json_t *pods, json_t *by_uid, json_t *stored)
{
    size_t n = json_array_size(pods), changed = 0;
    json_t **statuses = il_xcalloc(n, sizeof(*statuses));
    json_t **changed_pods = il_xcalloc(n, sizeof(*changed_pods));
    const char **phases = il_xcalloc(n, sizeof(*phases));
    for (size_t i = 0; i < n; i++) {
        json_t *pod = json_array_get(pods, i);
        json_t *st = json_object_get(by_uid, pod_uid(pod));
        json_t *known = json_object_get(stored, pod_uid(pod));
        if (!st || !known || json_equal(st, json_object_get(known, "status")))
            continue;
        statuses[changed] = st;
        changed_pods[changed] = pod;
        phases[changed++] = il_pod_phase_json(st, pod_restart_policy(pod));
    }
    if (store_put_statuses(a->store, statuses, phases, changed) != 0)
        il_error("could not record %zu pod statuses", changed);
    else
        watch_record(a->watch, changed_pods, phases, changed);
    free(statuses);
    free(changed_pods);
    free(phases);
}

/* Tell the caller why the plugin could not answer. */
static void respond_plugin_error(api *a, il_request *req, const il_http_result *res)
{
    if (res->status == 0)
        relay_unreachable(a, req, "/status", res);
    else if (res->status != 200)
        relay_failure(req, "status", res);
    else
        il_respond_error(req, 502, "%s", res->error);
}

/* Split pods into those answered from the store (their stored status is
 * terminal: it cannot change) and those to ask the plugin about. */
static void split_by_finality(json_t *pods, json_t *stored, json_t *answers, json_t *to_ask)
{
    size_t i;
    json_t *pod;
    json_array_foreach(pods, i, pod) {
        json_t *known = json_object_get(stored, pod_uid(pod));
        const char *phase = json_string_value(json_object_get(known, "phase"));
        json_t *status = json_object_get(known, "status");
        if (phase && il_phase_is_terminal(phase) && json_is_object(status))
            json_object_set(answers, pod_uid(pod), status);
        else
            json_array_append(to_ask, pod);
    }
}

/* The last stored status of every pod that has one (the fallback when the
 * plugin cannot answer a lenient caller). */
static void add_stored(json_t *answers, json_t *stored)
{
    const char *uid;
    json_t *known;
    json_object_foreach(stored, uid, known) {
        json_t *status = json_object_get(known, "status");
        if (json_is_object(status) && !json_object_get(answers, uid))
            json_object_set(answers, uid, status);
    }
}

static json_t *uids_of(json_t *pods)
{
    json_t *uids = json_array();
    size_t i;
    json_t *pod;
    json_array_foreach(pods, i, pod)
        json_array_append_new(uids, json_string(pod_uid(pod)));
    return uids;
}

/* The answers in the order of the request, unknown pods left out. */
static json_t *in_request_order(json_t *pods, json_t *answers)
{
    json_t *result = json_array();
    size_t i;
    json_t *pod;
    json_array_foreach(pods, i, pod) {
        json_t *st = json_object_get(answers, pod_uid(pod));
        if (st)
            json_array_append(result, st);
    }
    return result;
}

json_t *status_refresh(api *a, il_request *req, json_t *pods, bool strict)
{
    json_t *uids = uids_of(pods);
    json_t *stored = store_get_statuses(a->store, uids);
    json_decref(uids);
    if (!stored) {
        if (strict)
            il_respond_error(req, 500, "state database error; see the server log");
        return strict ? NULL : json_array();
    }
    json_t *answers = json_object();     /* uid -> status */
    json_t *to_ask = json_array();
    split_by_finality(pods, stored, answers, to_ask);
    bool failed = false;
    if (json_array_size(to_ask) > 0) {
        il_http_result res;
        json_t *fresh = ask_plugin(a, req, to_ask, &res);
        if (fresh) {
            remember(a, to_ask, fresh, stored);
            json_object_update(answers, fresh);
            json_decref(fresh);
        } else if (strict) {
            respond_plugin_error(a, req, &res);
            failed = true;
        } else {
            /* interlink's own refreshes (no req) retry every second: no warning each time */
            il_log(req ? IL_LOG_WARN : IL_LOG_DEBUG,
                   "plugin could not refresh statuses (%s); serving stored ones",
                   res.error[0] ? res.error : il_buf_cstr(&res.body));
            add_stored(answers, stored);
        }
        il_http_result_free(&res);
    }
    json_t *result = failed ? NULL : in_request_order(pods, answers);
    json_decref(answers);
    json_decref(stored);
    json_decref(to_ask);
    return result;
}

/* Every element must be a pod object with metadata.uid, of a namespace
 * the caller may act on (tenants.c). */
static bool valid_pod_list(api *a, il_request *req, json_t *body)
{
    if (!json_is_array(body)) {
        il_respond_error(req, 400, "invalid status request: expected a JSON array of pods");
        return false;
    }
    size_t i;
    json_t *item;
    json_array_foreach(body, i, item) {
        char err[512];
        il_pod meta;
        if (il_pod_parse_meta(item, &meta, err, sizeof(err)) != 0) {
            il_respond_error(req, 400, "invalid pod at index %zu: %s", i, err);
            return false;
        }
        bool allowed = access_check_pod(a, req, meta.uid, meta.ns);
        il_pod_free(&meta);
        if (!allowed)
            return false;
    }
    return true;
}

void handle_status(il_request *req, void *ud)
{
    api *a = ud;
    json_t *body = il_request_json(req);
    if (!body)
        return;
    if (valid_pod_list(a, req, body)) {
        json_t *statuses = status_refresh(a, req, body, true);
        if (statuses)
            il_respond_json(req, 200, statuses);
    }
    json_decref(body);
}

/* ---- GET /pods: our extension for interlinkctl --------------------------------- */

static json_t *pod_entry(const store_pod *row, json_t *status)
{
    char created[IL_RFC3339_MAX];
    il_time_format((il_time){row->created_at, 0}, false, created);
    json_t *entry = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "name", row->name,
                              "namespace", row->ns, "UID", row->uid, "JID", row->job_id,
                              "createdAt", created, "pod", row->pod);
    const char *phase = status ? il_pod_phase_json(status, pod_restart_policy(row->pod))
                               : "Pending";
    json_object_set_new(entry, "phase", json_string(phase));
    json_object_set(entry, "status", status ? status : json_null());
    if (row->delete_pending)   /* deleted by a caller, not yet confirmed by the plugin */
        json_object_set_new(entry, "deletePending", json_string(row->delete_pending));
    return entry;
}

void handle_pods(il_request *req, void *ud)
{
    api *a = ud;
    store_pod *rows;
    size_t n;
    const char *ns = il_request_query(req, "namespace");
    if (ns && !access_check_ns(a, req, ns))
        return;
    if (store_list(a->store, ns, &rows, &n) != 0) {
        il_respond_error(req, 500, "state database error; see the server log");
        return;
    }
    size_t kept = 0;   /* only the namespaces the caller may see */
    for (size_t i = 0; i < n; i++) {
        if (access_may(a, req, rows[i].ns))
            rows[kept++] = rows[i];
        else
            store_pod_free(&rows[i]);
    }
    n = kept;
    metrics_set_pods(store_count(a->store));
    json_t *pods = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(pods, rows[i].pod);
    json_t *statuses = status_refresh(a, req, pods, false);
    json_t *by_uid = json_object();
    size_t i;
    json_t *st;
    json_array_foreach(statuses, i, st)
        json_object_set(by_uid, json_string_value(json_object_get(st, "UID")), st);
    json_t *list = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(list, pod_entry(&rows[i], json_object_get(by_uid, rows[i].uid)));
    il_respond_json(req, 200, list);
    json_decref(by_uid);
    json_decref(statuses);
    json_decref(pods);
    store_pods_free(rows, n);
}

/* ---- POST /updateCache -------------------------------------------------------- */

/* The VK sends a whole pod; a bare UID (upstream's server-side key) works too. */
void handle_update_cache(il_request *req, void *ud)
{
    api *a = ud;
    json_t *body = json_loadb(il_request_body(req), il_request_body_len(req), JSON_DECODE_ANY,
                              NULL);
    const char *uid = json_is_object(body) ? pod_uid(body) : json_string_value(body);
    char *raw = NULL;
    if (!body) {
        raw = il_xstrdup(il_request_body(req));
        raw[strcspn(raw, " \t\r\n")] = '\0';
        uid = raw;
    }
    if (!uid || !*uid) {
        il_respond_error(req, 400, "updateCache needs a pod (with metadata.uid) or a pod UID");
    } else if (access_check_pod(a, req, uid, NULL)) {
        store_forget_status(a->store, uid);
        il_debug("dropped stored status of %s", uid);
        il_respond_text(req, 200, "Updated cache");
    }
    free(raw);
    json_decref(body);
}
