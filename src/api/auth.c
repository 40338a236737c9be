/* auth.c -- who may call interlink.
 *
 * Owns the filter that runs before every route.  Upstream interlink has no
 * authentication of its own (sites put oauth2-proxy in front, or use its
 * mTLS listener); here the checks are built in and add up, each one on
 * only when configured:
 *
 *   - client certificate (TLS.CACertFile, upstream's mTLS): the caller
 *     presented a certificate that chains to that CA and allows client
 *     authentication;
 *   - bearer token: "Authorization: Bearer T" where T is a line of
 *     AuthTokenFile (what the VK sends from its VKTokenFile), or a JWT
 *     signed by AuthJWT.PublicKeyFile, unexpired, with the configured
 *     issuer and audience, or a JWT of the OIDC issuer AuthOIDC.Issuer,
 *     signed by a key of its JWKS (oidc.c).  Any one is enough.
 *
 * The filter runs on the headers, before any body is read, and leaves the
 * caller's identity on the request (api_caller): a named token's name and
 * groups ("TOKEN NAME GROUP,GROUP" lines; a bare "TOKEN" line is the
 * unnamed caller "token"), the JWT's user and groups claims, else the
 * client certificate's CN and O values.  tenants.c decides what the
 * identity may touch.
 *
 * The token file is re-read when it changes (tokens rotate without a
 * restart); if it cannot be read the tokens read before stay in force.
 * Only asymmetric JWT algorithms are accepted: with HS256 a public key
 * would double as the HMAC secret, and anyone holding it could sign.
 * /healthz stays open for liveness probes.  Failures answer 401 with the
 * reason, and are logged with the caller's session. */
#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "oidc.h"
#include "util.h"

#define TOKEN_FILE_MAX (1024 * 1024)
#define JWT_KEY_MAX (64 * 1024)
#define JWT_LEEWAY_S 60   /* clock skew allowed on exp and nbf */

/* One line of AuthTokenFile. */
typedef struct named_token {
    char *secret;
    char *name;                    /* "token" when the line names none */
    char *groups;                  /* comma-separated, or NULL */
} named_token;

struct api_auth {
    bool client_cert;
    char *token_file;
    pthread_mutex_t mu;            /* tokens and their file's identity */
    named_token *tokens;
    size_t n_tokens;
    struct stat token_stat;        /* of the file the tokens came from */
    il_buf jwt_key;                /* PEM; empty = no JWTs */
    char *jwt_issuer;
    char *jwt_audience;
    char *jwt_user_claim;
    char *jwt_groups_claim;
    api_oidc *oidc;                /* AuthOIDC.Issuer, or NULL */
};

/* ---- token file ------------------------------------------------------------ */

static void tokens_free(named_token *tokens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(tokens[i].secret);
        free(tokens[i].name);
        free(tokens[i].groups);
    }
    free(tokens);
}

/* "TOKEN [NAME [GROUP,GROUP...]]" a line, words separated by blanks; blank
 * lines, "#" comment lines and "#" comments after the words ignored.  A
 * bare TOKEN (the original format) is the caller "token". */
static named_token *tokens_parse(char *text, size_t *n)
{
    named_token *tokens = NULL;
    size_t cap = 0;
    *n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *trimmed = il_trim(line);
        if (!*trimmed || *trimmed == '#')
            continue;
        char *wsave = NULL;
        char *secret = strtok_r(trimmed, " \t\r", &wsave);
        char *name = strtok_r(NULL, " \t\r", &wsave);
        char *groups = name ? strtok_r(NULL, " \t\r", &wsave) : NULL;
        if (name && *name == '#')     /* a comment after the token */
            name = groups = NULL;
        if (groups && *groups == '#')
            groups = NULL;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            tokens = il_xrealloc(tokens, cap * sizeof *tokens);
        }
        tokens[(*n)++] = (named_token){il_xstrdup(secret), il_xstrdup(name ? name : "token"),
                                       groups ? il_xstrdup(groups) : NULL};
    }
    return tokens;
}

/* Load the file if it changed since the last load (caller holds mu).
 * Returns -1 with err set when it cannot be read or holds no token. */
