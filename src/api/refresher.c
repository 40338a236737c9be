/* refresher.c -- the status refresher thread (see refresher.h).
 *
 * Asks the plugin, through status_refresh_unfinished (batchstatus.c), for
 * every pod whose stored phase is not final; what changed is stored and
 * reaches watchers through the journal (watch.c).  Pods a caller's /status
 * refreshed within the period are left out (recent.c): a virtual kubelet's
 * cycle has just asked about them.  It runs only while somebody watches:
 * without a watcher nobody would hear of the changes, and an upstream VK
 * polls /status itself. */
#include "refresher.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "timeutil.h"
#include "watch.h"

struct refresher {
    api *a;
    pthread_t thread;
};

/* A refresh over many pods is not free (10,000 SLURM pods: about half a
 * second of the plugin's and interlink's time, and a squeue), and a period
 * of 1 s would then spend half the machine on it.  So the wait after a
 * refresh is also at least REFRESH_SPACING times what it took: refreshing
 * gets at most a fifth of the time, and watchers hear of changes a little
 * later at that scale. */
#define REFRESH_SPACING 4

static void *refresh_loop(void *arg)
{
    refresher *r = arg;
    int64_t period_ms = r->a->cfg.status_refresh_s * 1000;
    int64_t wait_ms = period_ms;
    int wanted;
    while ((wanted = watch_wait_for_watchers(r->a->watch, wait_ms)) >= 0) {
        wait_ms = period_ms;
        if (!wanted)
            continue;
        int64_t start_ms = il_monotonic_ms();
        if (status_refresh_unfinished(r->a, period_ms))
            watch_count_refresh(r->a->watch);
        int64_t took_ms = il_monotonic_ms() - start_ms;
        if (took_ms * REFRESH_SPACING > wait_ms)
            wait_ms = took_ms * REFRESH_SPACING;
    }
    return NULL;
}

refresher *refresher_start(api *a, bool *ok)
{
    *ok = true;
    if (a->cfg.status_refresh_s <= 0)
        return NULL;
    refresher *r = il_xcalloc(1, sizeof(*r));
    r->a = a;
    int e = pthread_create(&r->thread, NULL, refresh_loop, r);
    if (e != 0) {
        il_error("cannot start the status refresher: %s", strerror(e));
        free(r);
        *ok = false;
        return NULL;
    }
    return r;
}

void refresher_stop(refresher *r)
{
    if (!r)
        return;
    pthread_join(r->thread, NULL);
    free(r);
}
