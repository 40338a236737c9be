/* refs.h -- what a pod refers to, looked up in the API server.
 *
 * One vk_refs serves the resolution of one pod: ConfigMaps and Secrets
 * are fetched once each (cached, misses too), downward-API fields and
 * container resources are read from the pod, and service-account tokens
 * are issued with TokenRequest bound to the pod.  When something cannot
 * be had, reason and message say why in the kubelet's words, so the
 * caller can put them on the pod and in an Event. */
#ifndef VK_REFS_H
#define VK_REFS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube.h"
#include "vkconfig.h"

typedef struct vk_refs {
    vk_kube *kube;
    const vk_config *cfg;
    const json_t *pod;        /* borrowed */
    json_t *cache;            /* "Kind/name" -> object, or null when absent */
    const char *reason;       /* "FailedMount", "CreateContainerConfigError", ... */
    char message[512];
} vk_refs;

enum { VK_REF_ERR = -1, VK_REF_FOUND = 0, VK_REF_SKIP = 1 };

void vk_refs_init(vk_refs *r, vk_kube *kube, const vk_config *cfg, const json_t *pod);
void vk_refs_free(vk_refs *r);
/* Record why the pod cannot be created yet; returns VK_REF_ERR. */
int vk_refs_fail(vk_refs *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* kind is "ConfigMap" or "Secret".  FOUND with *out borrowed from the
 * cache, SKIP when absent and optional, ERR otherwise. */
int vk_ref_object(vk_refs *r, const char *kind, const char *name, bool optional,
                  const json_t **out);
/* One key of a ConfigMap (data, binaryData) or Secret (decoded data);
 * *value is malloc'd and NUL-terminated.  SKIP when optional and absent. */
int vk_ref_value(vk_refs *r, const char *kind, const char *name, const char *key,
                 bool optional, char **value, size_t *len);
/* The bytes of key in obj (a fetched ConfigMap or Secret), or false. */
bool vk_ref_object_value(const json_t *obj, const char *kind, const char *key, char **value,
                         size_t *len);
/* A downward-API fieldRef path, or NULL (reason set). */
char *vk_ref_field(vk_refs *r, const char *path);
/* A resourceFieldRef {containerName, resource, divisor}; containerName
 * defaults to dflt.  NULL (reason set) when it cannot be computed. */
char *vk_ref_resource(vk_refs *r, const json_t *ref, const char *dflt);
/* A token from TokenRequest for a serviceAccountToken projection
 * {audience, expirationSeconds}, bound to the pod. */
char *vk_ref_token(vk_refs *r, const json_t *source);

#endif
