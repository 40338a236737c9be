/* memory.c -- arena bound and the trimmer thread (see memory.h).
 *
 * Measured (bench/bench-memory.sh, docs/performance.md): after /status
 * cycles over 10,000 pods interlink held 70-80 MB with 3 MB in use; the
 * rest was free memory scattered between live blocks, which only
 * malloc_trim gives back (it releases free pages inside the heaps, not just
 * at their top).  Bounding the arenas alone did not lower it: the memory is
 * free, not leaked or cached.
 *
 * The trimmer wakes every IL_TRIM_PERIOD_MS, asks glibc how much free memory
 * its arenas hold (mallinfo2 walks the free lists: microseconds) and trims
 * when that exceeds IL_TRIM_FREE_BYTES, so an idle daemon costs one cheap
 * check a second and a busy one a trim after each large request. */
#include "memory.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

#define IL_ARENA_MAX 2
#define IL_TRIM_PERIOD_MS 1000
#define IL_TRIM_FREE_BYTES (4 * 1024 * 1024)

static void *trimmer_main(void *arg)
{
    (void)arg;
    const struct timespec period = {IL_TRIM_PERIOD_MS / 1000,
                                    (IL_TRIM_PERIOD_MS % 1000) * 1000000L};
    for (;;) {
        nanosleep(&period, NULL);
        struct mallinfo2 mi = mallinfo2();
        if (mi.fordblks > IL_TRIM_FREE_BYTES)
            malloc_trim(0);
    }
    return NULL;
}

void il_memory_init(void)
{
    /* Threads beyond the bound share arenas: with a thread per connection,
     * every arena otherwise keeps its own peak. */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, IL_ARENA_MAX);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&t, &attr, trimmer_main, NULL) != 0)
        il_warn("no memory trimmer thread: freed memory stays with the process");
    pthread_attr_destroy(&attr);
}
