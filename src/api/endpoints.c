/* endpoints.c -- /delete, /getLogs, /pinglink, /metrics and /healthz.
 *
 * The thin relays.  Each validates before relaying, so a malformed body is
 * the caller's 400 and never a crash (upstream exited on a bad /delete). */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "deleter.h"
#include "log.h"
#include "metrics.h"
#include "pod.h"
#include "tenants.h"
#include "wire.h"

/* ---- /delete ---------------------------------------------------------------- */

/* What the caller of a delete the plugin did not confirm hears.  A
 * refusal of the request is the caller's to hear; a 401 or 429 the plugin
 * gave interlink is the plugin's trouble and would be misread as about the
 * caller (503: try again). */
static int delete_failure_status(const il_http_result *res, int rc, deleter_outcome o)
{
    if (rc != 0)
        return res->timed_out ? 504 : 502;
    if (o == DELETER_REFUSED || (res->status >= 500 && res->status <= 599))
        return (int)res->status;
    return res->status >= 400 && res->status < 500 ? 503 : 502;
}

/* handle_delete's work once the pod's UID is ours alone. */
static void relay_delete(api *a, il_request *req, const il_pod *pod)
{
    const char *raw = il_request_body(req);
    size_t raw_len = il_request_body_len(req);
    if (deleter_intend(a, pod->uid, raw, raw_len) != 0) {
        il_respond_error(req, 503, "the state database cannot record the delete of %s (disk "
                         "full?); nothing was deleted; repeat the delete", pod->uid);
        return;
    }
    il_http_result res;
    int rc = relay_call_for(a, req, "POST", "/delete", raw, raw_len, pod->ns, &res);
    deleter_outcome o = deleter_verdict(a, raw, raw_len, &res, rc);
    if (o == DELETER_TRANSIENT || o == DELETER_REFUSED) {
        deleter_record(a, pod->uid, raw, raw_len, &res, rc, 0);
        char *why = deleter_reason(&res, rc);
        int status = delete_failure_status(&res, rc, o);
        il_respond_error(req, status,
                         "delete of %s not confirmed (%s); interlink retries it in the "
                         "background", pod->uid, why);
        free(why);
    } else if (store_delete(a->store, pod->uid) != 0) {
        /* The backend is clean; the pending record finishes the rest once
         * the database is writable again. */
        il_respond_error(req, 503, "pod %s was deleted by the plugin but the state database "
                         "could not forget it yet (disk full?); interlink retries it in the "
                         "background", pod->uid);
    } else if (o == DELETER_GONE) {
        il_info("deleted pod %s/%s (%s): the plugin no longer knew it", pod->ns, pod->name,
                pod->uid);
        il_respond_text(req, 200, "Pod %s deleted (the plugin no longer knew it)\n", pod->uid);
    } else {
        il_info("deleted pod %s/%s (%s)", pod->ns, pod->name, pod->uid);
        il_respond(req, 200, "text/plain; charset=utf-8", res.body.data, res.body.len);
    }
    il_http_result_free(&res);
}

/* The plugin gets the caller's bytes unchanged (upstream forwards the
 * original body), and the pod is forgotten only once the plugin confirmed.
 * The delete is recorded as pending before it is relayed (deleter.c): a
 * delete the plugin did not confirm, or whose row the database could not
 * remove, or that a crash cut short, is retried in the background until
 * it is done, and the caller hears that.  Success means the pod is gone
 * from the backend and from the state database. */
void handle_delete(il_request *req, void *ud)
{
    api *a = ud;
    json_t *body = il_request_json(req);
    if (!body)
        return;
    char err[512];
    il_pod pod;
    if (il_pod_parse_meta(body, &pod, err, sizeof(err)) != 0) {
        il_respond_error(req, 400, "invalid delete request: %s", err);
        json_decref(body);
        return;
    }
    json_decref(body);
    if (!access_check_pod(a, req, pod.uid, pod.ns)) {
        il_pod_free(&pod);
        return;
    }
    /* Wait for a create of the same pod still on its way to the plugin:
     * this delete would overtake it there, find nothing, and the pod
     * would start afterwards with nobody to stop it. */
    il_uidlock_acquire(&a->busy, pod.uid);
    relay_delete(a, req, &pod);
    il_uidlock_release(&a->busy, pod.uid);
    il_pod_free(&pod);
}

/* ---- /getLogs ---------------------------------------------------------------- */

static ssize_t log_relay_read(void *ctx, char *buf, size_t max)
{
    return il_httpc_stream_read(ctx, buf, max);
}

static void log_relay_close(void *ctx)
{
    il_httpc_stream_close(ctx);
}

/* Validated with upstream's rules and messages, then streamed through as it
 * arrives, so `kubectl logs -f` follows a running container. */
void handle_logs(il_request *req, void *ud)
{
    api *a = ud;
    char err[512];
    il_log_request lr;
    if (il_log_request_parse_body(il_request_body(req), il_request_body_len(req), &lr, err,
                                  sizeof(err)) != 0) {
        il_respond_error(req, 400, "%s", err);
        return;
    }
    if (!access_check_pod(a, req, lr.pod_uid, lr.ns)) {
        il_log_request_free(&lr);
        return;
    }
    json_t *forward = il_log_request_to_json(&lr);
    char *text = json_dumps(forward, JSON_COMPACT);
    json_decref(forward);
    long status = 0;
    bool timed_out = false;
    char *hdrs[4];
    relay_identity_headers(req, lr.ns, hdrs);
    il_log_request_free(&lr);
    il_httpc_req call = {.method = "GET", .path = "/getLogs",
                         .headers = (const char *const *)hdrs,
                         .session = il_request_session(req), .body = text, .len = strlen(text)};
    il_httpc_stream *stream = il_httpc_stream_call(a->plugin, &call, &status, &timed_out, err,
                                                   sizeof(err));
    relay_headers_free(hdrs);
    free(text);
    metrics_count_plugin_call("/getLogs", stream == NULL, 0);
    if (!stream) {
        il_http_result failure = {.timed_out = timed_out};
        snprintf(failure.error, sizeof(failure.error), "%s", err);
        relay_unreachable(a, req, "/getLogs", &failure);
        return;
    }
    il_respond_stream(req, (int)status, "text/plain; charset=utf-8", log_relay_read, stream,
                      log_relay_close);
}

/* ---- /pinglink ------------------------------------------------------------------ */

/* Ping is the plugin's status of no pods; its body (a PingResponse with
 * capacity and taints, or plain text) is passed on verbatim. */
void handle_ping(il_request *req, void *ud)
{
    api *a = ud;
    il_http_result res;
    if (relay_call(a, req, "GET", "/status", "[]", 2, &res) != 0) {
        relay_unreachable(a, req, "/status", &res);
    } else {
        const char *type = res.body.len && res.body.data[0] == '{' ? "application/json"
                                                                   : "text/plain; charset=utf-8";
        il_respond(req, (int)res.status, type, res.body.data, res.body.len);
    }
    il_http_result_free(&res);
}

/* ---- /metrics, /healthz ------------------------------------------------------------ */

void handle_metrics(il_request *req, void *ud)
{
    api *a = ud;
    metrics_set_pods(store_count(a->store));
    il_buf text = IL_BUF_INIT;
    metrics_render(&text);
    il_respond(req, 200, "text/plain; version=0.0.4", text.data, text.len);
    il_buf_free(&text);
}

void handle_healthz(il_request *req, void *ud)
{
    (void)ud;
    il_respond_text(req, 200, "ok\n");
}
