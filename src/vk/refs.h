/* refs.h -- what a pod refers to, looked up in the API server: the
 * callbacks behind the shared resolver (podresolve.h) for interlink-vk.
 *
 * One vk_refs serves the resolution of one pod: ConfigMaps and Secrets
 * are fetched once each (cached, misses too; found ones are taken from
 * and given to the shared refcache.h when there is one), status fields and container
 * resources are read from the pod and the node's configuration, and
 * service-account tokens are issued with TokenRequest bound to the pod.
 * When something cannot be had, reason and message say why in the
 * kubelet's words, so the caller can put them on the pod and in an Event. */
#ifndef VK_REFS_H
#define VK_REFS_H

#include <jansson.h>

#include "kube.h"
#include "podresolve.h"
#include "refcache.h"
#include "vkconfig.h"

typedef struct vk_refs {
    vk_kube *kube;
    const vk_config *cfg;
    const json_t *pod;        /* borrowed */
    json_t *cache;            /* "Kind/name" -> object, or null when absent */
    vk_refcache *shared;      /* objects other pods read lately, or NULL (borrowed) */
    const char *reason;       /* "FailedMount", "CreateContainerConfigError", ... */
    char message[IL_PODRES_MESSAGE_MAX];
} vk_refs;

void vk_refs_init(vk_refs *r, vk_kube *kube, const vk_config *cfg, const json_t *pod);
void vk_refs_free(vk_refs *r);

/* The resolver's callbacks; il_podres.ctx must be a vk_refs. */
extern const il_podres_ops vk_refs_ops;

#endif
