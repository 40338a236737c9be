/* kubelet.h -- the kubelet HTTPS API of the virtual kubelet.
 *
 * What the API server (kubectl logs, node proxy) calls on a kubelet:
 *
 *   GET /containerLogs/{ns}/{pod}/{container}   relayed to interlink /getLogs,
 *                                               streamed (follow)
 *   GET|POST /exec/{ns}/{pod}[/{uid}]/{container}, /attach/...,
 *       /portForward/{ns}/{pod}[/{uid}]         SPDY/3.1 sessions (streams.c)
 *   GET /healthz                                "ok", open to anyone
 *   anything else                               404
 *
 * Unlike upstream (no client authentication at all), every other request
 * must authenticate -- a client certificate that chains to the client CA
 * (KubeletClientCAFile, else the cluster CA from the kubeconfig), or a
 * bearer token that a TokenReview accepts -- and be authorized: the user
 * is in the system:masters group or named in KubeletAllowedUsers (default:
 * the API server's kube-apiserver-kubelet-client).  401 without valid
 * credentials, 403 for anyone else.
 *
 * The serving certificate comes from KubeletCertFile/KubeletKeyFile
 * (re-read when the files change), else, unless DisableCSR, from a
 * kubernetes.io/kubelet-serving CSR (renewed at 80% of its lifetime;
 * a self-signed certificate is served until the first one is issued),
 * else it is self-signed.  The certificate thread keeps it current. */
#ifndef VK_KUBELET_H
#define VK_KUBELET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "httpd.h"

struct vk;
typedef struct vk_kubelet vk_kubelet;

/* Get the first serving certificate and listen.  NULL with err set when
 * the port cannot be served (a kubelet without its API is broken). */
vk_kubelet *vk_kubelet_start(struct vk *v, char *err, size_t errlen);
void vk_kubelet_stop(vk_kubelet *k);
/* Thread body (arg: the vk): keeps the serving certificate current. */
void *vk_kubelet_cert_loop(void *arg);

/* ---- internal to kubelet*.c and streams.c ------------------------------ */

/* /exec, /attach and /portForward (streams.c). */
void vk_streams_route(il_httpd *http, struct vk *v);

/* Who authenticated, and how. */
#define VK_USER_MAX_GROUPS 16
typedef struct vk_user {
    char name[256];
    char groups[VK_USER_MAX_GROUPS][128];
    size_t n_groups;
    const char *via;          /* "client certificate" or "token" */
} vk_user;

typedef struct vk_authn vk_authn;
vk_authn *vk_authn_new(struct vk *v);
void vk_authn_free(vk_authn *a);
/* The filter of every request: true to go on; otherwise it answered 401
 * or 403 itself. */
bool vk_authn_filter(il_request *req, void *authn);
/* The authorization rule, exposed for tests. */
bool vk_authz_allowed(const vk_user *u, char *const *allowed_users);

/* Where the serving certificate comes from. */
typedef enum { VK_CERT_FILES, VK_CERT_CSR, VK_CERT_SELF_SIGNED } vk_cert_source;
vk_cert_source vk_kubelet_cert_source(const struct vk *v);
/* The first certificate to serve (PEMs the caller frees).  For the CSR
 * source this is a self-signed stand-in until the CSR is issued. */
int vk_kubelet_first_cert(struct vk *v, char **cert, char **key, char *err, size_t errlen);

/* The certificate the listener serves now (kubeletcert.c). */
typedef struct vk_serving_cert vk_serving_cert;
vk_serving_cert *vk_serving_cert_new(il_httpd *http);
void vk_serving_cert_free(vk_serving_cert *sc);
/* Serve a new certificate (rotation); what names it in the log. */
void vk_serving_cert_install(vk_serving_cert *sc, const char *cert, const char *key,
                             const char *what);
/* When the certificate served now is due for renewal (Unix seconds). */
int64_t vk_serving_cert_renew_at(vk_serving_cert *sc);
/* Whether cert differs from the certificate served now. */
bool vk_serving_cert_changed(vk_serving_cert *sc, const char *cert);

#endif
