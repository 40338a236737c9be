/* refresher.h -- the status refresher: while somebody watches GET /watch,
 * one batched plugin /status for every unfinished pod every
 * StatusRefreshSeconds, so watchers hear of changes nobody polled for. */
#ifndef IL_API_REFRESHER_H
#define IL_API_REFRESHER_H

#include <stdbool.h>

struct api;
typedef struct refresher refresher;

/* Start the thread (a->cfg.status_refresh_s > 0; else NULL, nothing to
 * do).  *ok is false when the thread could not start. */
refresher *refresher_start(struct api *a, bool *ok);
/* After watch_stop (which makes the thread leave its wait): join, free. */
void refresher_stop(refresher *r);

#endif
