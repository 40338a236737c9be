/* kube.c -- requests to the Kubernetes API server and watch streams.
 *
 * Owns the API server's conventions on top of the common HTTP client: the
 * bearer token (re-read from a token file on every call, since projected
 * service-account tokens rotate), content types of the three patch kinds,
 * metav1.Status error bodies, and the newline-delimited JSON of watch
 * streams with its 410 "resourceVersion too old" signal. */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "timeutil.h"
#include "util.h"
#include "vkmetrics.h"

#define WATCH_MAX_LINE (64 * 1024 * 1024)   /* one object; pods are far smaller */

struct vk_kube {
    il_httpc *http;
    char *token;              /* static token, or NULL */
    char *token_file;         /* or re-read on every call, or NULL */
};

vk_kube *vk_kube_new(const vk_kubeconfig *kc, long timeout_ms, char *err, size_t errlen)
{
    il_httpc_tls tls = {.ca_pem = kc->ca.data, .ca_len = kc->ca.len,
                        .cert_pem = kc->cert.data, .cert_len = kc->cert.len,
                        .key_pem = kc->key.data, .key_len = kc->key.len,
                        .insecure = kc->insecure};
    il_httpc_opts opts = {.url = kc->server, .timeout_ms = timeout_ms > 0 ? timeout_ms : 30000,
                          .tls = &tls};
    il_httpc *http = il_httpc_new(&opts, err, errlen);
    if (!http)
        return NULL;
    vk_kube *k = il_xcalloc(1, sizeof *k);
    k->http = http;
    k->token = il_xstrdup(kc->token);
    k->token_file = il_xstrdup(kc->token_file);
    return k;
}

void vk_kube_free(vk_kube *k)
{
    if (!k)
        return;
    il_httpc_free(k->http);
    free(k->token);
    free(k->token_file);
    free(k);
}

const char *vk_kube_server(const vk_kube *k)
{
    return il_httpc_url(k->http);
}

void vk_kube_result_free(vk_kube_result *res)
{
    json_decref(res->body);
    res->body = NULL;
}

bool vk_kube_is(const vk_kube_result *res, long code)
{
    return res->status == code;
}

/* ---- errors ------------------------------------------------------------ */

/* The API server answers errors with a metav1.Status whose message is
 * meant for people ("pods \"x\" not found"); anything else (a proxy's HTML,
 * plain text) is quoted, cut to one short line. */
