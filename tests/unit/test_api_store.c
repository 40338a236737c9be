/* test_api_store.c -- interlink's SQLite state (src/api/store.c) on its
 * own: every call against a real database in a temporary directory, rows
 * surviving a close and reopen, what an unusable or read-only directory
 * or a corrupt database file gives, and writers on several threads at
 * once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "store.h"
#include "tmptree.h"
#include "util.h"

#define UID_A "aaaaaaaa-0000-4000-8000-000000000001"
#define UID_B "bbbbbbbb-0000-4000-8000-000000000002"
#define UID_C "cccccccc-0000-4000-8000-000000000003"
#define UID_X "dddddddd-0000-4000-8000-00000000dead"

typedef struct fixture {
    char dir[TMPTREE_MAX];
    store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = il_xcalloc(1, sizeof(*f));
    if (tmptree_make(f->dir, "store") != 0)
        return -1;
    char err[512] = "";
    f->st = store_open(f->dir, err, sizeof(err));
    if (!f->st) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    tmptree_remove(f->dir);
    free(f);
    return 0;
}

/* Run sql on the store's database through a second connection of our
 * own (what an operator's sqlite3 shell would do). */
static void db_exec(const char *dir, const char *sql)
{
    char *path = il_xasprintf("%s/interlink.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
    free(path);
}

static json_t *pod_json(const char *uid, const char *ns, const char *name)
{
    return json_pack("{s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s}]}}", "metadata", "uid", uid,
                     "namespace", ns, "name", name, "spec", "containers", "name", "c",
                     "image", "busybox");
}

static void put(store *st, const char *uid, const char *ns, const char *name, const char *job)
{
    json_t *pod = pod_json(uid, ns, name);
    assert_int_equal(store_put_created(st, uid, ns, name, job, pod), 0);
    json_decref(pod);
}

static json_t *status_json(const char *uid, const char *phase)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s}}", "UID", uid, "name", "n", "namespace", "ns",
                     "status", "phase", phase);
}

static void test_put_get(void **state)
{
    fixture *f = *state;
    put(f->st, UID_A, "ns1", "alpha", "job-1");
    store_pod p;
    assert_int_equal(store_get(f->st, UID_A, &p), 1);
    assert_string_equal(p.uid, UID_A);
    assert_string_equal(p.ns, "ns1");
    assert_string_equal(p.name, "alpha");
    assert_string_equal(p.job_id, "job-1");
    assert_null(p.phase);
    assert_null(p.status);
    json_t *want = pod_json(UID_A, "ns1", "alpha");
    assert_true(json_equal(p.pod, want));
    json_decref(want);
    long long now = (long long)time(NULL);
    assert_true(p.created_at <= now && p.created_at >= now - 5);
    store_pod_free(&p);

    assert_int_equal(store_get(f->st, UID_X, &p), 0);
    assert_null(p.uid);
    assert_int_equal(store_count(f->st), 1);

    /* A second create of the same UID replaces the row (the new job id). */
    put(f->st, UID_A, "ns1", "alpha", "job-2");
    assert_int_equal(store_get(f->st, UID_A, &p), 1);
    assert_string_equal(p.job_id, "job-2");
    store_pod_free(&p);
    assert_int_equal(store_count(f->st), 1);
}

