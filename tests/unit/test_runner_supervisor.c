/* test_runner_supervisor.c -- the per-pod supervisor (src/runner/
 * supervisor.c) with the host runtime: real bubblewrap sandboxes running
 * /bin/sh one-liners, the supervisor in a forked child as a backend runs
 * it, everything judged from the pod directory it leaves (state.json, log,
 * done) as status and log readers see it.  Init containers in order, a
 * failing one failing the pod, the containers in parallel, the pod's exit
 * code, a stop request honoured within its grace period or enforced after
 * it, and the final states written before the done marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runner.h"
#include "tmptree.h"
#include "timeutil.h"

#define UID "5e0c1b2a-3d4e-4f50-8a1b-2c3d4e5f6a7b"
#define BWRAP "/usr/bin/bwrap"
#define MAX_CTRS 8

typedef struct fixture {
    char pods[TMPTREE_MAX];
    char *pod_dir;
    pid_t sup;                /* the supervisor, 0 once reaped */
    const char *names[MAX_CTRS];   /* every container, init containers first */
    size_t n;
    char *done_snapshot;      /* the state files as they were when done appeared */
} fixture;

static int setup(void **state)
{
    fixture *f = il_xcalloc(1, sizeof(*f));
    if (tmptree_make(f->pods, "supervisor") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->sup > 0) {   /* a failed test: leave nothing running */
        kill(f->sup, SIGKILL);
        waitpid(f->sup, NULL, 0);
    }
    tmptree_remove(f->pods);
    free(f->pod_dir);
    free(f->done_snapshot);
    free(f);
    return 0;
}

/* ---- the pod -------------------------------------------------------------- */

typedef struct ctr_def {
    const char *name;
    const char *script;       /* /bin/sh -c SCRIPT; NULL: no command at all */
} ctr_def;

static json_t *ctr_json(const ctr_def *d)
{
    json_t *c = json_pack("{s:s, s:s}", "name", d->name, "image", "busybox");
    if (d->script)
        json_object_set_new(c, "command", json_pack("[s, s, s]", "/bin/sh", "-c", d->script));
    return c;
}

/* Lay the pod out as /create does (host runtime), then start its
 * supervisor in a child and wait until it is recorded. */
static void start_pod(fixture *f, const ctr_def *inits, const ctr_def *ctrs, int64_t grace)
{
    json_t *init_arr = json_array(), *ctr_arr = json_array();
    for (const ctr_def *d = inits; d && d->name; d++) {
        json_array_append_new(init_arr, ctr_json(d));
        f->names[f->n++] = d->name;
    }
    for (const ctr_def *d = ctrs; d && d->name; d++) {
        json_array_append_new(ctr_arr, ctr_json(d));
        f->names[f->n++] = d->name;
    }
    json_t *body = json_pack("{s:{s:{s:s, s:s, s:s}, s:{s:o, s:o, s:I, s:s}}, s:[]}", "pod",
                             "metadata", "name", "sup", "namespace", "default", "uid", UID,
                             "spec", "initContainers", init_arr, "containers", ctr_arr,
                             "terminationGracePeriodSeconds", (json_int_t)grace,
                             "restartPolicy", "Never", "container");
    il_create_request req;
    char err[512];
    if (il_create_request_parse(body, &req, err, sizeof(err)) != 0)
        fail_msg("request: %s", err);
    json_decref(body);
    runtime_spec rt = {.kind = RUNTIME_HOST, .bwrap_path = il_xstrdup(BWRAP)};
    bool created = false;
    int lock_fd = -1;
    il_buf perr = IL_BUF_INIT;
    if (rn_poddir_create(f->pods, &req, &rt, &created, &lock_fd, &perr) != 0)
        fail_msg("rn_poddir_create: %s", il_buf_cstr(&perr));
    il_buf_free(&perr);
    assert_true(created);
    il_create_request_free(&req);
    rn_runtime_spec_free(&rt);
    f->pod_dir = rn_store_pod_dir(f->pods, UID);

    int ready[2];
    assert_int_equal(pipe(ready), 0);
    fflush(NULL);
    f->sup = fork();
    assert_true(f->sup >= 0);
    if (f->sup == 0) {
        close(ready[0]);
        _exit(rn_supervise(f->pod_dir, ready[1]));
    }
    close(ready[1]);
    if (lock_fd >= 0)
        close(lock_fd);   /* the create lock: held until the supervisor runs, as /create does */
    struct pollfd p = {.fd = ready[0], .events = POLLIN};
    char byte = 0;
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    assert_int_equal(byte, '1');
    close(ready[0]);
}

