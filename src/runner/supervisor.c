/* supervisor.c -- the per-pod supervisor (runner_supervise).
 *
 * Run by the backend where the pod runs (interlink-local: a detached
 * process that outlives the plugin; interlink-slurm: the batch job): it runs the init containers one by one, then all
 * containers in parallel, pipes each container's stdout/stderr into its log
 * file, and writes every state change to state.json.  One thread, one
 * poll() loop over the pipes and a signalfd (SIGCHLD reaps, SIGTERM starts
 * a graceful stop), so there are no locks and no zombies.  It exits once
 * every container it started has ended. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define DRAIN_AFTER_EXIT_MS 2000   /* stray processes may hold a pipe open */
#define PODMAN_KILL_SLACK_MS 5000  /* podman stop kills at grace; we follow later */

typedef struct sup_ctr {
    const il_container *spec;
    char *dir;
    il_container_status st;
    pid_t pid;                /* process group leader while running, else 0 */
    int pipes[2];             /* stdout, stderr read ends; -1 once closed */
    log_writer writers[2];
    int log_fd;
    bool started;
    bool exited;              /* reaped: st holds the exit status */
    bool finalized;           /* terminated state written */
    bool term_delivered;      /* stopping: SIGTERM reached a process */
    int64_t exited_ms;
} sup_ctr;

typedef struct supervisor {
    char *pod_dir;
    il_create_request req;
    runtime_spec rt;
    int sigfd;
    bool stopping;
    int64_t kill_at_ms;       /* 0: no kill pending */
} supervisor;

static void ctr_init(sup_ctr *c, const il_container *spec, const char *pod_dir)
{
    memset(c, 0, sizeof(*c));
    c->spec = spec;
    c->dir = store_ctr_dir(pod_dir, spec->name);
    /* Backends with lazy layouts (poddir_opts) leave this to us; a failure
     * shows as the state and log writes failing, with their errors. */
    if (il_mkdir_p(c->dir, 0755) != 0)
        il_warn("creating %s: %s", c->dir, strerror(errno));
    c->pipes[0] = c->pipes[1] = c->log_fd = -1;
    c->writers[0].stream = "stdout";
    c->writers[1].stream = "stderr";
}

static void ctr_free(sup_ctr *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->pipes[i] >= 0)
            close(c->pipes[i]);
        log_writer_free(&c->writers[i]);
    }
    if (c->log_fd >= 0)
        close(c->log_fd);
    il_container_status_free(&c->st);
    free(c->dir);
}

static void ctr_save(const sup_ctr *c)
{
    if (state_write(c->dir, &c->st, c->pid) != 0)
        il_error("writing state of %s: %s", c->spec->name, strerror(errno));
}

/* A container that could not be started ends at once, as terminated with
 * exit code 128 (what containerd reports for StartError). */
