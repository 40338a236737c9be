/* store.c -- SQLite persistence of interlink's pods (see store.h).
 *
 * One connection, serialized by a mutex: the server's writes are small and
 * batched per request, so a single writer is simpler and no slower than a
 * pool contending on SQLite's own write lock.  Creates from concurrent
 * requests are batched too (store_put_created: a group commit). */
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* A created pod waiting for the commit that makes it durable. */
typedef struct put_wait {
    const char *uid, *ns, *name, *job_id, *pod_text;
    long long now;
    int rc;
    bool done;
    struct put_wait *next;
} put_wait;

struct store {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *get_statuses;   /* kept prepared: every /status runs it */
    pthread_mutex_t put_mu;       /* the creates below */
    pthread_cond_t put_done;
    put_wait *puts;               /* waiting for a commit, newest first */
    bool committing;
};

static const char *schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS pods("
    "  uid TEXT PRIMARY KEY,"
    "  namespace TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  job_id TEXT NOT NULL,"
    "  pod_json TEXT NOT NULL,"
    "  status_json TEXT,"
    "  phase TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS pods_by_ns ON pods(namespace, created_at);"
    /* What a /status reads of every pod it is asked about, in UID order
     * (store_each_status): a few hundred bytes an entry, where the table's
     * rows carry whole pods: 10,000 statuses read from this index are about
     * 1,000 pages; from the table they were a random walk over 5,000. */
    "CREATE INDEX IF NOT EXISTS pods_status ON pods(uid, phase, status_json);"
    /* A delete the plugin did not confirm: retried until it does (deleter.c). */
    "CREATE TABLE IF NOT EXISTS pending_deletes("
    "  uid TEXT PRIMARY KEY,"
    "  body TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  next_at INTEGER NOT NULL);";

store *store_open(const char *dir, char *err, size_t errlen)
{
    if (il_mkdir_p(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create DataRootFolder %s: %m", dir);
        return NULL;
    }
    char *path = il_xasprintf("%s/interlink.db", dir);
    store *st = il_xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->put_mu, NULL);
    pthread_cond_init(&st->put_done, NULL);
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_FULLMUTEX, NULL);
    char *sqlerr = NULL;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(st->db, 5000);
        rc = sqlite3_exec(st->db, schema, NULL, NULL, &sqlerr);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open state database %s: %s", path,
                 sqlerr ? sqlerr : sqlite3_errmsg(st->db));
        sqlite3_free(sqlerr);
        sqlite3_close(st->db);
        pthread_mutex_destroy(&st->mu);
        pthread_mutex_destroy(&st->put_mu);
        pthread_cond_destroy(&st->put_done);
        free(st);
        free(path);
        return NULL;
    }
    il_info("state database %s (%lld pods)", path, store_count(st));
    free(path);
    return st;
}

void store_close(store *st)
{
    if (!st)
        return;
    sqlite3_finalize(st->get_statuses);
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->put_mu);
    pthread_cond_destroy(&st->put_done);
    free(st);
}

/* ---- helpers ------------------------------------------------------------- */

static sqlite3_stmt *prepare(store *st, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        il_error("sqlite: %s: %s", sqlite3_errmsg(st->db), sql);
        return NULL;
    }
    return stmt;
}

static char *column_text(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return text ? il_xstrdup((const char *)text) : NULL;
}

static json_t *column_json(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
}

#define POD_COLUMNS "uid, namespace, name, job_id, phase, pod_json, status_json, created_at," \
    " (SELECT reason FROM pending_deletes d WHERE d.uid = pods.uid)"

static void row_to_pod(sqlite3_stmt *stmt, store_pod *out)
{
    out->uid = column_text(stmt, 0);
    out->ns = column_text(stmt, 1);
    out->name = column_text(stmt, 2);
    out->job_id = column_text(stmt, 3);
    out->phase = column_text(stmt, 4);
    out->pod = column_json(stmt, 5);
    out->status = column_json(stmt, 6);
    out->created_at = sqlite3_column_int64(stmt, 7);
    out->delete_pending = column_text(stmt, 8);
}

