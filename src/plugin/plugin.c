/* plugin.c -- the southbound API every plugin serves, around five callbacks.
 *
 * Owns the translation between upstream's plugin protocol and il_plugin_ops:
 * body parsing and validation (a bad request never reaches a backend),
 * ping-as-empty-status, the batch status answer, log streaming, and the
 * mapping of callback failures to HTTP answers.  Backends see parsed pods
 * and write messages; they never touch HTTP or JSON framing. */
#include "plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "podscan.h"
#include "jsonsplit.h"
#include "memory.h"
#include "log.h"
#include "prom.h"
#include "trace.h"
#include "uidlock.h"

typedef struct plugin_server {
    const il_plugin_ops *ops;
    void *ctx;
    /* A pod's create and delete run one at a time: a delete that overtook
     * the create (interlink restarted while the plugin was still creating)
     * would find nothing, and the pod would start with nobody to stop it. */
    il_uidlock busy;
} plugin_server;

/* The backend label of this process's metrics ("slurm", "local"). */
static const char *backend_name = "unknown";

int il_plugin_status(il_fail f)
{
    switch (f) {
    case IL_OK:
        return 0;
    case IL_FAIL_INPUT:
        return 400;
    case IL_FAIL_NOT_FOUND:
        return 404;
    case IL_FAIL_IO:
        break;
    }
    return 500;
}

static int failure_status(int rc)
{
    return (rc >= 400 && rc <= 599) ? rc : 500;
}

/* ---- /create ------------------------------------------------------------- */

static void handle_create(il_request *req, void *ud)
{
    plugin_server *ps = ud;
    json_t *body = il_request_json(req);
    if (!body)
        return;
    char err[512];
    il_create_request create;
    if (il_create_request_parse(body, &create, err, sizeof(err)) != 0) {
        json_decref(body);
        il_respond_error(req, 400, "invalid create request: %s", err);
        return;
    }
    json_decref(body);
    il_caller caller = {il_request_header(req, "X-Interlink-User"),
                        il_request_header(req, "X-Interlink-Groups"),
                        il_request_header(req, "X-Interlink-Tenant")};
    create.caller = &caller;

    char *job_id = NULL;
    il_buf msg = IL_BUF_INIT;
    il_span *span = il_span_current();   /* the request's, from httpd.c */
    il_span_set_pod(span, create.pod.ns, create.pod.name, create.pod.uid);
    il_span_set_str(span, "interlink.backend", ps->ops->name);
    il_uidlock_acquire(&ps->busy, create.pod.uid);
    int rc = ps->ops->create(ps->ctx, &create, &job_id, &msg);
    il_uidlock_release(&ps->busy, create.pod.uid);
    il_span_set_str(span, "interlink.job_id", job_id);
    if (rc == 0) {
        il_info("created pod %s/%s (%s) as job %s", create.pod.ns, create.pod.name,
                create.pod.uid, job_id);
        il_respond_json(req, 200, il_create_response(create.pod.uid, job_id));
    } else {
        il_respond_error(req, failure_status(rc), "cannot create pod %s/%s: %s", create.pod.ns,
                         create.pod.name, il_buf_cstr(&msg));
    }
    free(job_id);
    il_buf_free(&msg);
    il_create_request_free(&create);
}

/* ---- /status and ping ------------------------------------------------------ */

static void answer_ping(il_request *req, plugin_server *ps)
{
    json_t *pong = ps->ops->ping ? ps->ops->ping(ps->ctx) : NULL;
    if (!pong)
        pong = json_pack("{s:s}", "status", "ok");
    const char *status = json_string_value(json_object_get(pong, "status"));
    if (status && strcmp(status, "error") == 0) {   /* the backend cannot tell: not ready */
        const char *message = json_string_value(json_object_get(pong, "message"));
        il_respond_error(req, 503, "%s", message ? message : "plugin ping failed");
        json_decref(pong);
        return;
    }
    il_respond_json(req, 200, pong);
}

/* interlink_backend_pods: the pods of the latest /status answer by
 * phase ("unknown": the backend does not know the pod). */
