/* resolve.h -- a pod from the API server as interlink's /create wants it.
 *
 * Builds upstream's PodCreateRequests: ConfigMaps and Secrets referenced
 * by volumes travel whole; projected and downwardAPI volumes become one
 * synthetic ConfigMap each ("projectedvolumesmaps", path -> content:
 * tokens from TokenRequest, kube-root-ca.crt, downward-API fields and
 * resources, ConfigMap/Secret keys); env valueFrom and envFrom are
 * resolved into plain values.  `optional` is honoured everywhere. */
#ifndef VK_RESOLVE_H
#define VK_RESOLVE_H

#include <jansson.h>

#include "refs.h"

/* The request for r->pod (new reference), or NULL with r->reason and
 * r->message saying what is missing or wrong. */
json_t *vk_resolve_pod(vk_refs *r);

#endif