/* Run a prepared statement to completion; 0 or -1. */
static int step_done(store *st, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        il_error("sqlite: %s", sqlite3_errmsg(st->db));
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- queries ----------------------------------------------------------------- */

int store_get(store *st, const char *uid, store_pod *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *stmt = prepare(st, "SELECT " POD_COLUMNS " FROM pods WHERE uid = ?");
    int found = -1;
    if (stmt) {
        sqlite3_bind_text(stmt, 1, uid, -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
        if (found == 1)
            row_to_pod(stmt, out);
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->mu);
    return found;
}

int store_get_namespace(store *st, const char *uid, char **ns)
{
    *ns = NULL;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *stmt = prepare(st, "SELECT namespace FROM pods WHERE uid = ?");
    int found = -1;
    if (stmt) {
        sqlite3_bind_text(stmt, 1, uid, -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
        if (found == 1)
            *ns = column_text(stmt, 0);
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->mu);
    return found;
}

/* Step stmt to its end, passing each row's first three columns as text to
 * fn.  0, or -1 on error. */
static int each_row(store *st, sqlite3_stmt *stmt, store_row_fn *fn, void *ud)
{
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
        fn(ud, (const char *)sqlite3_column_text(stmt, 0),
           (const char *)sqlite3_column_text(stmt, 1), (const char *)sqlite3_column_text(stmt, 2));
    if (step == SQLITE_DONE)
        return 0;
    il_error("sqlite: %s", sqlite3_errmsg(st->db));
    return -1;
}

int store_each_status(store *st, const char *const *uids, size_t n, store_row_fn *fn,
                      void *ud)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(uids[i]));
    char *uid_list = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    int rc = -1;
    pthread_mutex_lock(&st->mu);
    if (!st->get_statuses)
        st->get_statuses = prepare(st, "SELECT uid, phase, status_json FROM pods"
                                       " INDEXED BY pods_status"
                                       " WHERE uid IN (SELECT value FROM json_each(?))");
    sqlite3_stmt *stmt = st->get_statuses;
    if (stmt && uid_list) {
        sqlite3_bind_text(stmt, 1, uid_list, -1, SQLITE_STATIC);
        rc = each_row(st, stmt, fn, ud);
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);   /* uid_list is freed below */
    }
    pthread_mutex_unlock(&st->mu);
    free(uid_list);
    return rc;
}

/* Every create of batch (oldest first) in one transaction: all durable
 * with one commit, or none. */
static int commit_puts(store *st, put_wait *batch)
{
    pthread_mutex_lock(&st->mu);
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_stmt *stmt = rc == 0 ? prepare(st,
        "INSERT OR REPLACE INTO pods(uid, namespace, name, job_id, pod_json, created_at,"
        " updated_at) VALUES(?, ?, ?, ?, ?, ?, ?)") : NULL;
    for (put_wait *w = batch; stmt && rc == 0 && w; w = w->next) {
        sqlite3_bind_text(stmt, 1, w->uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, w->ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, w->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, w->job_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, w->pod_text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 6, w->now);
        sqlite3_bind_int64(stmt, 7, w->now);
        if (sqlite3_step(stmt) != SQLITE_DONE) {
            il_error("sqlite: %s", sqlite3_errmsg(st->db));
            rc = -1;
        }
        sqlite3_reset(stmt);
    }
    if (!stmt)
        rc = -1;
    sqlite3_finalize(stmt);
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        il_error("sqlite: commit: %s", sqlite3_errmsg(st->db));
        rc = -1;
    }
    if (rc != 0)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* A group commit: a commit waits for the disk (synchronous=FULL: one
 * fsync, milliseconds), and creates arriving together would each wait for
 * all the commits before theirs.  So a create joins the queue; whichever
 * create finds no commit running takes the whole queue into one
 * transaction, and the others wait for its result, which is theirs: 0
 * only once their row is durable. */