static void count_phases(const il_pod *pods, const il_pod_status *statuses, size_t n)
{
    static const char *const phases[] = {"Pending", "Running", "Succeeded", "Failed", "Unknown"};
    double counts[5] = {0};
    for (size_t i = 0; i < n; i++) {
        const char *phase = statuses[i].uid ? il_pod_phase(&statuses[i], pods[i].restart_policy)
                                            : "Unknown";
        for (size_t p = 0; p < 5; p++)
            if (strcmp(phase, phases[p]) == 0)
                counts[p]++;
    }
    il_metric *m = il_prom_gauge("interlink_backend_pods",
                                 "Pods in the latest /status answer, by phase.", "backend,phase");
    for (size_t p = 0; p < 5; p++)
        il_prom_set(m, counts[p], backend_name, phases[p]);
}

/* A pod of a /status body as its status needs it: the UID (the names for
 * messages), read by the scan when it vouches for the pod (podscan.h: no
 * jansson tree; a pod from a virtual kubelet is all of its spec besides),
 * else parsed whole, which gives the same pod or the same error.  Labels
 * and annotations are not read: no backend's status looks at them.
 * 0; -1 with err (*bad_json: the text is no JSON at all). */
static int pod_for_status(const char *text, size_t len, size_t index, il_pod *out, char *err,
                          size_t errlen, bool *bad_json)
{
    il_pod_ref ref;
    if (il_pod_scan_ref(text, len, &ref) == 0) {
        *out = (il_pod){.uid = ref.uid, .name = ref.name, .ns = ref.ns};
        free(ref.restart_policy);   /* as il_pod_parse_meta: a status request's is not used */
        il_pod_ref_defaults(out);
        return 0;
    }
    json_error_t jerr;
    json_t *item = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    *bad_json = !item;
    if (!item) {
        snprintf(err, errlen, "%s (in pod %zu, at its byte %d)", jerr.text, index, jerr.position);
        return -1;
    }
    int rc = il_pod_parse_meta(item, out, err, errlen);
    json_decref(item);
    if (rc == 0) {
        json_decref(out->raw);
        out->raw = NULL;
    }
    return rc;
}

/* The pods of a /status body, parsed one at a time (a 10,000-pod body as
 * one jansson tree was tens of megabytes): metadata only, without the
 * pod's JSON (raw is NULL).  Returns the count, or -1 after answering the
 * caller 400. */
static ssize_t read_pods(il_request *req, il_pod **out)
{
    il_json_split s;
    if (!il_request_split_array(req, &s, "invalid status request: expected a JSON array of pods"))
        return -1;
    il_pod *pods = NULL;
    size_t n = 0, cap = 0;
    const char *elem;
    size_t len;
    char err[512];
    int got;
    while ((got = il_json_split_next(&s, &elem, &len, err, sizeof(err))) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            pods = il_xrealloc(pods, cap * sizeof(*pods));
        }
        bool bad_json = false;
        if (pod_for_status(elem, len, n, &pods[n], err, sizeof(err), &bad_json) != 0) {
            if (bad_json)
                got = -1;
            else
                il_respond_error(req, 400, "invalid pod at index %zu: %s", n, err);
            break;
        }
        n++;
    }
    if (got < 0)
        il_respond_error(req, 400, "invalid JSON body: %s", err);
    if (got != 0) {
        for (size_t i = 0; i < n; i++)
            il_pod_free(&pods[i]);
        free(pods);
        return -1;
    }
    *out = pods;
    return (ssize_t)n;
}

/* The answer is written status by status, each freed once written. */
static void answer_status(il_request *req, plugin_server *ps, il_pod *pods, size_t n)
{
    il_pod_status *statuses = il_xcalloc(n, sizeof(*statuses));
    il_buf msg = IL_BUF_INIT;
    int rc = ps->ops->status(ps->ctx, pods, n, statuses, &msg);
    if (rc == 0) {
        count_phases(pods, statuses, n);
        il_buf answer = IL_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
            if (statuses[i].uid) {
                json_t *json = il_pod_status_to_json(&statuses[i]);
                il_json_join_add_json(&answer, json);
                json_decref(json);
            }
            il_pod_status_free(&statuses[i]);
        }
        il_json_join_end(&answer);
        il_respond_json_buf(req, 200, &answer);
        il_buf_free(&answer);
    } else {
        il_respond_error(req, failure_status(rc), "cannot get status: %s", il_buf_cstr(&msg));
    }
    for (size_t i = 0; i < n; i++) {
        il_pod_status_free(&statuses[i]);
        il_pod_free(&pods[i]);
    }
    free(statuses);
    il_buf_free(&msg);
}

