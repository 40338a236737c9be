/* supervisor.c -- the per-pod supervisor (rn_supervise).
 *
 * Run by the backend where the pod runs (interlink-local: a detached
 * process that outlives the plugin; interlink-slurm: the batch job): it
 * runs the init containers one by one, then all containers in parallel,
 * pipes each container's stdout/stderr into its log file, and writes every
 * state change to state.json.  One thread, one
 * poll() loop over the pipes and a signalfd (SIGCHLD reaps, SIGTERM starts
 * a graceful stop), so there are no locks and no zombies.  It exits once
 * every container it started has ended.
 *
 * It also runs the containers' probes and lifecycle hooks (probe.c parses
 * and counts, probe_run.c runs one check as a child process): a container
 * with a postStart hook is reported Running once the hook succeeded; the
 * startup probe gates readiness and liveness; readiness sets `ready`; a
 * startup or liveness probe that gives up, or a failed postStart hook,
 * stops the container the way a delete does (preStop, SIGTERM, SIGKILL
 * after the grace period) and names the cause in its terminated state,
 * since restarts are not implemented. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define DRAIN_AFTER_EXIT_MS 2000   /* stray processes may hold a pipe open */
#define PODMAN_KILL_SLACK_MS 5000  /* podman stop kills at grace; we follow later */
#define HOOK_RETRY_MS 250          /* postStart: the container cannot be entered yet */
#define HOOK_ENTER_LIMIT_MS 120000 /* ... for this long: the hook fails */
#define SAVE_RETRY_MS 1000         /* a state write failed (disk full): try again */

/* Where a check run's output is polled: slot 0/1 the container's pipes,
 * CHECK_SLOT + kind a probe run, HOOK_SLOT the hook run. */
#define CHECK_SLOT 2
#define HOOK_SLOT (CHECK_SLOT + PROBE_KINDS)
#define FD_SLOTS (HOOK_SLOT + 1)

typedef enum { HOOK_NONE, HOOK_POST_START, HOOK_PRE_STOP } hook_kind;

typedef struct sup_ctr {
    const il_container *spec;
    bool init;                /* an init container: no probes, no hooks */
    char *dir;
    il_container_status st;
    pid_t pid;                /* process group leader while running, else 0 */
    int pipes[2];             /* stdout, stderr read ends; -1 once closed */
    ctr_stdin *in;            /* stdin: true or tty: true (ctrstdin.c); NULL otherwise */
    log_writer writers[2];
    int log_fd;
    bool started;             /* spawned (or failed to start) */
    bool running;             /* postStart done: reported Running, probes on */
    bool exited;              /* reaped: st holds the exit status */
    bool finalized;           /* terminated state written */
    bool unsaved;             /* the last rn_state_write failed (disk full): retried */
    int64_t exited_ms;
    il_time spawned_at;
    int64_t spawned_ms;
    /* probes and hooks */
    ctr_checks checks;
    probe_sched sched[PROBE_KINDS];
    bool sched_on[PROBE_KINDS];
    check_run probe_runs[PROBE_KINDS];
    check_run hook;
    hook_kind hook_kind;
    int64_t hook_retry_ms;    /* postStart: try again at; 0 = not waiting */
    /* stopping this container (pod delete, failed probe or hook) */
    bool stopping;
    bool term_due;            /* SIGTERM to deliver (preStop done) */
    bool term_delivered;      /* SIGTERM reached a process */
    int64_t kill_at_ms;
    char *end_reason;         /* why it was stopped, for its terminated state */
    char *end_message;
} sup_ctr;

typedef struct supervisor {
    char *pod_dir;
    il_create_request req;
    runtime_spec rt;
    int sigfd;
    bool stopping;            /* the pod is being stopped: start nothing more */
    sup_ctr *ctrs;            /* every container, init containers first (run_pod's) */
    size_t n_ctrs;
} supervisor;

static void run_reset(check_run *run)
{
    memset(run, 0, sizeof(*run));
    run->out_fd = -1;
}

static void ctr_init(sup_ctr *c, const il_container *spec, bool init, const char *pod_dir)
{
    memset(c, 0, sizeof(*c));
    c->spec = spec;
    c->init = init;
    c->dir = rn_store_ctr_dir(pod_dir, spec->name);
    /* Backends with lazy layouts (poddir_opts) leave this to us; a failure
     * shows as the state and log writes failing, with their errors.  Never
     * mkdir -p: a pod directory a delete removed must not come back. */
    char *ctrs = rn_store_path(pod_dir, "containers");
    if ((mkdir(ctrs, 0755) != 0 && errno != EEXIST) || (mkdir(c->dir, 0755) != 0 &&
                                                        errno != EEXIST))
        il_warn("creating %s: %s", c->dir, strerror(errno));
    free(ctrs);
    c->pipes[0] = c->pipes[1] = c->log_fd = -1;
    c->writers[0].stream = "stdout";
    c->writers[1].stream = "stderr";
    for (int k = 0; k < PROBE_KINDS; k++)
        run_reset(&c->probe_runs[k]);
    run_reset(&c->hook);
}

