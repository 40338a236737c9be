/* plugin_session.c -- a plugin's end of exec and port-forward sessions.
 *
 * The backend only starts a process (ops->exec) or opens a connection
 * (ops->port_connect); everything else is here, the same for every
 * backend: the 101, pumping the command's fds into session frames and
 * back, stdin close, terminal size, the exit code, and killing the
 * command's process group when the caller goes away first (a kubectl
 * killed mid-exec must not leave the command running).  The same pump
 * serves plain fds (il_exec_serve) for a remote end such as interlink-
 * slurm's node side, whose frames the plugin then relays unchanged
 * (relay_pump, for an il_exec_proc marked framed). */
#include "plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

typedef struct session_server {
    const il_plugin_ops *ops;
    void *ctx;
} session_server;

typedef struct exec_job {
    il_exec_proc proc;
    bool reaped;
    int exit_code;
    il_buf in;                /* bytes from the VK not yet framed */
} exec_job;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void set_nonblock(int fd)
{
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int exit_code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/* The command's process group, and the command itself: right after the
 * spawn the child may not have made its group yet (setsid), and then only
 * the pid reaches it (it has no descendants yet either). */
static void kill_command(const il_exec_proc *pr, int sig)
{
    kill(-pr->pid, sig);
    kill(pr->pid, sig);
}

static void reap(exec_job *j, bool wait)
{
    int status;
    if (j->reaped)
        return;
    pid_t r = waitpid(j->proc.pid, &status, wait ? 0 : WNOHANG);
    if (r == j->proc.pid || (r < 0 && errno == ECHILD)) {
        j->reaped = true;
        j->exit_code = r == j->proc.pid ? exit_code_of(status) : 1;
    }
}

/* One frame from the VK. */
static void from_vk(exec_job *j, int type, const uint8_t *p, size_t n)
{
    il_exec_proc *pr = &j->proc;
    if (type == IL_SESSION_STDIN && n == 0) {
        if (!pr->tty)   /* a terminal's master also carries the output */
            close_fd(&pr->in_fd);
    } else if (type == IL_SESSION_STDIN && pr->in_fd >= 0) {
        if (il_session_send(pr->in_fd, p, n) < 0 && !pr->tty)
            close_fd(&pr->in_fd);
    } else if (type == IL_SESSION_RESIZE && pr->tty) {
        json_t *size = json_loadb((const char *)p, n, 0, NULL);
        json_int_t w = json_integer_value(json_object_get(size, "Width"));
        json_int_t h = json_integer_value(json_object_get(size, "Height"));
        if (w > 0 && h > 0 && w < 65536 && h < 65536) {
            struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
            ioctl(pr->in_fd, TIOCSWINSZ, &ws);
        }
        json_decref(size);
    }
}

/* Act on the complete frames buffered in j->in; false on a malformed one. */
static bool parse_in(exec_job *j)
{
    size_t at = 0;
    bool ok = true;
    for (;;) {
        int type;
        const uint8_t *p;
        size_t plen;
        ssize_t used = il_session_parse((const uint8_t *)j->in.data + at, j->in.len - at, &type,
                                        &p, &plen);
        if (used <= 0) {
            ok = used == 0;
            break;
        }
        from_vk(j, type, p, plen);
        at += (size_t)used;
    }
    if (at) {
        memmove(j->in.data, j->in.data + at, j->in.len - at);
        j->in.len -= at;
    }
    return ok;
}

/* Read what the VK sent; false once it is gone or talks nonsense. */
static bool read_vk(exec_job *j, int fd)
{
    char buf[32 * 1024];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0)
        return false;
    il_buf_append(&j->in, buf, (size_t)n);
    return parse_in(j);
}

/* Forward one read of *fd as frames of type; false when the VK is gone. */
static bool pump_output(int *fd, int type, int vk_fd)
{
    char buf[32 * 1024];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0) {   /* end, or EIO from a pty whose process is gone */
        close_fd(fd);
        return true;
    }
    il_buf f = IL_BUF_INIT;
    il_session_frame(&f, type, buf, (size_t)n);
    int rc = il_session_send(vk_fd, f.data, f.len);
    il_buf_free(&f);
    return rc == 0;
}

/* The command's output after it exited: what is there now, no waiting
 * for descendants that keep the pipe open. */