static int tokens_refresh(api_auth *auth, char *err, size_t errlen)
{
    struct stat st;
    if (stat(auth->token_file, &st) != 0) {
        snprintf(err, errlen, "%s: %s", auth->token_file, strerror(errno));
        return -1;
    }
    if (auth->tokens && il_same_file_version(&st, &auth->token_stat))
        return 0;
    il_buf text = {0};
    if (il_read_file(auth->token_file, TOKEN_FILE_MAX, &text) != 0) {
        snprintf(err, errlen, "%s: %s", auth->token_file, strerror(errno));
        il_buf_free(&text);
        return -1;
    }
    size_t n = 0;
    named_token *tokens = text.len ? tokens_parse(text.data, &n) : NULL;
    il_buf_free(&text);
    if (n == 0) {
        snprintf(err, errlen, "%s holds no token", auth->token_file);
        tokens_free(tokens, n);
        return -1;
    }
    tokens_free(auth->tokens, auth->n_tokens);
    auth->tokens = tokens;
    auth->n_tokens = n;
    auth->token_stat = st;
    return 0;
}

/* Add "a,b,c" to who's groups. */
static void add_groups(api_caller *who, const char *list)
{
    char *copy = il_xstrdup(list), *save = NULL;
    for (char *g = strtok_r(copy, ",", &save); g && who->n_groups < API_CALLER_MAX_GROUPS;
         g = strtok_r(NULL, ",", &save))
        who->groups[who->n_groups++] = il_xstrdup(g);
    free(copy);
}

/* Every line is compared (no early exit): the time does not tell which. */
static bool token_listed(api_auth *auth, const char *token, api_caller *who)
{
    char err[512];
    pthread_mutex_lock(&auth->mu);
    if (tokens_refresh(auth, err, sizeof err) != 0)
        il_warn("AuthTokenFile: %s (the %zu tokens read before stay in force)", err,
                auth->n_tokens);
    const named_token *match = NULL;
    for (size_t i = 0; i < auth->n_tokens; i++)
        if (il_secret_equal(token, auth->tokens[i].secret))
            match = &auth->tokens[i];
    if (match) {
        who->name = il_xstrdup(match->name);
        if (match->groups)
            add_groups(who, match->groups);
        who->via = "token";
    }
    pthread_mutex_unlock(&auth->mu);
    return match != NULL;
}

/* ---- JWT ------------------------------------------------------------------- */

static bool asymmetric(jwt_alg_t alg)
{
    switch (alg) {
    case JWT_ALG_RS256: case JWT_ALG_RS384: case JWT_ALG_RS512:
    case JWT_ALG_ES256: case JWT_ALG_ES384: case JWT_ALG_ES512:
        return true;
    default:
        return false;
    }
}

/* "aud" is a string or an array of strings (RFC 7519 4.1.3). */
static bool audience_matches(jwt_t *jwt, const char *want)
{
    char *text = jwt_get_grants_json(jwt, "aud");
    json_t *aud = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    free(text);
    bool ok = json_is_string(aud) && strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *item;
    json_array_foreach(aud, i, item)
        ok |= json_is_string(item) && strcmp(json_string_value(item), want) == 0;
    json_decref(aud);
    return ok;
}

/* The time claim, or -1 when absent or not a number. */
static long long time_claim(jwt_t *jwt, const char *name)
{
    errno = 0;
    long value = jwt_get_grant_int(jwt, name);
    return errno != 0 ? -1 : (long long)value;
}

static int check_claims(api_auth *auth, jwt_t *jwt, long long now, char *why, size_t whylen)
{
    long long exp = time_claim(jwt, "exp"), nbf = time_claim(jwt, "nbf");
    const char *iss = jwt_get_grant(jwt, "iss");
    if (exp < 0)
        snprintf(why, whylen, "the token has no expiry (exp)");
    else if (now - JWT_LEEWAY_S > exp)   /* not exp + leeway: exp may be INT64_MAX */
        snprintf(why, whylen, "the token expired %lld s ago", now - exp);
    else if (nbf > now + JWT_LEEWAY_S)
        snprintf(why, whylen, "the token is not valid before %lld", nbf);
    else if (auth->jwt_issuer && (!iss || strcmp(iss, auth->jwt_issuer) != 0))
        snprintf(why, whylen, "the token's issuer is not %s", auth->jwt_issuer);
    else if (auth->jwt_audience && !audience_matches(jwt, auth->jwt_audience))
        snprintf(why, whylen, "the token is not for audience %s", auth->jwt_audience);
    else
        return 0;
    return -1;
}

