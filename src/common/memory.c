/* memory.c -- arena bound and the trimmer thread (see memory.h).
 *
 * Measured (bench/bench-memory.sh, docs/performance.md): after /status
 * cycles over 10,000 pods interlink held 70-80 MB with 3 MB in use; the
 * rest was free memory scattered between live blocks, which only
 * malloc_trim gives back (it releases free pages inside the heaps, not just
 * at their top).  Bounding the arenas alone did not lower it: the memory is
 * free, not leaked or cached.
 *
 * The trimmer wakes every IL_TRIM_PERIOD_MS and, when the resident size
 * grew by IL_TRIM_RSS_STEP since its last look (a burst) or IL_TRIM_LOOK_MAX
 * periods went by, asks glibc how much free memory its arenas hold
 * (mallinfo2 walks every free chunk under the arena locks: milliseconds in
 * a fragmented heap, 7 % of interlink-vk's CPU at 10,000 pods when it was
 * done every second) and trims
 * when that exceeds both IL_TRIM_FREE_BYTES and a share of what is in use
 * (1 / IL_TRIM_SLACK_SHARE), so an idle daemon costs one read of
 * /proc/self/statm a second.  Trimming whenever 4 MiB were free made a daemon with a periodic
 * job (interlink-vk's status cycle over 10,000 pods) trim after every
 * cycle and fault the same heap back in during the next: about a fifth of
 * its CPU profile.  Blocks of IL_MMAP_THRESHOLD and more (request and
 * answer bodies of megabytes) are mapped on their own and unmapped when
 * freed, so they neither wait for a trim nor leave holes in the heap; by
 * default glibc raises that threshold to the largest block freed so far,
 * which put every later body of that size into the heap.  That holds only
 * while no free chunk fits: once a burst has left the heap with large free
 * (trimmed, not resident) chunks, glibc serves even a block of megabytes
 * from them, faulting their pages back in, and they stay resident until the
 * next trim.  A daemon that knows when such a block has just been freed (the
 * VK at the end of a status cycle: its 8 MB answer) calls il_memory_hint,
 * and the trimmer looks at once instead of up to IL_TRIM_LOOK_MAX periods
 * later. */
#include "memory.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define IL_ARENA_MAX 2
#define IL_TRIM_PERIOD_MS 1000
#define IL_TRIM_FREE_BYTES (4 * 1024 * 1024)
#define IL_TRIM_SLACK_SHARE 4
#define IL_MMAP_THRESHOLD (256 * 1024)
#define IL_TRIM_RSS_STEP (16 * 1024 * 1024)   /* growth that calls for a look at once */
#define IL_TRIM_LOOK_MAX 2                      /* periods between looks at most */

/* Resident bytes (/proc/self/statm), or 0 when unknown. */
static size_t resident(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, pages = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &pages) != 2)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static pthread_mutex_t hint_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hint_cond = PTHREAD_COND_INITIALIZER;
static bool hinted;

void il_memory_hint(void)
{
    pthread_mutex_lock(&hint_lock);
    hinted = true;
    pthread_cond_signal(&hint_cond);
    pthread_mutex_unlock(&hint_lock);
}

/* One period, or less when il_memory_hint is called; whether it was. */
static bool wait_period(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);   /* hint_cond's clock */
    until.tv_sec += IL_TRIM_PERIOD_MS / 1000;
    until.tv_nsec += (IL_TRIM_PERIOD_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&hint_lock);
    while (!hinted && pthread_cond_timedwait(&hint_cond, &hint_lock, &until) != ETIMEDOUT)
        ;
    bool h = hinted;
    hinted = false;
    pthread_mutex_unlock(&hint_lock);
    return h;
}

static void *trimmer_main(void *arg)
{
    (void)arg;
    size_t last_rss = 0;
    for (int periods_left = IL_TRIM_LOOK_MAX;;) {
        bool hint = wait_period();
        size_t rss = resident();
        if (!hint && rss < last_rss + IL_TRIM_RSS_STEP && --periods_left > 0)
            continue;   /* no burst: mallinfo2 walks every free chunk, under the arena locks */
        /* After a hint the periodic look waits twice as long: hints that
         * come every cycle take its place. */
        periods_left = hint ? 2 * IL_TRIM_LOOK_MAX : IL_TRIM_LOOK_MAX;
        /* fordblks counts free chunks whose pages an earlier trim already
         * returned (madvise, in a thread's arena), so after one large burst
         * this holds at every look: a trim then costs a walk of the free
         * chunks and returns what was freed since. */
        struct mallinfo2 mi = mallinfo2();
        size_t slack = mi.uordblks / IL_TRIM_SLACK_SHARE;
        if (mi.fordblks > IL_TRIM_FREE_BYTES && mi.fordblks > slack) {
            malloc_trim(0);
            rss = resident();
        }
        last_rss = rss;
    }
    return NULL;
}

void il_memory_init(void)
{
    /* Threads beyond the bound share arenas: with a thread per connection,
     * every arena otherwise keeps its own peak. */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, IL_ARENA_MAX);
    if (!getenv("MALLOC_MMAP_THRESHOLD_"))
        mallopt(M_MMAP_THRESHOLD, IL_MMAP_THRESHOLD);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&t, &attr, trimmer_main, NULL) != 0)
        il_warn("no memory trimmer thread: freed memory stays with the process");
    pthread_attr_destroy(&attr);
}
