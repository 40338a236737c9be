/* client.c -- interlinkctl's side of the HTTP conversation with the
 * interlink API server: one place that turns transport failures and
 * non-200 answers into messages a person can act on, and the GET /pods
 * lookups every pod command starts with. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CREDENTIAL_FILE_MAX (1024 * 1024)

/* A credential file's content, or -1 after saying which flag's file failed. */
static int read_credential(const char *flag, const char *path, il_buf *out)
{
    if (!path || !*path)
        return 0;
    if (il_read_file(path, CREDENTIAL_FILE_MAX, out) == 0)
        return 0;
    cli_err("%s %s: %s", flag, path, strerror(errno));
    return -1;
}

il_httpc *cli_http(cli_ctx *ctx)
{
    if (ctx->http)
        return ctx->http;
    il_buf token = {0}, cert = {0}, key = {0};
    if (read_credential("--token-file", ctx->token_file, &token) == 0 &&
        read_credential("--cert", ctx->cert, &cert) == 0 &&
        read_credential("--key", ctx->key, &key) == 0) {
        il_httpc_tls tls = {.ca_file = ctx->cacert && *ctx->cacert ? ctx->cacert : NULL,
                            .cert_pem = cert.len ? cert.data : NULL, .cert_len = cert.len,
                            .key_pem = key.len ? key.data : NULL, .key_len = key.len,
                            .insecure = ctx->insecure};
        il_httpc_opts opts = {.url = ctx->url, .timeout_ms = ctx->timeout_s * 1000,
                              .bearer_token = token.len ? il_trim(token.data) : NULL,
                              .tls = &tls};
        char err[256];
        ctx->http = il_httpc_new(&opts, err, sizeof err);
        if (!ctx->http)
            cli_err("bad --url \"%s\" or TLS settings: %s", ctx->url, err);
    }
    il_buf_free(&token);
    il_buf_free(&cert);
    il_buf_free(&key);
    return ctx->http;
}

/* Non-200 bodies are plain text messages; keep them on one line. */
static void print_body_message(const char *body, size_t len)
{
    while (len > 0 && isspace((unsigned char)body[len - 1]))
        len--;
    if (len > 2048)
        len = 2048;   /* a runaway body is not a message */
    for (size_t i = 0; i < len; i++)
        fputc(body[i] == '\n' ? ' ' : body[i], stderr);
}

void cli_report_failure(cli_ctx *ctx, const char *what, long status, const char *transport_err,
                        bool timed_out, const char *body, size_t len) {
    if (timed_out) {
        cli_err("%s: interlink at %s did not answer within %ld s (raise --timeout?)", what,
                ctx->url, ctx->timeout_s);
    } else if (status == 0) {
        cli_err("cannot reach interlink at %s: %s (is the server running?)", ctx->url,
                transport_err && *transport_err ? transport_err : "no response");
    } else {
        fprintf(stderr, "interlinkctl: %s: HTTP %ld", what, status);
        if (len > 0) {
            fputs(": ", stderr);
            print_body_message(body, len);
        }
        fputc('\n', stderr);
    }
}

int cli_call_raw(cli_ctx *ctx, const char *method, const char *path, json_t *body,
                 const char *what, il_buf *out) {
    il_httpc *http = cli_http(ctx);
    if (!http)
        return -1;
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    il_http_result res;
    memset(&res, 0, sizeof res);
    int rc = il_httpc_request(http, method, path, NULL, payload, payload ? strlen(payload) : 0,
                              &res);
    free(payload);
    if (rc != 0 || res.status != 200) {
        cli_report_failure(ctx, what, rc != 0 ? 0 : res.status, res.error, res.timed_out,
                           il_buf_cstr(&res.body), res.body.len);
        rc = -1;
    } else if (out) {
        *out = res.body;   /* hand the buffer over */
        memset(&res.body, 0, sizeof res.body);
    }
    il_http_result_free(&res);
    return rc;
}

int cli_call(cli_ctx *ctx, const char *method, const char *path, json_t *body,
             const char *what, json_t **body_out) {
    il_buf answer = IL_BUF_INIT;
    if (cli_call_raw(ctx, method, path, body, what, &answer) != 0)
        return -1;
    int rc = 0;
    if (body_out && answer.len == 0) {
        *body_out = NULL;
    } else if (body_out) {
        json_error_t jerr;
        *body_out = json_loadb(answer.data, answer.len, JSON_DECODE_ANY, &jerr);
        if (!*body_out) {
            cli_err("%s: the server's answer is not JSON: %s", what, jerr.text);
            rc = -1;
        }
    }
    il_buf_free(&answer);
    return rc;
}

json_t *cli_list_pods(cli_ctx *ctx, const char *ns)
{
    char *path = ns ? il_xasprintf("/pods?namespace=%s", ns) : il_xstrdup("/pods");
    json_t *list = NULL;
    int rc = cli_call(ctx, "GET", path, NULL, "list pods", &list);
    free(path);
    if (rc != 0)
        return NULL;
    if (list == NULL)   /* Go-style empty list */
        return json_array();
    if (!json_is_array(list)) {
        cli_err("list pods: the server's answer is not a JSON list (is %s an interlink server?)",
                ctx->url);
        json_decref(list);
        return NULL;
    }
    return list;
}

json_t *cli_find_pod(json_t *list, const char *ns, const char *name)
{
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry) {
        const char *e_ns = json_string_value(json_object_get(entry, "namespace"));
        const char *e_name = json_string_value(json_object_get(entry, "name"));
        if (e_ns && e_name && strcmp(e_ns, ns) == 0 && strcmp(e_name, name) == 0)
            return entry;
    }
    return NULL;
}

json_t *cli_get_pod(cli_ctx *ctx, const char *name)
{
    json_t *list = cli_list_pods(ctx, ctx->ns);
    if (!list)
        return NULL;
    json_t *entry = cli_find_pod(list, ctx->ns, name);
    if (entry)
        json_incref(entry);
    else
        cli_err("pod \"%s\" not found in namespace \"%s\"", name, ctx->ns);
    json_decref(list);
    return entry;
}