static void drain(exec_job *j, int vk_fd)
{
    int *fds[2] = {&j->proc.out_fd, &j->proc.err_fd};
    int types[2] = {IL_SESSION_STDOUT, IL_SESSION_STDERR};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 64 && *fds[i] >= 0; k++) {
            struct pollfd p = {.fd = *fds[i], .events = POLLIN};
            if (poll(&p, 1, 0) <= 0 || !pump_output(fds[i], types[i], vk_fd))
                break;
        }
}

/* One session: frames from the VK on from_fd (j->in may hold some
 * already), frames to it on to_fd; u (may be NULL) tells a hang-up that
 * the fds do not show.  Kills the command's group when the VK goes first;
 * returns whether it stayed to the end (then the exit frame was sent). */
static bool exec_session(exec_job *j, int from_fd, int to_fd, const il_upgraded *u)
{
    il_exec_proc *pr = &j->proc;
    set_nonblock(pr->out_fd);
    set_nonblock(pr->err_fd);
    bool vk_here = parse_in(j);
    while (vk_here && (pr->out_fd >= 0 || pr->err_fd >= 0)) {
        struct pollfd p[3] = {{.fd = from_fd, .events = POLLIN},
                              {.fd = pr->out_fd, .events = POLLIN},
                              {.fd = pr->err_fd, .events = POLLIN}};
        int n = poll(p, 3, 500);
        if (n < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            vk_here = read_vk(j, from_fd);
        if (vk_here && u && il_upgraded_gone(u))
            vk_here = false;
        if (vk_here && p[1].revents)
            vk_here = pump_output(&pr->out_fd, IL_SESSION_STDOUT, to_fd);
        if (vk_here && p[2].revents)
            vk_here = pump_output(&pr->err_fd, IL_SESSION_STDERR, to_fd);
        reap(j, false);
        if (j->reaped) {
            drain(j, to_fd);
            break;
        }
    }
    if (!vk_here && !j->reaped) {
        il_info("exec: caller went away: killing process group %d", (int)pr->pid);
        kill_command(pr, SIGKILL);
    }
    close_fd(&pr->in_fd);
    close_fd(&pr->out_fd);
    close_fd(&pr->err_fd);
    reap(j, true);
    if (vk_here) {
        char text[64];
        int len = snprintf(text, sizeof text, "{\"exitCode\":%d}", j->exit_code);
        il_buf f = IL_BUF_INIT;
        il_session_frame(&f, IL_SESSION_EXIT, text, (size_t)len);
        il_session_send(to_fd, f.data, f.len);
        il_buf_free(&f);
    }
    il_buf_free(&j->in);
    return vk_here;
}

static void exec_pump(il_upgraded *u, void *arg)
{
    exec_job *j = arg;
    int vk_fd = il_upgraded_fd(u);
    size_t early_len;
    const char *early = il_upgraded_early(u, &early_len);   /* frames that came with the request */
    il_buf_append(&j->in, early, early_len);
    if (exec_session(j, vk_fd, vk_fd, u))
        shutdown(vk_fd, SHUT_WR);
    free(j);
    il_upgraded_close(u);
}

int il_exec_serve(il_exec_proc *proc, int in_fd, int out_fd)
{
    exec_job j = {.proc = *proc, .in = IL_BUF_INIT};
    return exec_session(&j, in_fd, out_fd, NULL) ? j.exit_code : -1;
}

/* ---- exec relayed to a remote end (il_exec_proc.framed) --------------------- */

/* Where the remote end's frame stream is, to know whether it sent its
 * exit frame before it ended. */
typedef struct frame_track {
    uint8_t head[IL_SESSION_HEADER];
    size_t head_len;
    size_t left;              /* payload bytes of the current frame still to come */
    bool exit_seen;
} frame_track;

static void track(frame_track *t, const uint8_t *p, size_t n)
{
    while (n) {
        if (t->left) {
            size_t k = n < t->left ? n : t->left;
            t->left -= k;
            p += k;
            n -= k;
            continue;
        }
        t->head[t->head_len++] = *p++;
        n--;
        if (t->head_len == IL_SESSION_HEADER) {
            t->exit_seen |= t->head[0] == IL_SESSION_EXIT;
            t->left = (size_t)t->head[1] << 24 | (size_t)t->head[2] << 16 |
                      (size_t)t->head[3] << 8 | t->head[4];
            t->head_len = 0;
        }
    }
}

/* Read one chunk of *fd into why (kept to its last 4 KiB); closes *fd at
 * its end. */
static void collect(int *fd, il_buf *why)
{
    char buf[4096];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_fd(fd);
        return;
    }
    if (why->len > 4096)
        il_buf_reset(why);
    il_buf_append(why, buf, (size_t)n);
}

