/* statuscache.h -- what one status cycle keeps for the next.
 *
 * At 10,000 pods a cycle that parses and maps every status of interlink's
 * answer costs seconds of CPU, while in steady state nothing in it
 * changed.  The cache keeps which answer elements (their bytes, as two
 * 64-bit hashes and the length) changed nothing last cycle, with the UID
 * and resourceVersion of their pod: the same bytes for the same pod object
 * would change nothing again, so they are neither parsed nor compared.  (The request side needs no
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
 * texts), made while it is sent: each pod's text is inflated when the
 * transfer reaches it, so the body (16 MB at 10,000 pods) is never whole
 * in memory. */
typedef struct vk_status_body {
    vk_podrec *const *pods;   /* borrowed */
    size_t n, next;           /* next: the pod whose text comes next */
    il_buf chunk;             /* '[' or ',' and a pod's text; or the closing ']' */
    size_t at;                /* bytes of chunk already read */
    bool closed;              /* the ']' is in chunk */
} vk_status_body;

void vk_status_body_init(vk_status_body *b, vk_podrec *const *pods, size_t n);
/* The body's length in bytes. */
size_t vk_status_body_len(const vk_status_body *b);
/* il_httpc_req's read and rewind, on a vk_status_body. */
size_t vk_status_body_read(char *buf, size_t n, void *b);
int vk_status_body_rewind(void *b);
void vk_status_body_free(vk_status_body *b);

/* Whether the answer element elem (len bytes) came, byte for byte, last
 * cycle and changed nothing; then *uid and *rv are the UID and
 * resourceVersion of its pod then (borrowed from the cache until the next
 * vk_status_cache_note_quiet or vk_status_cache_next): it is quiet now if
 * that pod still has that resourceVersion. */
bool vk_status_cache_seen(const vk_status_cache *c, const char *elem, size_t len,
                          const char **uid, const char **rv);
/* Remember for the next cycle that elem, about pod, changed nothing. */
void vk_status_cache_note_quiet(vk_status_cache *c, const char *elem, size_t len,
                                const vk_podrec *pod);
/* End of an answered cycle: the elements noted are those of the next. */
void vk_status_cache_next(vk_status_cache *c);

#endif
