/* auth.h -- who may call interlink (see auth.c). */
#ifndef IL_API_AUTH_H
#define IL_API_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "httpd.h"

typedef struct auth_config {
    bool client_cert;           /* TLS.CACertFile set: a verified client certificate */
    const char *token_file;     /* AuthTokenFile: accepted bearer tokens, or NULL */
    const char *jwt_key_file;   /* AuthJWT.PublicKeyFile: JWTs signed by this key, or NULL */
    const char *jwt_issuer;     /* AuthJWT.Issuer: required "iss", or NULL */
    const char *jwt_audience;   /* AuthJWT.Audience: required in "aud", or NULL */
    const char *jwt_user_claim;   /* AuthJWT.UserClaim: the caller's name; NULL = "sub" */
    const char *jwt_groups_claim; /* AuthJWT.GroupsClaim: its groups; NULL = "groups" */
    const char *oidc_issuer;    /* AuthOIDC.Issuer: JWTs signed by its JWKS keys, or NULL */
    const char *oidc_ca_file;   /* AuthOIDC.CACertFile: CAs of an https issuer, or NULL */
    long long oidc_min_refetch_s; /* AuthOIDC.MinRefetchSeconds; 0 = the default */
} auth_config;

/* Who a request comes from, as its credentials say (set on the request by
 * auth_filter; il_request_caller returns it, NULL when no authentication
 * is configured).  name is a named token's name, the JWT's user claim or
 * the client certificate's CN; groups the token's groups, the JWT's
 * groups claim or the certificate's O values. */
#define API_CALLER_MAX_GROUPS 32
typedef struct api_caller {
    char *name;
    char *groups[API_CALLER_MAX_GROUPS];
    size_t n_groups;
    const char *via;            /* "token", "JWT", "client certificate" */
} api_caller;

typedef struct api_auth api_auth;

/* NULL with err set when a file cannot be read or holds nothing usable;
 * the strings of cfg are copied. */
api_auth *auth_new(const auth_config *cfg, char *err, size_t errlen);
void auth_free(api_auth *auth);
/* True when any check is configured (otherwise the filter is not set). */
bool auth_enabled(const api_auth *auth);
/* The il_filter_fn: true lets the request through; false after answering
 * 401 (no or bad credentials) itself. */
bool auth_filter(il_request *req, void *auth);

/* The check of one bearer token against a JWT key, for tests: 0 when valid
 * at time now, else -1 with why set. */
int auth_check_jwt(api_auth *auth, const char *token, long long now, char *why, size_t whylen);
/* The same, filling who (auth_caller_free) from the claims when valid. */
int auth_jwt_caller(api_auth *auth, const char *token, long long now, api_caller *who,
                    char *why, size_t whylen);
void auth_caller_free(api_caller *who);

#endif
