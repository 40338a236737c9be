/* oidc.c -- the signing keys of an OIDC issuer, by discovery.
 *
 * Owns the JWKS cache of AuthOIDC.Issuer: the discovery document
 * (/.well-known/openid-configuration) names jwks_uri; its RSA keys are
 * turned into PEM public keys (OpenSSL) and kept by "kid".  A token whose
 * kid is not cached makes us fetch again -- that is how a rotated-in key
 * is learnt -- but at most once per AuthOIDC.MinRefetchSeconds, so a caller
 * inventing kids cannot make us hammer the issuer.  The set is also
 * refetched when older than OIDC_MAX_AGE_S, so a key the issuer withdrew
 * stops working.  If the issuer cannot be reached, the keys fetched before
 * stay in use.  Fetches happen under the lock: callers wait for one fetch
 * rather than each making their own. */
#include "oidc.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "httpc.h"
#include "log.h"
#include "timeutil.h"
#include "util.h"

#define OIDC_MAX_AGE_S 3600
#define OIDC_TIMEOUT_MS 10000

typedef struct oidc_key {
    char *kid;
    char *pem;
} oidc_key;

struct api_oidc {
    char *issuer;
    char *ca_file;
    pthread_mutex_t mu;
    oidc_key *keys;
    size_t n_keys;
    int64_t fetched_ms;       /* monotonic time of the last attempt; 0 = never */
    int64_t loaded_ms;        /* of the last successful load */
    int64_t min_refetch_ms;
};

api_oidc *oidc_new(const char *issuer, const char *ca_file, long long min_refetch_s)
{
    api_oidc *o = il_xcalloc(1, sizeof *o);
    o->min_refetch_ms = (min_refetch_s > 0 ? min_refetch_s : OIDC_MIN_REFETCH_S) * 1000;
    o->issuer = il_xstrdup(issuer);
    size_t len = strlen(o->issuer);
    while (len > 0 && o->issuer[len - 1] == '/')   /* "https://x/" names the same issuer */
        o->issuer[--len] = '\0';
    o->ca_file = ca_file && *ca_file ? il_xstrdup(ca_file) : NULL;
    pthread_mutex_init(&o->mu, NULL);
    return o;
}

static void keys_free(oidc_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i].kid);
        free(keys[i].pem);
    }
    free(keys);
}

void oidc_free(api_oidc *o)
{
    if (!o)
        return;
    keys_free(o->keys, o->n_keys);
    pthread_mutex_destroy(&o->mu);
    free(o->issuer);
    free(o->ca_file);
    free(o);
}

const char *oidc_issuer(const api_oidc *o)
{
    return o->issuer;
}

bool oidc_same_issuer(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && a[la - 1] == '/')
        la--;
    while (lb > 0 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

/* ---- base64url and JWK -> PEM ---------------------------------------------- */

static unsigned char *b64url_decode(const char *text, size_t len, size_t *out_len)
{
    il_buf std = IL_BUF_INIT;
    for (size_t i = 0; i < len; i++)
        il_buf_printf(&std, "%c", text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i]);
    while (std.len % 4)
        il_buf_printf(&std, "=");
    unsigned char *raw = il_base64_decode(il_buf_cstr(&std), out_len);
    il_buf_free(&std);
    return raw;
}

static BIGNUM *jwk_number(json_t *jwk, const char *name)
{
    const char *text = json_string_value(json_object_get(jwk, name));
    size_t len = 0;
    unsigned char *raw = text ? b64url_decode(text, strlen(text), &len) : NULL;
    BIGNUM *bn = raw && len ? BN_bin2bn(raw, (int)len, NULL) : NULL;
    free(raw);
    return bn;
}

/* An RSA JWK {kty: RSA, n, e} as a PEM SubjectPublicKeyInfo, or NULL. */
static char *jwk_rsa_pem(json_t *jwk)
{
    BIGNUM *n = jwk_number(jwk, "n"), *e = jwk_number(jwk, "e");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    char *pem = NULL;
    if (n && e && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        long len;
        if (bio && PEM_write_bio_PUBKEY(bio, pkey) == 1 && (len = BIO_get_mem_data(bio, &data)) > 0)
            pem = il_xstrndup(data, (size_t)len);
        BIO_free(bio);
    }
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pem;
}

/* ---- fetching ---------------------------------------------------------------- */

/* GET url as JSON; NULL with why. */
static json_t *get_json(const api_oidc *o, const char *url, char *why, size_t whylen)
{
    il_httpc_tls tls = {.ca_file = o->ca_file};
    il_httpc_opts opts = {.url = url, .timeout_ms = OIDC_TIMEOUT_MS, .tls = &tls};
    char err[256];
    il_httpc *c = il_httpc_new(&opts, err, sizeof err);
    if (!c) {
        snprintf(why, whylen, "%.100s: %.140s", url, err);
        return NULL;
    }
    il_httpc_req req = {.method = "GET", .path = ""};
    il_http_result res;
    json_t *doc = NULL;
    if (il_httpc_call(c, &req, &res) != 0)
        snprintf(why, whylen, "%.100s: %.140s", url, res.error);
    else if (res.status != 200)
        snprintf(why, whylen, "%.200s answered %ld", url, res.status);
    else if (!(doc = json_loadb(res.body.data, res.body.len, 0, NULL)) || !json_is_object(doc))
        snprintf(why, whylen, "%.200s: not a JSON object", url);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    il_http_result_free(&res);
    il_httpc_free(c);
    return doc;
}

