/* sessionrelay.c -- interlink's relay of exec and port-forward sessions (see
 * session.h in common for the wire): validate the request, open the same
 * upgrade to the plugin, and only once the plugin has switched, switch
 * the caller too and copy bytes both ways until either side closes.  A
 * plugin's refusal (404, 501, ...) reaches the caller unchanged, so
 * kubectl sees why. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "session.h"

typedef struct relay_job {
    il_httpc_upgrade *plugin;
} relay_job;

/* Everything the plugin has now (it may hold more than one poll shows). */
static bool plugin_to_caller(il_httpc_upgrade *p, int caller)
{
    char buf[32 * 1024];
    for (;;) {
        ssize_t n = il_httpc_upgrade_read(p, buf, sizeof buf);
        if (n == IL_STREAM_AGAIN)
            return true;
        if (n <= 0 || il_session_send(caller, buf, (size_t)n) < 0)
            return false;
    }
}

static void relay_pump(il_upgraded *u, void *arg)
{
    relay_job *j = arg;
    int caller = il_upgraded_fd(u);
    size_t early_len;
    const char *early = il_upgraded_early(u, &early_len);
    bool ok = (!early_len || il_httpc_upgrade_write(j->plugin, early, early_len) == 0) &&
              plugin_to_caller(j->plugin, caller);
    while (ok) {
        struct pollfd p[2] = {{.fd = caller, .events = POLLIN},
                              {.fd = il_httpc_upgrade_fd(j->plugin), .events = POLLIN}};
        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            break;
        if (il_upgraded_gone(u))
            break;
        if (p[0].revents) {
            char buf[32 * 1024];
            ssize_t n = read(caller, buf, sizeof buf);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            ok = n > 0 && il_httpc_upgrade_write(j->plugin, buf, (size_t)n) == 0;
        }
        if (ok && p[1].revents)
            ok = plugin_to_caller(j->plugin, caller);
    }
    il_httpc_upgrade_close(j->plugin);
    free(j);
    il_upgraded_close(u);
}

static void relay_abandon(void *arg)
{
    relay_job *j = arg;
    il_httpc_upgrade_close(j->plugin);
    free(j);
}

static int validate(const char *path, json_t *body, char *err, size_t errlen)
{
    if (!strcmp(path, "/exec")) {
        il_exec_request er;
        if (il_exec_request_parse(body, &er, err, errlen) != 0)
            return -1;
        il_exec_request_free(&er);
        return 0;
    }
    il_pod pod;
    int port;
    if (il_portforward_parse(body, &pod, &port, err, errlen) != 0)
        return -1;
    il_pod_free(&pod);
    return 0;
}

void handle_session(il_request *req, void *ud)
{
    api *a = ud;
    const char *path = il_request_path(req);
    const char *up = il_request_header(req, "Upgrade");
    if (!up || strcasecmp(up, IL_SESSION_PROTOCOL) != 0) {
        il_respond_error(req, 426, "%s needs Upgrade: %s", path, IL_SESSION_PROTOCOL);
        return;
    }
    json_t *body = il_request_json(req);
    if (!body)
        return;
    char err[512];
    int rc = validate(path, body, err, sizeof err);
    json_decref(body);
    if (rc != 0) {
        il_respond_error(req, 400, "%s", err);
        return;
    }
    il_httpc_req call = {.method = "POST", .path = path, .session = il_request_session(req),
                         .body = il_request_body(req), .len = il_request_body_len(req)};
    long status = 0;
    il_httpc_upgrade *plugin = il_httpc_upgrade_open(a->plugin, &call, IL_SESSION_PROTOCOL,
                                                     &status, err, sizeof err);
    metrics_count_plugin_call(path, plugin == NULL, 0);
    if (!plugin) {
        if (status >= 400 && status <= 599)
            il_respond_error(req, (int)status, "%s: plugin answered %ld: %s", path, status, err);
        else
            il_respond_error(req, 502, "%s: plugin at %s: %s", path, il_httpc_url(a->plugin),
                             err);
        return;
    }
    relay_job *j = il_xcalloc(1, sizeof *j);
    j->plugin = plugin;
    il_respond_upgrade(req, IL_SESSION_PROTOCOL, NULL, relay_pump, j, relay_abandon);
}
