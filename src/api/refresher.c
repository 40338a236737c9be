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
#include "watch.h"

struct refresher {
    api *a;
    pthread_t thread;
};

static void *refresh_loop(void *arg)
{
    refresher *r = arg;
    int64_t period_ms = r->a->cfg.status_refresh_s * 1000;
    int wanted;
    while ((wanted = watch_wait_for_watchers(r->a->watch, period_ms)) >= 0)
        if (wanted && status_refresh_unfinished(r->a, period_ms))
            watch_count_refresh(r->a->watch);
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