static void ctr_fail_start(sup_ctr *c, const char *reason, const char *message)
{
    il_warn("container %s: %s: %s", c->spec->name, reason, message);
    state_set(&c->st, IL_STATE_TERMINATED, reason, message);
    c->st.exit_code = 128;
    c->st.started_at = c->st.finished_at = il_time_now();
    c->started = c->exited = c->finalized = true;
    ctr_save(c);
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

static void ctr_start(supervisor *sv, sup_ctr *c)
{
    il_buf err = IL_BUF_INIT;
    launch_spec ls;
    if (sandbox_command(&sv->rt, &sv->req.pod, c->spec, sv->pod_dir, &ls, &err) != 0) {
        ctr_fail_start(c, "CreateContainerError", il_buf_cstr(&err));
        il_buf_free(&err);
        return;
    }
    char *log_path = store_path(c->dir, "log");
    c->log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    free(log_path);
    int write_ends[2] = {-1, -1};
    int rc = c->log_fd < 0 || open_pipes(c, write_ends) != 0 ? errno
             : sandbox_spawn(ls.argv.v, ls.envp.v, write_ends[0], write_ends[1], -1,
                                 &c->pid);
    for (int i = 0; i < 2; i++)
        if (write_ends[i] >= 0)
            close(write_ends[i]);
    if (rc != 0) {
        il_buf_printf(&err, "starting %s: %s", ls.argv.v[0], strerror(rc));
        ctr_fail_start(c, "StartError", il_buf_cstr(&err));
    } else {
        c->writers[0].fd = c->writers[1].fd = c->log_fd;
        c->started = true;
        state_set(&c->st, IL_STATE_RUNNING, NULL, NULL);
        c->st.started_at = il_time_now();
        c->st.container_id = sandbox_container_id(&sv->rt, &sv->req.pod, c->spec->name);
        ctr_save(c);
        il_info("container %s started (pid %d)", c->spec->name, (int)c->pid);
    }
    launch_spec_free(&ls);
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
    il_info("container %s exited with %d", c->spec->name, c->st.exit_code);
}

/* Terminated once the process is reaped and its output fully logged. */
static void ctr_finalize(sup_ctr *c)
{
    for (int i = 0; i < 2; i++) {
        log_writer_flush(&c->writers[i]);
        if (c->pipes[i] >= 0)
            close(c->pipes[i]);
        c->pipes[i] = -1;
    }
    state_set(&c->st, IL_STATE_TERMINATED, c->st.exit_code == 0 ? "Completed" : "Error", NULL);
    c->st.finished_at = il_time_now();
    c->pid = 0;
    c->finalized = true;
    ctr_save(c);
}

static void ctr_read_pipe(sup_ctr *c, int i)
{
    char chunk[65536];
    ssize_t got = read(c->pipes[i], chunk, sizeof(chunk));
    if (got > 0) {
        log_writer_feed(&c->writers[i], chunk, (size_t)got);
    } else if (got == 0 || errno != EINTR) {
        log_writer_flush(&c->writers[i]);
        close(c->pipes[i]);
        c->pipes[i] = -1;
    }
}

/* ---- stopping ---------------------------------------------------------- */

static int64_t stop_grace(const supervisor *sv)
{
    int64_t grace = sv->req.pod.grace_seconds;
    char *path = store_path(sv->pod_dir, "stop.json");
    json_t *json = json_load_file(path, 0, NULL);
    free(path);
    json_t *value = json_object_get(json, "grace");
    if (json_is_integer(value) && json_integer_value(value) >= 0)
        grace = json_integer_value(value);
    json_decref(json);
    return grace < 0 ? 0 : grace;
}

/* A container that has just started may not have a process to signal yet
 * (bwrap is still setting up); advance() retries until one got it. */
static void deliver_term(supervisor *sv, sup_ctr *c)
{
    if (!c->started || c->exited || c->term_delivered)
        return;
    int64_t slack = sv->rt.kind == RUNTIME_PODMAN ? PODMAN_KILL_SLACK_MS : 0;
    int64_t grace = (sv->kill_at_ms - slack - il_monotonic_ms() + 999) / 1000;
    c->term_delivered = sandbox_stop(&sv->rt, &sv->req.pod, c->spec->name, c->pid,
                                     grace < 0 ? 0 : grace) > 0;
}

static void begin_stop(supervisor *sv, sup_ctr *ctrs, size_t n)
{
    if (sv->stopping)
        return;
    int64_t grace = stop_grace(sv);
    il_info("stopping pod %s (grace %llds)", sv->req.pod.name, (long long)grace);
    sv->stopping = true;
    sv->kill_at_ms = il_monotonic_ms() + grace * 1000 + (sv->rt.kind == RUNTIME_PODMAN ? PODMAN_KILL_SLACK_MS : 0);
    for (size_t i = 0; i < n; i++)
        deliver_term(sv, &ctrs[i]);
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
        /* Reap everything: containers, and `podman stop` helpers. */
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            for (size_t i = 0; i < n; i++)
                if (ctrs[i].pid == pid && !ctrs[i].exited)
                    ctr_exited(&ctrs[i], status);
    }
}

/* ---- the event loop ---------------------------------------------------- */

static int loop_timeout(const supervisor *sv, const sup_ctr *ctrs, size_t n, int64_t now)
{
    int64_t wake = now + (sv->stopping ? 50 : 1000);   /* stopping: retry SIGTERM soon */
    if (sv->kill_at_ms && sv->kill_at_ms < wake)
        wake = sv->kill_at_ms;
    for (size_t i = 0; i < n; i++)
        if (ctrs[i].exited && !ctrs[i].finalized && ctrs[i].exited_ms + DRAIN_AFTER_EXIT_MS < wake)
            wake = ctrs[i].exited_ms + DRAIN_AFTER_EXIT_MS;
    return wake > now ? (int)(wake - now) : 0;
}

