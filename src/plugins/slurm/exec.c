/* exec.c -- kubectl exec, attach -i and port-forward for interlink-slurm.
 *
 * A pod runs inside its batch job on a compute node that this host may
 * reach only through SLURM, so every session is one job step:
 *
 *   srun --overlap --jobid=JOB --nodelist=BATCHHOST -N1 -n1 --unbuffered
 *        RUNNER --run-pod DIR --exec C ... -- CMD...   (or --connect PORT)
 *
 * --overlap lets the step share the job's CPUs and memory with the pod;
 * the batch host (squeue's %B) is where the supervisor, and so the
 * container, runs.  The node side (nodeexec.c) speaks the session frames
 * over srun's stdin and stdout, and the framework relays them unchanged
 * (il_exec_proc.framed): no pty or signal has to survive srun.  A session
 * ends from either side: the caller gone, the framework closes srun's
 * stdin and the node side kills the command and exits, which ends the
 * step; srun is signalled only if that does not happen.  A port-forward
 * is the raw byte stream over a socketpair that is srun's stdin and
 * stdout, after the node side said it connected.
 *
 * Everything in srun's argv is checked here: the job id is the recorded
 * one, the host SLURM's own answer, the container one of the pod's, the
 * port a number; the command is argv after "--", which srun never parses
 * (its options end at the program) and the node side passes to execve. */
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

/* Where a session goes: the pod's directory here and as the node sees
 * it (with in_tmpdir: the UID, see nodeexec.c), its job and batch host. */
typedef struct exec_target {
    char *dir;
    char *node_dir;
    bool in_tmpdir;
    char *job_id;
    char *host;
} exec_target;

static void target_free(exec_target *t)
{
    free(t->dir);
    free(t->node_dir);
    free(t->job_id);
    free(t->host);
}

