/* kubeletauth.c -- who may call the kubelet API.
 *
 * Authentication, in the order the Kubernetes authenticators use: a
 * client certificate that verified against the client CA (CN = user,
 * O = groups), then a bearer token reviewed by the API server
 * (TokenReview).  Review answers are cached by the token's SHA-256 --
 * the token itself is never kept -- for two minutes when accepted and ten
 * seconds when refused (a kubelet's webhook cache defaults), so a
 * following client does not cost one API call per request.  A review that
 * could not be made (API server down) is not cached.
 *
 * Authorization: see kubelet.h and vk_authz_allowed. */
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet.h"
#include "log.h"
#include "timeutil.h"
#include "util.h"
#include "vk.h"

#define CACHE_SLOTS 64
#define TTL_OK_MS (120 * 1000)
#define TTL_REFUSED_MS (10 * 1000)
#define REVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"

typedef struct review {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    int64_t expires_ms;       /* monotonic; 0 = empty slot */
    bool authenticated;
    vk_user user;
} review;

struct vk_authn {
    vk *v;
    pthread_mutex_t lock;
    review cache[CACHE_SLOTS];
};

static char *const default_allowed[] = {"kube-apiserver-kubelet-client", NULL};

vk_authn *vk_authn_new(vk *v)
{
    vk_authn *a = il_xcalloc(1, sizeof *a);
    a->v = v;
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

void vk_authn_free(vk_authn *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a);
}

bool vk_authz_allowed(const vk_user *u, char *const *allowed_users)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (strcmp(u->groups[i], "system:masters") == 0)
            return true;
    char *const *allowed = allowed_users && *allowed_users ? allowed_users : default_allowed;
    for (; *allowed; allowed++)
        if (strcmp(*allowed, u->name) == 0)
            return true;
    return false;
}

/* ---- client certificates ------------------------------------------------ */

static bool from_certificate(il_request *req, vk_user *u)
{
    il_tls_peer peer;
    il_request_tls_peer(req, &peer);
    if (peer.presented && !peer.verified)
        il_debug("kubelet API: client certificate refused: %s", peer.why);
    if (!peer.verified)
        return false;
    snprintf(u->name, sizeof u->name, "%s", peer.cn);
    for (size_t i = 0; i < peer.n_orgs && i < VK_USER_MAX_GROUPS; i++)
        snprintf(u->groups[u->n_groups++], sizeof u->groups[0], "%s", peer.orgs[i]);
    u->via = "client certificate";
    return true;
}

/* ---- tokens ------------------------------------------------------------- */

static review *cache_find(vk_authn *a, const unsigned char *digest, int64_t now)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (a->cache[i].expires_ms > now &&
            memcmp(a->cache[i].digest, digest, sizeof a->cache[i].digest) == 0)
            return &a->cache[i];
    return NULL;
}

/* An empty or expired slot, else the one closest to expiry. */
static review *cache_victim(vk_authn *a)
{
    review *victim = &a->cache[0];
    for (size_t i = 1; i < CACHE_SLOTS; i++)
        if (a->cache[i].expires_ms < victim->expires_ms)
            victim = &a->cache[i];
    return victim;
}

static void user_from_review(const json_t *status, vk_user *u)
{
    json_t *user = json_object_get(status, "user");
    const char *name = json_string_value(json_object_get(user, "username"));
    snprintf(u->name, sizeof u->name, "%s", name ? name : "");
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(user, "groups"), i, g) {
        if (json_is_string(g) && u->n_groups < VK_USER_MAX_GROUPS)
            snprintf(u->groups[u->n_groups++], sizeof u->groups[0], "%s", json_string_value(g));
    }
    u->via = "token";
}

/* Ask the API server.  0 with *ok set, -1 when no answer could be had. */
static int token_review(vk_authn *a, const char *token, bool *ok, vk_user *u)
{
    json_t *body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "authentication.k8s.io/v1",
                             "kind", "TokenReview", "spec", "token", token);
    vk_kube_result res;
    int rc = vk_kube_create(a->v->kube, REVIEW_PATH, body, &res);
    json_decref(body);
    if (rc == 0) {
        json_t *status = json_object_get(res.body, "status");
        const char *why = json_string_value(json_object_get(status, "error"));
        *ok = json_is_true(json_object_get(status, "authenticated"));
        if (*ok)
            user_from_review(status, u);
        else
            il_debug("kubelet API: token refused: %s", why ? why : "(no reason given)");
    } else {
        il_warn("kubelet API: cannot review a token: %s", res.error);
    }
    vk_kube_result_free(&res);
    return rc;
}

static bool from_token(vk_authn *a, const char *token, vk_user *u)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), digest);
    pthread_mutex_lock(&a->lock);
    review *hit = cache_find(a, digest, il_monotonic_ms());
    bool cached = hit != NULL, ok = hit && hit->authenticated;
    if (ok)
        *u = hit->user;
    pthread_mutex_unlock(&a->lock);
    if (cached)
        return ok;
    if (token_review(a, token, &ok, u) != 0)
        return false;
    pthread_mutex_lock(&a->lock);
    review *slot = cache_victim(a);
    memcpy(slot->digest, digest, sizeof digest);
    slot->authenticated = ok;
    memset(&slot->user, 0, sizeof slot->user);
    if (ok)
        slot->user = *u;
    slot->expires_ms = il_monotonic_ms() + (ok ? TTL_OK_MS : TTL_REFUSED_MS);
    pthread_mutex_unlock(&a->lock);
    return ok;
}

/* ---- the filter --------------------------------------------------------- */

bool vk_authn_filter(il_request *req, void *authn)
{
    vk_authn *a = authn;
    if (strcmp(il_request_path(req), "/healthz") == 0)
        return true;   /* probes carry no credentials; it tells nothing */
    vk_user u = {0};
    const char *token = il_request_bearer(req);
    if (!from_certificate(req, &u) && !(token && from_token(a, token, &u))) {
        il_respond_error(req, 401, "Unauthorized");
        return false;
    }
    if (!vk_authz_allowed(&u, a->v->cfg->kubelet_allowed_users)) {
        il_respond_error(req, 403, "Forbidden (user=%s, verb=get, resource=nodes, "
                         "subresource=proxy)", u.name);
        return false;
    }
    il_debug("kubelet API: %s %s by %s (%s)", il_request_method(req), il_request_path(req),
             u.name, u.via);
    return true;
}