/* Stop a relay: its input closed, its output read (and dropped) so that
 * it never blocks on a full pipe, SIGTERM after 5 s, SIGKILL after 10. */
static void relay_stop(exec_job *j, il_buf *why)
{
    il_exec_proc *pr = &j->proc;
    close_fd(&pr->in_fd);
    set_nonblock(pr->out_fd);
    set_nonblock(pr->err_fd);
    int64_t start = il_monotonic_ms();
    bool termed = false;
    while (!j->reaped && il_monotonic_ms() - start < 10000) {
        if (!termed && il_monotonic_ms() - start >= 5000) {
            kill_command(pr, SIGTERM);
            termed = true;
        }
        struct pollfd p[2] = {{.fd = pr->out_fd, .events = POLLIN},
                              {.fd = pr->err_fd, .events = POLLIN}};
        if (poll(p, 2, 50) > 0) {
            char buf[32 * 1024];
            ssize_t n = p[0].revents ? read(pr->out_fd, buf, sizeof buf) : 1;
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                close_fd(&pr->out_fd);
            if (p[1].revents)
                collect(&pr->err_fd, why);
        }
        reap(j, false);
    }
    if (!j->reaped) {
        il_warn("exec: relay %d did not stop: killing it", (int)pr->pid);
        kill_command(pr, SIGKILL);
    }
    close_fd(&pr->out_fd);
    close_fd(&pr->err_fd);
    reap(j, true);
}

