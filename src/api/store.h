/* store.h -- interlink's durable state: one row per pod it relayed.
 *
 * A row holds what the server needs to answer without the plugin and to
 * survive a restart: the pod (as created), its job id, its last status and
 * phase.  SQLite in WAL mode with synchronous=FULL: a job id, once returned
 * to a caller, is on disk, so a restarted server never submits a pod twice. */
#ifndef IL_API_STORE_H
#define IL_API_STORE_H

#include <jansson.h>
#include <stdbool.h>

typedef struct store store;

typedef struct store_pod {
    char *uid;
    char *ns;
    char *name;
    char *job_id;             /* "" while its create is in doubt (create.c) */
    char *phase;              /* NULL until a status was seen */
    json_t *pod;              /* the pod as created (new reference) */
    json_t *status;           /* last PodStatus or NULL (new reference) */
    long long created_at;     /* unix seconds */
    char *delete_pending;     /* why the plugin has not confirmed a delete yet, or NULL */
} store_pod;

/* A delete the plugin did not confirm (unreachable, 503): kept until a
 * retry succeeds, across restarts.  body: the caller's /delete body. */
typedef struct store_pending_delete {
    char *uid;
    char *body;
    char *reason;
    long long attempts;
} store_pending_delete;

store *store_open(const char *dir, char *err, size_t errlen);
void store_close(store *st);

/* 1 found, 0 not found, -1 error. */
int store_get(store *st, const char *uid, store_pod *out);
/* The namespace a pod was created in (*ns malloc'd): 1 found, 0 not, -1 error. */
int store_get_namespace(store *st, const char *uid, char **ns);
/* A row as text, without parsing: its pod's UID, stored phase (NULL when
 * none) and JSON (the status, or the pod); valid during the call, in which
 * fn must not call the store. */
typedef void store_row_fn(void *ud, const char *uid, const char *phase, const char *json);
/* The stored phase and status of many pods in one query: fn(ud, uid,
 * phase, status_json) for each known pod of uids[0..n) (status_json NULL
 * when none is stored).  0, or -1 on error. */
int store_each_status(store *st, const char *const *uids, size_t n, store_row_fn *fn,
                      void *ud);
/* Record a pod the plugin accepted.  Returns 0 or -1. */
int store_put_created(store *st, const char *uid, const char *ns, const char *name,
                      const char *job_id, json_t *pod);
/* Update the statuses of known pods in one transaction; unknown UIDs are
 * skipped.  phases[i] belongs to statuses[i]. */
int store_put_statuses(store *st, json_t *const *statuses, const char *const *phases, size_t n);
/* The same with each status as JSON text (stored as given) for uids[i]. */
int store_put_status_texts(store *st, const char *const *uids, const char *const *texts,
                           const char *const *phases, size_t n);
int store_forget_status(store *st, const char *uid);
/* Forget the pod and its pending delete (one transaction).  0 or -1. */
int store_delete(store *st, const char *uid);
/* Record (or update: attempts + 1) a pending delete, due again at next_at
 * (unix seconds).  0 or -1. */
int store_put_pending_delete(store *st, const char *uid, const char *body, size_t len,
                             const char *reason, long long next_at);
/* The pending deletes due at or before due, soonest first.  0 or -1. */
int store_list_pending_deletes(store *st, long long due, store_pending_delete **out, size_t *n);
void store_pending_deletes_free(store_pending_delete *p, size_t n);
/* A row of the pod list, its JSON as stored (text, not parsed). */
typedef struct store_listed {
    char *uid, *ns, *name;
    char *job_id;             /* "" while its create is in doubt */
    char *pod_json;           /* the pod as created, compact JSON */
    long long created_at;     /* unix seconds */
    char *delete_pending;     /* why the plugin has not confirmed a delete yet, or NULL */
} store_listed;

/* Where a listing stopped: the last row of the page before (zeroed: the
 * start).  Rows are ordered by creation time, name and UID, so a pod
 * created during a listing comes on a later page, never twice. */
typedef struct store_list_cursor {
    long long created_at;
    char *name, *uid;         /* NULL at the start; the cursor's own */
} store_list_cursor;

/* The next page of at most limit pods after *cur, oldest first, optionally
 * of one namespace only (NULL = all); *cur moves to its last row.  *n < limit:
 * the last page.  0 or -1 (nothing in *out). */
int store_list_page(store *st, const char *ns, store_list_cursor *cur, size_t limit,
                    store_listed **out, size_t *n);
void store_listed_free(store_listed *rows, size_t n);
void store_list_cursor_free(store_list_cursor *cur);
/* Every pod whose stored phase is not final (none yet, Pending, Running):
 * the ones a status refresh must ask the plugin about.  fn(ud, uid, phase,
 * pod_json) for each, oldest first.  0 or -1. */
int store_each_unfinished(store *st, store_row_fn *fn, void *ud);
long long store_count(store *st);

void store_pod_free(store_pod *p);

#endif
