/* oidctoken.c -- the VK's own access token from an OIDC issuer.
 *
 * Owns the client-credentials grant (RFC 6749 4.4) against OIDC.TokenURL
 * with OIDC.ClientID and the secret in OIDC.ClientSecretFile (re-read at
 * each fetch, so it rotates without a restart), and the token it gives:
 * kept until four fifths of its lifetime (expires_in) have passed, then
 * replaced.  A failed renewal keeps the held token while it is valid, so
 * a short issuer outage costs nothing; the next call tries again.  A token
 * interlink refuses is dropped (its key may have been withdrawn), at most
 * once per OIDC_DROP_MIN_S so that a refusing interlink cannot make the VK
 * hammer the issuer. */
#include "oidctoken.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "log.h"
#include "timeutil.h"
#include "util.h"
#include "vkconfig.h"

#define SECRET_MAX (64 * 1024)
#define TOKEN_TIMEOUT_MS 10000

struct vk_oidc_token {
    char *url, *client_id, *secret_file, *scope, *audience, *ca_file;
    pthread_mutex_t mu;
    char *token;
    int64_t renew_ms, expires_ms;    /* monotonic */
    int64_t dropped_ms;              /* last vk_oidc_token_refused drop; 0 = never */
};

static char *dup_set(const char *s)
{
    return s && *s ? il_xstrdup(s) : NULL;
}

vk_oidc_token *vk_oidc_token_new(const vk_config *cfg)
{
    if (!cfg->oidc_token_url || !*cfg->oidc_token_url)
        return NULL;
    vk_oidc_token *t = il_xcalloc(1, sizeof *t);
    t->url = il_xstrdup(cfg->oidc_token_url);
    t->client_id = dup_set(cfg->oidc_client_id);
    t->secret_file = dup_set(cfg->oidc_client_secret_file);
    t->scope = dup_set(cfg->oidc_scope);
    t->audience = dup_set(cfg->oidc_audience);
    t->ca_file = dup_set(cfg->oidc_ca_file);
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void vk_oidc_token_free(vk_oidc_token *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->url);
    free(t->client_id);
    free(t->secret_file);
    free(t->scope);
    free(t->audience);
    free(t->ca_file);
    free(t->token);
    free(t);
}

static void form_add(il_buf *form, const char *name, const char *value)
{
    if (!value)
        return;
    char *escaped = curl_easy_escape(NULL, value, 0);
    il_buf_printf(form, "%s%s=%s", form->len ? "&" : "", name, escaped ? escaped : "");
    curl_free(escaped);
}

/* POST the grant; on success the new token and its lifetime in seconds. */
static int fetch(vk_oidc_token *t, char **token, long long *lifetime, char *err, size_t errlen)
{
    il_buf secret = IL_BUF_INIT, form = IL_BUF_INIT;
    if (t->secret_file && il_read_file(t->secret_file, SECRET_MAX, &secret) != 0) {
        snprintf(err, errlen, "OIDC.ClientSecretFile %.200s: cannot read", t->secret_file);
        return -1;
    }
    form_add(&form, "grant_type", "client_credentials");
    form_add(&form, "client_id", t->client_id);
    form_add(&form, "client_secret", t->secret_file ? il_trim((char *)il_buf_cstr(&secret))
                                                    : NULL);
    form_add(&form, "scope", t->scope);
    form_add(&form, "audience", t->audience);
    il_buf_free(&secret);
    il_httpc_tls tls = {.ca_file = t->ca_file};
    il_httpc_opts opts = {.url = t->url, .timeout_ms = TOKEN_TIMEOUT_MS, .tls = &tls};
    il_httpc *c = il_httpc_new(&opts, err, errlen);
    il_http_result res = {0};
    int rc = -1;
    if (c) {
        il_httpc_req req = {.method = "POST", .path = "",
                            .content_type = "application/x-www-form-urlencoded",
                            .body = form.data, .len = form.len};
        json_t *answer = NULL;
        if (il_httpc_call(c, &req, &res) != 0)
            snprintf(err, errlen, "%.200s: %.200s", t->url, res.error);
        else if (res.status != 200)
            snprintf(err, errlen, "%.200s answered %ld: %.200s", t->url, res.status,
                     il_buf_cstr(&res.body));
        else if (!(answer = json_loadb(res.body.data, res.body.len, 0, NULL)) ||
                 !json_is_string(json_object_get(answer, "access_token")))
            snprintf(err, errlen, "%.200s: no access_token in the answer", t->url);
        else {
            *token = il_xstrdup(json_string_value(json_object_get(answer, "access_token")));
            json_t *exp = json_object_get(answer, "expires_in");
            *lifetime = json_is_integer(exp) && json_integer_value(exp) > 0
                            ? (long long)json_integer_value(exp) : 300;
            rc = 0;
        }
        json_decref(answer);
    }
    il_http_result_free(&res);
    il_httpc_free(c);
    il_buf_free(&form);
    return rc;
}

bool vk_oidc_token_refused(vk_oidc_token *t, const char *token)
{
    pthread_mutex_lock(&t->mu);
    int64_t now = il_monotonic_ms();
    bool held = t->token && token && strcmp(t->token, token) == 0;
    bool newer = t->token && !held;
    bool drop = held && (t->dropped_ms == 0 || now - t->dropped_ms >= OIDC_DROP_MIN_S * 1000);
    if (drop) {
        free(t->token);
        t->token = NULL;
        t->dropped_ms = now;
        il_info("OIDC: interlink refused the access token; getting another");
    }
    pthread_mutex_unlock(&t->mu);
    return drop || newer;
}

int vk_oidc_token_get(vk_oidc_token *t, char **token, char *err, size_t errlen)
{
    pthread_mutex_lock(&t->mu);
    int64_t now = il_monotonic_ms();
    int rc = 0;
    if (!t->token || now >= t->renew_ms) {
        char *fresh = NULL;
        long long lifetime = 0;
        char ferr[512];
        if (fetch(t, &fresh, &lifetime, ferr, sizeof ferr) == 0) {
            free(t->token);
            t->token = fresh;
            t->expires_ms = now + lifetime * 1000;
            t->renew_ms = now + lifetime * 800;
            il_debug("OIDC: new access token, valid for %lld s", lifetime);
        } else if (t->token && now < t->expires_ms) {
            il_warn("OIDC: cannot renew the access token (%s); the current one is valid for "
                    "%lld s more", ferr, (long long)(t->expires_ms - now) / 1000);
        } else {
            snprintf(err, errlen, "OIDC token: %.400s", ferr);
            rc = -1;
        }
    }
    *token = rc == 0 ? il_xstrdup(t->token) : NULL;
    pthread_mutex_unlock(&t->mu);
    return rc;
}
