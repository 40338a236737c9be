/* oidc.h -- the signing keys of an OIDC issuer, by discovery (see oidc.c). */
#ifndef IL_API_OIDC_H
#define IL_API_OIDC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct api_oidc api_oidc;

/* issuer: the "iss" its tokens carry; its discovery document is
 * issuer + "/.well-known/openid-configuration".  ca_file: CAs for an
 * https issuer (NULL: the system's).  min_refetch_s: the shortest time
 * between two fetches (0 = OIDC_MIN_REFETCH_S).  Nothing is fetched yet. */
#define OIDC_MIN_REFETCH_S 10
api_oidc *oidc_new(const char *issuer, const char *ca_file, long long min_refetch_s);
void oidc_free(api_oidc *o);
const char *oidc_issuer(const api_oidc *o);
/* Issuer URLs are equal but for trailing slashes. */
bool oidc_same_issuer(const char *a, const char *b);
/* The public key (PEM, caller frees) that signed token, by its header's
 * "kid", fetching the JWKS when none is cached, it is old, or the kid is
 * unknown (at most once per min_refetch_s).  NULL with why. */
char *oidc_key_for(api_oidc *o, const char *token, char *why, size_t whylen);

#endif
