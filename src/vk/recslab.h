/* recslab.h -- memory for the VK's pod records (pods.c) and queued Events
 * (events.c): small blocks that live long, kept in slabs of their own, away
 * from the heap where parsed pods come and go. */
#ifndef IL_VK_RECSLAB_H
#define IL_VK_RECSLAB_H

#include <stddef.h>

/* size zeroed bytes; never NULL.  *owner is what vk_recslab_free needs
 * back: the slab, or NULL for a block that came from malloc. */
void *vk_recslab_alloc(size_t size, void **owner);

/* Give back b, allocated with owner; a slab whose last block returns is
 * unmapped. */
void vk_recslab_free(void *b, void *owner);

#endif
