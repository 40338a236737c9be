/* statuscache.h -- what one status cycle keeps for the next.
 *
 * At 10,000 pods a cycle that parses and maps every status of interlink's
 * answer costs seconds of CPU, while in steady state nothing in it
 * changed.  The cache keeps the answer elements (their exact bytes) that
 * changed nothing last cycle, with the UID and resourceVersion of their
 * pod: the same bytes for the same pod object would change nothing again,
 * so they are neither parsed nor compared.  (The request side needs no
 * cache: the pod table keeps each pod's request text, pods.h.)
 *
 * Pods without a resourceVersion are never remembered.  One cycle at a
 * time (the status thread's): no locking. */
#ifndef VK_STATUSCACHE_H
#define VK_STATUSCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "pods.h"
#include "util.h"

typedef struct vk_status_cache vk_status_cache;

vk_status_cache *vk_status_cache_new(void);
void vk_status_cache_free(vk_status_cache *c);

/* The /status request for pods[0..n) (a JSON array of their request
 * texts, appended to body). */
void vk_status_request(vk_podrec *const *pods, size_t n, il_buf *body);

/* Whether the answer element elem (len bytes) came, byte for byte, last
 * cycle and changed nothing; then *uid and *rv are the UID and
 * resourceVersion of its pod then (borrowed from the cache until
 * vk_status_cache_next): it is quiet now if that pod still has that
 * resourceVersion. */
bool vk_status_cache_seen(const vk_status_cache *c, const char *elem, size_t len,
                          const char **uid, const char **rv);
/* Remember for the next cycle that elem, about pod, changed nothing. */
void vk_status_cache_note_quiet(vk_status_cache *c, const char *elem, size_t len,
                                const vk_podrec *pod);
/* End of an answered cycle: the elements noted are those of the next. */
void vk_status_cache_next(vk_status_cache *c);

#endif
