/* events.h -- Kubernetes Events about pods, as a kubelet reports them. */
#ifndef VK_EVENTS_H
#define VK_EVENTS_H

#include <jansson.h>

#include "kube.h"

/* Post a core/v1 Event about pod (type "Normal" or "Warning") from
 * component interlink-vk on node.  Best effort: a failure is logged, never
 * returned (events are advisory, and retrying them would only delay the
 * work they describe). */
void vk_event(vk_kube *k, const char *node, const json_t *pod, const char *type,
              const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