static void ctr_abort_checks(sup_ctr *c)
{
    for (int k = 0; k < PROBE_KINDS; k++) {
        rn_check_abort(&c->probe_runs[k]);
        c->sched_on[k] = false;
    }
    rn_check_abort(&c->hook);
    c->hook_kind = HOOK_NONE;
    c->hook_retry_ms = 0;
}

static void ctr_free(sup_ctr *c)
{
    ctr_abort_checks(c);
    rn_stdin_free(c->in);
    rn_checks_free(&c->checks);
    for (int i = 0; i < 2; i++) {
        if (c->pipes[i] >= 0)
            close(c->pipes[i]);
        rn_log_writer_free(&c->writers[i]);
    }
    if (c->log_fd >= 0)
        close(c->log_fd);
    il_container_status_free(&c->st);
    free(c->end_reason);
    free(c->end_message);
    free(c->dir);
}

/* A failed write (disk full) is retried from the event loop and, for the
 * final states, before the pod is marked done (save_until_durable). */
static void ctr_save(sup_ctr *c)
{
    bool failed = rn_state_write(c->dir, &c->st, c->pid) != 0;
    if (failed && !c->unsaved)
        il_error("writing state of %s: %s (retrying)", c->spec->name, strerror(errno));
    else if (!failed && c->unsaved)
        il_info("state of %s written after all", c->spec->name);
    c->unsaved = failed;
}

static void fail_not_started(sup_ctr *ctrs, size_t n, const sup_ctr *failed);

/* A container's terminal state to disk.  When a failed init container
 * ends the pod, the containers it keeps from starting say so first: a
 * reader that sees the failure (the pod is Failed) sees why they never ran,
 * not a moment of "PodInitializing" without a reason. */
static void ctr_save_terminal(const supervisor *sv, sup_ctr *c)
{
    if (c->init && c->st.exit_code != 0 && sv->ctrs)
        fail_not_started(sv->ctrs, sv->n_ctrs, c);
    ctr_save(c);
}

/* Kubernetes' rule: ready while running, past the startup probe, and
 * (with a readiness probe) while that succeeds; never while stopping. */
static void ctr_update_ready(sup_ctr *c)
{
    bool started =
        c->running && (!c->checks.probes[PROBE_STARTUP] || c->sched[PROBE_STARTUP].verdict);
    c->st.started = started ? IL_STARTED_YES : IL_STARTED_NO;
    c->st.ready = started && !c->stopping && !c->exited &&
                  (!c->checks.probes[PROBE_READINESS] ||
                   (c->sched_on[PROBE_READINESS] && c->sched[PROBE_READINESS].verdict));
}

/* A container that could not be started ends at once, as terminated with
 * exit code 128 (what containerd reports for StartError). */
static void ctr_fail_start(const supervisor *sv, sup_ctr *c, const char *reason,
                           const char *message)
{
    il_warn("container %s: %s: %s", c->spec->name, reason, message);
    rn_state_set(&c->st, IL_STATE_TERMINATED, reason, message);
    c->st.exit_code = 128;
    c->st.started_at = c->st.finished_at = il_time_now();
    c->started = c->exited = c->finalized = true;
    ctr_update_ready(c);
    ctr_save_terminal(sv, c);
}

static int open_pipes(sup_ctr *c, int write_ends[2])
{
    for (int i = 0; i < 2; i++) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            return -1;
        c->pipes[i] = fds[0];
        write_ends[i] = fds[1];
    }
    return 0;
}

/* ---- probes and hooks -------------------------------------------------- */

static void ctr_stop(supervisor *sv, sup_ctr *c, int64_t grace, const char *reason,
                     const char *message);

static int64_t probe_grace(const supervisor *sv, const probe_spec *p)
{
    return p->grace_s >= 0 ? p->grace_s : sv->req.pod.grace_seconds;
}

/* Probes start once the container runs: startup first, the others after
 * it succeeded (or right away without one), each initialDelaySeconds
 * after the container started. */
static void sched_start(sup_ctr *c, probe_kind kind, int64_t now)
{
    const probe_spec *p = c->checks.probes[kind];
    if (!p || c->sched_on[kind])
        return;
    rn_probe_sched_init(&c->sched[kind], p, kind, c->spawned_ms, now);
    c->sched_on[kind] = true;
}

static void ctr_mark_running(sup_ctr *c)
{
    int64_t now = il_monotonic_ms();
    c->running = true;
    rn_state_set(&c->st, IL_STATE_RUNNING, NULL, NULL);
    c->st.started_at = c->spawned_at;
    if (c->checks.probes[PROBE_STARTUP]) {
        sched_start(c, PROBE_STARTUP, now);
    } else {
        sched_start(c, PROBE_READINESS, now);
        sched_start(c, PROBE_LIVENESS, now);
    }
    ctr_update_ready(c);
    ctr_save(c);
    il_info("container %s running", c->spec->name);
}

