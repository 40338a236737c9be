/* ctrstdin.c -- a container's own stdin, for kubectl attach -i.
 *
 * A container whose spec says `stdin: true` gets a pipe as its stdin (with
 * `tty: true` a pty, which is then its stdout and stderr too).  The
 * supervisor holds the writing end for the container's whole life, so the
 * container never sees end of input just because nobody is attached, and
 * listens on a unix socket in the container's directory (attach.sock,
 * mode 0600).  Every attacher (rn_attach_serve, started by the plugin for
 * each `kubectl attach -i`) connects there and sends session frames
 * (session.h): STDIN bytes are written to the container, an empty STDIN
 * frame is the attacher's end of input, RESIZE sets the pty's size.
 *
 * As with a kubelet, an attacher leaving never ends the container; with
 * `stdinOnce: true` the first attacher's end (its end of input or its
 * going away) closes the container's stdin for good, and later attaches
 * are refused.  Output never travels here: attach reads the container's
 * log, as for every backend. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "session.h"

#define ATTACH_SOCKET "attach.sock"
#define STDIN_ATTACHERS (RN_STDIN_POLLFDS - 2)
#define STDIN_PENDING_MAX (1024 * 1024)

struct ctr_stdin {
    int listen_fd;            /* attach.sock; -1 once closed (stdinOnce) or none */
    int in_fd;                /* the container's stdin: pipe or pty master; -1 once closed */
    bool tty, once, closing;  /* closing: stdinOnce ended, close in_fd once written */
    char *dir;                /* the container's directory */
    int att[STDIN_ATTACHERS];
    il_buf att_in[STDIN_ATTACHERS];
    il_buf pending;           /* bytes for the container it did not take yet */
};

void rn_container_io_flags(const il_pod *pod, const char *name, bool *in, bool *once, bool *tty)
{
    *in = *once = *tty = false;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(pod->raw, "spec"), "containers"), i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && !strcmp(n, name)) {
            *in = json_is_true(json_object_get(c, "stdin"));
            *once = json_is_true(json_object_get(c, "stdinOnce"));
            *tty = json_is_true(json_object_get(c, "tty"));
        }
    }
}

/* A path for bind/connect that fits sun_path whatever the directory's
 * length: through the directory's fd in /proc. */
static int socket_addr(const char *dir, int *dir_fd, struct sockaddr_un *sa)
{
    *dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*dir_fd < 0)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/" ATTACH_SOCKET, *dir_fd);
    return 0;
}

static int listen_on(const char *dir)
{
    struct sockaddr_un sa;
    int dfd;
    if (socket_addr(dir, &dfd, &sa) != 0)
        return -1;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    unlink(sa.sun_path);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        chmod(sa.sun_path, 0600) != 0 || listen(s, 8) != 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        close(dfd);
        errno = e;
        return -1;
    }
    close(dfd);
    return s;
}

static void unlink_socket(const char *dir)
{
    char *path = rn_store_path(dir, ATTACH_SOCKET);
    unlink(path);
    free(path);
}

ctr_stdin *rn_stdin_open(const char *ctr_dir, bool in, bool once, bool tty, int *child_fd,
                         char **tty_path, il_buf *err)
{
    ctr_stdin *s = il_xcalloc(1, sizeof *s);
    *s = (ctr_stdin){.listen_fd = -1, .in_fd = -1, .tty = tty, .once = once,
                     .dir = il_xstrdup(ctr_dir), .pending = IL_BUF_INIT};
    for (int i = 0; i < STDIN_ATTACHERS; i++) {
        s->att[i] = -1;
        s->att_in[i] = (il_buf)IL_BUF_INIT;
    }
    *child_fd = -1;
    *tty_path = NULL;
    int fds[2] = {-1, -1};
    char name[128];
    if (tty) {
        if (openpty(&fds[0], &fds[1], name, NULL, NULL) != 0) {
            il_buf_printf(err, "allocating a terminal: %s", strerror(errno));
            rn_stdin_free(s);
            return NULL;
        }
        fcntl(fds[0], F_SETFD, FD_CLOEXEC);
        fcntl(fds[1], F_SETFD, FD_CLOEXEC);
        s->in_fd = fds[0];
        *child_fd = fds[1];
        *tty_path = il_xstrdup(name);
    } else if (pipe2(fds, O_CLOEXEC) == 0) {
        s->in_fd = fds[1];
        *child_fd = fds[0];
    } else {
        il_buf_printf(err, "stdin pipe: %s", strerror(errno));
        rn_stdin_free(s);
        return NULL;
    }
    fcntl(s->in_fd, F_SETFL, fcntl(s->in_fd, F_GETFL) | O_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);   /* a container that closed its stdin: EPIPE, not death */
    if (in && (s->listen_fd = listen_on(ctr_dir)) < 0)
        il_warn("attach socket in %s: %s (kubectl attach -i will not reach it)", ctr_dir,
                strerror(errno));
    return s;
}

