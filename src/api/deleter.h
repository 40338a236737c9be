/* deleter.h -- the pending-delete retrier (see deleter.c). */
#ifndef IL_API_DELETER_H
#define IL_API_DELETER_H

#include "api.h"

/* Start / stop the background retrier (a->deleter).  Start: 0 or -1. */
int deleter_start(api *a);
void deleter_stop(api *a);
/* Record a delete the plugin did not confirm (transport_rc != 0: it was
 * not reached; else res is its answer), due for a retry in
 * PendingDeleteRetrySeconds.  0, or -1 when the database failed. */
int deleter_record(api *a, const char *uid, const char *body, size_t len,
                   const il_http_result *res, int transport_rc);

#endif