static void test_statuses(void **state)
{
    fixture *f = *state;
    put(f->st, UID_A, "ns1", "alpha", "1");
    put(f->st, UID_B, "ns1", "beta", "2");

    /* Unknown UIDs are skipped; a status without a UID too. */
    json_t *sts[4] = {status_json(UID_A, "Running"), status_json(UID_X, "Failed"),
                      status_json(UID_B, "Succeeded"), json_pack("{s:s}", "name", "nouid")};
    const char *phases[4] = {"Running", "Failed", "Succeeded", "Pending"};
    assert_int_equal(store_put_statuses(f->st, sts, phases, 4), 0);
    assert_int_equal(store_count(f->st), 2);   /* nothing inserted */
    assert_int_equal(store_put_statuses(f->st, sts, phases, 0), 0);

    store_pod p;
    assert_int_equal(store_get(f->st, UID_A, &p), 1);
    assert_string_equal(p.phase, "Running");
    assert_true(json_equal(p.status, sts[0]));
    store_pod_free(&p);
    assert_int_equal(store_get(f->st, UID_B, &p), 1);
    assert_string_equal(p.phase, "Succeeded");
    assert_true(json_equal(p.status, sts[2]));
    store_pod_free(&p);

    /* Forgetting a status leaves the row with a null phase and status. */
    assert_int_equal(store_forget_status(f->st, UID_A), 0);
    assert_int_equal(store_get(f->st, UID_A, &p), 1);
    assert_null(p.phase);
    assert_null(p.status);
    assert_string_equal(p.job_id, "1");
    store_pod_free(&p);
    for (int i = 0; i < 4; i++)
        json_decref(sts[i]);
}

typedef struct seen_rows {
    int n;
    char uid[4][64], phase[4][32], text[4][2048];
    bool null_phase[4], null_text[4];
} seen_rows;

static void collect_row(void *ud, const char *uid, const char *phase, const char *text)
{
    seen_rows *r = ud;
    assert_true(r->n < 4);
    snprintf(r->uid[r->n], sizeof r->uid[0], "%s", uid);
    snprintf(r->phase[r->n], sizeof r->phase[0], "%s", phase ? phase : "");
    snprintf(r->text[r->n], sizeof r->text[0], "%s", text ? text : "");
    r->null_phase[r->n] = !phase;
    r->null_text[r->n] = !text;
    r->n++;
}

/* Statuses as text: stored as given, read back without parsing; unknown
 * UIDs are skipped on both ways; a forgotten status reads as NULLs. */
static void test_status_texts(void **state)
{
    fixture *f = *state;
    put(f->st, UID_A, "ns1", "alpha", "1");
    put(f->st, UID_B, "ns1", "beta", "2");
    const char *uids[3] = {UID_A, UID_X, UID_B};
    const char *texts[3] = {"{\"UID\":\"" UID_A "\",\"x\":1}", "{}", "{\"UID\":\"b\"}"};
    const char *phases[3] = {"Running", "Failed", "Succeeded"};
    assert_int_equal(store_put_status_texts(f->st, uids, texts, phases, 3), 0);
    assert_int_equal(store_count(f->st), 2);

    seen_rows r = {0};
    assert_int_equal(store_each_status(f->st, uids, 3, collect_row, &r), 0);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < 2; i++) {
        bool a = strcmp(r.uid[i], UID_A) == 0;
        assert_true(a || strcmp(r.uid[i], UID_B) == 0);
        assert_string_equal(r.phase[i], a ? "Running" : "Succeeded");
        assert_string_equal(r.text[i], a ? texts[0] : texts[2]);
    }

    assert_int_equal(store_forget_status(f->st, UID_A), 0);
    r = (seen_rows){0};
    assert_int_equal(store_each_status(f->st, uids, 1, collect_row, &r), 0);
    assert_int_equal(r.n, 1);
    assert_true(r.null_phase[0] && r.null_text[0]);

    r = (seen_rows){0};
    assert_int_equal(store_each_status(f->st, uids, 0, collect_row, &r), 0);
    assert_int_equal(r.n, 0);
}

/* One transaction: a failing update in the middle rolls back the ones
 * before it.  A NULL phase violates nothing, so the failure is made by a
 * trigger refusing one UID. */