/* Kill overdue containers and finalize the ones that are done; returns
 * how many are still active. */
static size_t advance(supervisor *sv, sup_ctr *ctrs, size_t n)
{
    int64_t now = il_monotonic_ms();
    size_t active = 0;
    for (size_t i = 0; i < n; i++) {
        sup_ctr *c = &ctrs[i];
        if (!c->started || c->finalized)
            continue;
        if (!c->exited && sv->kill_at_ms && now >= sv->kill_at_ms)
            sandbox_kill(c->pid);
        else if (sv->stopping)
            deliver_term(sv, c);
        bool drained = c->pipes[0] < 0 && c->pipes[1] < 0;
        if (c->exited && (drained || now >= c->exited_ms + DRAIN_AFTER_EXIT_MS))
            ctr_finalize(c);
        else
            active++;
    }
    return active;
}

static void run_phase(supervisor *sv, sup_ctr *ctrs, size_t n)
{
    for (size_t i = 0; i < n && !sv->stopping; i++)
        ctr_start(sv, &ctrs[i]);
    struct pollfd *pfds = il_xcalloc(2 * n + 1, sizeof(*pfds));
    /* pfds[p] (p > 0) is pipe owner[p] % 2 of container owner[p] / 2. */
    size_t *owner = il_xcalloc(2 * n + 1, sizeof(*owner));
    while (advance(sv, ctrs, n) > 0) {
        size_t npfd = 0;
        pfds[npfd++] = (struct pollfd){.fd = sv->sigfd, .events = POLLIN};
        for (size_t i = 0; i < 2 * n; i++) {
            if (ctrs[i / 2].pipes[i % 2] < 0)
                continue;
            owner[npfd] = i;
            pfds[npfd++] = (struct pollfd){.fd = ctrs[i / 2].pipes[i % 2], .events = POLLIN};
        }
        if (poll(pfds, npfd, loop_timeout(sv, ctrs, n, il_monotonic_ms())) < 0 && errno != EINTR)
            break;
        for (size_t p = 1; p < npfd; p++)
            if (pfds[p].revents)
                ctr_read_pipe(&ctrs[owner[p] / 2], (int)(owner[p] % 2));
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
        state_set(&ctrs[i].st, IL_STATE_WAITING, "PodInitializing", message);
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

static int run_pod(supervisor *sv)
{
    const il_pod *pod = &sv->req.pod;
    size_t n_init = pod->n_init_containers, n = n_init + pod->n_containers;
    sup_ctr *ctrs = il_xcalloc(n, sizeof(*ctrs));
    for (size_t i = 0; i < n; i++)
        ctr_init(&ctrs[i], i < n_init ? &pod->init_containers[i] : &pod->containers[i - n_init],
                 sv->pod_dir);
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
    for (size_t i = 0; i < n; i++)
        ctr_free(&ctrs[i]);
    free(ctrs);
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

int runner_supervise(const char *pod_dir, int ready_fd)
{
    supervisor sv = {.pod_dir = il_xstrdup(pod_dir), .sigfd = signal_setup()};
    char err[512];
    int rc = 1;
    if (sv.sigfd < 0) {
        il_error("signalfd: %s", strerror(errno));
    } else if (store_read_request(pod_dir, &sv.req, err, sizeof(err)) != 0 ||
               runtime_spec_read(pod_dir, &sv.rt, err, sizeof(err)) != 0) {
        il_error("%s", err);
    } else if (supervisor_record_write(pod_dir, getpid()) != 0) {
        il_error("recording supervisor: %s", strerror(errno));
    } else {
        /* Tell /create we are recorded: from now on status can judge us. */
        if (ready_fd >= 0 && il_write_all(ready_fd, "1", 1) < 0)
            il_warn("ready pipe: %s", strerror(errno));
        if (ready_fd >= 0)
            close(ready_fd);
        rc = run_pod(&sv);
        if (supervisor_mark_done(pod_dir, sv.stopping) != 0)
            il_warn("marking pod done: %s", strerror(errno));
        il_info("pod %s done", sv.req.pod.name);
    }
    if (sv.req.raw)
        il_create_request_free(&sv.req);
    runtime_spec_free(&sv.rt);
    if (sv.sigfd >= 0)
        close(sv.sigfd);
    free(sv.pod_dir);
    return rc;
}