static void hook_start(supervisor *sv, sup_ctr *c, hook_kind kind, int64_t timeout_ms)
{
    const probe_handler *h = kind == HOOK_POST_START ? c->checks.post_start : c->checks.pre_stop;
    il_buf err = IL_BUF_INIT;
    c->hook_kind = kind;
    c->hook_retry_ms = 0;
    int rc = rn_check_start(&sv->rt, &sv->req.pod, c->spec, c->pid, h, timeout_ms, &c->hook, &err);
    if (rc == 1) {
        c->hook_retry_ms = il_monotonic_ms() + HOOK_RETRY_MS;
    } else if (rc < 0) {
        c->hook_kind = HOOK_NONE;
        il_warn("container %s: %s hook: %s", c->spec->name,
                kind == HOOK_POST_START ? "postStart" : "preStop", il_buf_cstr(&err));
        if (kind == HOOK_POST_START) {
            char *msg = il_xasprintf("PostStartHook failed: %s", il_buf_cstr(&err));
            ctr_stop(sv, c, sv->req.pod.grace_seconds, "FailedPostStartHook", msg);
            free(msg);
        } else {
            c->term_due = true;
        }
    }
    il_buf_free(&err);
}

static void post_start_done(supervisor *sv, sup_ctr *c, probe_result result, const char *why)
{
    if (result == PROBE_SUCCESS) {
        il_info("container %s: postStart hook done", c->spec->name);
        ctr_mark_running(c);
    } else if (result == PROBE_UNKNOWN &&
               il_monotonic_ms() - c->spawned_ms < HOOK_ENTER_LIMIT_MS) {
        c->hook_kind = HOOK_POST_START;
        c->hook_retry_ms = il_monotonic_ms() + HOOK_RETRY_MS;
    } else {
        char *msg = il_xasprintf("PostStartHook failed: %s", why);
        il_warn("container %s: %s", c->spec->name, msg);
        ctr_stop(sv, c, sv->req.pod.grace_seconds, "FailedPostStartHook", msg);
        free(msg);
    }
}

static void hook_done(supervisor *sv, sup_ctr *c, int status)
{
    hook_kind kind = c->hook_kind;
    const probe_handler *h = kind == HOOK_POST_START ? c->checks.post_start : c->checks.pre_stop;
    il_buf msg = IL_BUF_INIT;
    probe_result result = rn_check_finish(&c->hook, status, h, &msg);
    c->hook_kind = HOOK_NONE;
    if (kind == HOOK_POST_START) {
        post_start_done(sv, c, result, il_buf_cstr(&msg));
    } else {
        if (result != PROBE_SUCCESS)
            il_warn("container %s: PreStopHook failed: %s", c->spec->name, il_buf_cstr(&msg));
        else
            il_info("container %s: preStop hook done", c->spec->name);
        c->term_due = true;
    }
    il_buf_free(&msg);
}

/* A verdict that changed, or a startup/liveness probe that gave up. */
static void probe_verdict(supervisor *sv, sup_ctr *c, probe_kind kind, bool changed,
                          const char *why)
{
    probe_sched *ps = &c->sched[kind];
    if (kind != PROBE_READINESS && rn_probe_sched_gave_up(ps)) {
        char *msg = il_xasprintf("%s probe failed: %s", rn_probe_kind_name(kind), why);
        il_warn("container %s: %s; killing it", c->spec->name, msg);
        ctr_stop(sv, c, probe_grace(sv, ps->spec),
                 kind == PROBE_STARTUP ? "StartupProbeFailed" : "LivenessProbeFailed", msg);
        free(msg);
        return;
    }
    if (!changed)
        return;
    if (kind == PROBE_STARTUP && ps->verdict) {
        int64_t now = il_monotonic_ms();
        c->sched_on[PROBE_STARTUP] = false;
        sched_start(c, PROBE_READINESS, now);
        sched_start(c, PROBE_LIVENESS, now);
    }
    il_info("container %s: %s probe %s", c->spec->name, rn_probe_kind_name(kind),
            ps->verdict ? "succeeded" : "failed");
    ctr_update_ready(c);
    ctr_save(c);
}

static void probe_done(supervisor *sv, sup_ctr *c, probe_kind kind, int status)
{
    int64_t began = c->probe_runs[kind].began_ms;
    il_buf msg = IL_BUF_INIT;
    probe_result result = rn_check_finish(&c->probe_runs[kind], status,
                                       &c->checks.probes[kind]->handler, &msg);
    if (c->sched_on[kind] && !c->stopping && !c->exited) {
        if (result == PROBE_FAILURE)
            il_debug("container %s: %s probe failed: %s", c->spec->name, rn_probe_kind_name(kind),
                     il_buf_cstr(&msg));
        bool changed = rn_probe_sched_record(&c->sched[kind], result, began);
        probe_verdict(sv, c, kind, changed, il_buf_cstr(&msg));
    }
    il_buf_free(&msg);
}

