/* relay.c -- calls from interlink to its plugin, and how their failures
 * reach the caller.
 *
 * Upstream answered every transport failure with an empty 500; here the
 * caller learns which plugin could not be reached and why (502), or that it
 * did not answer in time (504), and a plugin's own error keeps its status
 * code and message.
 *
 * Identity: calls made for an authenticated caller carry X-Interlink-User,
 * X-Interlink-Groups (comma-separated) and X-Interlink-Tenant (the pod's
 * namespace), which upstream plugins ignore and ours map to a backend
 * account (interlink-slurm's IdentityMapFile).  Values are made header-safe
 * (control characters and commas in names replaced). */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

/* "Name: value" with every byte below 0x20, 0x7f and (in lists) ',' as '_'. */
static void append_safe(il_buf *line, const char *value, bool list_item)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        il_buf_printf(line, "%c", *p < 0x20 || *p == 0x7f || (list_item && *p == ',') ? '_'
                                                                                  : *p);
}

void relay_identity_headers(il_request *req, const char *tenant, char *hdrs[4])
{
    const api_caller *who = req ? il_request_caller(req) : NULL;
    size_t n = 0;
    memset(hdrs, 0, 4 * sizeof *hdrs);
    if (!who)
        return;
    il_buf line = IL_BUF_INIT;
    il_buf_printf(&line, "X-Interlink-User: ");
    append_safe(&line, who->name ? who->name : "", false);
    hdrs[n++] = il_xstrdup(il_buf_cstr(&line));
    il_buf_free(&line);
    il_buf_printf(&line, "X-Interlink-Groups: ");
    for (size_t i = 0; i < who->n_groups; i++) {
        if (i)
            il_buf_printf(&line, ",");
        append_safe(&line, who->groups[i], true);
    }
    hdrs[n++] = il_xstrdup(il_buf_cstr(&line));
    il_buf_free(&line);
    if (tenant) {
        il_buf_printf(&line, "X-Interlink-Tenant: ");
        append_safe(&line, tenant, false);
        hdrs[n++] = il_xstrdup(il_buf_cstr(&line));
        il_buf_free(&line);
    }
}

void relay_headers_free(char *hdrs[4])
{
    for (size_t i = 0; i < 4; i++)
        free(hdrs[i]);
}

int relay_call_for(api *a, il_request *req, const char *method, const char *path,
                   const void *body, size_t len, const char *tenant, il_http_result *res)
{
    int64_t started = il_monotonic_ms();
    char *hdrs[4];
    relay_identity_headers(req, tenant, hdrs);
    /* No request: interlink's own status refresh (watch.c). */
    il_httpc_req call = {.method = method, .path = path, .headers = (const char *const *)hdrs,
                         .session = req ? il_request_session(req) : "StatusRefresh",
                         .body = body, .len = len};
    int rc = il_httpc_call(a->plugin, &call, res);
    relay_headers_free(hdrs);
    metrics_count_plugin_call(path, rc != 0, (double)(il_monotonic_ms() - started) / 1000.0);
    return rc;
}

int relay_call(api *a, il_request *req, const char *method, const char *path,
               const void *body, size_t len, il_http_result *res)
{
    return relay_call_for(a, req, method, path, body, len, NULL, res);
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
