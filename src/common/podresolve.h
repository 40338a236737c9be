/* podresolve.h -- a pod as interlink's /create wants it: upstream's
 * PodCreateRequests {pod, configmaps, secrets, projectedvolumesmaps,
 * jobscriptURL} (docs/upstream.md).
 *
 * ConfigMaps and Secrets referenced by volumes travel whole, once each;
 * projected and downwardAPI volumes become one synthetic ConfigMap each
 * (named after the volume, data = path -> content; a downwardAPI volume is
 * rewritten into the equivalent projected one, as upstream's virtual
 * kubelet does); env valueFrom and envFrom become plain values, with the
 * kubelet's precedence (envFrom in order, then env; a later name wins).
 * `optional` is honoured everywhere.
 *
 * What differs between callers -- where objects come from, how tokens are
 * issued, what the pod's status fields are -- is behind il_podres_ops:
 * interlinkctl reads a manifest, interlink-vk the Kubernetes API. */
#ifndef IL_PODRESOLVE_H
#define IL_PODRESOLVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The size of a failure's message, with its NUL. */
#define IL_PODRES_MESSAGE_MAX 1024

/* What a lookup found. */
enum { IL_PODRES_ERR = -1, IL_PODRES_FOUND = 0, IL_PODRES_MISSING = 1 };

typedef struct il_podres il_podres;

/* Callbacks report failures with il_podres_fail.  A NULL reason lets the
 * resolver use the reason of the step that failed: "FailedMount" for a
 * volume, "CreateContainerConfigError" for a container's env. */
typedef struct il_podres_ops {
    /* The ConfigMap or Secret (kind) `name` in r->ns.  FOUND with *obj
     * borrowed until the resolution ends; MISSING after il_podres_fail
     * with a "not found" message (used only if the reference is not
     * optional); ERR when the source itself failed.  Required. */
    int (*lookup)(il_podres *r, const char *kind, const char *name, const json_t **obj);
    /* A fieldRef path beyond the pod's own metadata.name, .namespace, .uid,
     * .labels, .annotations, spec.nodeName and spec.serviceAccountName,
     * which the resolver reads itself: a malloc'd value, or NULL after
     * il_podres_fail.  NULL: any other path is unsupported. */
    char *(*field)(il_podres *r, const char *path);
    /* A resourceFieldRef; container is the default for a missing
     * containerName (NULL in a downwardAPI volume).  Malloc'd value or NULL
     * after il_podres_fail.  NULL: env references are an error, volume
     * items are skipped with a warning. */
    char *(*resource)(il_podres *r, const json_t *ref, const char *container);
    /* A token for a projected serviceAccountToken source (audience,
     * expirationSeconds): malloc'd, or NULL after il_podres_fail.  NULL:
     * such sources are skipped with a warning. */
    char *(*token)(il_podres *r, const json_t *source);
    /* Something the pod asked for was skipped.  May be NULL. */
    void (*warn)(il_podres *r, const char *message);
} il_podres_ops;

struct il_podres {
    const il_podres_ops *ops;
    void *ctx;                /* the caller's, for its callbacks */
    bool skip_projected;      /* leave projected/downwardAPI volumes to the backend */
    /* Set by il_podres_request while it runs. */
    const json_t *pod;        /* the pod being resolved */
    const char *ns;           /* its namespace ("default" when unset) */
    /* Why il_podres_request failed, in the kubelet's words. */
    const char *reason;
    char message[IL_PODRES_MESSAGE_MAX];
};

/* The PodCreateRequests for pod (taken; it becomes the request's "pod",
 * volumes and env rewritten), or NULL with r->reason and r->message set.
 * Empty lists are JSON null, as Go marshals a nil slice. */
json_t *il_podres_request(il_podres *r, json_t *pod, const char *job_script_url);

/* Record why resolution cannot go on; returns IL_PODRES_ERR. */
int il_podres_fail(il_podres *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The bytes of key in a ConfigMap (data, then binaryData, base64) or a
 * Secret (data, base64): malloc'd and NUL-terminated, or false. */
bool il_podres_data(const json_t *obj, const char *kind, const char *key, char **value,
                    size_t *len);

/* Set name=value in a container's env, replacing an earlier definition in
 * place as the kubelet's map does; creates env when absent. */
void il_podres_setenv(json_t *container, const char *name, const char *value);

#endif