static void probe_start(supervisor *sv, sup_ctr *c, probe_kind kind, int64_t now)
{
    const probe_spec *p = c->checks.probes[kind];
    il_buf err = IL_BUF_INIT;
    int rc = rn_check_start(&sv->rt, &sv->req.pod, c->spec, c->pid, &p->handler,
                         p->timeout_s * 1000, &c->probe_runs[kind], &err);
    if (rc != 0) {   /* nothing to enter yet, or could not run: no result */
        if (rc < 0)
            il_warn("container %s: %s probe: %s", c->spec->name, rn_probe_kind_name(kind),
                    il_buf_cstr(&err));
        bool changed =
            rn_probe_sched_record(&c->sched[kind], rc > 0 ? PROBE_UNKNOWN : PROBE_FAILURE, now);
        probe_verdict(sv, c, kind, changed, il_buf_cstr(&err));
    }
    il_buf_free(&err);
}

/* Due probes and hook retries; runs past their deadline are killed (the
 * reap then reports the timeout). */
static void ctr_run_checks(supervisor *sv, sup_ctr *c, int64_t now)
{
    check_run *runs[FD_SLOTS - CHECK_SLOT];
    for (int k = 0; k < PROBE_KINDS; k++)
        runs[k] = &c->probe_runs[k];
    runs[PROBE_KINDS] = &c->hook;
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        if (runs[i]->pid > 0 && runs[i]->deadline_ms && now >= runs[i]->deadline_ms &&
            !runs[i]->timed_out) {
            killpg(runs[i]->pid, SIGKILL);
            runs[i]->timed_out = true;
        }
    }
    if (c->exited || c->stopping) {
        if (c->hook_kind == HOOK_PRE_STOP && c->hook_retry_ms && now >= c->hook_retry_ms)
            hook_start(sv, c, HOOK_PRE_STOP, c->kill_at_ms - now);
        return;
    }
    if (c->hook_kind == HOOK_POST_START && c->hook_retry_ms && now >= c->hook_retry_ms)
        hook_start(sv, c, HOOK_POST_START, 0);
    for (int k = 0; k < PROBE_KINDS && !c->stopping; k++)
        if (c->sched_on[k] && c->probe_runs[k].pid == 0 && now >= c->sched[k].next_ms)
            probe_start(sv, c, (probe_kind)k, now);
}

/* Which run (if any) a reaped child was; true when it was one. */
static bool ctr_reaped_check(supervisor *sv, sup_ctr *c, pid_t pid, int status)
{
    for (int k = 0; k < PROBE_KINDS; k++) {
        if (c->probe_runs[k].pid == pid) {
            probe_done(sv, c, (probe_kind)k, status);
            return true;
        }
    }
    if (c->hook.pid == pid) {
        hook_done(sv, c, status);
        return true;
    }
    return false;
}

/* ---- starting ---------------------------------------------------------- */

static void ctr_spawned(supervisor *sv, sup_ctr *c)
{
    c->writers[0].fd = c->writers[1].fd = c->log_fd;
    c->started = true;
    c->spawned_at = il_time_now();
    c->spawned_ms = il_monotonic_ms();
    c->st.container_id = rn_sandbox_container_id(&sv->rt, &sv->req.pod, c->spec->name);
    il_info("container %s started (pid %d)", c->spec->name, (int)c->pid);
    if (!c->checks.post_start) {
        ctr_mark_running(c);
        return;
    }
    /* Not Running until postStart has completed (as the kubelet, whose
     * container start returns only after the hook); the pid is recorded
     * so a delete can still find the process group. */
    rn_state_set(&c->st, IL_STATE_WAITING, "ContainerCreating", "running the postStart hook");
    ctr_update_ready(c);
    ctr_save(c);
    hook_start(sv, c, HOOK_POST_START, 0);
}

/* Start the container with its output on pipes (or with tty: true on a
 * terminal, whose master is then pipes[0]) and, with stdin: true, its
 * stdin kept open for attach (ctrstdin.c).  0 or an errno value. */
static int ctr_spawn(supervisor *sv, sup_ctr *c, const launch_spec *ls, int write_ends[2],
                     il_buf *err)
{
    bool in = false, once = false, tty = false;
    if (!c->init)
        rn_container_io_flags(&sv->req.pod, c->spec->name, &in, &once, &tty);
    int child_in = -1;
    char *tty_path = NULL;
    if ((in || tty) &&
        !(c->in = rn_stdin_open(c->dir, in, once, tty, &child_in, &tty_path, err)))
        return EIO;
    if (tty)
        c->pipes[0] = rn_stdin_output_fd(c->in);
    else if (open_pipes(c, write_ends) != 0)
        return errno;
    int rc = rn_sandbox_spawn_io(sv->rt.kind == RUNTIME_PODMAN ? c->dir : NULL, ls->argv.v,
                                 ls->envp.v, child_in, tty_path, write_ends[0], write_ends[1],
                                 &c->pid);
    if (child_in >= 0)
        close(child_in);
    free(tty_path);
    return rc;
}