static void test_statuses_one_transaction(void **state)
{
    fixture *f = *state;
    put(f->st, UID_A, "ns1", "alpha", "1");
    put(f->st, UID_B, "ns1", "beta", "2");
    db_exec(f->dir, "CREATE TRIGGER refuse BEFORE UPDATE ON pods WHEN new.uid = '" UID_B
                    "' BEGIN SELECT RAISE(ABORT, 'refused'); END");
    json_t *sts[2] = {status_json(UID_A, "Running"), status_json(UID_B, "Running")};
    const char *phases[2] = {"Running", "Running"};
    assert_int_equal(store_put_statuses(f->st, sts, phases, 2), -1);
    store_pod p;
    assert_int_equal(store_get(f->st, UID_A, &p), 1);
    assert_null(p.phase);   /* A's update was rolled back with B's */
    store_pod_free(&p);
    /* And the connection is usable afterwards (no transaction left open). */
    assert_int_equal(store_put_statuses(f->st, sts, phases, 1), 0);
    assert_int_equal(store_get(f->st, UID_A, &p), 1);
    assert_string_equal(p.phase, "Running");
    store_pod_free(&p);
    json_decref(sts[0]);
    json_decref(sts[1]);
}

static void test_delete(void **state)
{
    fixture *f = *state;
    put(f->st, UID_A, "ns1", "alpha", "1");
    put(f->st, UID_B, "ns1", "beta", "2");
    assert_int_equal(store_delete(f->st, UID_A), 0);
    assert_int_equal(store_delete(f->st, UID_X), 0);   /* unknown: nothing to do */
    store_pod p;
    assert_int_equal(store_get(f->st, UID_A, &p), 0);
    assert_int_equal(store_get(f->st, UID_B, &p), 1);
    store_pod_free(&p);
    assert_int_equal(store_count(f->st), 1);
}