/* With a terminal the master is the container's output too: it stays open
 * for the supervisor's reader; a dup for it, -1 without a terminal. */
int rn_stdin_output_fd(const ctr_stdin *s)
{
    return s && s->tty && s->in_fd >= 0 ? fcntl(s->in_fd, F_DUPFD_CLOEXEC, 0) : -1;
}

static void stop_listening(ctr_stdin *s)
{
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        unlink_socket(s->dir);
    }
    s->listen_fd = -1;
}

static void drop_attacher(ctr_stdin *s, int i)
{
    close(s->att[i]);
    s->att[i] = -1;
    il_buf_reset(&s->att_in[i]);
}

/* stdinOnce: the first attacher is done; nobody else gets in. */
static void end_once(ctr_stdin *s)
{
    if (!s->once)
        return;
    s->closing = true;
    stop_listening(s);
    for (int i = 0; i < STDIN_ATTACHERS; i++)
        if (s->att[i] >= 0)
            drop_attacher(s, i);
}

static void flush_pending(ctr_stdin *s)
{
    while (s->pending.len && s->in_fd >= 0) {
        ssize_t n = write(s->in_fd, s->pending.data, s->pending.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {   /* the container closed its stdin */
            il_buf_reset(&s->pending);
            break;
        }
        memmove(s->pending.data, s->pending.data + n, s->pending.len - (size_t)n);
        s->pending.len -= (size_t)n;
    }
    /* A terminal is not closed: its master carries the output as well. */
    if (s->closing && !s->pending.len && s->in_fd >= 0 && !s->tty) {
        close(s->in_fd);
        s->in_fd = -1;
    }
}

static void resize(ctr_stdin *s, const uint8_t *p, size_t n)
{
    json_t *size = json_loadb((const char *)p, n, 0, NULL);
    json_int_t w = json_integer_value(json_object_get(size, "Width"));
    json_int_t h = json_integer_value(json_object_get(size, "Height"));
    if (s->tty && s->in_fd >= 0 && w > 0 && h > 0 && w < 65536 && h < 65536) {
        struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
        ioctl(s->in_fd, TIOCSWINSZ, &ws);
    }
    json_decref(size);
}

/* The complete frames attacher i sent; false when it is done. */
static bool attacher_frames(ctr_stdin *s, int i)
{
    il_buf *b = &s->att_in[i];
    size_t at = 0;
    bool more = true;
    while (more) {
        int type;
        const uint8_t *p;
        size_t n;
        ssize_t used = il_session_parse((const uint8_t *)b->data + at, b->len - at, &type, &p,
                                        &n);
        if (used <= 0) {
            more = used == 0;   /* incomplete: wait; malformed: done */
            break;
        }
        at += (size_t)used;
        if (type == IL_SESSION_STDIN && n == 0)
            more = false;
        else if (type == IL_SESSION_STDIN && !s->closing && s->in_fd >= 0)
            il_buf_append(&s->pending, p, n);
        else if (type == IL_SESSION_RESIZE)
            resize(s, p, n);
    }
    if (at) {
        memmove(b->data, b->data + at, b->len - at);
        b->len -= at;
    }
    return more;
}

static void attacher_read(ctr_stdin *s, int i)
{
    char buf[32 * 1024];
    ssize_t n = read(s->att[i], buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    bool open = n > 0;
    if (open) {
        il_buf_append(&s->att_in[i], buf, (size_t)n);
        open = attacher_frames(s, i);
    }
    if (!open) {
        drop_attacher(s, i);
        end_once(s);
    }
}

static void accept_attacher(ctr_stdin *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (int i = 0; i < STDIN_ATTACHERS; i++)
        if (s->att[i] < 0) {
            s->att[i] = fd;
            return;
        }
    il_warn("attach: %d attachers already: refusing another", STDIN_ATTACHERS);
    close(fd);
}

size_t rn_stdin_pollfds(const ctr_stdin *s, struct pollfd *p)
{
    size_t n = 0;
    if (!s)
        return 0;
    bool room = s->pending.len < STDIN_PENDING_MAX;
    p[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = s->pending.len ? s->in_fd : -1, .events = POLLOUT};
    for (int i = 0; i < STDIN_ATTACHERS; i++)
        p[n++] = (struct pollfd){.fd = room ? s->att[i] : -1, .events = POLLIN};
    return n;
}

void rn_stdin_events(ctr_stdin *s, const struct pollfd *p, size_t n)
{
    if (!s || n < RN_STDIN_POLLFDS)
        return;
    for (int i = 0; i < STDIN_ATTACHERS; i++)
        if (p[2 + i].fd >= 0 && p[2 + i].revents && s->att[i] == p[2 + i].fd)
            attacher_read(s, i);
    if (p[0].fd >= 0 && p[0].revents && s->listen_fd >= 0)
        accept_attacher(s);
    flush_pending(s);
}

void rn_stdin_free(ctr_stdin *s)
{
    if (!s)
        return;
    stop_listening(s);
    for (int i = 0; i < STDIN_ATTACHERS; i++) {
        if (s->att[i] >= 0)
            close(s->att[i]);
        il_buf_free(&s->att_in[i]);
    }
    if (s->in_fd >= 0)
        close(s->in_fd);
    il_buf_free(&s->pending);
    free(s->dir);
    free(s);
}

/* ---- the attacher: kubectl attach -i's end next to the pod ---------------- */

/* The last frame when the attach cannot happen. */
static int attach_refused(int out_fd, const char *why)
{
    json_t *e = json_pack("{s:s}", "error", why);
    char *text = json_dumps(e, JSON_COMPACT);
    il_buf f = IL_BUF_INIT;
    il_session_frame(&f, IL_SESSION_EXIT, text, strlen(text));
    int rc = il_session_send(out_fd, f.data, f.len);
    il_buf_free(&f);
    free(text);
    json_decref(e);
    return rc == 0 ? 1 : 2;
}

rn_exec_result rn_attach_check(const char *pod_dir, const char *name, il_buf *err)
{
    il_create_request cr;
    if (rn_store_read_request(pod_dir, &cr, err) != 0)
        return RN_EXEC_IO;
    bool in, once, tty;
    rn_exec_result rc = RN_EXEC_OK;
    if (!il_pod_container(&cr.pod, name)) {
        il_buf_printf(err, "container %s is not valid for pod %s", name, cr.pod.name);
        rc = RN_EXEC_UNKNOWN;
    } else if (rn_container_io_flags(&cr.pod, name, &in, &once, &tty), !in) {
        il_buf_printf(err, "container %s of pod %s was not created with stdin: true; "
                      "kubectl attach -i cannot reach its input", name, cr.pod.name);
        rc = RN_EXEC_NO_STDIN;
    }
    il_create_request_free(&cr);
    return rc;
}

int rn_attach_serve(const char *pod_dir, const char *name, int in_fd, int out_fd)
{
    il_buf err = IL_BUF_INIT;
    if (rn_attach_check(pod_dir, name, &err) != RN_EXEC_OK) {
        int rc = attach_refused(out_fd, il_buf_cstr(&err));
        il_buf_free(&err);
        return rc;
    }
    il_buf_free(&err);
    char *dir = rn_store_ctr_dir(pod_dir, name);
    struct sockaddr_un sa;
    int dfd = -1, s = -1;
    if (socket_addr(dir, &dfd, &sa) == 0)
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool connected = s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (dfd >= 0)
        close(dfd);
    free(dir);
    if (!connected) {
        if (s >= 0)
            close(s);
        char why[256];
        snprintf(why, sizeof why, "container %s is not running, or its stdin was closed "
                 "(stdinOnce)", name);
        return attach_refused(out_fd, why);
    }
    signal(SIGPIPE, SIG_IGN);
    /* Frames one way; the supervisor sends nothing, so its end is our end. */
    bool open = true;
    while (open) {
        struct pollfd p[2] = {{.fd = in_fd, .events = POLLIN}, {.fd = s, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        char buf[32 * 1024];
        if (p[0].revents) {
            ssize_t n = read(in_fd, buf, sizeof buf);
            open = (n < 0 && errno == EINTR) ||
                   (n > 0 && il_session_send(s, buf, (size_t)n) == 0);
        }
        if (open && p[1].revents)
            open = read(s, buf, sizeof buf) > 0;
    }
    close(s);
    static const char ended[] = "{\"exitCode\":0}";
    il_buf f = IL_BUF_INIT;
    il_session_frame(&f, IL_SESSION_EXIT, ended, sizeof ended - 1);
    il_session_send(out_fd, f.data, f.len);
    il_buf_free(&f);
    return 0;
}
