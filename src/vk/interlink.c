/* interlink.c -- calls from the VK to interlink: credentials, sessions,
 * and turning a failed answer into one line a person can act on. */
#include "interlink.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeconfig.h"
#include "util.h"

#define CRED_MAX (1024 * 1024)

struct vk_interlink {
    il_httpc *http;
    char *token_file;         /* VKTokenFile, or NULL */
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
    free(il);
}

const char *vk_interlink_url(const vk_interlink *il)
{
    return il_httpc_url(il->http);
}

int vk_interlink_call(vk_interlink *il, const char *method, const char *path,
                      const char *label, const json_t *body, il_http_result *res)
{
    char *auth = NULL, *token = NULL, terr[256];
    vk_kubeconfig kc = {.token_file = il->token_file};
    if (il->token_file && vk_kubeconfig_token(&kc, &token, terr, sizeof terr) < 0) {
        memset(res, 0, sizeof *res);
        snprintf(res->error, sizeof res->error, "VKTokenFile: %s", terr);
        return -1;
    }
    if (il->token_file)   /* sent even when empty, as upstream */
        auth = il_xasprintf("Authorization: Bearer %s", token ? token : "");
    char *session = il_xasprintf("%s#%lu", label, atomic_fetch_add(&il->seq, 1) + 1);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    const char *headers[] = {auth, NULL};
    il_httpc_req req = {.method = method, .path = path, .headers = auth ? headers : NULL,
                        .session = session, .body = text, .len = text ? strlen(text) : 0};
    int rc = il_httpc_call(il->http, &req, res);
    free(text);
    free(session);
    free(auth);
    free(token);
    return rc;
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