static char *ctr_dir(const fixture *f, const char *name)
{
    return rn_store_ctr_dir(f->pod_dir, name);
}

/* All the state files' bytes, in container order. */
static char *states_text(const fixture *f)
{
    il_buf all = IL_BUF_INIT;
    for (size_t i = 0; i < f->n; i++) {
        char *dir = ctr_dir(f, f->names[i]);
        char *path = rn_store_path(dir, "state.json");
        FILE *fp = fopen(path, "r");
        char chunk[4096];
        size_t got;
        il_buf_printf(&all, "%s: ", f->names[i]);
        while (fp && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
            il_buf_append(&all, chunk, got);
        il_buf_puts(&all, "\n");
        if (fp)
            fclose(fp);
        free(path);
        free(dir);
    }
    return il_buf_steal(&all);
}

/* Wait for the supervisor to end (at most timeout_ms); returns its exit
 * code.  Meanwhile, the first time `done` is seen, the state files are
 * kept: they must already be the final ones. */
static int wait_pod(fixture *f, int64_t timeout_ms)
{
    int64_t deadline = il_monotonic_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        if (!f->done_snapshot && rn_supervisor_done(f->pod_dir))
            f->done_snapshot = states_text(f);
        pid_t got = waitpid(f->sup, &status, WNOHANG);
        assert_true(got >= 0);
        if (got == f->sup)
            break;
        if (il_monotonic_ms() > deadline)
            fail_msg("the supervisor did not end within %lld ms", (long long)timeout_ms);
        usleep(2000);
    }
    f->sup = 0;
    assert_true(WIFEXITED(status));
    assert_true(rn_supervisor_done(f->pod_dir));
    assert_non_null(f->done_snapshot);
    char *final = states_text(f);
    assert_string_equal(f->done_snapshot, final);
    free(final);
    return WEXITSTATUS(status);
}

static il_container_status state_of(const fixture *f, const char *name)
{
    char *dir = ctr_dir(f, name);
    il_container_status st = {0};
    pid_t pid = -1;
    if (rn_state_read(dir, &st, &pid) != 0)
        fail_msg("no state for %s", name);
    free(dir);
    return st;
}

static void assert_terminated(const fixture *f, const char *name, int exit_code,
                              const char *reason)
{
    il_container_status st = state_of(f, name);
    if (st.state != IL_STATE_TERMINATED)
        fail_msg("%s: state %d, want terminated", name, (int)st.state);
    assert_int_equal(st.exit_code, exit_code);
    assert_string_equal(st.reason, reason);
    assert_false(st.ready);
    assert_false(il_time_is_zero(st.started_at));
    assert_false(il_time_is_zero(st.finished_at));
    il_container_status_free(&st);
}

