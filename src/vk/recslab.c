/* recslab.c -- where the VK's pod records live (see recslab.h).
 *
 * Records are small (about 400 bytes) and live long, and each is made
 * while the parsed object it comes from (tens of kilobytes of short-lived
 * tree) is still allocated: from the heap, every record ended up alone
 * among the tree's freed chunks, and ten thousand of them kept some 30 MB
 * of pages resident that no trim could return.  So records live in slabs
 * of their own: SLAB_BYTES mapped at a time, one size class (a multiple of
 * CLASS_STEP) per slab, freed blocks reused, a slab unmapped once empty.
 * A record larger than CLASS_MAX comes from malloc. */
#include "recslab.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"

#define SLAB_BYTES (64 * 1024)
#define CLASS_STEP 64
#define CLASS_MAX 2048
#define N_CLASSES (CLASS_MAX / CLASS_STEP)

typedef struct slab {
    struct slab *next;        /* in its class's list */
    size_t block, used;       /* block size; blocks handed out */
    size_t carved;            /* bytes used from the start, never handed back */
    void *free_list;          /* freed blocks, linked through their first word */
} slab;

static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
static slab *classes[N_CLASSES];

void *vk_recslab_alloc(size_t size, void **owner)
{
    size_t c = (size + CLASS_STEP - 1) / CLASS_STEP - 1, block = (c + 1) * CLASS_STEP;
    *owner = NULL;
    if (size > CLASS_MAX)
        return il_xcalloc(1, size);
    pthread_mutex_lock(&slab_lock);
    slab *s = classes[c];
    while (s && !s->free_list && s->carved + block > SLAB_BYTES)
        s = s->next;
    if (!s) {
        void *m = mmap(NULL, SLAB_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (m == MAP_FAILED) {
            pthread_mutex_unlock(&slab_lock);
            return il_xcalloc(1, size);
        }
        s = m;
        *s = (slab){.next = classes[c], .block = block,
                    .carved = (sizeof *s + CLASS_STEP - 1) / CLASS_STEP * CLASS_STEP};
        classes[c] = s;
    }
    void *b;
    if (s->free_list) {
        b = s->free_list;
        s->free_list = *(void **)b;
    } else {
        b = (char *)s + s->carved;
        s->carved += block;
    }
    s->used++;
    pthread_mutex_unlock(&slab_lock);
    memset(b, 0, block);
    *owner = s;
    return b;
}

void vk_recslab_free(void *b, void *owner)
{
    slab *s = owner;
    if (!s) {
        free(b);
        return;
    }
    pthread_mutex_lock(&slab_lock);
    *(void **)b = s->free_list;
    s->free_list = b;
    bool empty = --s->used == 0;
    if (empty) {
        slab **p = &classes[s->block / CLASS_STEP - 1];
        while (*p != s)
            p = &(*p)->next;
        *p = s->next;
    }
    pthread_mutex_unlock(&slab_lock);
    if (empty)
        munmap(s, SLAB_BYTES);
}
