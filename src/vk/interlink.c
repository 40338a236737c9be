/* interlink.c -- calls from the VK to interlink: credentials, sessions,
 * and turning a failed answer into one line a person can act on. */
#include "interlink.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeconfig.h"
#include "oidctoken.h"
#include "util.h"

#define CRED_MAX (1024 * 1024)

struct vk_interlink {
    il_httpc *http;
    char *token_file;         /* VKTokenFile, or NULL */
    vk_oidc_token *oidc;      /* OIDC.TokenURL, or NULL: wins over token_file */
    atomic_ulong seq;         /* session numbers */
};

/* Read a PEM file named by the config into buf; "" names nothing. */
static int read_pem(const char *key, const char *path, il_buf *buf, char *err, size_t errlen)
{
    if (!path || !*path)
        return 0;
    if (il_read_file(path, CRED_MAX, buf) < 0) {
        snprintf(err, errlen, "%s %s: cannot read", key, path);
        return -1;
    }
    return 0;
}

vk_interlink *vk_interlink_new(const vk_config *cfg, char *err, size_t errlen)
{
    il_buf cert = IL_BUF_INIT, key = IL_BUF_INIT;
    vk_interlink *il = NULL;
    if (cfg->tls_enabled && (read_pem("TLS.CertFile", cfg->tls_cert, &cert, err, errlen) < 0 ||
                             read_pem("TLS.KeyFile", cfg->tls_key, &key, err, errlen) < 0))
        goto out;
    const char *ca = cfg->tls_ca && *cfg->tls_ca ? cfg->tls_ca : cfg->http_ca_cert;
    il_httpc_tls tls = {.ca_file = ca && *ca ? ca : NULL, .cert_pem = cert.data,
                        .cert_len = cert.len, .key_pem = key.data, .key_len = key.len,
                        .insecure = cfg->http_insecure};
    il_httpc_opts opts = {.url = cfg->interlink_url, .port = cfg->interlink_port,
                          .timeout_ms = cfg->timeout_s * 1000, .tls = &tls};
    il_httpc *http = il_httpc_new(&opts, err, errlen);
    if (!http)
        goto out;
    il = il_xcalloc(1, sizeof *il);
    il->http = http;
    il->token_file = cfg->token_file && *cfg->token_file ? il_xstrdup(cfg->token_file) : NULL;
    il->oidc = vk_oidc_token_new(cfg);
out:
    il_buf_free(&cert);
    il_buf_free(&key);
    return il;
}

void vk_interlink_free(vk_interlink *il)
{
    if (!il)
        return;
    il_httpc_free(il->http);
    free(il->token_file);
    vk_oidc_token_free(il->oidc);
    free(il);
}

const char *vk_interlink_url(const vk_interlink *il)
{
    return il_httpc_url(il->http);
}

/* What every call carries: the bearer token (VKTokenFile) and a session
 * "label#N". */
typedef struct call_parts {
    char *auth, *session;
    char *token;              /* the bearer token in auth, or NULL */
    const char *headers[2];
} call_parts;

static int call_parts_make(vk_interlink *il, const char *label, call_parts *p, char *err,
                           size_t errlen)
{
    memset(p, 0, sizeof *p);
    char *token = NULL, terr[256];
    vk_kubeconfig kc = {.token_file = il->token_file};
    if (il->oidc) {
        if (vk_oidc_token_get(il->oidc, &token, err, errlen) != 0)
            return -1;
    } else if (il->token_file && vk_kubeconfig_token(&kc, &token, terr, sizeof terr) < 0) {
        snprintf(err, errlen, "VKTokenFile: %s", terr);
        return -1;
    }
    if (il->token_file || il->oidc)   /* sent even when empty, as upstream */
        p->auth = il_xasprintf("Authorization: Bearer %s", token ? token : "");
    p->token = token;
    p->headers[0] = p->auth;
    p->session = il_xasprintf("%s#%lu", label, atomic_fetch_add(&il->seq, 1) + 1);
    return 0;
}

static il_httpc_req call_parts_req(const call_parts *p, const char *method, const char *path,
                                   const char *text, size_t len)
{
    return (il_httpc_req){.method = method, .path = path,
                          .headers = p->auth ? p->headers : NULL, .session = p->session,
                          .body = text, .len = text ? len : 0};
}