static bool host_name_ok(const char *s)
{
    if (!*s || *s == '-' || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_'))
            return false;
    return true;
}

/* The state and batch host of the job: 0, or an HTTP status with err. */
static int job_where(const slurm_config *cfg, exec_target *t, il_buf *err)
{
    char *argv[] = {cfg->squeue_path, "-h", "-j", t->job_id, "-o", "%T|%B", NULL};
    cmd_result r;
    cmd_run(argv, cfg->command_timeout_s, &r);
    char *out = il_trim((char *)il_buf_cstr(&r.out));
    char *bar = strchr(out, '|');
    int rc = 0;
    if (r.status != 0 && !strstr(il_buf_cstr(&r.err), "Invalid job id")) {
        il_buf_printf(err, "squeue: %s", il_trim((char *)il_buf_cstr(&r.err)));
        rc = 503;
    } else if (!*out) {
        il_buf_printf(err, "the pod's job %s has ended", t->job_id);
        rc = 409;
    } else if (!bar || strncmp(out, "RUNNING|", 8) != 0) {
        il_buf_printf(err, "the pod's job %s is %.*s, not running", t->job_id,
                      bar ? (int)(bar - out) : 0, out);
        rc = 409;
    } else if (!host_name_ok(bar + 1)) {
        il_buf_printf(err, "squeue gave job %s an unexpected batch host", t->job_id);
        rc = 500;
    } else {
        t->host = il_xstrdup(bar + 1);
    }
    cmd_result_free(&r);
    return rc;
}

/* The pod's directory, its running job and the job's host: 0, or an HTTP
 * status with err. */
static int target_find(slurm_ctx *ctx, const il_pod *pod, exec_target *t, il_buf *err)
{
    memset(t, 0, sizeof *t);
    if (!(t->dir = rn_poddir_find(ctx->pods_dir, pod))) {
        il_buf_printf(err, "pod %s/%s (uid %s) is not here", pod->ns, pod->name, pod->uid);
        return 404;
    }
    if (!(t->job_id = job_record_read(t->dir, NULL))) {
        il_buf_printf(err, "pod %s has no job yet", pod->name);
        return 409;
    }
    const slurm_config *cfg = ctx->cfg;
    if (cfg->shared_fs) {
        t->node_dir = il_xstrdup(t->dir);
    } else if (cfg->node_local_dir && cfg->node_local_dir[0]) {
        t->node_dir = il_xasprintf("%s/%s", cfg->node_local_dir, pod->uid);
    } else {
        t->node_dir = il_xstrdup(pod->uid);
        t->in_tmpdir = true;
    }
    return job_where(cfg, t, err);
}

/* srun's argv up to and including the runner's --run-pod DIR. */
static void srun_prefix(const slurm_ctx *ctx, const exec_target *t, strvec *argv)
{
    rn_strvec_push(argv, ctx->cfg->srun_path);
    rn_strvec_push(argv, "--overlap");
    rn_strvec_pushf(argv, "--jobid=%s", t->job_id);
    rn_strvec_pushf(argv, "--nodelist=%s", t->host);
    rn_strvec_push(argv, "--nodes=1");
    rn_strvec_push(argv, "--ntasks=1");
    rn_strvec_push(argv, "--unbuffered");
    rn_strvec_push(argv, "--quiet");
    rn_strvec_push(argv, "--chdir=/");
    rn_strvec_push(argv, ctx->runner_path);
    rn_strvec_push(argv, "--run-pod");
    rn_strvec_push(argv, t->node_dir);
}

/* Whether name is one of the pod's containers (for attach one with
 * stdin: true, else 400) and, with a shared
 * filesystem, not terminated as its state file says (without one the node
 * side tells).  0 or 404/409/500 with err. */
static int container_check(const exec_target *t, const char *name, bool attach, il_buf *err)
{
    il_create_request cr;
    int rc = 0;
    if (rn_store_read_request(t->dir, &cr, err) != 0)
        return 500;
    bool in = false, once, tty;
    if (il_pod_container(&cr.pod, name))
        rn_container_io_flags(&cr.pod, name, &in, &once, &tty);
    if (!il_pod_container(&cr.pod, name)) {
        il_buf_printf(err, "container %s is not valid for pod %s", name, cr.pod.name);
        rc = 404;
    } else if (attach && !in) {
        il_buf_printf(err, "container %s of pod %s was not created with stdin: true; "
                      "kubectl attach -i cannot reach its input", name, cr.pod.name);
        rc = 400;
    } else if (t->node_dir && !t->in_tmpdir && !strcmp(t->dir, t->node_dir)) {
        char *ctr_dir = rn_store_ctr_dir(t->dir, name);
        il_container_status st = {0};
        pid_t pgid = 0;
        if (rn_state_read(ctr_dir, &st, &pgid) == 0 && st.state == IL_STATE_TERMINATED) {
            il_buf_printf(err, "container %s is not running (it has terminated)", name);
            rc = 409;
        }
        il_container_status_free(&st);
        free(ctr_dir);
    }
    il_create_request_free(&cr);
    return rc;
}

int slurm_exec(void *vctx, const il_exec_request *req, il_exec_proc *proc, il_buf *err)
{
    slurm_ctx *ctx = vctx;
    exec_target t;
    int rc = target_find(ctx, &req->pod, &t, err);
    if (rc == 0)
        rc = container_check(&t, req->container, req->attach, err);
    if (rc != 0) {
        target_free(&t);
        return rc;
    }
    strvec argv = {0};
    srun_prefix(ctx, &t, &argv);
    rn_strvec_push(&argv, req->attach ? "--attach" : "--exec");
    rn_strvec_push(&argv, req->container);
    if (t.in_tmpdir)
        rn_strvec_push(&argv, "--in-tmpdir");
    if (req->stdin_open && !req->attach)
        rn_strvec_push(&argv, "--stdin");
    if (req->tty && !req->attach) {   /* attach: the container has its terminal */
        rn_strvec_push(&argv, "--tty");
        if (req->width > 0 && req->height > 0 && req->width < 65536 && req->height < 65536) {
            rn_strvec_push(&argv, "--size");
            rn_strvec_pushf(&argv, "%d", req->width);
            rn_strvec_pushf(&argv, "%d", req->height);
        }
    }
    if (!req->attach) {
        rn_strvec_push(&argv, "--");
        rn_strvec_push_all(&argv, req->command);
    }
    /* Frames go to srun's stdin whatever the command reads. */
    if (il_exec_spawn(argv.v, NULL, false, 0, 0, true, proc, err) != 0) {
        rc = 500;
    } else {
        proc->framed = true;
        il_info("exec: srun step %d in job %s on %s", (int)proc->pid, t.job_id, t.host);
    }
    rn_strvec_free(&argv);
    target_free(&t);
    return rc;
}

/* ---- port-forward ---------------------------------------------------------- */

typedef struct forward_step {
    pid_t pid;
    int err_fd;
} forward_step;

/* Reap a forwarding srun and log what it said; it ends when the
 * framework closes the connection (the node side sees its stdin end). */
static void *forward_reaper(void *arg)
{
    forward_step *fs = arg;
    il_buf said = IL_BUF_INIT;
    char buf[4096];
    ssize_t n;
    while ((n = read(fs->err_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && said.len < 16384)
            il_buf_append(&said, buf, (size_t)n);
    int status;
    while (waitpid(fs->pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (said.len)
        il_debug("port-forward step %d: %s", (int)fs->pid, il_trim((char *)il_buf_cstr(&said)));
    il_buf_free(&said);
    close(fs->err_fd);
    free(fs);
    return NULL;
}

/* srun with one socket as its stdin and stdout and err_w as its stderr. */
static pid_t spawn_forward(char *const argv[], int sock, int err_w)
{
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        dup2(sock, 0);
        dup2(sock, 1);
        dup2(err_w, 2);
        closefrom(3);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Wait for SLURM_CONNECTED on fd: true when it came in time. */
static bool connected(int fd, int64_t timeout_s)
{
    const char *want = SLURM_CONNECTED;
    size_t got = 0, len = strlen(want);
    int64_t deadline = il_monotonic_ms() + timeout_s * 1000;
    while (got < len) {
        int64_t left = deadline - il_monotonic_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0) {
            if (left <= 0 || errno != EINTR)
                return false;
            continue;
        }
        if (!p.revents)
            continue;
        char c;
        ssize_t n = read(fd, &c, 1);   /* no further: the rest is the pod's */
        if (n <= 0 || c != want[got])
            return false;
        got++;
    }
    return true;
}

int slurm_port_connect(void *vctx, const il_pod *pod, int port, int *fd, il_buf *err)
{
    slurm_ctx *ctx = vctx;
    exec_target t;
    int rc = target_find(ctx, pod, &t, err);
    if (rc != 0) {
        target_free(&t);
        return rc;
    }
    int sp[2], ep[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        il_buf_printf(err, "socketpair: %s", strerror(errno));
        target_free(&t);
        return 500;
    }
    if (pipe2(ep, O_CLOEXEC) != 0) {
        il_buf_printf(err, "pipe: %s", strerror(errno));
        close(sp[0]);
        close(sp[1]);
        target_free(&t);
        return 500;
    }
    strvec argv = {0};
    srun_prefix(ctx, &t, &argv);
    rn_strvec_push(&argv, "--connect");
    rn_strvec_pushf(&argv, "%d", port);
    pid_t pid = spawn_forward(argv.v, sp[1], ep[1]);
    rn_strvec_free(&argv);
    close(sp[1]);
    close(ep[1]);
    pthread_t th;
    forward_step *fs = il_xcalloc(1, sizeof *fs);
    *fs = (forward_step){.pid = pid, .err_fd = ep[0]};
    if (pid > 0 && connected(sp[0], ctx->cfg->command_timeout_s) &&
        pthread_create(&th, NULL, forward_reaper, fs) == 0) {
        pthread_detach(th);
        il_debug("port-forward to port %d of pod %s: srun step %d in job %s on %s", port,
                 pod->name, (int)pid, t.job_id, t.host);
        *fd = sp[0];
        target_free(&t);
        return 0;
    }
    /* Not connected: the node side exits after saying why, which ends the
     * step; one that says nothing in time is stopped. */
    close(sp[0]);
    il_buf said = IL_BUF_INIT;
    int64_t start = il_monotonic_ms();
    int sent = 0;
    while (pid > 0) {
        struct pollfd p = {.fd = ep[0], .events = POLLIN};
        int64_t waited = il_monotonic_ms() - start;
        if (sent < 2 && waited > (sent + 1) * 5000) {
            int sig = sent++ ? SIGKILL : SIGTERM;
            kill(-pid, sig);
            kill(pid, sig);   /* its group may not exist yet (setsid in the child) */
        }
        if (poll(&p, 1, 200) <= 0 || !p.revents)
            continue;
        char buf[4096];
        ssize_t n = read(ep[0], buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
        if (n > 0 && said.len < 4096)
            il_buf_append(&said, buf, (size_t)n);
    }
    close(ep[0]);
    free(fs);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    il_buf_printf(err, "port %d of pod %s: %s", port, pod->name,
                  said.len ? il_trim((char *)il_buf_cstr(&said)) : "no answer from the node");
    il_buf_free(&said);
    target_free(&t);
    return 502;
}