static void relay_pump(il_upgraded *u, void *arg)
{
    exec_job *j = arg;
    il_exec_proc *pr = &j->proc;
    int vk_fd = il_upgraded_fd(u);
    frame_track t = {0};
    il_buf why = IL_BUF_INIT;
    size_t early_len;
    const char *early = il_upgraded_early(u, &early_len);
    if (early_len && il_session_send(pr->in_fd, early, early_len) != 0)
        close_fd(&pr->in_fd);
    set_nonblock(pr->out_fd);
    set_nonblock(pr->err_fd);
    bool vk_here = true;
    while (vk_here && pr->out_fd >= 0) {
        struct pollfd p[3] = {{.fd = vk_fd, .events = POLLIN},
                              {.fd = pr->out_fd, .events = POLLIN},
                              {.fd = pr->err_fd, .events = POLLIN}};
        if (poll(p, 3, 500) < 0 && errno != EINTR)
            break;
        char buf[32 * 1024];
        if (p[0].revents) {
            ssize_t n = read(vk_fd, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                vk_here = false;
            else if (n > 0 && pr->in_fd >= 0 && il_session_send(pr->in_fd, buf, (size_t)n) != 0)
                close_fd(&pr->in_fd);
        }
        if (vk_here && il_upgraded_gone(u))
            vk_here = false;
        if (vk_here && p[1].revents) {
            ssize_t n = read(pr->out_fd, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                close_fd(&pr->out_fd);
            else if (n > 0) {
                track(&t, (const uint8_t *)buf, (size_t)n);
                vk_here = il_session_send(vk_fd, buf, (size_t)n) == 0;
            }
        }
        if (p[2].revents)
            collect(&pr->err_fd, &why);
    }
    if (!vk_here)
        il_info("exec: caller went away: stopping relay %d", (int)pr->pid);
    relay_stop(j, &why);
    if (vk_here && !t.exit_seen) {   /* it ended without saying how: say why */
        const char *text = why.len ? il_trim((char *)il_buf_cstr(&why)) : "";
        json_t *e = json_pack("{s:s+}", "error", "the exec ended without an exit code: ",
                              *text ? text : "no output");
        char *s = json_dumps(e, JSON_COMPACT);
        il_buf f = IL_BUF_INIT;
        il_session_frame(&f, IL_SESSION_EXIT, s, strlen(s));
        il_session_send(vk_fd, f.data, f.len);
        il_buf_free(&f);
        free(s);
        json_decref(e);
    }
    if (vk_here)
        shutdown(vk_fd, SHUT_WR);
    il_buf_free(&why);
    free(j);
    il_upgraded_close(u);
}

/* The switch never happened: the command must not outlive the request. */
static void exec_abandon(void *arg)
{
    exec_job *j = arg;
    if (j->proc.framed) {
        il_buf why = IL_BUF_INIT;
        relay_stop(j, &why);
        il_buf_free(&why);
        free(j);
        return;
    }
    kill_command(&j->proc, SIGKILL);
    close_fd(&j->proc.in_fd);
    close_fd(&j->proc.out_fd);
    close_fd(&j->proc.err_fd);
    reap(j, true);
    free(j);
}

static bool wants_upgrade(il_request *req)
{
    const char *up = il_request_header(req, "Upgrade");
    if (up && !strcasecmp(up, IL_SESSION_PROTOCOL))
        return true;
    il_respond_error(req, 426, "%s needs Upgrade: %s", il_request_path(req),
                     IL_SESSION_PROTOCOL);
    return false;
}

static void handle_exec(il_request *req, void *ud)
{
    session_server *ss = ud;
    if (!ss->ops->exec) {
        il_respond_error(req, 501, "the %s plugin cannot exec into containers", ss->ops->name);
        return;
    }
    if (!wants_upgrade(req))
        return;
    json_t *body = il_request_json(req);
    if (!body)
        return;
    il_exec_request er;
    char msg[256];
    if (il_exec_request_parse(body, &er, msg, sizeof msg) != 0) {
        json_decref(body);
        il_respond_error(req, 400, "%s", msg);
        return;
    }
    json_decref(body);
    il_exec_proc proc = {.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
    il_buf err = IL_BUF_INIT;
    int rc = ss->ops->exec(ss->ctx, &er, &proc, &err);
    if (rc != 0) {
        il_respond_error(req, rc >= 400 && rc <= 599 ? rc : 500, "%s", il_buf_cstr(&err));
    } else {
        il_info("%s in pod %s/%s container %s: %s%s (pid %d)", er.attach ? "attach" : "exec",
                er.pod.ns, er.pod.name, er.container, er.attach ? "stdin" : er.command[0],
                er.tty ? " with a TTY" : "", (int)proc.pid);
        exec_job *j = il_xcalloc(1, sizeof *j);
        j->proc = proc;
        il_respond_upgrade(req, IL_SESSION_PROTOCOL, NULL, proc.framed ? relay_pump : exec_pump,
                           j, exec_abandon);
    }
    il_buf_free(&err);
    il_exec_request_free(&er);
}

/* ---- port-forward ----------------------------------------------------------- */

typedef struct splice_job {
    int fd;
} splice_job;

static void splice_pump(il_upgraded *u, void *arg)
{
    splice_job *sj = arg;
    int a = il_upgraded_fd(u), b = sj->fd;
    size_t early_len;
    const char *early = il_upgraded_early(u, &early_len);
    bool ok = !early_len || il_session_send(b, early, early_len) == 0;
    while (ok) {
        struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            break;
        if (il_upgraded_gone(u))
            break;
        for (int i = 0; i < 2 && ok; i++) {
            if (!p[i].revents)
                continue;
            char buf[32 * 1024];
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            ok = n > 0 && il_session_send(p[1 - i].fd, buf, (size_t)n) == 0;
        }
    }
    close(b);
    free(sj);
    il_upgraded_close(u);
}

static void splice_abandon(void *arg)
{
    splice_job *sj = arg;
    close(sj->fd);
    free(sj);
}

static void handle_portforward(il_request *req, void *ud)
{
    session_server *ss = ud;
    if (!ss->ops->port_connect) {
        il_respond_error(req, 501, "the %s plugin cannot forward ports", ss->ops->name);
        return;
    }
    if (!wants_upgrade(req))
        return;
    json_t *body = il_request_json(req);
    if (!body)
        return;
    il_pod pod;
    int port, fd = -1;
    char msg[256];
    if (il_portforward_parse(body, &pod, &port, msg, sizeof msg) != 0) {
        json_decref(body);
        il_respond_error(req, 400, "%s", msg);
        return;
    }
    json_decref(body);
    il_buf err = IL_BUF_INIT;
    int rc = ss->ops->port_connect(ss->ctx, &pod, port, &fd, &err);
    if (rc != 0) {
        il_respond_error(req, rc >= 400 && rc <= 599 ? rc : 500, "%s", il_buf_cstr(&err));
    } else {
        splice_job *sj = il_xcalloc(1, sizeof *sj);
        sj->fd = fd;
        il_respond_upgrade(req, IL_SESSION_PROTOCOL, NULL, splice_pump, sj, splice_abandon);
    }
    il_buf_free(&err);
    il_pod_free(&pod);
}

void il_plugin_route_sessions(il_httpd *srv, const il_plugin_ops *ops, void *ctx)
{
    static session_server ss;   /* one plugin server per process */
    ss = (session_server){ops, ctx};
    il_httpd_route(srv, "/exec", handle_exec, &ss);
    il_httpd_route(srv, "/portforward", handle_portforward, &ss);
}
