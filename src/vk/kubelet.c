/* kubelet.c -- the kubelet HTTPS API: the server, its routes, and
 * containerLogs relayed to interlink's /getLogs.
 *
 * A log request names the pod by namespace and name; interlink wants its
 * UID, which the pod table has (only pods of this node are served).  The
 * query is validated as the virtual-kubelet library does (negative
 * tailLines, limitBytes or sinceSeconds below 1, both since forms: 400),
 * then becomes upstream's LogStruct.  interlink's answer is streamed
 * through as it arrives, so follow=true ends when the container does or
 * when the caller goes away (httpd notices and closes the relay). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certs.h"
#include "kubelet.h"
#include "log.h"
#include "timeutil.h"
#include "util.h"
#include "vk.h"
#include "vkmetrics.h"
#include "wire.h"

#define LOGS_PREFIX "/containerLogs/"
#define ERROR_BODY_MAX 4096

struct vk_kubelet {
    vk *v;
    il_httpd *http;
    vk_authn *authn;
    vk_serving_cert *cert;    /* what the listener serves (kubeletcert.c) */
};

/* ---- query ---------------------------------------------------------------- */

/* Go's strconv.ParseBool, which the kubelet's query decoding uses. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
            *out = !strcmp(s, yes[i]);
            return 0;
        }
    }
    return -1;
}

/* One query parameter into *out; a message in err when it is malformed
 * or below min.  Absent leaves *out alone. */
static int query_int(il_request *req, const char *name, int64_t min, int64_t *out, char *err,
                     size_t errlen)
{
    const char *s = il_request_query(req, name);
    if (!s)
        return 0;
    if (il_parse_int64(s, out) == 0 && *out >= min)
        return 0;
    snprintf(err, errlen, "%s: \"%s\" is not a whole number of at least %lld", name, s,
             (long long)min);
    return -1;
}

static int query_bool(il_request *req, const char *name, bool *out, char *err, size_t errlen)
{
    const char *s = il_request_query(req, name);
    if (!s || parse_bool(s, out) == 0)
        return 0;
    snprintf(err, errlen, "%s: \"%s\" is not a boolean", name, s);
    return -1;
}

static int query_time(il_request *req, const char *name, il_time *out, char *err, size_t errlen)
{
    const char *s = il_request_query(req, name);
    if (!s || (il_time_parse(s, out) == 0 && !il_time_is_zero(*out)))
        return 0;
    snprintf(err, errlen, "%s: \"%s\" is not an RFC 3339 time", name, s);
    return -1;
}

/* The options of a containerLogs query into lr. */
static int parse_log_query(il_request *req, il_log_request *lr, char *err, size_t errlen)
{
    if (query_int(req, "tailLines", 0, &lr->tail, err, errlen) < 0 ||
        query_int(req, "limitBytes", 1, &lr->limit_bytes, err, errlen) < 0 ||
        query_int(req, "sinceSeconds", 1, &lr->since_seconds, err, errlen) < 0 ||
        query_time(req, "sinceTime", &lr->since_time, err, errlen) < 0 ||
        query_bool(req, "timestamps", &lr->timestamps, err, errlen) < 0 ||
        query_bool(req, "follow", &lr->follow, err, errlen) < 0 ||
        query_bool(req, "previous", &lr->previous, err, errlen) < 0)
        return -1;
    if (lr->since_seconds && !il_time_is_zero(lr->since_time)) {
        snprintf(err, errlen, "at most one of sinceSeconds or sinceTime may be specified");
        return -1;
    }
    return 0;
}

/* "/containerLogs/NS/POD/CONTAINER" into its three parts (new strings). */
static int parse_log_path(const char *path, char **ns, char **pod, char **container)
{
    char *parts[3] = {NULL, NULL, NULL};
    const char *p = path + strlen(LOGS_PREFIX);
    for (int i = 0; i < 3; i++) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (i < 2 && p[n] != '/') || (i == 2 && p[n] != '\0'))
            break;
        parts[i] = il_xstrndup(p, n);
        p += n + (i < 2);
    }
    if (!parts[2]) {
        free(parts[0]);
        free(parts[1]);
        return -1;
    }
    *ns = parts[0];
    *pod = parts[1];
    *container = parts[2];
    return 0;
}

/* ---- containerLogs ------------------------------------------------------- */

/* The pod's UID and the container check; responds 404 itself (503 while
 * the VK has not listed its pods yet: right after a restart a pod it will
 * know in a moment is not "not found"; the API server passes 503 on, and
 * the client asks again). */
static int resolve_pod(il_request *req, vk *v, il_log_request *lr)
{
    vk_pod_view view;
    if (!vk_pods_find(v->pods, lr->ns, lr->pod_name, &view)) {
        bool starting = !vk_pods_synced(v->pods);
        il_respond_error(req, starting ? 503 : 404, "pod %s/%s not found on node %s%s", lr->ns,
                         lr->pod_name, v->cfg->node_name,
                         starting ? " (the node is starting: retry)" : "");
        return -1;
    }
    int rc = 0;
    if (!vk_pod_has_container(view.pod, lr->container)) {
        il_respond_error(req, 404, "container %s is not valid for pod %s", lr->container,
                         lr->pod_name);
        rc = -1;
    } else {
        lr->pod_uid = il_xstrdup(vk_pod_uid(view.pod));
    }
    vk_pod_view_free(&view);
    return rc;
}

static ssize_t relay_read(void *ctx, char *buf, size_t max)
{
    return il_httpc_stream_read(ctx, buf, max);
}

static void relay_free(void *ctx)
{
    il_httpc_stream_close(ctx);
}

