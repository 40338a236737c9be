/* kubeconfig.h -- where the Kubernetes API server is and how to prove who we
 * are to it.
 *
 * Two sources, as the upstream virtual kubelet uses them: the files named by
 * KUBECONFIG (a colon-separated list merged as kubectl merges it: the first
 * file that sets a value wins), or, when KUBECONFIG is empty, the in-cluster
 * service account (token and ca.crt under
 * /var/run/secrets/kubernetes.io/serviceaccount, server from
 * KUBERNETES_SERVICE_HOST/PORT).  Relative paths inside a kubeconfig are
 * relative to the file that holds them.  Credentials end up in memory (PEM
 * blobs), except token files, which are re-read on use because projected
 * service-account tokens rotate. */
#ifndef VK_KUBECONFIG_H
#define VK_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define VK_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct vk_kubeconfig {
    char *server;             /* "https://host:port[/prefix]" */
    il_buf ca;                /* PEM bundle; empty = system CAs */
    bool insecure;            /* insecure-skip-tls-verify */
    il_buf cert;              /* client certificate PEM; empty = none */
    il_buf key;               /* its key PEM */
    char *token;              /* static bearer token, or NULL */
    char *token_file;         /* bearer token re-read on use, or NULL */
    char *ns;                 /* the context's namespace, or NULL */
    char *source;             /* "FILE, context NAME" or "in-cluster", for messages */
} vk_kubeconfig;

/* KUBECONFIG if set and non-empty, else in-cluster from VK_SA_DIR.
 * Returns 0, or -1 with a message naming the file and entry in err. */
int vk_kubeconfig_load(vk_kubeconfig *out, char *err, size_t errlen);
/* The kubeconfig files in list ("a:b:c"); missing files are skipped as
 * kubectl does, but at least one must exist. */
int vk_kubeconfig_load_files(const char *list, vk_kubeconfig *out, char *err, size_t errlen);
/* In-cluster configuration from sa_dir (token, ca.crt) and the
 * environment. */
int vk_kubeconfig_in_cluster(const char *sa_dir, vk_kubeconfig *out, char *err, size_t errlen);
void vk_kubeconfig_free(vk_kubeconfig *kc);

/* The bearer token to send now: the static one, or the token file's
 * content with surrounding whitespace removed.  *out is NULL when the
 * configuration has no token (client certificates).  Caller frees. */
int vk_kubeconfig_token(const vk_kubeconfig *kc, char **out, char *err, size_t errlen);

#endif