static void ctr_start(supervisor *sv, sup_ctr *c)
{
    il_buf err = IL_BUF_INIT;
    launch_spec ls;
    if ((!c->init && rn_checks_parse(&sv->req.pod, c->spec, &c->checks, &err) != 0) ||
        rn_sandbox_command(&sv->rt, &sv->req.pod, c->spec, sv->pod_dir, &ls, &err) != 0) {
        ctr_fail_start(sv, c, "CreateContainerError", il_buf_cstr(&err));
        il_buf_free(&err);
        return;
    }
    if (sv->rt.no_probes)
        rn_checks_drop_probes(&c->checks);
    char *log_path = rn_store_path(c->dir, "log");
    c->log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    free(log_path);
    int write_ends[2] = {-1, -1};
    int rc = c->log_fd < 0 ? errno : ctr_spawn(sv, c, &ls, write_ends, &err);
    for (int i = 0; i < 2; i++)
        if (write_ends[i] >= 0)
            close(write_ends[i]);
    if (rc != 0) {
        il_buf_printf(&err, "starting %s: %s", ls.argv.v[0], strerror(rc));
        ctr_fail_start(sv, c, "StartError", il_buf_cstr(&err));
    } else {
        ctr_spawned(sv, c);
    }
    rn_launch_spec_free(&ls);
    il_buf_free(&err);
}

static void ctr_exited(sup_ctr *c, int status)
{
    c->exited = true;
    c->exited_ms = il_monotonic_ms();
    if (WIFSIGNALED(status)) {
        c->st.signal = WTERMSIG(status);
        c->st.exit_code = 128 + c->st.signal;
    } else {
        c->st.exit_code = WEXITSTATUS(status);
    }
    ctr_abort_checks(c);
    rn_stdin_free(c->in);   /* attachers are cut off, later ones refused */
    c->in = NULL;
    il_info("container %s exited with %d", c->spec->name, c->st.exit_code);
}

/* The reason of a container's terminated state: a probe's or a hook's,
 * else OOMKilled when conmon saw the OOM killer strike (podman runs in the
 * container's directory for that, SANDBOX_OOM_FILE), else by exit code. */
static const char *ctr_end_reason(const supervisor *sv, const sup_ctr *c)
{
    if (c->end_reason)
        return c->end_reason;
    if (sv->rt.kind == RUNTIME_PODMAN) {
        char *oom = rn_store_path(c->dir, SANDBOX_OOM_FILE);
        bool oom_killed = access(oom, F_OK) == 0;
        free(oom);
        if (oom_killed)
            return "OOMKilled";
    }
    return c->st.exit_code == 0 ? "Completed" : "Error";
}

/* Terminated once the process is reaped and its output fully logged. */
static void ctr_finalize(const supervisor *sv, sup_ctr *c)
{
    for (int i = 0; i < 2; i++) {
        rn_log_writer_flush(&c->writers[i]);
        if (c->pipes[i] >= 0)
            close(c->pipes[i]);
        c->pipes[i] = -1;
    }
    rn_state_set(&c->st, IL_STATE_TERMINATED, ctr_end_reason(sv, c), c->end_message);
    if (il_time_is_zero(c->st.started_at))
        c->st.started_at = c->spawned_at;   /* stopped during its postStart hook */
    c->st.finished_at = il_time_now();
    c->pid = 0;
    c->finalized = true;
    ctr_update_ready(c);
    c->st.started = IL_STARTED_NO;
    ctr_save_terminal(sv, c);
}

/* A terminal's master is non-blocking (ctrstdin.c): EAGAIN is not its end. */
static void ctr_read_pipe(sup_ctr *c, int i)
{
    char chunk[65536];
    ssize_t got = read(c->pipes[i], chunk, sizeof(chunk));
    if (got > 0) {
        rn_log_writer_feed(&c->writers[i], chunk, (size_t)got);
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        rn_log_writer_flush(&c->writers[i]);
        close(c->pipes[i]);
        c->pipes[i] = -1;
    }
}

/* ---- stopping ---------------------------------------------------------- */

static int64_t stop_grace(const supervisor *sv)
{
    int64_t grace = sv->req.pod.grace_seconds;
    char *path = rn_store_path(sv->pod_dir, "stop.json");
    json_t *json = json_load_file(path, 0, NULL);
    free(path);
    json_t *value = json_object_get(json, "grace");
    if (json_is_integer(value) && json_integer_value(value) >= 0)
        grace = json_integer_value(value);
    json_decref(json);
    return il_grace_clamp(grace);
}