/* The caller named by the verified jwt's claims: a string user claim, and
 * groups given as an array of strings or one string. */
static void caller_from_jwt(api_auth *auth, jwt_t *jwt, api_caller *who)
{
    const char *user = jwt_get_grant(jwt, auth->jwt_user_claim);
    who->name = il_xstrdup(user ? user : "");
    who->via = "JWT";
    char *text = jwt_get_grants_json(jwt, auth->jwt_groups_claim);
    json_t *groups = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    free(text);
    if (json_is_string(groups) && who->n_groups < API_CALLER_MAX_GROUPS)
        who->groups[who->n_groups++] = il_xstrdup(json_string_value(groups));
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
        if (json_is_string(g) && who->n_groups < API_CALLER_MAX_GROUPS)
            who->groups[who->n_groups++] = il_xstrdup(json_string_value(g));
    json_decref(groups);
}

int auth_check_jwt(api_auth *auth, const char *token, long long now, char *why, size_t whylen)
{
    api_caller who = {0};
    int rc = auth_jwt_caller(auth, token, now, &who, why, whylen);
    auth_caller_free(&who);
    return rc;
}

/* token verified with key (PEM) and its claims checked (its iss the
 * OIDC issuer when want_iss is set); who filled. */
static int verify_jwt(api_auth *auth, const char *token, const char *key, const char *want_iss,
                      long long now, api_caller *who, char *why, size_t whylen)
{
    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, token, (const unsigned char *)key, (int)strlen(key));
    if (rc != 0 || !jwt) {
        snprintf(why, whylen, "not a JWT signed by the configured key");
        rc = -1;
    } else if (!asymmetric(jwt_get_alg(jwt))) {
        snprintf(why, whylen, "JWT algorithm %s is not accepted",
                 jwt_alg_str(jwt_get_alg(jwt)) ? jwt_alg_str(jwt_get_alg(jwt)) : "?");
        rc = -1;
    } else {
        rc = check_claims(auth, jwt, now, why, whylen);
    }
    if (rc == 0 && want_iss && !oidc_same_issuer(jwt_get_grant(jwt, "iss"), want_iss)) {
        snprintf(why, whylen, "the token's issuer is not %s", want_iss);
        rc = -1;
    }
    if (rc == 0)
        caller_from_jwt(auth, jwt, who);
    jwt_free(jwt);
    return rc;
}

int auth_jwt_caller(api_auth *auth, const char *token, long long now, api_caller *who,
                    char *why, size_t whylen)
{
    if (auth->jwt_key.len == 0) {
        snprintf(why, whylen, "no JWT key is configured");
        return -1;
    }
    return verify_jwt(auth, token, il_buf_cstr(&auth->jwt_key), NULL, now, who, why, whylen);
}

/* A JWT of the OIDC issuer: its key by kid (oidc.c), its iss the issuer. */
static int oidc_caller(api_auth *auth, const char *token, long long now, api_caller *who,
                       char *why, size_t whylen)
{
    char *pem = oidc_key_for(auth->oidc, token, why, whylen);
    int rc = pem ? verify_jwt(auth, token, pem, oidc_issuer(auth->oidc), now, who, why, whylen)
                 : -1;
    free(pem);
    return rc;
}

/* ---- the filter ------------------------------------------------------------ */

static bool tokens_configured(const api_auth *auth)
{
    return auth->token_file || auth->jwt_key.len > 0 || auth->oidc;
}

/* NULL when the bearer token is accepted (who then names its holder),
 * else why not. */
static const char *bearer_problem(api_auth *auth, il_request *req, api_caller *who, char *why,
                                  size_t whylen)
{
    const char *token = il_request_bearer(req);
    if (!token || !*token)
        return "a bearer token is required (Authorization: Bearer ...)";
    if (auth->token_file && token_listed(auth, token, who))
        return NULL;
    if (auth->jwt_key.len > 0 && auth_jwt_caller(auth, token, (long long)time(NULL), who, why,
                                                  whylen) == 0)
        return NULL;
    if (auth->oidc && strchr(token, '.') &&
        oidc_caller(auth, token, (long long)time(NULL), who, why, whylen) == 0)
        return NULL;
    if ((auth->jwt_key.len == 0 && !auth->oidc) || strchr(token, '.') == NULL)
        return "the bearer token is not accepted";
    return why;
}

