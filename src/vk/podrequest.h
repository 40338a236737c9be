/* podrequest.h -- a pod from the API server as interlink's /create wants it.
 *
 * The shared resolver (podresolve.h) over what the API server holds
 * (refs.h), plus what only a virtual kubelet knows: the
 * KUBERNETES_SERVICE_* variables of the API server's address for the
 * backend, whether projected volumes are left to the backend, and the job
 * script URL. */
#ifndef VK_RESOLVE_H
#define VK_RESOLVE_H

#include <jansson.h>

#include "refs.h"

/* The request for r->pod (new reference), or NULL with r->reason and
 * r->message saying what is missing or wrong. */
json_t *vk_resolve_pod(vk_refs *r);

#endif
