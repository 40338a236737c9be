/* exec.c -- kubectl exec and port-forward for interlink-local.
 *
 * exec runs the command the way exec probes run (rn_check_exec_command:
 * `podman exec`, or nsenter into every namespace of the container's
 * process), in a session of its own so the framework can kill it as a
 * group, with pipes or, for a TTY, a pty whose slave becomes the
 * command's controlling terminal.  Pods here share the host's network
 * (probes reach them on 127.0.0.1 too), so a forwarded port is a
 * connection to 127.0.0.1:port. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "local.h"
#include "plugin.h"

static const il_container *find_container(const il_pod *pod, const char *name)
{
    for (size_t i = 0; i < pod->n_containers; i++)
        if (!strcmp(pod->containers[i].name, name))
            return &pod->containers[i];
    for (size_t i = 0; i < pod->n_init_containers; i++)
        if (!strcmp(pod->init_containers[i].name, name))
            return &pod->init_containers[i];
    return NULL;
}

/* The launch for req in its container: 0, or an HTTP status with err. */
static int exec_launch(local_ctx *lc, const il_exec_request *req, launch_spec *ls, il_buf *err)
{
    char *pod_dir = rn_poddir_find(lc->pods_dir, &req->pod);
    if (!pod_dir) {
        il_buf_printf(err, "pod %s/%s (uid %s) is not here", req->pod.ns, req->pod.name,
                      req->pod.uid);
        return 404;
    }
    il_create_request cr;
    runtime_spec rt;
    int rc = 500;
    if (rn_store_read_request(pod_dir, &cr, err) != 0) {
        free(pod_dir);
        return 500;
    }
    if (rn_runtime_spec_read(pod_dir, &rt, err) != 0) {
        il_create_request_free(&cr);
        free(pod_dir);
        return 500;
    }
    const il_container *c = find_container(&cr.pod, req->container);
    char *ctr_dir = c ? rn_store_ctr_dir(pod_dir, c->name) : NULL;
    il_container_status st = {0};
    pid_t pgid = 0;
    if (!c) {
        il_buf_printf(err, "container %s is not valid for pod %s", req->container, req->pod.name);
        rc = 404;
    } else if (rn_state_read(ctr_dir, &st, &pgid) != 0 || st.state != IL_STATE_RUNNING ||
               pgid <= 0) {
        il_buf_printf(err, "container %s is not running", c->name);
        rc = 409;
    } else {
        int r = rn_check_exec_command(&rt, &cr.pod, c, pgid, req->command, ls, err);
        if (r == 1)
            il_buf_printf(err, "container %s has no process to enter yet", c->name);
        rc = r == 0 ? 0 : r == 1 ? 409 : 500;
    }
    il_container_status_free(&st);
    free(ctr_dir);
    rn_runtime_spec_free(&rt);
    il_create_request_free(&cr);
    free(pod_dir);
    return rc;
}

/* In the child, before exec: only async-signal-safe calls. */
static void child(const launch_spec *ls, int in, int out, int errfd, bool tty)
{
    extern char **environ;
    setsid();
    if (tty)
        ioctl(in, TIOCSCTTY, 0);
    dup2(in, 0);
    dup2(out, 1);
    dup2(errfd, 2);
    closefrom(3);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    execvpe(ls->argv.v[0], ls->argv.v, ls->envp.v && ls->envp.v[0] ? ls->envp.v : environ);
    _exit(127);
}

static int open_pty(int *master, int *slave)
{
    char name[128];
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0 || grantpt(*master) != 0 || unlockpt(*master) != 0 ||
        ptsname_r(*master, name, sizeof name) != 0 ||
        (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        if (*master >= 0)
            close(*master);
        return -1;
    }
    return 0;
}

int local_exec(void *ctx, const il_exec_request *req, il_exec_proc *proc, il_buf *err)
{
    launch_spec ls = {0};
    int rc = exec_launch(ctx, req, &ls, err);
    if (rc != 0) {
        rn_launch_spec_free(&ls);
        return rc;
    }
    int fds[6] = {-1, -1, -1, -1, -1, -1};   /* stdin r/w, stdout r/w, stderr r/w */
    int ok = req->tty ? open_pty(&fds[1], &fds[0])
                      : (pipe2(fds, O_CLOEXEC) | pipe2(fds + 2, O_CLOEXEC) |
                         pipe2(fds + 4, O_CLOEXEC));
    if (ok != 0) {
        il_buf_printf(err, "exec: %s", strerror(errno));
        for (int i = 0; i < 6; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        rn_launch_spec_free(&ls);
        return 500;
    }
    if (req->tty && req->width > 0) {   /* the size kubectl's terminal has */
        struct winsize ws = {.ws_row = (unsigned short)req->height,
                             .ws_col = (unsigned short)req->width};
        ioctl(fds[1], TIOCSWINSZ, &ws);
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (req->tty)
            child(&ls, fds[0], fds[0], fds[0], true);
        child(&ls, fds[0], fds[3], fds[5], false);
    }
    rn_launch_spec_free(&ls);
    if (req->tty) {   /* fds[0] the slave, fds[1] the master */
        close(fds[0]);
        *proc = (il_exec_proc){.pid = pid, .in_fd = fds[1], .out_fd = dup(fds[1]),
                               .err_fd = -1, .tty = true};
    } else {
        close(fds[0]);
        close(fds[3]);
        close(fds[5]);
        *proc = (il_exec_proc){.pid = pid, .in_fd = fds[1], .out_fd = fds[2], .err_fd = fds[4]};
    }
    if (pid < 0) {
        il_buf_printf(err, "exec: fork: %s", strerror(errno));
        close(proc->in_fd);
        close(proc->out_fd);
        if (proc->err_fd >= 0)
            close(proc->err_fd);
        return 500;
    }
    if (!req->stdin_open && !req->tty) {   /* no stdin: the command sees EOF */
        close(proc->in_fd);
        proc->in_fd = -1;
    }
    return 0;
}

int local_port_connect(void *ctx, const il_pod *pod, int port, int *fd, il_buf *err)
{
    local_ctx *lc = ctx;
    char *pod_dir = rn_poddir_find(lc->pods_dir, pod);
    if (!pod_dir) {
        il_buf_printf(err, "pod %s/%s (uid %s) is not here", pod->ns, pod->name, pod->uid);
        return 404;
    }
    free(pod_dir);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        il_buf_printf(err, "connecting to port %d of pod %s: %s", port, pod->name,
                      strerror(errno));
        if (s >= 0)
            close(s);
        return 502;
    }
    *fd = s;
    return 0;
}