/* A container that has just started may not have a process to signal yet
 * (bwrap is still setting up); advance() retries until one got it. */
static void deliver_term(supervisor *sv, sup_ctr *c)
{
    if (!c->started || c->exited || c->term_delivered || !c->term_due)
        return;
    int64_t slack = sv->rt.kind == RUNTIME_PODMAN ? PODMAN_KILL_SLACK_MS : 0;
    int64_t grace = (c->kill_at_ms - slack - il_monotonic_ms() + 999) / 1000;
    c->term_delivered = rn_sandbox_stop(&sv->rt, &sv->req.pod, c->spec->name, c->pid,
                                     grace < 0 ? 0 : grace) > 0;
}

/* Stop one container as the kubelet kills one: its preStop hook first
 * (when it runs and there is time), then SIGTERM, SIGKILL at the end of
 * the grace period.  reason/message (may be NULL) become its terminated
 * state's, when it was a probe or a hook that stopped it. */
static void ctr_stop(supervisor *sv, sup_ctr *c, int64_t grace, const char *reason,
                     const char *message)
{
    if (!c->started || c->exited || c->stopping)
        return;
    int64_t now = il_monotonic_ms();
    c->stopping = true;
    c->kill_at_ms = now + grace * 1000 + (sv->rt.kind == RUNTIME_PODMAN ? PODMAN_KILL_SLACK_MS : 0);
    if (reason) {
        c->end_reason = il_xstrdup(reason);
        c->end_message = il_xstrdup(message);
    }
    bool pre_stop = c->checks.pre_stop && c->running && grace > 0;
    ctr_abort_checks(c);
    ctr_update_ready(c);
    ctr_save(c);
    if (pre_stop)
        hook_start(sv, c, HOOK_PRE_STOP, grace * 1000);
    else
        c->term_due = true;
    deliver_term(sv, c);
}

static void begin_stop(supervisor *sv, sup_ctr *ctrs, size_t n)
{
    if (sv->stopping)
        return;
    int64_t grace = stop_grace(sv);
    il_info("stopping pod %s (grace %llds)", sv->req.pod.name, (long long)grace);
    sv->stopping = true;
    for (size_t i = 0; i < n; i++)
        ctr_stop(sv, &ctrs[i], grace, NULL, NULL);
}

static void handle_signals(supervisor *sv, sup_ctr *ctrs, size_t n)
{
    struct signalfd_siginfo si;
    while (read(sv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo != SIGCHLD) {
            begin_stop(sv, ctrs, n);
            continue;
        }
        int status;
        pid_t pid;
        /* Reap everything: containers, probes, hooks, `podman stop` helpers. */
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (size_t i = 0; i < n; i++) {
                if (ctrs[i].pid == pid && !ctrs[i].exited) {
                    ctr_exited(&ctrs[i], status);
                    break;
                }
                if (ctr_reaped_check(sv, &ctrs[i], pid, status))
                    break;
            }
        }
    }
}

/* ---- the event loop ---------------------------------------------------- */

static void wake_at(int64_t *wake, int64_t t)
{
    if (t > 0 && t < *wake)
        *wake = t;
}

static int64_t ctr_next_event(const sup_ctr *c, int64_t wake)
{
    if (!c->started || c->finalized)
        return wake;
    if (c->exited && !c->finalized)
        wake_at(&wake, c->exited_ms + DRAIN_AFTER_EXIT_MS);
    if (!c->exited)
        wake_at(&wake, c->kill_at_ms);
    wake_at(&wake, c->hook_retry_ms);
    wake_at(&wake, c->hook.deadline_ms);
    for (int k = 0; k < PROBE_KINDS; k++) {
        wake_at(&wake, c->probe_runs[k].deadline_ms);
        if (c->sched_on[k] && c->probe_runs[k].pid == 0)
            wake_at(&wake, c->sched[k].next_ms);
    }
    return wake;
}

static int loop_timeout(const supervisor *sv, const sup_ctr *ctrs, size_t n, int64_t now)
{
    int64_t wake = now + (sv->stopping ? 50 : 1000);   /* stopping: retry SIGTERM soon */
    for (size_t i = 0; i < n; i++)
        wake = ctr_next_event(&ctrs[i], wake);
    return wake > now ? (int)(wake - now) : 0;
}

/* Kill overdue containers, run due checks and finalize the containers
 * that are done; returns how many are still active. */