static char *log_of(const fixture *f, const char *name)
{
    char *dir = ctr_dir(f, name);
    char *path = rn_store_path(dir, "log");
    free(dir);
    FILE *fp = fopen(path, "r");
    free(path);
    il_buf b = IL_BUF_INIT;
    char chunk[4096];
    size_t got;
    while (fp && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        il_buf_append(&b, chunk, got);
    if (fp)
        fclose(fp);
    return il_buf_steal(&b);
}

static void assert_log_has(const fixture *f, const char *name, const char *text)
{
    char *log = log_of(f, name);
    if (!strstr(log, text))
        fail_msg("log of %s lacks \"%s\":\n%s", name, text, log);
    free(log);
}

static bool before_or_at(il_time a, il_time b)
{
    return a.sec < b.sec || (a.sec == b.sec && a.nsec <= b.nsec);
}

static int64_t ms_between(il_time a, il_time b)
{
    return (b.sec - a.sec) * 1000 + ((int64_t)b.nsec - (int64_t)a.nsec) / 1000000;
}

/* Wait until container name runs and its log shows text. */
static void wait_running(const fixture *f, const char *name, const char *text)
{
    for (int i = 0; i < 500; i++) {
        il_container_status st = state_of(f, name);
        bool running = st.state == IL_STATE_RUNNING;
        il_container_status_free(&st);
        char *log = log_of(f, name);
        bool said = strstr(log, text) != NULL;
        free(log);
        if (running && said)
            return;
        usleep(10 * 1000);
    }
    fail_msg("%s never ran and said \"%s\"", name, text);
}

/* What /delete does: the grace period in stop.json, then SIGTERM. */
static void request_stop(const fixture *f, int64_t grace)
{
    char *path = rn_store_path(f->pod_dir, "stop.json");
    json_t *stop = json_pack("{s:I}", "grace", (json_int_t)grace);
    assert_int_equal(rn_store_save_json(path, stop), 0);
    json_decref(stop);
    free(path);
    assert_int_equal(kill(f->sup, SIGTERM), 0);
}

/* ---- tests ----------------------------------------------------------------- */

/* Init containers one after the other, then the containers together;
 * both streams logged; all Completed; the pod exits 0. */
static void test_init_order_then_parallel(void **state)
{
    fixture *f = *state;
    const ctr_def inits[] = {{"init-a", "sleep 0.3; echo one"}, {"init-b", "echo two"}, {0}};
    const ctr_def ctrs[] = {{"main", "sleep 1; echo main-out; printf no-newline"},
                            {"side", "sleep 1; echo side-err >&2"}, {0}};
    start_pod(f, inits, ctrs, 30);
    assert_int_equal(wait_pod(f, 20000), 0);

    for (size_t i = 0; i < f->n; i++)
        assert_terminated(f, f->names[i], 0, "Completed");
    assert_log_has(f, "init-a", " stdout F one\n");
    assert_log_has(f, "init-b", " stdout F two\n");
    assert_log_has(f, "main", " stdout F main-out\n");
    assert_log_has(f, "main", " stdout P no-newline\n");   /* the last piece at EOF */
    assert_log_has(f, "side", " stderr F side-err\n");

    il_container_status a = state_of(f, "init-a"), b = state_of(f, "init-b");
    il_container_status m = state_of(f, "main"), s = state_of(f, "side");
    assert_true(ms_between(a.started_at, a.finished_at) >= 250);
    assert_true(before_or_at(a.finished_at, b.started_at));
    assert_true(before_or_at(b.finished_at, m.started_at));
    assert_true(before_or_at(b.finished_at, s.started_at));
    /* In parallel: each started before the other finished. */
    assert_true(before_or_at(m.started_at, s.finished_at));
    assert_true(before_or_at(s.started_at, m.finished_at));
    il_container_status_free(&a);
    il_container_status_free(&b);
    il_container_status_free(&m);
    il_container_status_free(&s);
    assert_false(rn_supervisor_stopped(f->pod_dir));
}

/* A failing init container fails the pod: nothing after it starts, and
 * those not started say why. */
static void test_init_failure(void **state)
{
    fixture *f = *state;
    const ctr_def inits[] = {{"init-a", "echo failing; exit 3"}, {"init-b", "echo never"}, {0}};
    const ctr_def ctrs[] = {{"main", "echo never"}, {0}};
    start_pod(f, inits, ctrs, 30);
    assert_int_equal(wait_pod(f, 20000), 3);
    assert_terminated(f, "init-a", 3, "Error");
    assert_log_has(f, "init-a", " stdout F failing\n");
    static const char *const not_started[] = {"init-b", "main"};
    for (size_t i = 0; i < 2; i++) {
        il_container_status st = state_of(f, not_started[i]);
        assert_int_equal(st.state, IL_STATE_WAITING);
        assert_string_equal(st.reason, "PodInitializing");
        assert_string_equal(st.message, "init container init-a failed with exit code 3; "
                                        "not started");
        il_container_status_free(&st);
        char *log = log_of(f, not_started[i]);
        assert_string_equal(log, "");
        free(log);
    }
}

/* The pod's exit code is the first non-zero one; a container that cannot
 * be created ends at once (128, CreateContainerError) and the others run;
 * a process a container left behind ends with it. */
static void test_exit_codes(void **state)
{
    fixture *f = *state;
    const ctr_def ctrs[] = {{"ok", "sleep 30 & echo left-a-child"}, {"bad", "sleep 0.2; exit 5"},
                            {"nocmd", NULL}, {"late", "sleep 0.4; exit 6"}, {0}};
    start_pod(f, NULL, ctrs, 30);
    int rc = wait_pod(f, 20000);
    il_container_status st;
    assert_terminated(f, "ok", 0, "Completed");
    /* Its child died with it (the sandbox's PID namespace), so it did not
     * hold the log pipe open: finalized at once, not after the drain time. */
    assert_log_has(f, "ok", " stdout F left-a-child\n");
    st = state_of(f, "ok");
    assert_true(ms_between(st.started_at, st.finished_at) < 1500);
    il_container_status_free(&st);
    assert_terminated(f, "bad", 5, "Error");
    assert_terminated(f, "late", 6, "Error");
    st = state_of(f, "nocmd");
    assert_int_equal(st.state, IL_STATE_TERMINATED);
    assert_int_equal(st.exit_code, 128);
    assert_string_equal(st.reason, "CreateContainerError");
    assert_non_null(strstr(st.message, "neither command nor args"));
    il_container_status_free(&st);
    assert_int_equal(rc, 5);   /* containers in spec order: bad before nocmd and late */
}

/* A stop request: SIGTERM reaches the container, which ends in its own
 * way within the grace period; the pod is marked stopped. */
static void test_stop_graceful(void **state)
{
    fixture *f = *state;
    const ctr_def ctrs[] = {{"main", "trap 'echo bye; exit 7' TERM; echo up;"
                                     " while :; do sleep 0.05; done"}, {0}};
    start_pod(f, NULL, ctrs, 30);
    wait_running(f, "main", " F up\n");
    int64_t t0 = il_monotonic_ms();
    request_stop(f, 10);
    assert_int_equal(wait_pod(f, 20000), 7);
    assert_true(il_monotonic_ms() - t0 < 5000);   /* it did not wait for the grace period */
    assert_terminated(f, "main", 7, "Error");
    assert_log_has(f, "main", " stdout F bye\n");
    assert_true(rn_supervisor_stopped(f->pod_dir));
}

/* A container that ignores SIGTERM is killed once the grace period from
 * stop.json (not the pod's 30 s) is over. */
static void test_stop_grace_enforced(void **state)
{
    fixture *f = *state;
    const ctr_def ctrs[] = {{"main", "trap '' TERM; echo up; while :; do sleep 0.05; done"},
                            {0}};
    start_pod(f, NULL, ctrs, 30);
    wait_running(f, "main", " F up\n");
    int64_t t0 = il_monotonic_ms();
    request_stop(f, 1);
    int rc = wait_pod(f, 20000);
    int64_t took = il_monotonic_ms() - t0;
    assert_true(took >= 1000 && took < 6000);
    il_container_status st = state_of(f, "main");
    assert_int_equal(st.state, IL_STATE_TERMINATED);
    assert_int_equal(st.exit_code, rc);
    assert_true(st.exit_code == 137 || st.exit_code == 128 + SIGKILL);
    il_container_status_free(&st);
    assert_true(rn_supervisor_stopped(f->pod_dir));
}

/* Stopped during an init container: nothing after it starts. */
static void test_stop_during_init(void **state)
{
    fixture *f = *state;
    const ctr_def inits[] = {{"init-a", "echo up; exec sleep 30"}, {0}};
    const ctr_def ctrs[] = {{"main", "echo never"}, {0}};
    start_pod(f, inits, ctrs, 30);
    wait_running(f, "init-a", " F up\n");
    request_stop(f, 5);
    int rc = wait_pod(f, 20000);
    assert_int_not_equal(rc, 0);
    il_container_status st = state_of(f, "init-a");
    assert_int_equal(st.state, IL_STATE_TERMINATED);
    assert_int_not_equal(st.exit_code, 0);
    il_container_status_free(&st);
    st = state_of(f, "main");
    assert_int_equal(st.state, IL_STATE_WAITING);
    il_container_status_free(&st);
    char *log = log_of(f, "main");
    assert_string_equal(log, "");
    free(log);
    assert_true(rn_supervisor_stopped(f->pod_dir));
}

int main(void)
{
    if (access(BWRAP, X_OK) != 0) {
        fprintf(stderr, "%s missing (scripts/deps.sh installs bubblewrap)\n", BWRAP);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_order_then_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_graceful, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_grace_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_during_init, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
