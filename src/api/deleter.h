/* deleter.h -- the pending-delete retrier (see deleter.c). */
#ifndef IL_API_DELETER_H
#define IL_API_DELETER_H

#include "api.h"

/* Start / stop the background retrier (a->deleter).  Start: 0 or -1. */
int deleter_start(api *a);
void deleter_stop(api *a);
/* Record the intent before relaying a delete, so that a delete the plugin
 * confirms but the database cannot forget (disk full), or that is cut by
 * a crash, is finished by the retrier.  Due after the relay's own
 * deadline.  0, or -1 when the database failed (then do not relay). */
int deleter_intend(api *a, const char *uid, const char *body, size_t len);
/* Why a relayed delete failed, for logs and the caller.  Caller frees. */
char *deleter_reason(const il_http_result *res, int transport_rc);
/* Record a delete the plugin did not confirm (transport_rc != 0: it was
 * not reached; else res is its answer), due for a retry in
 * PendingDeleteRetrySeconds.  0, or -1 when the database failed. */
int deleter_record(api *a, const char *uid, const char *body, size_t len,
                   const il_http_result *res, int transport_rc);

#endif