static void handle_status(il_request *req, void *ud)
{
    plugin_server *ps = ud;
    il_pod *pods = NULL;
    ssize_t n = read_pods(req, &pods);
    if (n == 0)
        answer_ping(req, ps);
    else if (n > 0)
        answer_status(req, ps, pods, (size_t)n);
    free(pods);
}

/* ---- /delete --------------------------------------------------------------- */

/* A delete needs the UID; the grace period comes from metadata
 * .deletionGracePeriodSeconds (what `kubectl delete --grace-period` sets),
 * else spec.terminationGracePeriodSeconds, else 30 s.  A pod whose spec does
 * not validate can still be deleted. */
static int parse_pod_for_delete(json_t *json, il_pod *pod, char *err, size_t errlen)
{
    if (il_pod_parse(json, pod, err, errlen) != 0 &&
        il_pod_parse_meta(json, pod, err, errlen) != 0)
        return -1;
    json_t *grace = json_object_get(json_object_get(json, "metadata"),
                                    "deletionGracePeriodSeconds");
    if (!json_is_integer(grace))
        grace = json_object_get(json_object_get(json, "spec"), "terminationGracePeriodSeconds");
    pod->grace_seconds = json_is_integer(grace) && json_integer_value(grace) >= 0
                             ? json_integer_value(grace) : 30;
    return 0;
}

static void handle_delete(il_request *req, void *ud)
{
    plugin_server *ps = ud;
    json_t *body = il_request_json(req);
    if (!body)
        return;
    char err[512];
    il_pod pod;
    if (parse_pod_for_delete(body, &pod, err, sizeof(err)) != 0) {
        json_decref(body);
        il_respond_error(req, 400, "invalid delete request: %s", err);
        return;
    }
    json_decref(body);
    il_buf msg = IL_BUF_INIT;
    il_uidlock_acquire(&ps->busy, pod.uid);
    int rc = ps->ops->delete(ps->ctx, &pod, &msg);
    il_uidlock_release(&ps->busy, pod.uid);
    if (rc == 0) {
        il_info("deleted pod %s/%s (%s)", pod.ns, pod.name, pod.uid);
        il_respond_text(req, 200, "Pod %s deleted\n", pod.uid);
    } else {
        il_respond_error(req, failure_status(rc), "cannot delete pod %s/%s: %s", pod.ns,
                         pod.name, il_buf_cstr(&msg));
    }
    il_buf_free(&msg);
    il_pod_free(&pod);
}

/* ---- /getLogs ---------------------------------------------------------------- */

typedef struct log_stream {
    const il_plugin_ops *ops;
    void *handle;
} log_stream;

static ssize_t log_stream_read(void *ctx, char *buf, size_t max)
{
    log_stream *ls = ctx;
    return ls->ops->logs_read(ls->handle, buf, max);
}

static void log_stream_free(void *ctx)
{
    log_stream *ls = ctx;
    ls->ops->logs_close(ls->handle);
    free(ls);
}

static void handle_logs(il_request *req, void *ud)
{
    plugin_server *ps = ud;
    char err[512];
    il_log_request lr;
    if (il_log_request_parse_body(il_request_body(req), il_request_body_len(req), &lr, err,
                                  sizeof(err)) != 0) {
        il_respond_error(req, 400, "%s", err);
        return;
    }
    il_buf msg = IL_BUF_INIT;
    void *handle = NULL;
    int rc = ps->ops->logs_open(ps->ctx, &lr, &handle, &msg);
    if (rc == 0) {
        log_stream *ls = il_xmalloc(sizeof(*ls));
        ls->ops = ps->ops;
        ls->handle = handle;
        il_respond_stream(req, 200, "text/plain; charset=utf-8", log_stream_read, ls,
                          log_stream_free);
    } else {
        il_respond_error(req, failure_status(rc), "%s", il_buf_cstr(&msg));
    }
    il_buf_free(&msg);
    il_log_request_free(&lr);
}