static size_t advance(supervisor *sv, sup_ctr *ctrs, size_t n)
{
    size_t active = 0;
    for (size_t i = 0; i < n; i++) {
        sup_ctr *c = &ctrs[i];
        if (c->unsaved)
            ctr_save(c);
        for (int k = 0; k < 2; k++)
            rn_log_writer_retry(&c->writers[k]);
        if (!c->started || c->finalized)
            continue;
        int64_t now = il_monotonic_ms();
        if (!c->exited && c->kill_at_ms && now >= c->kill_at_ms) {
            rn_check_abort(&c->hook);
            rn_sandbox_kill(c->pid);
        } else if (c->stopping) {
            deliver_term(sv, c);
        }
        ctr_run_checks(sv, c, now);
        bool drained = c->pipes[0] < 0 && c->pipes[1] < 0;
        if (c->exited && (drained || now >= c->exited_ms + DRAIN_AFTER_EXIT_MS))
            ctr_finalize(sv, c);
        else
            active++;
    }
    return active;
}

static int slot_fd(const sup_ctr *c, int slot)
{
    if (slot < CHECK_SLOT)
        return c->pipes[slot];
    return slot < HOOK_SLOT ? c->probe_runs[slot - CHECK_SLOT].out_fd : c->hook.out_fd;
}

static void slot_read(sup_ctr *c, int slot)
{
    if (slot < CHECK_SLOT)
        ctr_read_pipe(c, slot);
    else
        rn_check_read(slot < HOOK_SLOT ? &c->probe_runs[slot - CHECK_SLOT] : &c->hook);
}

static void run_phase(supervisor *sv, sup_ctr *ctrs, size_t n)
{
    for (size_t i = 0; i < n && !sv->stopping; i++)
        ctr_start(sv, &ctrs[i]);
    size_t max = (FD_SLOTS + RN_STDIN_POLLFDS) * n + 1;
    struct pollfd *pfds = il_xcalloc(max, sizeof(*pfds));
    /* pfds[p] (p > 0) is slot owner[p] % FD_SLOTS of container owner[p] / FD_SLOTS. */
    size_t *owner = il_xcalloc(max, sizeof(*owner));
    while (advance(sv, ctrs, n) > 0) {
        size_t npfd = 0;
        pfds[npfd++] = (struct pollfd){.fd = sv->sigfd, .events = POLLIN};
        for (size_t i = 0; i < FD_SLOTS * n; i++) {
            int fd = slot_fd(&ctrs[i / FD_SLOTS], (int)(i % FD_SLOTS));
            if (fd < 0)
                continue;
            owner[npfd] = i;
            pfds[npfd++] = (struct pollfd){.fd = fd, .events = POLLIN};
        }
        size_t slots_end = npfd;   /* then each container's stdin, RN_STDIN_POLLFDS or none */
        for (size_t i = 0; i < n; i++)
            npfd += rn_stdin_pollfds(ctrs[i].in, &pfds[npfd]);
        if (poll(pfds, npfd, loop_timeout(sv, ctrs, n, il_monotonic_ms())) < 0 && errno != EINTR)
            break;
        for (size_t p = 1; p < slots_end; p++)
            if (pfds[p].revents)
                slot_read(&ctrs[owner[p] / FD_SLOTS], (int)(owner[p] % FD_SLOTS));
        for (size_t i = 0, p = slots_end; i < n; i++)
            if (ctrs[i].in) {
                rn_stdin_events(ctrs[i].in, &pfds[p], RN_STDIN_POLLFDS);
                p += RN_STDIN_POLLFDS;
            }
        if (pfds[0].revents)
            handle_signals(sv, ctrs, n);
    }
    free(owner);
    free(pfds);
}

/* ---- the pod ----------------------------------------------------------- */

static void fail_not_started(sup_ctr *ctrs, size_t n, const sup_ctr *failed)
{
    char *message = il_xasprintf("init container %s failed with exit code %d; not started",
                                 failed->spec->name, failed->st.exit_code);
    for (size_t i = 0; i < n; i++) {
        if (ctrs[i].started)
            continue;
        rn_state_set(&ctrs[i].st, IL_STATE_WAITING, "PodInitializing", message);
        ctr_save(&ctrs[i]);
    }
    free(message);
}

/* The pod's outcome for whoever waits for this process: 0, or the first
 * non-zero exit code among the containers that ran. */
static int pod_exit_code(const sup_ctr *ctrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ctrs[i].started && ctrs[i].st.exit_code != 0)
            return ctrs[i].st.exit_code;
    return 0;
}

/* Whether a stop signal arrived within timeout_ms (other signals are
 * reaped children: nothing is left to run). */
