/* oidctoken.h -- the VK's own access token from an OIDC issuer (see oidctoken.c). */
#ifndef IL_VK_OIDCTOKEN_H
#define IL_VK_OIDCTOKEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vk_oidc_token vk_oidc_token;
struct vk_config;

/* NULL when OIDC.TokenURL is not set. */
vk_oidc_token *vk_oidc_token_new(const struct vk_config *cfg);
void vk_oidc_token_free(vk_oidc_token *t);
/* A valid access token (*token malloc'd), fetched anew when none is held
 * or the one held is near its expiry.  0, or -1 with err. */
int vk_oidc_token_get(vk_oidc_token *t, char **token, char *err, size_t errlen);
/* interlink refused token (401): forget it if it is the one held, so that
 * the next call fetches another (the issuer may have withdrawn its key),
 * at most once per OIDC_DROP_MIN_S.  True when a retry may succeed: it
 * was dropped, or another token is held already. */
#define OIDC_DROP_MIN_S 10
bool vk_oidc_token_refused(vk_oidc_token *t, const char *token);

#endif