/* Discovery, then the JWKS; replaces the cached keys (caller holds mu). */
static int fetch_keys(api_oidc *o, char *why, size_t whylen)
{
    char *url = il_xasprintf("%s/.well-known/openid-configuration", o->issuer);
    json_t *disc = get_json(o, url, why, whylen);
    free(url);
    const char *iss = json_string_value(json_object_get(disc, "issuer"));
    const char *jwks_uri = json_string_value(json_object_get(disc, "jwks_uri"));
    json_t *jwks = NULL;
    if (disc && !oidc_same_issuer(iss, o->issuer))
        snprintf(why, whylen, "the discovery document names issuer %.90s, not %.90s",
                 iss ? iss : "(none)", o->issuer);
    else if (disc && !jwks_uri)
        snprintf(why, whylen, "the discovery document has no jwks_uri");
    else if (disc)
        jwks = get_json(o, jwks_uri, why, whylen);
    json_decref(disc);
    if (!jwks)
        return -1;
    oidc_key *keys = NULL;
    size_t n = 0, i;
    json_t *jwk;
    json_array_foreach(json_object_get(jwks, "keys"), i, jwk) {
        const char *kty = json_string_value(json_object_get(jwk, "kty"));
        const char *use = json_string_value(json_object_get(jwk, "use"));
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        char *pem = kty && strcmp(kty, "RSA") == 0 && (!use || strcmp(use, "sig") == 0)
                        ? jwk_rsa_pem(jwk) : NULL;
        if (!pem)
            continue;   /* EC and encryption keys are not used here */
        keys = il_xrealloc(keys, (n + 1) * sizeof *keys);
        keys[n++] = (oidc_key){il_xstrdup(kid ? kid : ""), pem};
    }
    json_decref(jwks);
    if (n == 0) {
        snprintf(why, whylen, "the issuer's JWKS holds no RSA signing key");
        free(keys);
        return -1;
    }
    keys_free(o->keys, o->n_keys);
    o->keys = keys;
    o->n_keys = n;
    o->loaded_ms = il_monotonic_ms();
    il_info("OIDC: %zu signing key(s) of %s loaded", n, o->issuer);
    return 0;
}

/* ---- lookup ------------------------------------------------------------------- */

/* The "kid" of a JWT's header, or "" when it names none; NULL if the
 * header is not base64url JSON. */
static char *token_kid(const char *token)
{
    const char *dot = strchr(token, '.');
    size_t len = 0;
    unsigned char *raw = dot ? b64url_decode(token, (size_t)(dot - token), &len) : NULL;
    json_t *header = raw ? json_loadb((const char *)raw, len, 0, NULL) : NULL;
    free(raw);
    const char *kid = json_string_value(json_object_get(header, "kid"));
    char *copy = header ? il_xstrdup(kid ? kid : "") : NULL;
    json_decref(header);
    return copy;
}

/* Caller holds mu.  A kid of "" matches when the issuer has one key only. */
static char *cached_pem(const api_oidc *o, const char *kid)
{
    for (size_t i = 0; i < o->n_keys; i++)
        if (strcmp(o->keys[i].kid, kid) == 0 || (!*kid && o->n_keys == 1))
            return il_xstrdup(o->keys[i].pem);
    return NULL;
}

char *oidc_key_for(api_oidc *o, const char *token, char *why, size_t whylen)
{
    char *kid = token_kid(token);
    if (!kid) {
        snprintf(why, whylen, "not a JWT (its header does not decode)");
        return NULL;
    }
    pthread_mutex_lock(&o->mu);
    int64_t now = il_monotonic_ms();
    bool stale = o->loaded_ms == 0 || now - o->loaded_ms > OIDC_MAX_AGE_S * 1000;
    char *pem = stale ? NULL : cached_pem(o, kid);
    bool may_fetch = o->fetched_ms == 0 || now - o->fetched_ms >= o->min_refetch_ms;
    if (!pem && may_fetch) {
        char ferr[256];
        o->fetched_ms = now;
        if (fetch_keys(o, ferr, sizeof ferr) != 0)
            il_warn("OIDC: cannot load the keys of %s: %s%s", o->issuer, ferr,
                    o->n_keys ? " (the keys loaded before stay in use)" : "");
        pem = cached_pem(o, kid);
    } else if (!pem && stale) {
        pem = cached_pem(o, kid);   /* refetched lately and failed: keep what we have */
    }
    pthread_mutex_unlock(&o->mu);
    if (!pem)
        snprintf(why, whylen, "the token's signing key (kid \"%.60s\") is not one of issuer %.120s",
                 kid, o->issuer);
    free(kid);
    return pem;
}