void vk_kube_describe_error(const char *method, const char *path, long status, const char *body,
                            size_t len, vk_kube_result *res)
{
    json_t *st = json_loadb(body ? body : "", len, 0, NULL);
    const char *msg = json_string_value(json_object_get(st, "message"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    snprintf(res->reason, sizeof res->reason, "%s", reason ? reason : "");
    if (msg && *msg) {
        snprintf(res->error, sizeof res->error, "%s %s: %ld %s: %s", method, path, status,
                 reason ? reason : "", msg);
    } else {
        size_t n = 0;
        while (n < len && n < 200 && body[n] != '\n' && body[n] != '\r')
            n++;
        snprintf(res->error, sizeof res->error, "%s %s: HTTP %ld%s%.*s", method, path, status,
                 n ? ": " : "", (int)n, body ? body : "");
    }
    json_decref(st);
}

/* ---- requests ---------------------------------------------------------- */

/* The Authorization header line for this call, or NULL without a token. */
static int auth_header(const vk_kube *k, char **line, char *err, size_t errlen)
{
    *line = NULL;
    vk_kubeconfig kc = {.token = k->token, .token_file = k->token_file};
    char *token;
    if (vk_kubeconfig_token(&kc, &token, err, errlen) < 0)
        return -1;
    if (token)
        *line = il_xasprintf("Authorization: Bearer %s", token);
    free(token);
    return 0;
}

int vk_kube_request(vk_kube *k, const char *method, const char *path, const char *content_type,
                    const json_t *body, vk_kube_result *res)
{
    memset(res, 0, sizeof *res);
    char *auth, aerr[384];
    if (auth_header(k, &auth, aerr, sizeof aerr) < 0) {
        snprintf(res->error, sizeof res->error, "%s %s: %s", method, path, aerr);
        return -1;
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    const char *headers[] = {"Accept: application/json", auth, NULL};
    il_httpc_req req = {.method = method, .path = path, .content_type = content_type,
                        .headers = headers, .body = text, .len = text ? strlen(text) : 0};
    il_http_result hr;
    int64_t started = il_monotonic_ms();
    int rc = il_httpc_call(k->http, &req, &hr);
    vk_metrics_apiserver(method, hr.status, (double)(il_monotonic_ms() - started) / 1000.0,
                         rc < 0 || hr.status < 200 || hr.status > 299);
    free(text);
    free(auth);
    res->status = hr.status;
    if (rc < 0) {
        snprintf(res->error, sizeof res->error, "%s %s%s: %s", method, vk_kube_server(k), path,
                 hr.error);
    } else if (hr.status < 200 || hr.status > 299) {
        vk_kube_describe_error(method, path, hr.status, hr.body.data, hr.body.len, res);
        rc = -1;
    } else {
        json_t *j = json_loadb(il_buf_cstr(&hr.body), hr.body.len, 0, NULL);
        res->body = json_is_object(j) ? j : NULL;
        if (!res->body)
            json_decref(j);
    }
    il_http_result_free(&hr);
    return rc;
}

int vk_kube_get(vk_kube *k, const char *path, vk_kube_result *res)
{
    return vk_kube_request(k, "GET", path, NULL, NULL, res);
}

int vk_kube_create(vk_kube *k, const char *path, const json_t *obj, vk_kube_result *res)
{
    return vk_kube_request(k, "POST", path, NULL, obj, res);
}

int vk_kube_update(vk_kube *k, const char *path, const json_t *obj, vk_kube_result *res)
{
    return vk_kube_request(k, "PUT", path, NULL, obj, res);
}

int vk_kube_patch(vk_kube *k, const char *path, vk_patch_type type, const json_t *patch,
                  vk_kube_result *res)
{
    static const char *const types[] = {
        [VK_PATCH_MERGE] = "application/merge-patch+json",
        [VK_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
        [VK_PATCH_JSON] = "application/json-patch+json",
    };
    return vk_kube_request(k, "PATCH", path, types[type], patch, res);
}

int vk_kube_delete(vk_kube *k, const char *path, const json_t *options, vk_kube_result *res)
{
    return vk_kube_request(k, "DELETE", path, NULL, options, res);
}

char *vk_kube_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    il_buf b = IL_BUF_INIT;
    il_buf_append(&b, "", 0);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            il_buf_append(&b, p, 1);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            il_buf_append(&b, enc, 3);
        }
    }
    return il_buf_steal(&b);
}

/* ---- watch ------------------------------------------------------------- */

struct vk_watch {
    il_httpc_stream *stream;
    il_buf line;              /* bytes of the current, unfinished line */
    size_t scanned;           /* of line, already known to hold no '\n' */
    bool ended;
};

static int parse_type(const char *s, vk_event_type *out)
{
    static const struct { const char *name; vk_event_type type; } types[] = {
        {"ADDED", VK_EVENT_ADDED}, {"MODIFIED", VK_EVENT_MODIFIED},
        {"DELETED", VK_EVENT_DELETED}, {"BOOKMARK", VK_EVENT_BOOKMARK}};
    for (size_t i = 0; s && i < sizeof types / sizeof types[0]; i++) {
        if (!strcmp(s, types[i].name)) {
            *out = types[i].type;
            return 0;
        }
    }
    return -1;
}

/* An ERROR event carries a metav1.Status; 410 (Expired/Gone) means the
 * requested resourceVersion was compacted away. */
static int error_event(const json_t *status, char *err, size_t errlen)
{
    json_int_t code = json_integer_value(json_object_get(status, "code"));
    if (code == 410)
        return VK_WATCH_GONE;
    const char *msg = json_string_value(json_object_get(status, "message"));
    snprintf(err, errlen, "watch error %lld: %s", (long long)code, msg ? msg : "(no message)");
    return -1;
}

int vk_watch_parse(const char *line, size_t len, vk_watch_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    json_error_t jerr;
    json_t *j = json_loadb(line, len, 0, &jerr);
    if (!j) {
        snprintf(err, errlen, "watch stream: malformed event: %s", jerr.text);
        return -1;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *obj = json_object_get(j, "object");
    int rc = 1;
    if (type && !strcmp(type, "ERROR")) {
        rc = error_event(obj, err, errlen);
    } else if (parse_type(type, &ev->type) < 0 || !json_is_object(obj)) {
        snprintf(err, errlen, "watch stream: %s event \"%s\"",
                 json_is_object(obj) ? "unknown" : "object-less", type ? type : "");
        rc = -1;
    } else {
        ev->object = json_incref(obj);
    }
    json_decref(j);
    return rc;
}

vk_watch *vk_watch_open(vk_kube *k, const char *path, vk_kube_result *res)
{
    memset(res, 0, sizeof *res);
    char *auth, err[384];
    if (auth_header(k, &auth, err, sizeof err) < 0) {
        snprintf(res->error, sizeof res->error, "GET %s: %s", path, err);
        return NULL;
    }
    const char *headers[] = {"Accept: application/json", auth, NULL};
    il_httpc_req req = {.method = "GET", .path = path, .headers = headers};
    int64_t started = il_monotonic_ms();
    il_httpc_stream *s = il_httpc_stream_call(k->http, &req, &res->status, NULL, err, sizeof err);
    vk_metrics_apiserver("WATCH", s ? res->status : 0,
                         (double)(il_monotonic_ms() - started) / 1000.0,
                         !s || res->status < 200 || res->status > 299);
    free(auth);
    if (!s) {
        snprintf(res->error, sizeof res->error, "GET %s%s: %s", vk_kube_server(k), path, err);
        return NULL;
    }
    if (res->status >= 200 && res->status <= 299) {
        vk_watch *w = il_xcalloc(1, sizeof *w);
        w->stream = s;
        return w;
    }
    il_buf body = IL_BUF_INIT;   /* the error answer is short: read it whole */
    char chunk[4096];
    ssize_t n;
    while (body.len < 65536 && (n = il_httpc_stream_read(s, chunk, sizeof chunk)) != 0 && n != -1)
        if (n > 0)
            il_buf_append(&body, chunk, (size_t)n);
    il_httpc_stream_close(s);
    vk_kube_describe_error("GET", path, res->status, body.data, body.len, res);
    il_buf_free(&body);
    return NULL;
}

/* The line buffer kept while the watch is quiet: a burst of events (a
 * 10,000-pod start) grows it to hundreds of KB, which would stay until
 * the watch is reopened. */
#define WATCH_KEEP_BUF (64 * 1024)

/* Take the first complete line out of w->line, if there is one. */
static int next_line(vk_watch *w, vk_watch_event *ev, char *err, size_t errlen)
{
    char *nl = memchr(w->line.data + w->scanned, '\n', w->line.len - w->scanned);
    if (!nl) {
        w->scanned = w->line.len;
        return 0;
    }
    size_t len = (size_t)(nl - w->line.data);
    int rc = len ? vk_watch_parse(w->line.data, len, ev, err, errlen) : 0;
    memmove(w->line.data, nl + 1, w->line.len - len - 1);
    w->line.len -= len + 1;
    w->line.data[w->line.len] = '\0';
    w->scanned = 0;
    if (w->line.len == 0 && w->line.cap > WATCH_KEEP_BUF)
        il_buf_free(&w->line);   /* a burst's events grew it; a quiet watch needs little */
    if (rc != 0 || w->line.len == 0)
        return rc;
    return next_line(w, ev, err, errlen);   /* blank line: keep going */
}

int vk_watch_next(vk_watch *w, vk_watch_event *ev, char *err, size_t errlen)
{
    memset(ev, 0, sizeof *ev);
    for (;;) {
        int rc = w->line.len ? next_line(w, ev, err, errlen) : 0;
        if (rc != 0)
            return rc;
        if (w->ended) {   /* a last object without its newline still counts */
            rc = w->line.len ? vk_watch_parse(w->line.data, w->line.len, ev, err, errlen) : 0;
            il_buf_reset(&w->line);
            return rc;
        }
        if (w->line.len > WATCH_MAX_LINE) {
            snprintf(err, errlen, "watch stream: event larger than %d bytes", WATCH_MAX_LINE);
            return -1;
        }
        char chunk[16384];
        ssize_t n = il_httpc_stream_read(w->stream, chunk, sizeof chunk);
        if (n == IL_STREAM_AGAIN)
            return IL_STREAM_AGAIN;
        if (n < 0) {
            snprintf(err, errlen, "watch stream: connection lost");
            return -1;
        }
        if (n == 0)
            w->ended = true;
        else
            il_buf_append(&w->line, chunk, (size_t)n);
    }
}

void vk_watch_close(vk_watch *w)
{
    if (!w)
        return;
    il_httpc_stream_close(w->stream);
    il_buf_free(&w->line);
    free(w);
}