static bool stop_signalled(const supervisor *sv, int timeout_ms)
{
    struct pollfd pfd = {.fd = sv->sigfd, .events = POLLIN};
    struct signalfd_siginfo si;
    if (poll(&pfd, 1, timeout_ms) != 1)
        return false;
    while (read(sv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        if (si.ssi_signo != SIGCHLD)
            return true;
    return false;
}

/* The final states (and the logs a full disk refused) go to disk before
 * the done marker: with `done` and a stale state.json a finished pod reads
 * as running forever.  When the disk is full, wait for space (a stop
 * signal, from a delete that removes the directory anyway, ends the wait). */
static void save_until_durable(const supervisor *sv, sup_ctr *ctrs, size_t n)
{
    for (;;) {
        bool all_saved = true;
        for (size_t i = 0; i < n; i++) {
            bool out_written = rn_log_writer_retry(&ctrs[i].writers[0]);   /* both, always */
            bool err_written = rn_log_writer_retry(&ctrs[i].writers[1]);
            bool logs_written = out_written && err_written;
            if (ctrs[i].unsaved)
                ctr_save(&ctrs[i]);
            all_saved = all_saved && !ctrs[i].unsaved && logs_written;
        }
        if (all_saved || stop_signalled(sv, SAVE_RETRY_MS))
            return;
    }
}

/* The supervisor record, with the same patience: a pod started while the
 * disk is full waits for space rather than failing (a batch job would end
 * FAILED without ever running the pod).  Errors other than a full disk
 * are final. */
static int record_durably(const supervisor *sv)
{
    bool warned = false;
    while (rn_supervisor_record_write(sv->pod_dir, getpid()) != 0) {
        if (errno != ENOSPC && errno != EDQUOT)
            return -1;
        if (!warned)
            il_warn("recording supervisor: %s (waiting for space)", strerror(errno));
        warned = true;
        if (stop_signalled(sv, SAVE_RETRY_MS)) {
            errno = ENOSPC;
            return -1;
        }
    }
    return 0;
}

/* The done marker, with the same patience as the states. */
static void mark_done_durably(const supervisor *sv)
{
    bool warned = false;
    while (rn_supervisor_mark_done(sv->pod_dir, sv->stopping) != 0) {
        if (!warned)
            il_warn("marking pod done: %s (retrying)", strerror(errno));
        warned = true;
        if (stop_signalled(sv, SAVE_RETRY_MS))
            return;
    }
}

static int run_pod(supervisor *sv)
{
    const il_pod *pod = &sv->req.pod;
    size_t n_init = pod->n_init_containers, n = n_init + pod->n_containers;
    sup_ctr *ctrs = il_xcalloc(n, sizeof(*ctrs));
    for (size_t i = 0; i < n; i++)
        ctr_init(&ctrs[i], i < n_init ? &pod->init_containers[i] : &pod->containers[i - n_init],
                 i < n_init, sv->pod_dir);
    sv->ctrs = ctrs;
    sv->n_ctrs = n;
    const sup_ctr *failed = NULL;
    /* Init containers in order, each in a phase of its own. */
    for (size_t i = 0; i < n_init && !failed && !sv->stopping; i++) {
        run_phase(sv, &ctrs[i], 1);
        if (ctrs[i].st.exit_code != 0 || !ctrs[i].finalized)
            failed = &ctrs[i];
    }
    if (failed)
        fail_not_started(ctrs, n, failed);
    else if (!sv->stopping)
        run_phase(sv, ctrs + n_init, pod->n_containers);
    int exit_code = pod_exit_code(ctrs, n);
    save_until_durable(sv, ctrs, n);
    for (size_t i = 0; i < n; i++)
        ctr_free(&ctrs[i]);
    free(ctrs);
    sv->ctrs = NULL;
    return exit_code;
}

static int signal_setup(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int rn_supervise(const char *pod_dir, int ready_fd)
{
    supervisor sv = {.pod_dir = il_xstrdup(pod_dir), .sigfd = signal_setup()};
    signal(SIGPIPE, SIG_IGN);   /* whoever reads ready_fd may be gone: EPIPE, not death */
    il_buf err = IL_BUF_INIT;
    int rc = 1;
    if (sv.sigfd < 0) {
        il_error("signalfd: %s", strerror(errno));
    } else if (rn_store_read_request(pod_dir, &sv.req, &err) != 0 ||
               rn_runtime_spec_read(pod_dir, &sv.rt, &err) != 0) {
        il_error("%s", il_buf_cstr(&err));
    } else if (record_durably(&sv) != 0) {
        il_error("recording supervisor: %s", strerror(errno));
    } else {
        /* Tell /create we are recorded: from now on status can judge us. */
        if (ready_fd >= 0 && il_write_all(ready_fd, "1", 1) < 0)
            il_warn("ready pipe: %s", strerror(errno));
        if (ready_fd >= 0)
            close(ready_fd);
        pid_t tunnel = rn_tunnel_start(pod_dir, &sv.req);
        rc = run_pod(&sv);
        rn_tunnel_stop(tunnel);
        mark_done_durably(&sv);
        il_info("pod %s done", sv.req.pod.name);
    }
    if (sv.req.raw)
        il_create_request_free(&sv.req);
    rn_runtime_spec_free(&sv.rt);
    if (sv.sigfd >= 0)
        close(sv.sigfd);
    free(sv.pod_dir);
    il_buf_free(&err);
    return rc;
}