int store_put_created(store *st, const char *uid, const char *ns, const char *name,
                      const char *job_id, json_t *pod)
{
    char *pod_text = json_dumps(pod, JSON_COMPACT);
    if (!pod_text)
        return -1;
    put_wait me = {.uid = uid, .ns = ns, .name = name, .job_id = job_id,
                   .pod_text = pod_text, .now = (long long)time(NULL), .rc = -1};
    pthread_mutex_lock(&st->put_mu);
    me.next = st->puts;
    st->puts = &me;
    while (!me.done) {
        if (st->committing) {
            pthread_cond_wait(&st->put_done, &st->put_mu);
            continue;
        }
        put_wait *batch = NULL;   /* the queue, oldest first */
        while (st->puts) {
            put_wait *w = st->puts;
            st->puts = w->next;
            w->next = batch;
            batch = w;
        }
        st->committing = true;
        pthread_mutex_unlock(&st->put_mu);
        int rc = commit_puts(st, batch);
        pthread_mutex_lock(&st->put_mu);
        /* each waiter returns only after taking put_mu: batch stays valid */
        for (put_wait *w = batch; w; w = w->next) {
            w->rc = rc;
            w->done = true;
        }
        st->committing = false;
        pthread_cond_broadcast(&st->put_done);
    }
    pthread_mutex_unlock(&st->put_mu);
    free(pod_text);
    return me.rc;
}