/* Rows created in one second are ordered by name; older seconds first. */
static void test_list(void **state)
{
    fixture *f = *state;
    put(f->st, UID_C, "ns2", "gamma", "3");
    put(f->st, UID_B, "ns1", "beta", "2");
    put(f->st, UID_A, "ns1", "alpha", "1");
    db_exec(f->dir, "UPDATE pods SET created_at = created_at - 100 WHERE uid = '" UID_C "'");

    store_list_cursor cur = {0};
    store_listed *pods;
    size_t n;
    assert_int_equal(store_list_page(f->st, NULL, &cur, 10, &pods, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(pods[0].name, "gamma");   /* oldest first */
    assert_string_equal(pods[1].name, "alpha");
    assert_string_equal(pods[2].name, "beta");
    store_listed_free(pods, n);
    store_list_cursor_free(&cur);

    assert_int_equal(store_list_page(f->st, "ns1", &cur, 10, &pods, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(pods[0].name, "alpha");
    assert_string_equal(pods[1].name, "beta");
    assert_string_equal(pods[1].job_id, "2");
    assert_non_null(strstr(pods[1].pod_json, UID_B));
    assert_null(pods[1].delete_pending);
    store_listed_free(pods, n);
    store_list_cursor_free(&cur);

    assert_int_equal(store_list_page(f->st, "nowhere", &cur, 10, &pods, &n), 0);
    assert_int_equal(n, 0);
    store_listed_free(pods, n);
    store_list_cursor_free(&cur);
}

/* Pages of two continue where the last stopped, through rows of one
 * second and one name; a row created meanwhile comes last, once. */
static void test_list_pages(void **state)
{
    fixture *f = *state;
    put(f->st, UID_B, "ns1", "same", "2");
    put(f->st, UID_A, "ns1", "same", "1");
    put(f->st, UID_C, "ns1", "other", "3");
    db_exec(f->dir, "UPDATE pods SET created_at = 1000");
    store_list_cursor cur = {0};
    store_listed *pods;
    size_t n;
    assert_int_equal(store_list_page(f->st, NULL, &cur, 2, &pods, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(pods[0].uid, UID_C);   /* "other" < "same" */
    assert_string_equal(pods[1].uid, UID_A);   /* then by UID */
    store_listed_free(pods, n);

    put(f->st, UID_X, "ns1", "aaa", "4");      /* now: after every row above */
    assert_int_equal(store_list_page(f->st, NULL, &cur, 2, &pods, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(pods[0].uid, UID_B);
    assert_string_equal(pods[1].uid, UID_X);
    store_listed_free(pods, n);
    assert_int_equal(store_list_page(f->st, NULL, &cur, 2, &pods, &n), 0);
    assert_int_equal(n, 0);
    store_listed_free(pods, n);
    store_list_cursor_free(&cur);
}

static void test_list_unfinished(void **state)
{
    fixture *f = *state;
    static const char *uids[] = {UID_A, UID_B, UID_C, UID_X,
                                 "eeeeeeee-0000-4000-8000-000000000005"};
    static const char *names[] = {"a-none", "b-pending", "c-running", "d-succeeded", "e-failed"};
    static const char *phases[] = {NULL, "Pending", "Running", "Succeeded", "Failed"};
    for (int i = 0; i < 5; i++)
        put(f->st, uids[i], "ns", names[i], "j");
    json_t *sts[4];
    for (int i = 1; i < 5; i++)
        sts[i - 1] = status_json(uids[i], phases[i]);
    assert_int_equal(store_put_statuses(f->st, sts, phases + 1, 4), 0);
    seen_rows r = {0};
    assert_int_equal(store_each_unfinished(f->st, collect_row, &r), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.uid[0], UID_A);
    assert_true(r.null_phase[0]);
    assert_string_equal(r.uid[1], UID_B);
    assert_string_equal(r.phase[1], "Pending");
    assert_string_equal(r.uid[2], UID_C);
    assert_string_equal(r.phase[2], "Running");
    json_t *pod = json_loads(r.text[2], 0, NULL);   /* the pod as created */
    assert_string_equal(json_string_value(json_object_get(json_object_get(pod, "metadata"),
                                                          "name")), "c-running");
    json_decref(pod);
    for (int i = 0; i < 4; i++)
        json_decref(sts[i]);
}

/* The journal mode a second connection sees (WAL is persistent, kept in
 * the database file). */
static void assert_wal(const char *dir)
{
    char *path = il_xasprintf("%s/interlink.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    free(path);
}

/* Everything acknowledged is on disk: a reopened store has it all. */
static void test_reopen_keeps_rows(void **state)
{
    fixture *f = *state;
    assert_wal(f->dir);
    put(f->st, UID_A, "ns1", "alpha", "1");
    put(f->st, UID_B, "ns1", "beta", "2");
    json_t *st = status_json(UID_B, "Succeeded");
    const char *phase = "Succeeded";
    assert_int_equal(store_put_statuses(f->st, &st, &phase, 1), 0);
    assert_int_equal(store_delete(f->st, UID_A), 0);
    store_close(f->st);

    char err[512] = "";
    f->st = store_open(f->dir, err, sizeof(err));
    assert_non_null(f->st);
    assert_int_equal(store_count(f->st), 1);
    store_pod p;
    assert_int_equal(store_get(f->st, UID_A, &p), 0);
    assert_int_equal(store_get(f->st, UID_B, &p), 1);
    assert_string_equal(p.job_id, "2");
    assert_string_equal(p.phase, "Succeeded");
    assert_true(json_equal(p.status, st));
    store_pod_free(&p);
    json_decref(st);
}

static void test_open_errors(void **state)
{
    fixture *f = *state;
    char err[512] = "";

    /* The directory is a file (il_mkdir_p takes EEXIST as success, so it
     * is SQLite that refuses, naming the database path). */
    char *file = il_xasprintf("%s/plain", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    bool opened = store_open(file, err, sizeof(err)) != NULL;
    char *want = il_xasprintf("cannot open state database %s/interlink.db: ", file);
    free(file);
    assert_false(opened);
    assert_non_null(strstr(err, want));
    free(want);

    /* The database file is not a database. */
    char *dir = il_xasprintf("%s/corrupt", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    char *db = il_xasprintf("%s/interlink.db", dir);
    fp = fopen(db, "w");
    assert_non_null(fp);
    for (int i = 0; i < 512; i++)
        fputs("this is not an SQLite database ", fp);
    fclose(fp);
    err[0] = '\0';
    assert_null(store_open(dir, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open state database"));
    assert_non_null(strstr(err, db));
    assert_non_null(strstr(err, "not a database"));
    free(db);
    free(dir);

    /* A directory this process cannot write (root ignores modes, so the
     * directory name is made unusable instead: it is under a file). */
    dir = il_xasprintf("%s/corrupt/interlink.db/sub", f->dir);
    err[0] = '\0';
    assert_null(store_open(dir, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot create DataRootFolder"));
    free(dir);
}

/* In a child with a mount namespace of its own, dir made read-only (what
 * a full or read-only-remounted disk looks like; root ignores file
 * modes): whether the store opens, whether a create is accepted.  Exit
 * status: 10 + opened * 2 + put_ok; 1 when the namespace cannot be had. */
static int open_read_only(const char *dir, char *err, size_t errlen)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount(dir, dir, NULL, MS_BIND, NULL) != 0 ||
            mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0)
            _exit(1);
        char msg[512] = "";
        store *st = store_open(dir, msg, sizeof(msg));
        bool put_ok = false;
        if (st) {
            json_t *pod = pod_json(UID_C, "ns", "ro");
            put_ok = store_put_created(st, UID_C, "ns", "ro", "j", pod) == 0;
            json_decref(pod);
            store_close(st);
        }
        if (write(pipefd[1], msg, strlen(msg)) < 0)
            _exit(2);
        _exit(10 + (st ? 2 : 0) + (put_ok ? 1 : 0));
    }
    close(pipefd[1]);
    ssize_t got = read(pipefd[0], err, errlen - 1);
    err[got > 0 ? got : 0] = '\0';
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* A directory that cannot be written: refused at open with a clear error,
 * rather than opened read-only and every create failing later. */
static void test_read_only_directory(void **state)
{
    fixture *f = *state;
    put(f->st, UID_A, "ns1", "alpha", "1");
    store_close(f->st);
    f->st = NULL;
    char err[512];
    int rc = open_read_only(f->dir, err, sizeof(err));
    if (rc == 1)
        skip();   /* no mount namespace here (not root) */
    assert_int_equal(rc, 10);   /* not opened, nothing accepted */
    assert_non_null(strstr(err, "cannot open state database"));
    char err2[512];
    f->st = store_open(f->dir, err2, sizeof(err2));
    assert_non_null(f->st);
    assert_int_equal(store_count(f->st), 1);
}

/* Writers on several threads at once (the server's request threads): no
 * row lost, none doubled. */
#define WRITERS 4
#define PER_WRITER 50

typedef struct writer_arg {
    store *st;
    int id;
    int failures;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    for (int i = 0; i < PER_WRITER; i++) {
        char uid[64], name[32];
        snprintf(uid, sizeof(uid), "%08x-0000-4000-8000-%012x", w->id, i);
        snprintf(name, sizeof(name), "w%d-%03d", w->id, i);
        json_t *pod = pod_json(uid, "ns", name);
        if (store_put_created(w->st, uid, "ns", name, "j", pod) != 0)
            w->failures++;
        json_t *st = status_json(uid, "Running");
        const char *phase = "Running";
        if (store_put_statuses(w->st, &st, &phase, 1) != 0)
            w->failures++;
        if (i % 5 == 0 && store_delete(w->st, uid) != 0)
            w->failures++;
        json_decref(st);
        json_decref(pod);
    }
    return NULL;
}

static void count_running(void *ud, const char *uid, const char *phase, const char *pod_json)
{
    (void)uid;
    assert_non_null(pod_json);
    assert_string_equal(phase, "Running");
    (*(long long *)ud)++;
}

static void test_concurrent_writers(void **state)
{
    long long running = 0;
    fixture *f = *state;
    pthread_t th[WRITERS];
    writer_arg args[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        args[i] = (writer_arg){.st = f->st, .id = i + 1};
        assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    long long want = WRITERS * (PER_WRITER - PER_WRITER / 5);
    assert_int_equal(store_count(f->st), want);
    assert_int_equal(store_each_unfinished(f->st, count_running, &running), 0);
    assert_int_equal(running, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_unfinished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
