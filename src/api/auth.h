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
} auth_config;

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

#endif
