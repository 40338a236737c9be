/* relay.c -- calls from interlink to its plugin, and how their failures
 * reach the caller.
 *
 * Upstream answered every transport failure with an empty 500; here the
 * caller learns which plugin could not be reached and why (502), or that it
 * did not answer in time (504), and a plugin's own error keeps its status
 * code and message. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

int relay_call(api *a, il_request *req, const char *method, const char *path,
               const void *body, size_t len, il_http_result *res)
{
    int64_t started = il_monotonic_ms();
    /* No request: interlink's own status refresh (watch.c). */
    const char *session = req ? il_request_session(req) : "StatusRefresh";
    int rc = il_httpc_request(a->plugin, method, path, session, body, len, res);
    metrics_count_plugin_call(path, rc != 0, (double)(il_monotonic_ms() - started) / 1000.0);
    return rc;
}

void relay_unreachable(api *a, il_request *req, const char *path, const il_http_result *res)
{
    if (res->timed_out)
        il_respond_error(req, 504, "plugin at %s did not answer %s within %lld s",
                         il_httpc_url(a->plugin), path, (long long)a->cfg.sidecar_timeout_s);
    else
        il_respond_error(req, 502, "plugin unreachable at %s: %s", il_httpc_url(a->plugin),
                         res->error);
}

void relay_failure(il_request *req, const char *what, const il_http_result *res)
{
    int status = res->status >= 400 && res->status <= 599 ? (int)res->status : 502;
    size_t len = res->body.len;
    const char *body = il_buf_cstr(&res->body);
    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
        len--;
    il_respond_error(req, status, "%s: plugin answered %ld: %.*s", what, res->status,
                     (int)(len > 2000 ? 2000 : len), body);
}
