/* statuscache.h -- what one status cycle keeps for the next.
 *
 * At 10,000 pods a cycle that serializes every pod for the request and
 * parses and maps every status of the answer costs seconds of CPU, while
 * in steady state nothing in either changed.  Two memories cut that to
 * the pods that did change:
 *
 *  - the request text of each pod (what statusloop.c sends of it: all but
 *    its status and metadata.managedFields), kept until the pod object
 *    changes (a new metadata.resourceVersion);
 *  - the answer elements (their exact bytes) that changed nothing last
 *    cycle, with the UID and resourceVersion of their pod: the same bytes
 *    for the same pod object would change nothing again, so they are
 *    neither parsed nor compared.
 *
 * Pods without a resourceVersion are never remembered.  One cycle at a
 * time (the status thread's): no locking. */
#ifndef VK_STATUSCACHE_H
#define VK_STATUSCACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef struct vk_status_cache vk_status_cache;

vk_status_cache *vk_status_cache_new(void);
void vk_status_cache_free(vk_status_cache *c);

/* What the request carries of one pod (a new object). */
json_t *vk_status_request_pod(const json_t *pod);

/* The /status request for pods (a JSON array, appended to body): each
 * pod's text from memory when its resourceVersion is the one remembered,
 * else serialized now and remembered.  Pods not in pods are forgotten. */
void vk_status_cache_request(vk_status_cache *c, const json_t *pods, il_buf *body);

/* Whether the answer element elem (len bytes) came, byte for byte, last
 * cycle, changed nothing, and its pod (found in by_uid, UID -> pod) has
 * the resourceVersion it had then.  *uid: that pod's UID (borrowed from
 * the cache until vk_status_cache_next) when true. */
bool vk_status_cache_quiet(const vk_status_cache *c, const char *elem, size_t len,
                           const json_t *by_uid, const char **uid);
/* Remember for the next cycle that elem, about pod, changed nothing. */
void vk_status_cache_note_quiet(vk_status_cache *c, const char *elem, size_t len,
                                const json_t *pod);
/* End of an answered cycle: the elements noted are those of the next. */
void vk_status_cache_next(vk_status_cache *c);

#endif
