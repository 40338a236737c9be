/* deleter.h -- the pending-delete retrier (see deleter.c). */
#ifndef IL_API_DELETER_H
#define IL_API_DELETER_H

#include "api.h"

/* Start / stop the background retrier (a->deleter).  Start: 0 or -1. */
int deleter_start(api *a);
void deleter_stop(api *a);
/* What a plugin's answer to a delete means.  Nothing is ever dropped: a
 * delete interlink forgot would leave the pod's work running. */
typedef enum deleter_outcome {
    DELETER_CONFIRMED,   /* 200: the backend confirmed the pod's work gone */
    DELETER_GONE,        /* 404, 410: the plugin does not know the pod (a repeat of a
                          * delete it already did): nothing is left, it is done */
    DELETER_TRANSIENT,   /* unreachable, 5xx, an unexpected answer, or a refusal a later
                          * try can cure: 401/403 (a token rotated on one side only),
                          * 408, 409, 423, 425, 429; retried every PendingDeleteRetrySeconds */
    DELETER_REFUSED,     /* any other 4xx (400, 405, 413, 422, ...): the plugin refuses
                          * the request as it is; retried with a growing delay (a fixed
                          * or upgraded plugin takes it), and said loudly */
} deleter_outcome;
deleter_outcome deleter_judge(const il_http_result *res, int transport_rc);
/* deleter_judge, but a 404/410 counts as DELETER_GONE only when the
 * plugin's /status for the delete's pod agrees that it does not know it
 * (a wrong SidecarURL or a proxy answers 404 to every path: forgetting the
 * delete then would orphan the pod); else DELETER_TRANSIENT. */
deleter_outcome deleter_verdict(api *a, const char *body, size_t len, const il_http_result *res,
                                int transport_rc);
/* Record the intent before relaying a delete, so that a delete the plugin
 * confirms but the database cannot forget (disk full), or that is cut by
 * a crash, is finished by the retrier.  Due after the relay's own
 * deadline.  0, or -1 when the database failed (then do not relay). */
int deleter_intend(api *a, const char *uid, const char *body, size_t len);
/* Why a relayed delete failed, for logs and the caller.  Caller frees. */
char *deleter_reason(const il_http_result *res, int transport_rc);
/* Record a delete the plugin did not confirm (transport_rc != 0: it was
 * not reached; else res is its answer), due for a retry in
 * PendingDeleteRetrySeconds, or later for the attempts-th refusal
 * (DELETER_REFUSED).  0, or -1 when the database failed. */
int deleter_record(api *a, const char *uid, const char *body, size_t len,
                   const il_http_result *res, int transport_rc, long long attempts);

#endif