static void call_parts_free(call_parts *p)
{
    free(p->auth);
    free(p->token);
    free(p->session);
}

int vk_interlink_call(vk_interlink *il, const char *method, const char *path,
                      const char *label, const json_t *body, il_http_result *res)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = vk_interlink_call_text(il, method, path, label, text, text ? strlen(text) : 0, res);
    free(text);
    return rc;
}

/* One call with body's body (the text, or its read callbacks), once more
 * with a fresh token when an OIDC token was refused. */
static int call(vk_interlink *il, const char *method, const char *path, const char *label,
                const il_httpc_req *body, il_http_result *res)
{
    call_parts parts;
    if (call_parts_make(il, label, &parts, res->error, sizeof res->error) < 0) {
        char why[sizeof res->error];
        memcpy(why, res->error, sizeof why);
        memset(res, 0, sizeof *res);
        memcpy(res->error, why, sizeof why);
        return -1;
    }
    il_httpc_req req = call_parts_req(&parts, method, path, body->body, body->len);
    req.read = body->read;
    req.rewind = body->rewind;
    req.read_arg = body->read_arg;
    if (req.read)
        req.len = body->len;
    int rc = il_httpc_call(il->http, &req, res);
    bool again = rc == 0 && res->status == 401 && il->oidc &&
                 vk_oidc_token_refused(il->oidc, parts.token) &&
                 (!req.read || req.rewind(req.read_arg) == 0);
    call_parts_free(&parts);
    if (again) {   /* once, with a fresh token; interlink's calls are idempotent */
        il_http_result_free(res);
        return call(il, method, path, label, body, res);
    }
    return rc;
}

int vk_interlink_call_text(vk_interlink *il, const char *method, const char *path,
                           const char *label, const char *text, size_t len, il_http_result *res)
{
    il_httpc_req body = {.body = text, .len = len};
    return call(il, method, path, label, &body, res);
}

int vk_interlink_call_read(vk_interlink *il, const char *method, const char *path,
                           const char *label, size_t len, size_t (*read)(char *, size_t, void *),
                           int (*rewind)(void *), void *arg, il_http_result *res)
{
    il_httpc_req body = {.len = len, .read = read, .rewind = rewind, .read_arg = arg};
    return call(il, method, path, label, &body, res);
}

il_httpc_stream *vk_interlink_stream(vk_interlink *il, const char *method, const char *path,
                                     const char *label, const json_t *body, long *status,
                                     char *err, size_t errlen)
{
    call_parts parts;
    if (call_parts_make(il, label, &parts, err, errlen) < 0)
        return NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    il_httpc_req req = call_parts_req(&parts, method, path, text, text ? strlen(text) : 0);
    il_httpc_stream *s = il_httpc_stream_call(il->http, &req, status, NULL, err, errlen);
    bool again = s && *status == 401 && il->oidc && vk_oidc_token_refused(il->oidc, parts.token);
    call_parts_free(&parts);
    free(text);
    if (again) {   /* once, with a fresh token, as vk_interlink_call */
        il_httpc_stream_close(s);
        return vk_interlink_stream(il, method, path, label, body, status, err, errlen);
    }
    return s;
}

il_httpc_upgrade *vk_interlink_upgrade(vk_interlink *il, const char *path, const char *label,
                                       const json_t *body, const char *protocol, long *status,
                                       char *err, size_t errlen)
{
    call_parts parts;
    *status = 0;
    if (call_parts_make(il, label, &parts, err, errlen) < 0)
        return NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    il_httpc_req req = call_parts_req(&parts, "POST", path, text, text ? strlen(text) : 0);
    il_httpc_upgrade *u = il_httpc_upgrade_open(il->http, &req, protocol, status, err, errlen);
    call_parts_free(&parts);
    free(text);
    return u;
}

int vk_interlink_ok(const il_http_result *res, int rc, char *why, size_t len)
{
    if (rc == 0 && res->status == 200)
        return 0;
    if (rc != 0) {
        snprintf(why, len, "%s", res->error);
        return -1;
    }
    const char *body = il_buf_cstr(&res->body);
    size_t n = strcspn(body, "\r\n");
    snprintf(why, len, "HTTP %ld%s%.*s", res->status, n ? ": " : "", (int)(n > 300 ? 300 : n),
             body);
    return -1;
}