/* interlink said no: pass its status and first line on. */
static void relay_error(il_request *req, il_httpc_stream *s, long status)
{
    char body[ERROR_BODY_MAX];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof body - 1 &&
           (n = il_httpc_stream_read(s, body + len, sizeof body - 1 - len)) != 0)
        if (n > 0)
            len += (size_t)n;
        else if (n != IL_STREAM_AGAIN)
            break;
    body[len] = '\0';
    body[strcspn(body, "\r\n")] = '\0';
    il_respond_error(req, (int)status, "interlink /getLogs: %s", body);
}

static void relay_logs(il_request *req, vk *v, const il_log_request *lr)
{
    json_t *body = il_log_request_to_json(lr);
    long status = 0;
    char err[512];
    il_httpc_stream *s = vk_interlink_stream(v->il, "GET", "/getLogs", "GetLogs", body, &status,
                                             err, sizeof err);
    json_decref(body);
    if (!s) {
        il_respond_error(req, 502, "interlink /getLogs: %s", err);
        return;
    }
    if (status != 200) {
        relay_error(req, s, status >= 400 && status < 600 ? status : 502);
        il_httpc_stream_close(s);
        return;
    }
    il_respond_stream(req, 200, "text/plain", relay_read, s, relay_free);
}

static void handle_logs(il_request *req, void *ud)
{
    vk *v = ud;
    il_log_request lr = {0};
    char err[256];
    if (parse_log_path(il_request_path(req), &lr.ns, &lr.pod_name, &lr.container) < 0) {
        il_respond_error(req, 404, "expected /containerLogs/NAMESPACE/POD/CONTAINER");
    } else if (parse_log_query(req, &lr, err, sizeof err) < 0) {
        il_respond_error(req, 400, "%s", err);
    } else if (resolve_pod(req, v, &lr) == 0) {
        relay_logs(req, v, &lr);
    }
    il_log_request_free(&lr);
}

static void handle_healthz(il_request *req, void *ud)
{
    (void)ud;
    il_respond_text(req, 200, "ok");
}

/* ---- certificates --------------------------------------------------------- */

/* ---- life cycle ----------------------------------------------------------- */

/* KubeletClientCAFile, else the cluster CA (the API server's kubelet
 * client certificate is normally signed by it), else none (tokens only). */
static char *client_ca(const vk *v, char *err, size_t errlen)
{
    const char *file = v->cfg->kubelet_client_ca;
    if (!file || !*file)
        return v->cluster_ca && *v->cluster_ca ? il_xstrdup(v->cluster_ca) : NULL;
    il_buf b = IL_BUF_INIT;
    if (il_read_file(file, 1024 * 1024, &b) < 0) {
        snprintf(err, errlen, "KubeletClientCAFile %s: cannot read", file);
        return NULL;
    }
    return il_buf_steal(&b);
}

static il_httpd *listen_https(vk *v, const char *cert, const char *key, const char *ca, char *err,
                              size_t errlen)
{
    char *addr = il_xasprintf("https://%s", v->cfg->kubelet_address), port[16];
    snprintf(port, sizeof port, "%lld", (long long)v->cfg->kubelet_port);
    il_httpd_opts opts = {.address = addr, .port = port, .timeout_s = 30, .tls_cert_pem = cert,
                          .tls_key_pem = key, .tls_client_ca_pem = ca,
                          .max_connections = (unsigned)v->cfg->kubelet_max_connections,
                          .max_per_client = (unsigned)v->cfg->kubelet_max_per_client};
    il_httpd *http = il_httpd_new(&opts, err, errlen);
    free(addr);
    return http;
}

static const char *source_name(vk_cert_source s)
{
    return s == VK_CERT_FILES ? "the KubeletCertFile certificate" : s == VK_CERT_CSR
        ? "a temporary self-signed certificate until the CSR is issued"
        : "a self-signed certificate (DisableCSR)";
}

vk_kubelet *vk_kubelet_start(vk *v, char *err, size_t errlen)
{
    char *cert = NULL, *key = NULL, *ca = NULL;
    il_httpd *http = NULL;
    err[0] = '\0';
    if (vk_kubelet_first_cert(v, &cert, &key, err, errlen) == 0 &&
        ((ca = client_ca(v, err, errlen)) || !err[0]))
        http = listen_https(v, cert, key, ca, err, errlen);
    vk_kubelet *k = NULL;
    if (http) {
        k = il_xcalloc(1, sizeof *k);
        *k = (vk_kubelet){.v = v, .http = http, .authn = vk_authn_new(v),
                          .cert = vk_serving_cert_new(http)};
        v->serving_cert = k->cert;
        il_httpd_set_filter(http, vk_authn_filter, k->authn);
        il_httpd_route(http, "/healthz", handle_healthz, v);
        il_httpd_route_prefix(http, LOGS_PREFIX, handle_logs, v);
        il_httpd_set_observer(http, vk_metrics_kubelet_request, NULL);
        vk_streams_route(http, v);
        vk_serving_cert_install(k->cert, cert, key, source_name(vk_kubelet_cert_source(v)));
        if (!ca)
            il_warn("kubelet API: no client CA: only bearer tokens can authenticate");
        if (il_httpd_start(http, err, errlen) < 0) {
            vk_kubelet_stop(k);
            k = NULL;
        }
    }
    if (k)
        il_info("kubelet API on https://%s:%d", v->cfg->kubelet_address, il_httpd_port(http));
    free(cert);
    free(key);
    free(ca);
    return k;
}

void vk_kubelet_stop(vk_kubelet *k)
{
    if (!k)
        return;
    il_httpd_stop(k->http);
    vk_authn_free(k->authn);
    vk_serving_cert_free(k->cert);
    free(k);
}