/* ---- metrics --------------------------------------------------------------------- */

static const char *const plugin_paths[] = {"/create", "/status", "/delete", "/getLogs",
                                           "/metrics"};

static void observe_request(const char *method, const char *path, int status, double seconds,
                            void *ud)
{
    (void)method;
    (void)ud;
    const char *endpoint = "other";
    for (size_t i = 0; i < sizeof(plugin_paths) / sizeof(plugin_paths[0]); i++)
        if (strcmp(path, plugin_paths[i]) == 0)
            endpoint = plugin_paths[i];
    char code[16];
    snprintf(code, sizeof code, "%d", status);
    il_prom_add(il_prom_counter("interlink_backend_requests_total",
                                "Requests the plugin answered, by endpoint and code.",
                                "backend,endpoint,code"),
                1, backend_name, endpoint, code);
    il_prom_observe(il_prom_histogram("interlink_backend_request_seconds",
                                      "Time the plugin took to answer, by endpoint and code.",
                                      "backend,endpoint,code", NULL, 0),
                    seconds, backend_name, endpoint, code);
}

static void handle_metrics(il_request *req, void *ud)
{
    (void)ud;
    il_buf text = IL_BUF_INIT;
    il_prom_render(&text);
    il_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text.data, text.len);
    il_buf_free(&text);
}

/* ---- serving -------------------------------------------------------------------- */

static bool token_filter(il_request *req, void *token)
{
    const char *sent = il_request_bearer(req);
    if (sent && il_secret_equal(sent, token))
        return true;
    il_respond_error(req, 401, "unauthorized: %s", sent ? "the bearer token is not accepted"
                                                        : "a bearer token is required");
    return false;
}

int il_plugin_serve(const il_plugin_ops *ops, void *ctx, const il_httpd_opts *listen)
{
    return il_plugin_serve_token(ops, ctx, listen, NULL);
}

int il_plugin_serve_token(const il_plugin_ops *ops, void *ctx, const il_httpd_opts *listen,
                          const char *token)
{
    plugin_server ps = {ops, ctx, IL_UIDLOCK_INIT};
    char err[512];
    backend_name = ops->name;
    il_prom_set_backend(ops->name);
    il_daemon_init_signals();
    il_memory_init();
    char *service = il_xasprintf("interlink-%s", ops->name);
    il_trace_init(service);
    free(service);
    il_httpd *srv = il_httpd_new(listen, err, sizeof(err));
    if (!srv) {
        il_error("%s", err);
        return 1;
    }
    il_httpd_route(srv, "/create", handle_create, &ps);
    il_httpd_route(srv, "/status", handle_status, &ps);
    il_httpd_route(srv, "/delete", handle_delete, &ps);
    il_httpd_route(srv, "/getLogs", handle_logs, &ps);
    if (token)
        il_httpd_set_filter(srv, token_filter, (void *)token);
    il_httpd_route(srv, "/metrics", handle_metrics, NULL);
    il_httpd_set_observer(srv, observe_request, NULL);
    il_plugin_route_sessions(srv, ops, ctx);
    if (il_httpd_start(srv, err, sizeof(err)) != 0) {
        il_error("%s", err);
        il_httpd_stop(srv);
        return 1;
    }
    il_info("%s plugin listening on %s%s%s", ops->name, listen->address,
            strncmp(listen->address, "http", 4) == 0 ? " port " : "",
            strncmp(listen->address, "http", 4) == 0 ? listen->port : "");
    int sig = il_daemon_wait_for_signal();
    il_info("signal %d: shutting down", sig);
    il_httpd_stop(srv);
    il_uidlock_free(&ps.busy);
    il_trace_shutdown();
    return 0;
}