void auth_caller_free(api_caller *who)
{
    free(who->name);
    for (size_t i = 0; i < who->n_groups; i++)
        free(who->groups[i]);
    memset(who, 0, sizeof *who);
}

static void caller_free(void *who)
{
    auth_caller_free(who);
    free(who);
}

/* A certificate names the caller when no named bearer credential does. */
static void caller_from_peer(const il_tls_peer *peer, api_caller *who)
{
    who->name = il_xstrdup(peer->cn);
    for (size_t i = 0; i < peer->n_orgs && who->n_groups < API_CALLER_MAX_GROUPS; i++)
        who->groups[who->n_groups++] = il_xstrdup(peer->orgs[i]);
    who->via = "client certificate";
}

bool auth_filter(il_request *req, void *vauth)
{
    api_auth *auth = vauth;
    if (strcmp(il_request_path(req), "/healthz") == 0)
        return true;
    char why[256];
    il_tls_peer peer;   /* problem may point into it */
    const char *problem = NULL;
    api_caller *who = il_xcalloc(1, sizeof *who);
    if (auth->client_cert) {
        il_request_tls_peer(req, &peer);
        if (!peer.presented)
            problem = "a client certificate is required";
        else if (!peer.verified)
            problem = peer.why[0] ? peer.why : "the client certificate is not trusted";
    }
    if (!problem && tokens_configured(auth))
        problem = bearer_problem(auth, req, who, why, sizeof why);
    if (!problem && auth->client_cert && (!who->name || strcmp(who->name, "token") == 0)) {
        auth_caller_free(who);
        caller_from_peer(&peer, who);
    }
    if (!problem) {
        il_request_set_caller(req, who, caller_free);
        return true;
    }
    caller_free(who);
    il_respond_error(req, 401, "unauthorized: %s", problem);
    return false;
}

/* ---- life cycle ------------------------------------------------------------ */

bool auth_enabled(const api_auth *auth)
{
    return auth && (auth->client_cert || tokens_configured(auth));
}

static char *dup_or_null(const char *s)
{
    return s && *s ? il_xstrdup(s) : NULL;
}

api_auth *auth_new(const auth_config *cfg, char *err, size_t errlen)
{
    api_auth *auth = il_xcalloc(1, sizeof *auth);
    pthread_mutex_init(&auth->mu, NULL);
    auth->client_cert = cfg->client_cert;
    auth->token_file = dup_or_null(cfg->token_file);
    auth->jwt_issuer = dup_or_null(cfg->jwt_issuer);
    auth->jwt_audience = dup_or_null(cfg->jwt_audience);
    if (cfg->oidc_issuer && *cfg->oidc_issuer)
        auth->oidc = oidc_new(cfg->oidc_issuer, cfg->oidc_ca_file, cfg->oidc_min_refetch_s);
    auth->jwt_user_claim = il_xstrdup(cfg->jwt_user_claim && *cfg->jwt_user_claim
                                          ? cfg->jwt_user_claim : "sub");
    auth->jwt_groups_claim = il_xstrdup(cfg->jwt_groups_claim && *cfg->jwt_groups_claim
                                            ? cfg->jwt_groups_claim : "groups");
    int rc = 0;
    if (auth->token_file) {
        char terr[512];
        rc = tokens_refresh(auth, terr, sizeof terr);
        if (rc != 0)
            snprintf(err, errlen, "AuthTokenFile: %s", terr);
    }
    if (rc == 0 && cfg->jwt_key_file && *cfg->jwt_key_file &&
        (il_read_file(cfg->jwt_key_file, JWT_KEY_MAX, &auth->jwt_key) != 0 ||
         auth->jwt_key.len == 0)) {
        snprintf(err, errlen, "AuthJWT.PublicKeyFile %s: %s", cfg->jwt_key_file,
                 auth->jwt_key.len == 0 && errno == 0 ? "empty" : strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        auth_free(auth);
        return NULL;
    }
    return auth;
}

void auth_free(api_auth *auth)
{
    if (!auth)
        return;
    tokens_free(auth->tokens, auth->n_tokens);
    pthread_mutex_destroy(&auth->mu);
    il_buf_free(&auth->jwt_key);
    free(auth->token_file);
    free(auth->jwt_issuer);
    free(auth->jwt_audience);
    oidc_free(auth->oidc);
    free(auth->jwt_user_claim);
    free(auth->jwt_groups_claim);
    free(auth);
}