static int update_one_status(store *st, sqlite3_stmt *stmt, const char *uid, const char *text,
                             const char *phase, long long now)
{
    if (!uid || !text)
        return 0;
    sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, phase, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, now);
    sqlite3_bind_text(stmt, 4, uid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        il_error("sqlite: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

int store_put_status_texts(store *st, const char *const *uids, const char *const *texts,
                           const char *const *phases, size_t n)
{
    if (n == 0)
        return 0;
    long long now = (long long)time(NULL);
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *stmt = prepare(st,
        "UPDATE pods SET status_json = ?, phase = ?, updated_at = ? WHERE uid = ?");
    for (size_t i = 0; stmt && i < n && rc == 0; i++)
        rc = update_one_status(st, stmt, uids[i], texts[i], phases[i], now);
    if (stmt)
        sqlite3_finalize(stmt);
    else
        rc = -1;
    sqlite3_exec(st->db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_put_statuses(store *st, json_t *const *statuses, const char *const *phases, size_t n)
{
    const char **uids = il_xcalloc(n + 1, sizeof(*uids));
    char **texts = il_xcalloc(n + 1, sizeof(*texts));
    for (size_t i = 0; i < n; i++) {
        uids[i] = json_string_value(json_object_get(statuses[i], "UID"));
        texts[i] = json_dumps(statuses[i], JSON_COMPACT);
    }
    int rc = store_put_status_texts(st, uids, (const char *const *)texts, phases, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(uids);
    return rc;
}

static int exec_uid(store *st, const char *sql, const char *uid)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *stmt = prepare(st, sql);
    int rc = -1;
    if (stmt) {
        sqlite3_bind_text(stmt, 1, uid, -1, SQLITE_STATIC);
        rc = step_done(st, stmt);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_forget_status(store *st, const char *uid)
{
    return exec_uid(st, "UPDATE pods SET status_json = NULL, phase = NULL WHERE uid = ?", uid);
}

/* The pod and its pending delete in one transaction: a confirmed delete
 * leaves neither, a failed one (disk full) both. */
int store_delete(store *st, const char *uid)
{
    const char *sqls[] = {"DELETE FROM pods WHERE uid = ?",
                          "DELETE FROM pending_deletes WHERE uid = ?"};
    pthread_mutex_lock(&st->mu);
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        sqlite3_stmt *stmt = prepare(st, sqls[i]);
        if (!stmt) {
            rc = -1;
            break;
        }
        sqlite3_bind_text(stmt, 1, uid, -1, SQLITE_STATIC);
        rc = step_done(st, stmt);
    }
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        il_error("sqlite: commit: %s", sqlite3_errmsg(st->db));
        rc = -1;
    }
    if (rc != 0)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* ---- pending deletes ------------------------------------------------------- */

int store_put_pending_delete(store *st, const char *uid, const char *body, size_t len,
                             const char *reason, long long next_at)
{
    long long now = (long long)time(NULL);
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *stmt = prepare(st,
        "INSERT INTO pending_deletes(uid, body, reason, attempts, created_at, next_at)"
        " VALUES(?1, ?2, ?3, 1, ?4, ?5) ON CONFLICT(uid) DO UPDATE SET"
        " body = excluded.body, reason = excluded.reason, attempts = attempts + 1,"
        " next_at = excluded.next_at");
    int rc = -1;
    if (stmt) {
        sqlite3_bind_text(stmt, 1, uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, body, (int)len, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, now);
        sqlite3_bind_int64(stmt, 5, next_at);
        rc = step_done(st, stmt);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int store_list_pending_deletes(store *st, long long due, store_pending_delete **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *stmt = prepare(st, "SELECT uid, body, reason, attempts FROM pending_deletes"
                                     " WHERE next_at <= ? ORDER BY next_at");
    int rc = stmt ? 0 : -1;
    size_t cap = 0;
    if (stmt)
        sqlite3_bind_int64(stmt, 1, due);
    while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = il_xrealloc(*out, cap * sizeof(**out));
        }
        store_pending_delete *p = &(*out)[(*n)++];
        p->uid = column_text(stmt, 0);
        p->body = column_text(stmt, 1);
        p->reason = column_text(stmt, 2);
        p->attempts = sqlite3_column_int64(stmt, 3);
    }
    if (stmt)
        sqlite3_finalize(stmt);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void store_pending_deletes_free(store_pending_delete *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].uid);
        free(p[i].body);
        free(p[i].reason);
    }
    free(p);
}

static void row_to_listed(sqlite3_stmt *stmt, store_listed *out)
{
    out->uid = column_text(stmt, 0);
    out->ns = column_text(stmt, 1);
    out->name = column_text(stmt, 2);
    out->job_id = column_text(stmt, 3);
    out->pod_json = column_text(stmt, 4);
    out->created_at = sqlite3_column_int64(stmt, 5);
    out->delete_pending = column_text(stmt, 6);
}

int store_list_page(store *st, const char *ns, store_list_cursor *cur, size_t limit,
                    store_listed **out, size_t *n)
{
    *out = il_xcalloc(limit ? limit : 1, sizeof(**out));
    *n = 0;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *stmt = prepare(st,
        "SELECT uid, namespace, name, job_id, pod_json, created_at,"
        " (SELECT reason FROM pending_deletes d WHERE d.uid = pods.uid) FROM pods"
        " WHERE (?1 IS NULL OR namespace = ?1)"
        " AND (?4 IS NULL OR (created_at, name, uid) > (?3, ?2, ?4))"
        " ORDER BY created_at, name, uid LIMIT ?5");
    int step = SQLITE_DONE;
    if (stmt) {
        sqlite3_bind_text(stmt, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, cur->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, cur->created_at);
        sqlite3_bind_text(stmt, 4, cur->uid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)limit);
        while (*n < limit && (step = sqlite3_step(stmt)) == SQLITE_ROW)
            row_to_listed(stmt, &(*out)[(*n)++]);
        if (step != SQLITE_DONE && step != SQLITE_ROW)
            il_error("sqlite: %s", sqlite3_errmsg(st->db));
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->mu);
    if (!stmt || (step != SQLITE_DONE && step != SQLITE_ROW)) {
        store_listed_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    if (*n > 0) {
        const store_listed *last = &(*out)[*n - 1];
        store_list_cursor_free(cur);
        *cur = (store_list_cursor){last->created_at, il_xstrdup(last->name),
                                   il_xstrdup(last->uid)};
    }
    return 0;
}

void store_listed_free(store_listed *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].uid);
        free(rows[i].ns);
        free(rows[i].name);
        free(rows[i].job_id);
        free(rows[i].pod_json);
        free(rows[i].delete_pending);
    }
    free(rows);
}

void store_list_cursor_free(store_list_cursor *cur)
{
    free(cur->name);
    free(cur->uid);
    *cur = (store_list_cursor){0};
}

int store_each_unfinished(store *st, store_row_fn *fn, void *ud)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *stmt = prepare(st, "SELECT uid, phase, pod_json FROM pods WHERE phase IS NULL"
                                     " OR phase NOT IN ('Succeeded', 'Failed')"
                                     " ORDER BY created_at, name");
    int rc = stmt ? each_row(st, stmt, fn, ud) : -1;
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

long long store_count(store *st)
{
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *stmt = prepare(st, "SELECT count(*) FROM pods");
    long long count = 0;
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW)
        count = sqlite3_column_int64(stmt, 0);
    if (stmt)
        sqlite3_finalize(stmt);
    pthread_mutex_unlock(&st->mu);
    return count;
}

void store_pod_free(store_pod *p)
{
    free(p->uid);
    free(p->ns);
    free(p->name);
    free(p->job_id);
    free(p->phase);
    json_decref(p->pod);
    json_decref(p->status);
    free(p->delete_pending);
    memset(p, 0, sizeof(*p));
}

