/* queue.h -- the work queue of the pod workers, keyed by pod UID.
 *
 * A key is handed to at most one worker at a time, so one pod's work is
 * serialized while other pods proceed on other workers (a slow pod never
 * blocks the rest).  Adding a key that is already waiting keeps the
 * earlier due time; adding one that is being worked on queues it again
 * for after the worker is done, so no change is ever missed. */
#ifndef VK_QUEUE_H
#define VK_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vk_queue vk_queue;

vk_queue *vk_queue_new(void);
void vk_queue_free(vk_queue *q);
/* Make key due in delay_ms (0 = now). */
void vk_queue_add(vk_queue *q, const char *key, int64_t delay_ms);
/* Block until a key is due and no other worker holds it; the caller owns
 * the string and must call vk_queue_done with it.  NULL after shutdown. */
char *vk_queue_take(vk_queue *q);
/* The same, but NULL also once no key was due for idle_ms: then *idle
 * is set (a worker that ends when idle). */
char *vk_queue_take_for(vk_queue *q, int64_t idle_ms, bool *idle);
void vk_queue_done(vk_queue *q, const char *key);
/* Wake every taker with NULL; later takes return NULL at once. */
void vk_queue_shutdown(vk_queue *q);

#endif
