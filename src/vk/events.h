/* events.h -- Kubernetes Events about pods, as a kubelet reports them. */
#ifndef VK_EVENTS_H
#define VK_EVENTS_H

#include <jansson.h>

#include "kube.h"

/* Post a core/v1 Event about pod (type "Normal" or "Warning") from
 * component interlink-vk on node.  Best effort: a failure is logged, never
 * returned (events are advisory, and retrying them would only delay the
 * work they describe).  Between vk_events_start and vk_events_stop it is
 * queued for the sender threads and vk_event returns at once; otherwise it
 * is posted before vk_event returns.  k must outlive vk_events_stop. */
void vk_event(vk_kube *k, const char *node, const json_t *pod, const char *type,
              const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Start the sender threads (once; later calls do nothing), posting at
 * most per_second Events a second after a burst of burst (per_second 0:
 * no limit). */
void vk_events_start(int per_second, int burst);
/* Post what is queued (for up to 2 s; the rest is dropped and counted),
 * stop the senders and join them.  vk_event posts directly afterwards. */
void vk_events_stop(void);
/* Events waiting in the queue for a sender (the metrics' gauge). */
size_t vk_events_queued(void);

#endif
