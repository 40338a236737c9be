/* watch.h -- GET /watch: telling status watchers (a virtual kubelet) that
 * pod statuses changed.
 *
 * Our extension; upstream clients never call it.  Every stored status
 * change (batchstatus.c) is recorded in a bounded journal under a generation
 * number; a watcher asks for the changes after the generation it last saw
 * and is answered at once, or when the next change comes, or at its
 * timeout.  While somebody watches, the refresher (refresher.c) asks the
 * plugin for the statuses of every unfinished pod, so changes are found
 * without anyone polling. */
#ifndef IL_API_WATCH_H
#define IL_API_WATCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct watch_hub watch_hub;

/* Changes kept for watchers; one further behind must resync. */
#define WATCH_JOURNAL_SIZE 4096
/* Longest timeoutSeconds a watcher may ask for. */
#define WATCH_MAX_TIMEOUT_S 300
/* timeoutSeconds when the caller gives none. */
#define WATCH_DEFAULT_TIMEOUT_S 30

watch_hub *watch_hub_new(int64_t max_watchers);
/* After watch_stop and il_httpd_stop (no reader may still hold it). */
void watch_hub_free(watch_hub *h);

/* Record that pods[i] (its UID, namespace and name, NULL when the pod did
 * not give one) now has phase pods[i].phase; wakes every waiting watcher.
 * Called after the statuses were stored. */
typedef struct watch_pod {
    const char *uid, *ns, *name, *phase;
} watch_pod;
void watch_record_pods(watch_hub *h, const watch_pod *pods, size_t n);

/* For the refresher: wait period_ms (less when stopping), then whether
 * somebody watches now or did within the last few seconds: 1 or 0; -1 once
 * watch_stop was called. */
int watch_wait_for_watchers(watch_hub *h, int64_t period_ms);
/* Count one refresh in /metrics. */
void watch_count_refresh(watch_hub *h);

/* Before il_httpd_stop: waiting watchers are answered at once, and
 * watch_wait_for_watchers returns -1 from now on. */
void watch_stop(watch_hub *h);

#endif
