/* streams.c -- kubectl exec, attach and port-forward: the kubelet API's
 * SPDY/3.1 and WebSocket sessions, relayed to interlink's /exec and
 * /portforward.
 *
 * kubectl asks the API server, which opens the same upgrade to this node's
 * kubelet port with its kubelet client certificate (so the kubelet authn
 * and authz filter has already run), then copies bytes.  kubectl then opens
 * SPDY streams: for exec ("v4.channel.k8s.io") one each for error, stdin,
 * stdout, stderr and, with a TTY, resize; for port-forward
 * ("portforward.k8s.io") a data and an error stream per connection, tied
 * by their requestid header.  This file maps those streams onto interlink
 * sessions (session.h): an exec's stdin, resize and output become session
 * frames, its exit code becomes the metav1.Status a kubelet writes on the
 * error stream; each forwarded connection is one raw /portforward session.
 *
 * Clients that speak WebSocket instead (the Python and Java clients) get
 * the same sessions over channels (websocket.h): exec's are fixed by the
 * query (stdin 0, stdout 1, stderr 2, error 3, resize 4), port-forward's
 * are a data and an error channel per ?port= (each first carrying the port
 * number, as a kubelet sends it), one connection per port.
 *
 * Each upgraded connection is served by one thread with one poll loop, so
 * nothing here is shared between threads.  kubectl going away closes the
 * interlink session, and the plugin then kills the command. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base64.h"
#include "kubelet.h"
#include "log.h"
#include "session.h"
#include "spdy.h"
#include "timeutil.h"
#include "util.h"
#include "vk.h"
#include "websocket.h"
#include "wire.h"

#define EXEC_PREFIX "/exec/"
#define ATTACH_PREFIX "/attach/"
#define PORTFORWARD_PREFIX "/portForward/"
#define EXEC_PROTOCOL "v4.channel.k8s.io"
#define PORTFORWARD_PROTOCOL "portforward.k8s.io"
#define WS_BINARY_PROTOCOL "v4.channel.k8s.io"
#define WS_BASE64_PROTOCOL "v4.base64.channel.k8s.io"
#define WS_V5_PROTOCOL "v5.channel.k8s.io"   /* v4 and the close channel (exec, attach) */
#define WS_CLOSE_CHANNEL 255
#define STREAMS_TIMEOUT_MS 30000   /* the kubelet's wait for a session's streams */
#define MAX_FORWARDS 64

/* ---- one SPDY or WebSocket connection ------------------------------------ */

/* How the client's streams travel (v5: binary with the close channel). */
typedef enum { T_SPDY, T_WS_BINARY, T_WS_BASE64, T_WS_V5 } transport;

typedef struct conn {
    il_upgraded *u;
    int fd;
    transport t;
    vk_spdy_zlib *z;          /* SPDY only */
    int ws_channel;           /* WebSocket: the channel of a fragmented message, or -1 */
    il_buf in;                /* bytes from kubectl not yet parsed */
    il_buf out;               /* frames to send at the next flush */
    bool gone;                /* kubectl closed, or a write failed */
} conn;

static void conn_read(conn *c);

static void conn_init(conn *c, il_upgraded *u, transport t)
{
    size_t n;
    const char *early = il_upgraded_early(u, &n);
    *c = (conn){.u = u, .fd = il_upgraded_fd(u), .t = t, .ws_channel = -1, .in = IL_BUF_INIT,
                .out = IL_BUF_INIT};
    if (t == T_SPDY)
        c->z = vk_spdy_zlib_new();
    il_buf_append(&c->in, early, n);
}

static void conn_flush(conn *c)
{
    if (c->out.len && !c->gone && il_session_send(c->fd, c->out.data, c->out.len) < 0)
        c->gone = true;
    il_buf_reset(&c->out);
}

/* After a poll: read what kubectl sent if any (revents), and notice its
 * end -- also a hang-up the TLS relay does not pass on. */
static void conn_poll_done(conn *c, short revents)
{
    if (revents)
        conn_read(c);
    if (!c->gone && il_upgraded_gone(c->u))
        c->gone = true;
}

static void conn_read(conn *c)
{
    char buf[32 * 1024];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n > 0)
        il_buf_append(&c->in, buf, (size_t)n);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        c->gone = true;
}

/* A last flush, then close our side and give kubectl a moment to read
 * it all (closing with unread input would reset the connection). */
static void conn_end(conn *c, il_upgraded *u)
{
    if (c->t != T_SPDY && !c->gone)
        vk_ws_frame_append(&c->out, VK_WS_CLOSE, "\x03\xe8", 2);   /* 1000: normal */
    conn_flush(c);
    shutdown(c->fd, SHUT_WR);
    int64_t until = il_monotonic_ms() + 2000;
    while (!c->gone && il_monotonic_ms() < until) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 200) > 0)
            conn_read(c);
        il_buf_reset(&c->in);
    }
    if (c->z)
        vk_spdy_zlib_free(c->z);
    il_buf_free(&c->in);
    il_buf_free(&c->out);
    il_upgraded_close(u);
}

typedef void (*frame_fn)(conn *c, const vk_spdy_frame *f, void *session);
/* A WebSocket data message (or fragment) for channel. */
typedef void (*channel_fn)(conn *c, int channel, const uint8_t *p, size_t n, void *session);

static void conn_consumed(conn *c, size_t at)
{
    if (at) {
        memmove(c->in.data, c->in.data + at, c->in.len - at);
        c->in.len -= at;
    }
}

/* A data frame's channel and bytes: the first byte (base64: digit) of a
 * message names its channel, fragments continue it. */
static void ws_data(conn *c, const vk_ws_frame *f, channel_fn fn, void *session)
{
    const uint8_t *p = f->payload;
    size_t n = f->len;
    if (f->opcode != VK_WS_CONTINUATION) {
        if (n == 0)
            return;
        c->ws_channel = c->t == T_WS_BASE64 ? p[0] - '0' : p[0];
        p++;
        n--;
    }
    int channel = c->ws_channel;
    if (f->fin)
        c->ws_channel = -1;
    if (channel < 0 || channel > 255 || n == 0)
        return;
    if (c->t != T_WS_BASE64) {
        fn(c, channel, p, n, session);
        return;
    }
    char *text = il_xstrndup((const char *)p, n);
    size_t len = 0;
    unsigned char *raw = il_base64_decode(text, &len);
    free(text);
    if (raw)
        fn(c, channel, raw, len, session);
    else
        il_warn("kubelet API: WebSocket: channel %d: not base64", channel);
    free(raw);
}

/* Handle every complete WebSocket frame in c->in; PING and CLOSE are
 * answered here. */
static void conn_ws_frames(conn *c, channel_fn fn, void *session)
{
    size_t at = 0;
    while (!c->gone) {
        vk_ws_frame f;
        char err[128];
        ssize_t n = vk_ws_parse((uint8_t *)c->in.data + at, c->in.len - at, &f, err, sizeof err);
        if (n == 0)
            break;
        if (n < 0) {
            il_warn("kubelet API: WebSocket: %s", err);
            c->gone = true;
            break;
        }
        at += (size_t)n;
        if (f.opcode == VK_WS_PING) {
            vk_ws_frame_append(&c->out, VK_WS_PONG, f.payload, f.len);
        } else if (f.opcode == VK_WS_CLOSE) {
            vk_ws_frame_append(&c->out, VK_WS_CLOSE, f.payload, f.len < 2 ? f.len : 2);
            conn_flush(c);
            c->gone = true;
        } else if (f.opcode <= VK_WS_BINARY) {
            ws_data(c, &f, fn, session);
        }
    }
    conn_consumed(c, at);
}

/* Handle every complete frame in c->in; PING is answered here. */
static void conn_frames(conn *c, frame_fn fn, void *session)
{
    size_t at = 0;
    while (!c->gone) {
        vk_spdy_frame f;
        char err[128];
        ssize_t n = vk_spdy_parse((const uint8_t *)c->in.data + at, c->in.len - at, &f, err,
                                  sizeof err);
        if (n == 0)
            break;
        if (n < 0) {
            il_warn("kubelet API: SPDY: %s", err);
            c->gone = true;
            break;
        }
        at += (size_t)n;
        if (f.control && f.type == VK_SPDY_PING)
            vk_spdy_ping(f.stream_id, &c->out);
        else if (f.control && f.type == VK_SPDY_GOAWAY)
            c->gone = true;
        else
            fn(c, &f, session);
    }
    conn_consumed(c, at);
}

static void conn_input(conn *c, frame_fn spdy, channel_fn ws, void *session)
{
    if (c->t == T_SPDY)
        conn_frames(c, spdy, session);
    else
        conn_ws_frames(c, ws, session);
}

/* Accept a new stream: its headers (caller frees), after the SYN_REPLY. */
static int accept_stream(conn *c, const vk_spdy_frame *f, il_kv **h, size_t *n)
{
    char err[128];
    if (vk_spdy_headers_decode(c->z, f->payload, f->len, h, n, err, sizeof err) < 0) {
        il_warn("kubelet API: SPDY stream %u: %s", f->stream_id, err);
        c->gone = true;
        return -1;
    }
    vk_spdy_syn_reply(c->z, f->stream_id, 0, NULL, 0, &c->out);
    return 0;
}

/* ---- exec ------------------------------------------------------------------ */

enum { S_ERROR, S_STDIN, S_STDOUT, S_STDERR, S_RESIZE, S_KINDS };
static const char *const stream_names[S_KINDS] = {"error", "stdin", "stdout", "stderr",
                                                  "resize"};

typedef struct exec_session {
    vk *v;
    transport t;
    json_t *request;          /* the /exec body, sent once kubectl is ready */
    int width, height;        /* the terminal's first size, for the request */
    bool sized;
    il_httpc_upgrade *be;     /* the interlink session; NULL until opened */
    il_log_request *attach;   /* attach: the log to follow instead; with stdin, request is
                               * the /exec attach session that carries it */
    bool be_ended;            /* attach: that session ended (the container's stdin closed) */
    il_httpc_stream *logs;    /* attach: the followed log once opened */
    il_buf be_in;             /* its bytes not yet parsed */
    uint32_t ids[S_KINDS];    /* SPDY stream ids, 0: not opened (WebSocket: 1 = in use) */
    size_t expected, opened;
    il_buf resize;            /* partial resize JSON */
    il_buf early;             /* stdin frames sent before the command started (WebSocket
                               * clients do not wait for it); bounded */
    char *cmdline;            /* for the failure message */
    bool stdin_closed;        /* WebSocket v5: the client closed stdin */
    bool done;
} exec_session;

/* The WebSocket channel of each stream kind. */
static const uint8_t ws_channel_of[S_KINDS] = {3, 0, 1, 2, 4};

/* Bytes to kubectl on one of the session's streams, if it has it. */
static void exec_put(exec_session *s, conn *c, int kind, const void *p, size_t n)
{
    if (!s->ids[kind])
        return;
    if (c->t == T_SPDY)
        vk_spdy_data(s->ids[kind], 0, p, n, &c->out);
    else
        vk_ws_channel_append(&c->out, c->t == T_WS_BASE64, ws_channel_of[kind], p, n);
}

/* The end of what we write (SPDY: half-close each stream; WebSocket: the
 * close frame at conn_end). */
static void exec_put_fin(exec_session *s, conn *c)
{
    for (int k = 0; k < S_KINDS && !c->gone && c->t == T_SPDY; k++)
        if (s->ids[k] && k != S_STDIN && k != S_RESIZE)
            vk_spdy_data(s->ids[k], VK_SPDY_FLAG_FIN, NULL, 0, &c->out);
}

#define EARLY_STDIN_MAX (1024 * 1024)

static void to_backend(exec_session *s, conn *c, int type, const void *p, size_t n)
{
    (void)c;
    if (!s->be && ((s->attach && (!s->request || s->be_ended)) || s->done))
        return;   /* attach: no stdin (not asked for, or closed) */
    if (!s->be) {   /* the command has not started yet: keep it for then */
        if (s->early.len + n > EARLY_STDIN_MAX) {
            il_warn("kubelet API: exec: over 1 MiB of input before the command started");
            s->done = true;
        } else {
            il_session_frame(&s->early, type, p, n);
        }
        return;
    }
    il_buf f = IL_BUF_INIT;
    il_session_frame(&f, type, p, n);
    if (il_httpc_upgrade_write(s->be, f.data, f.len) < 0)
        s->done = true;
    il_buf_free(&f);
}

/* Each resize message is one JSON object on a line. */
static void resize_data(exec_session *s, conn *c, const uint8_t *p, size_t n)
{
    il_buf_append(&s->resize, p, n);
    char *nl;
    while (s->resize.len && (nl = memchr(s->resize.data, '\n', s->resize.len)) != NULL) {
        size_t line = (size_t)(nl - s->resize.data);
        if (line == 0) {
            /* nothing: a WebSocket message that ended with its own newline */
        } else if (s->be || s->logs) {
            to_backend(s, c, IL_SESSION_RESIZE, s->resize.data, line);
        } else {   /* before the command starts: its terminal's first size */
            json_t *size = json_loadb(s->resize.data, line, 0, NULL);
            s->width = (int)json_integer_value(json_object_get(size, "Width"));
            s->height = (int)json_integer_value(json_object_get(size, "Height"));
            s->sized = true;
            json_decref(size);
        }
        memmove(s->resize.data, nl + 1, s->resize.len - line - 1);
        s->resize.len -= line + 1;
    }
    if (s->resize.len > 4096)
        il_buf_reset(&s->resize);
}

static void exec_frame(conn *c, const vk_spdy_frame *f, void *arg)
{
    exec_session *s = arg;
    if (f->control && f->type == VK_SPDY_SYN_STREAM) {
        il_kv *h;
        size_t n;
        if (accept_stream(c, f, &h, &n) < 0)
            return;
        const char *type = vk_spdy_header(h, n, "streamtype");
        for (int k = 0; type && k < S_KINDS; k++)
            if (!strcmp(type, stream_names[k]) && !s->ids[k]) {
                s->ids[k] = f->stream_id;
                s->opened++;
            }
        vk_spdy_headers_free(h, n);
        return;
    }
    bool is_stdin = s->ids[S_STDIN] && f->stream_id == s->ids[S_STDIN];
    if (f->control && f->type == VK_SPDY_RST_STREAM && is_stdin) {
        to_backend(s, c, IL_SESSION_STDIN, NULL, 0);
    } else if (!f->control && is_stdin) {
        if (f->len)
            to_backend(s, c, IL_SESSION_STDIN, f->payload, f->len);
        if (f->flags & VK_SPDY_FLAG_FIN)
            to_backend(s, c, IL_SESSION_STDIN, NULL, 0);
    } else if (!f->control && s->ids[S_RESIZE] && f->stream_id == s->ids[S_RESIZE]) {
        resize_data(s, c, f->payload, f->len);
    }
}

/* WebSocket: stdin on channel 0, one terminal size per message on 4;
 * v5: [255, 0] closes stdin (the only stream a client writes but resize). */
static void exec_channel(conn *c, int channel, const uint8_t *p, size_t n, void *arg)
{
    exec_session *s = arg;
    if (channel == ws_channel_of[S_STDIN] && s->ids[S_STDIN] && !s->stdin_closed) {
        to_backend(s, c, IL_SESSION_STDIN, p, n);
    } else if (channel == WS_CLOSE_CHANNEL && c->t == T_WS_V5 && p[0] == ws_channel_of[S_STDIN] &&
               s->ids[S_STDIN] && !s->stdin_closed) {
        to_backend(s, c, IL_SESSION_STDIN, NULL, 0);
        s->stdin_closed = true;
    } else if (channel == ws_channel_of[S_RESIZE] && s->ids[S_RESIZE]) {
        /* one size per message, with or without a newline (kubectl's has one) */
        resize_data(s, c, p, n);
        resize_data(s, c, (const uint8_t *)"\n", 1);
    }
}

/* The metav1.Status a kubelet writes on the error stream. */
static char *exit_status(const exec_session *s, const uint8_t *p, size_t n)
{
    json_t *exit = json_loadb((const char *)p, n, 0, NULL);
    json_t *code = json_object_get(exit, "exitCode");
    const char *why = json_string_value(json_object_get(exit, "error"));
    json_t *st;
    if (json_is_integer(code) && json_integer_value(code) == 0) {
        st = json_pack("{s:{}, s:s}", "metadata", "status", "Success");
    } else if (json_is_integer(code)) {
        char *msg = il_xasprintf("command terminated with non-zero exit code: error executing "
                                 "command [%s], exit code %lld", s->cmdline,
                                 (long long)json_integer_value(code));
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(code));
        st = json_pack("{s:{}, s:s, s:s, s:s, s:{s:[{s:s, s:s}]}}", "metadata", "status",
                       "Failure", "message", msg, "reason", "NonZeroExitCode", "details",
                       "causes", "reason", "ExitCode", "message", num);
        free(msg);
    } else {
        st = json_pack("{s:{}, s:s, s:s}", "metadata", "status", "Failure", "message",
                       why ? why : "the session ended without an exit code");
    }
    char *text = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    json_decref(exit);
    return text;
}

static void send_status(exec_session *s, conn *c, const uint8_t *p, size_t n)
{
    if (!s->ids[S_ERROR])
        return;
    char *text = exit_status(s, p, n);
    exec_put(s, c, S_ERROR, text, strlen(text));
    free(text);
}

/* Frames from interlink into SPDY data; the EXIT frame ends the session. */
static void backend_frames(exec_session *s, conn *c)
{
    size_t at = 0;
    while (!s->done) {
        int type;
        const uint8_t *p;
        size_t n;
        ssize_t used = il_session_parse((const uint8_t *)s->be_in.data + at, s->be_in.len - at,
                                        &type, &p, &n);
        if (used <= 0) {
            if (used < 0)
                s->done = true;
            break;
        }
        at += (size_t)used;
        int kind = type == IL_SESSION_STDOUT ? S_STDOUT
                 : type == IL_SESSION_STDERR ? S_STDERR : -1;
        if (kind >= 0 && n)
            exec_put(s, c, kind, p, n);
        if (type == IL_SESSION_EXIT) {
            send_status(s, c, p, n);
            s->done = true;
        }
    }
    if (at) {
        memmove(s->be_in.data, s->be_in.data + at, s->be_in.len - at);
        s->be_in.len -= at;
    }
}

/* Read all interlink has (TLS may hold more than the socket shows). */
static void backend_read(exec_session *s, conn *c)
{
    char buf[32 * 1024];
    for (;;) {
        ssize_t n = il_httpc_upgrade_read(s->be, buf, sizeof buf);
        if (n == IL_STREAM_AGAIN)
            break;
        if (n <= 0) {
            backend_frames(s, c);
            if (!s->done) {
                static const char lost[] = "{\"error\":\"interlink ended the session\"}";
                send_status(s, c, (const uint8_t *)lost, sizeof lost - 1);
                s->done = true;
            }
            return;
        }
        il_buf_append(&s->be_in, buf, (size_t)n);
    }
    backend_frames(s, c);
}

/* Start the command through interlink, with the terminal's size; a
 * refusal goes to kubectl as the session's Status. */
static void exec_start(exec_session *s, conn *c)
{
    if (s->sized && s->width > 0 && s->height > 0) {
        json_object_set_new(s->request, "width", json_integer(s->width));
        json_object_set_new(s->request, "height", json_integer(s->height));
    }
    long status;
    char err[512];
    s->be = vk_interlink_upgrade(s->v->il, "/exec", "Exec", s->request, IL_SESSION_PROTOCOL,
                                 &status, err, sizeof err);
    if (!s->be) {
        json_t *why = json_pack("{s:s+}", "error", "interlink: ", err);
        char *text = json_dumps(why, JSON_COMPACT);
        send_status(s, c, (const uint8_t *)text, strlen(text));
        free(text);
        json_decref(why);
        s->done = true;
    } else if (s->early.len && il_httpc_upgrade_write(s->be, s->early.data, s->early.len) < 0) {
        s->done = true;
    }
    il_buf_free(&s->early);
}

/* All streams are there, and with a TTY its first size (or a second
 * passed: kubectl sends it at once when it has a terminal). */
static bool exec_ready(const exec_session *s, int64_t streams_at)
{
    if (s->opened < s->expected)
        return false;
    return !s->ids[S_RESIZE] || s->sized || il_monotonic_ms() - streams_at > 1000;
}

static void exec_run(il_upgraded *u, void *arg)
{
    exec_session *s = arg;
    conn c;
    conn_init(&c, u, s->t);
    int64_t deadline = il_monotonic_ms() + STREAMS_TIMEOUT_MS, streams_at = 0;
    while (!c.gone && !s->done) {
        conn_input(&c, exec_frame, exec_channel, s);
        if (!streams_at && s->opened >= s->expected)
            streams_at = il_monotonic_ms();
        bool ready = s->be || exec_ready(s, streams_at);
        if (ready && !s->be)
            exec_start(s, &c);
        if (s->be)
            backend_read(s, &c);
        conn_flush(&c);
        if (c.gone || s->done)
            break;
        if (!ready && il_monotonic_ms() > deadline) {
            il_warn("kubelet API: exec: kubectl opened %zu of %zu streams in %d s", s->opened,
                    s->expected, STREAMS_TIMEOUT_MS / 1000);
            break;
        }
        struct pollfd p[2] = {{.fd = c.fd, .events = POLLIN},
                              {.fd = s->be ? il_httpc_upgrade_fd(s->be) : -1, .events = POLLIN}};
        if (poll(p, 2, streams_at && !s->be ? 100 : 1000) < 0 && errno != EINTR)
            break;
        conn_poll_done(&c, p[0].revents);
    }
    exec_put_fin(s, &c);
    il_httpc_upgrade_close(s->be);   /* before waiting: the plugin kills the command */
    s->be = NULL;
    conn_end(&c, u);
    json_decref(s->request);
    il_buf_free(&s->be_in);
    il_buf_free(&s->resize);
    il_buf_free(&s->early);
    free(s->cmdline);
    free(s);
}

static void exec_abandon(void *arg)
{
    exec_session *s = arg;
    json_decref(s->request);
    free(s->cmdline);
    free(s);
}

/* ---- attach ------------------------------------------------------------------ */

/* kubectl attach: the container's output from now on, followed through
 * interlink's /getLogs (what every plugin serves); the session ends with
 * the container. */
static void attach_start(exec_session *s, conn *c)
{
    json_t *body = il_log_request_to_json(s->attach);
    long status = 0;
    char err[512] = "";
    s->logs = vk_interlink_stream(s->v->il, "GET", "/getLogs", "Attach", body, &status, err,
                                  sizeof err);
    json_decref(body);
    if (!s->logs || status != 200) {
        json_t *why = json_pack("{s:s+}", "error", "interlink /getLogs: ",
                                s->logs ? "refused" : err);
        char *text = json_dumps(why, JSON_COMPACT);
        send_status(s, c, (const uint8_t *)text, strlen(text));
        free(text);
        json_decref(why);
        s->done = true;
    }
}

static void attach_read(exec_session *s, conn *c)
{
    char buf[32 * 1024];
    ssize_t n = il_httpc_stream_read(s->logs, buf, sizeof buf);   /* waits ~1 s at most */
    if (n > 0) {
        exec_put(s, c, S_STDOUT, buf, (size_t)n);
    } else if (n == 0 || (n < 0 && n != IL_STREAM_AGAIN)) {
        static const char end[] = "{\"exitCode\":0}";
        send_status(s, c, (const uint8_t *)end, sizeof end - 1);
        s->done = true;
    }
}

/* attach -i: what the stdin session says.  Its end only means the
 * container's stdin closed (the output goes on); an error frame (the
 * container is gone, or stdinOnce closed its stdin) ends the attach. */
static void attach_stdin_read(exec_session *s, conn *c)
{
    char buf[4096];
    ssize_t n;
    while ((n = il_httpc_upgrade_read(s->be, buf, sizeof buf)) > 0)
        il_buf_append(&s->be_in, buf, (size_t)n);
    int type;
    const uint8_t *p;
    size_t len;
    if (il_session_parse((const uint8_t *)s->be_in.data, s->be_in.len, &type, &p, &len) > 0 &&
        type == IL_SESSION_EXIT) {
        json_t *exit = json_loadb((const char *)p, len, 0, NULL);
        if (json_object_get(exit, "error")) {
            send_status(s, c, p, len);
            s->done = true;
        }
        json_decref(exit);
        n = 0;
    }
    if (n != IL_STREAM_AGAIN) {
        il_httpc_upgrade_close(s->be);
        s->be = NULL;
        s->be_ended = true;
    }
}

static void attach_run(il_upgraded *u, void *arg)
{
    exec_session *s = arg;
    conn c;
    conn_init(&c, u, s->t);
    int64_t deadline = il_monotonic_ms() + STREAMS_TIMEOUT_MS;
    while (!c.gone && !s->done) {
        conn_input(&c, exec_frame, exec_channel, s);
        bool ready = s->opened >= s->expected;
        if (ready && s->request && !s->be && !s->be_ended) {
            exec_start(s, &c);   /* the stdin first: a refusal ends the attach */
            s->be_ended = !s->be;
        }
        if (ready && !s->logs && !s->done) {
            attach_start(s, &c);
            if (s->logs && s->request)   /* stdin waits for the log no longer than this */
                il_httpc_stream_set_wait(s->logs, 50);
        }
        if (s->be && !s->done)
            attach_stdin_read(s, &c);
        if (s->logs && !s->done)
            attach_read(s, &c);
        conn_flush(&c);
        if (c.gone || s->done || (!ready && il_monotonic_ms() > deadline))
            break;
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        if (poll(&p, 1, s->logs ? 0 : 100) < 0 && errno != EINTR)
            break;
        conn_poll_done(&c, p.revents);
    }
    exec_put_fin(s, &c);
    if (s->logs)
        il_httpc_stream_close(s->logs);
    il_httpc_upgrade_close(s->be);   /* the attacher goes; the container stays */
    conn_end(&c, u);
    il_log_request_free(s->attach);
    free(s->attach);
    json_decref(s->request);
    il_buf_free(&s->be_in);
    il_buf_free(&s->early);
    il_buf_free(&s->resize);
    free(s->cmdline);
    free(s);
}

static void attach_abandon(void *arg)
{
    exec_session *s = arg;
    json_decref(s->request);
    il_log_request_free(s->attach);
    free(s->attach);
    free(s->cmdline);
    free(s);
}

/* ---- request checks ------------------------------------------------------ */

/* "{ns}/{pod}[/{uid}][/{container}]" after prefix: the parts (new
 * strings; *uid and *container may stay NULL). */
static int parse_target(const char *rest, bool with_container, char **ns, char **pod, char **uid,
                        char **container)
{
    char *parts[4] = {NULL, NULL, NULL, NULL};
    size_t count = 0;
    while (*rest && count < 4) {
        size_t n = strcspn(rest, "/");
        if (n == 0)
            break;
        parts[count++] = il_xstrndup(rest, n);
        rest += n + (rest[n] == '/');
    }
    size_t min = with_container ? 3 : 2;
    if (*rest || count < min || count > min + 1) {
        for (size_t i = 0; i < count; i++)
            free(parts[i]);
        return -1;
    }
    *ns = parts[0];
    *pod = parts[1];
    *uid = count == min + 1 ? parts[2] : NULL;
    *container = with_container ? parts[count - 1] : NULL;
    return 0;
}

/* Whether a header's comma-separated values (over all its lines) hold want. */
static bool header_lists(il_request *req, const char *name, const char *want)
{
    const char **lines = il_request_header_all(req, name);
    bool found = false;
    for (size_t i = 0; lines[i] && !found; i++) {
        const char *v = lines[i];
        while (*v && !found) {
            v += strspn(v, " ,");
            size_t n = strcspn(v, " ,");
            found = n == strlen(want) && !strncmp(v, want, n);
            v += n;
        }
    }
    free(lines);
    return found;
}

/* The 101 a session is accepted with. */
typedef struct upgrade_answer {
    transport t;
    const char *upgrade;      /* "SPDY/3.1" or "websocket" */
    char lines[2][96];
    const char *headers[3];
} upgrade_answer;

/* WebSocket: version 13 with a key, and the highest channel protocol
 * offered: v5 (exec and attach, v5_ok), else v4 binary, else v4 base64;
 * none offered means v4 binary, as a kubelet agrees them. */
static bool websocket_agreed(il_request *req, bool v5_ok, upgrade_answer *a)
{
    const char *version = il_request_header(req, "Sec-WebSocket-Version");
    char accept[29];
    if (!version || strcmp(version, "13") != 0 ||
        vk_ws_accept_key(il_request_header(req, "Sec-WebSocket-Key"), accept) < 0) {
        il_respond_error(req, 400, "%s: a WebSocket upgrade needs Sec-WebSocket-Version 13 and "
                         "a Sec-WebSocket-Key", il_request_path(req));
        return false;
    }
    const char *protocol = NULL;
    a->t = T_WS_BINARY;
    if (v5_ok && header_lists(req, "Sec-WebSocket-Protocol", WS_V5_PROTOCOL)) {
        protocol = WS_V5_PROTOCOL;
        a->t = T_WS_V5;
    } else if (header_lists(req, "Sec-WebSocket-Protocol", WS_BINARY_PROTOCOL)) {
        protocol = WS_BINARY_PROTOCOL;
    } else if (header_lists(req, "Sec-WebSocket-Protocol", WS_BASE64_PROTOCOL)) {
        protocol = WS_BASE64_PROTOCOL;
        a->t = T_WS_BASE64;
    } else if (il_request_header(req, "Sec-WebSocket-Protocol")) {
        il_respond_error(req, 403, "%s: WebSocket protocol " WS_BINARY_PROTOCOL " or "
                         WS_BASE64_PROTOCOL "%s is required", il_request_path(req),
                         v5_ok ? " or " WS_V5_PROTOCOL : "");
        return false;
    }
    a->upgrade = "websocket";
    snprintf(a->lines[0], sizeof a->lines[0], "Sec-WebSocket-Accept: %s", accept);
    a->headers[0] = a->lines[0];
    if (protocol) {
        snprintf(a->lines[1], sizeof a->lines[1], "Sec-WebSocket-Protocol: %s", protocol);
        a->headers[1] = a->lines[1];
    }
    return true;
}

/* Upgrade: SPDY/3.1 with spdy_protocol among X-Stream-Protocol-Version, or
 * a WebSocket (websocket_agreed); answers itself otherwise. */
static bool transport_agreed(il_request *req, const char *spdy_protocol, upgrade_answer *a)
{
    memset(a, 0, sizeof *a);
    const char *up = il_request_header(req, "Upgrade");
    if (up && !strcasecmp(up, "websocket"))
        return websocket_agreed(req, !strcmp(spdy_protocol, EXEC_PROTOCOL), a);
    if (!up || strcasecmp(up, "SPDY/3.1") != 0) {
        il_respond_error(req, 400, "%s: a SPDY/3.1 or WebSocket upgrade is expected "
                         "(Upgrade: %s)", il_request_path(req), up ? up : "none");
        return false;
    }
    if (!header_lists(req, "X-Stream-Protocol-Version", spdy_protocol)) {
        il_respond_error(req, 403, "%s: stream protocol %s is required", il_request_path(req),
                         spdy_protocol);
        return false;
    }
    a->t = T_SPDY;
    a->upgrade = "SPDY/3.1";
    snprintf(a->lines[0], sizeof a->lines[0], "X-Stream-Protocol-Version: %s", spdy_protocol);
    a->headers[0] = a->lines[0];
    return true;
}

/* WebSocket sessions know their streams from the query, not from kubectl
 * opening them: mark them open. */
static void exec_streams_fixed(exec_session *s, bool in, bool out, bool err, bool tty)
{
    bool used[S_KINDS] = {[S_ERROR] = true, [S_STDIN] = in, [S_STDOUT] = out,
                          [S_STDERR] = err && !tty, [S_RESIZE] = tty};
    for (int k = 0; k < S_KINDS; k++)
        if (used[k]) {
            s->ids[k] = 1;
            s->opened++;
        }
}

/* The pod's UID (new string), or NULL after answering 404 (503 while the
 * VK has not listed its pods yet, as for logs). */
static char *pod_uid(il_request *req, vk *v, const char *ns, const char *name, const char *uid,
                     const char *container)
{
    vk_pod_view view;
    if (!vk_pods_find(v->pods, ns, name, &view)) {
        bool starting = !vk_pods_synced(v->pods);
        il_respond_error(req, starting ? 503 : 404, "pod %s/%s not found on node %s%s", ns, name,
                         v->cfg->node_name, starting ? " (the node is starting: retry)" : "");
        return NULL;
    }
    char *out = NULL;
    const char *have = vk_pod_uid(view.pod);
    if (uid && (!have || strcmp(uid, have) != 0))
        il_respond_error(req, 404, "pod %s/%s has uid %s, not %s", ns, name, have ? have : "",
                         uid);
    else if (container && !vk_pod_has_container(view.pod, container))
        il_respond_error(req, 404, "container %s is not valid for pod %s", container, name);
    else
        out = il_xstrdup(have ? have : "");
    vk_pod_view_free(&view);
    return out;
}

/* attach -i: whether the container was created with stdin: true, as a
 * kubelet needs to pass input on; answers 400 when not (an unknown pod or
 * container is pod_uid's to answer). */
static bool container_stdin(il_request *req, vk *v, const char *ns, const char *name,
                            const char *container)
{
    vk_pod_view view;
    if (!vk_pods_find(v->pods, ns, name, &view))
        return true;
    bool in = true;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(view.pod, "spec"), "containers"), i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && !strcmp(n, container))
            in = json_is_true(json_object_get(c, "stdin"));
    }
    vk_pod_view_free(&view);
    if (!in) {   /* a metav1.Status, whose message kubectl prints */
        char *msg = il_xasprintf("container %s of pod %s/%s was not created with stdin: true; "
                                 "attach cannot pass input to it", container, ns, name);
        json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status",
                               "apiVersion", "v1", "metadata", "status", "Failure", "message",
                               msg, "reason", "BadRequest", "code", 400);
        il_respond_json(req, 400, st);   /* takes st */
        free(msg);
    }
    return in;
}

/* The kubelet's query flags: "1" or "true" (the API server sends "1"). */
static bool flag(il_request *req, const char *name)
{
    const char *s = il_request_query(req, name);
    return s && (!strcmp(s, "1") || !strcasecmp(s, "true"));
}

static void handle_exec(il_request *req, void *ud)
{
    vk *v = ud;
    char *ns, *name, *uid, *container, *pod_id = NULL;
    if (parse_target(il_request_path(req) + strlen(EXEC_PREFIX), true, &ns, &name, &uid,
                     &container) < 0) {
        il_respond_error(req, 404, "expected /exec/NAMESPACE/POD[/UID]/CONTAINER");
        return;
    }
    const char **command = il_request_query_all(req, "command");
    il_exec_request er = {.pod = {.name = name, .ns = ns}, .container = container,
                          .command = (char **)command, .stdin_open = flag(req, "input"),
                          .tty = flag(req, "tty")};
    bool out = flag(req, "output"), err_wanted = flag(req, "error");
    upgrade_answer a;
    if (!command[0])
        il_respond_error(req, 400, "exec: no command given");
    else if (!er.stdin_open && !out && !err_wanted)
        il_respond_error(req, 400, "exec: at least one of stdin, stdout or stderr is required");
    else if (transport_agreed(req, EXEC_PROTOCOL, &a) &&
             (pod_id = pod_uid(req, v, ns, name, uid, container)) != NULL) {
        er.pod.uid = pod_id;
        exec_session *s = il_xcalloc(1, sizeof *s);
        s->v = v;
        s->t = a.t;
        s->request = il_exec_request_to_json(&er);
        s->expected = 1 + er.stdin_open + out + (err_wanted && !er.tty) + er.tty;
        if (a.t != T_SPDY)
            exec_streams_fixed(s, er.stdin_open, out, err_wanted, er.tty);
        il_buf words = IL_BUF_INIT;
        for (size_t i = 0; command[i]; i++)
            il_buf_printf(&words, "%s%s", i ? " " : "", command[i]);
        s->cmdline = il_buf_steal(&words);
        il_respond_upgrade(req, a.upgrade, a.headers, exec_run, s, exec_abandon);
    }
    free(command);
    free(pod_id);
    free(ns);
    free(name);
    free(uid);
    free(container);
}

static void handle_attach(il_request *req, void *ud)
{
    vk *v = ud;
    char *ns, *name, *uid, *container, *pod_id = NULL;
    if (parse_target(il_request_path(req) + strlen(ATTACH_PREFIX), true, &ns, &name, &uid,
                     &container) < 0) {
        il_respond_error(req, 404, "expected /attach/NAMESPACE/POD[/UID]/CONTAINER");
        return;
    }
    bool in = flag(req, "input"), out = flag(req, "output"), err_wanted = flag(req, "error");
    bool tty = flag(req, "tty");
    upgrade_answer a;
    if (!in && !out && !err_wanted) {
        il_respond_error(req, 400, "attach: at least one of stdin, stdout or stderr is required");
    } else if (in && !container_stdin(req, v, ns, name, container)) {
        /* answered */
    } else if (transport_agreed(req, EXEC_PROTOCOL, &a) &&
               (pod_id = pod_uid(req, v, ns, name, uid, container)) != NULL) {
        exec_session *s = il_xcalloc(1, sizeof *s);
        s->v = v;
        s->t = a.t;
        s->cmdline = il_xstrdup("attach");
        s->expected = 1 + in + out + (err_wanted && !tty) + tty;
        if (a.t != T_SPDY)
            exec_streams_fixed(s, in, out, err_wanted, tty);
        if (in) {
            il_exec_request er = {.pod = {.name = name, .ns = ns, .uid = pod_id},
                                  .container = container, .stdin_open = true, .tty = tty,
                                  .attach = true};
            s->request = il_exec_request_to_json(&er);
        }
        s->attach = il_xcalloc(1, sizeof *s->attach);
        *s->attach = (il_log_request){.ns = ns, .pod_uid = pod_id, .pod_name = name,
                                      .container = container, .follow = true,
                                      .since_time = il_time_now()};
        ns = name = container = pod_id = NULL;
        il_respond_upgrade(req, a.upgrade, a.headers, attach_run, s, attach_abandon);
    }
    free(pod_id);
    free(ns);
    free(name);
    free(uid);
    free(container);
}

/* ---- port-forward ---------------------------------------------------------- */

typedef struct forward {
    char key[32];             /* SPDY: requestid */
    int index;                /* WebSocket: channels 2*index (data), 2*index+1 (error) */
    uint32_t data_id, error_id;
    int port;
    il_httpc_upgrade *be;
    bool ended;
} forward;

typedef struct pf_session {
    vk *v;
    transport t;
    char *ns, *name, *uid;
    forward f[MAX_FORWARDS];
    size_t n;
} pf_session;

static forward *forward_for(pf_session *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->f[i].key, key))
            return &s->f[i];
    if (s->n == MAX_FORWARDS)
        return NULL;
    forward *f = &s->f[s->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->key, sizeof f->key, "%s", key);
    return f;
}

/* Bytes to kubectl on the forward's data or error stream. */
static void forward_put(conn *c, forward *f, bool error, const void *p, size_t n)
{
    if (c->t != T_SPDY)
        vk_ws_channel_append(&c->out, c->t == T_WS_BASE64, (uint8_t)(2 * f->index + error), p,
                             n);
    else if (error ? f->error_id : f->data_id)
        vk_spdy_data(error ? f->error_id : f->data_id, 0, p, n, &c->out);
}

static void forward_end(conn *c, forward *f, const char *message)
{
    if (f->ended)
        return;
    if (message && c->t != T_SPDY)
        forward_put(c, f, true, message, strlen(message));
    if (message && f->error_id)
        vk_spdy_data(f->error_id, 0, message, strlen(message), &c->out);
    if (f->data_id)
        vk_spdy_data(f->data_id, VK_SPDY_FLAG_FIN, NULL, 0, &c->out);
    if (f->error_id)
        vk_spdy_data(f->error_id, VK_SPDY_FLAG_FIN, NULL, 0, &c->out);
    il_httpc_upgrade_close(f->be);
    f->be = NULL;
    f->ended = true;
}

static void forward_open(pf_session *s, conn *c, forward *f)
{
    json_t *body = il_portforward_to_json(s->name, s->ns, s->uid, f->port);
    long status;
    char err[512];
    f->be = vk_interlink_upgrade(s->v->il, "/portforward", "PortForward", body,
                                 IL_SESSION_PROTOCOL, &status, err, sizeof err);
    json_decref(body);
    if (!f->be) {
        char *msg = il_xasprintf("error forwarding port %d to pod %s, uid %s: %s", f->port,
                                 s->name, s->uid, err);
        forward_end(c, f, msg);
        free(msg);
    }
}

static void pf_stream(pf_session *s, conn *c, const vk_spdy_frame *fr)
{
    il_kv *h;
    size_t n;
    if (accept_stream(c, fr, &h, &n) < 0)
        return;
    const char *type = vk_spdy_header(h, n, "streamtype");
    const char *port = vk_spdy_header(h, n, "port");
    const char *rid = vk_spdy_header(h, n, "requestid");
    char key[32];
    bool data = type && !strcmp(type, "data");
    /* Without a requestid the error stream comes just before its data stream. */
    snprintf(key, sizeof key, "%s", rid ? rid : "");
    if (!rid)
        snprintf(key, sizeof key, "#%u", data ? fr->stream_id - 2 : fr->stream_id);
    int64_t p = 0;
    forward *f = forward_for(s, key);
    if (!f || !type || (!data && strcmp(type, "error") != 0) || !port ||
        il_parse_int64(port, &p) < 0 || p < 1 || p > 65535) {
        vk_spdy_rst_stream(fr->stream_id, VK_SPDY_REFUSED_STREAM, &c->out);
    } else {
        f->port = (int)p;
        if (data)
            f->data_id = fr->stream_id;
        else
            f->error_id = fr->stream_id;
        if (data && !f->ended)
            forward_open(s, c, f);
    }
    vk_spdy_headers_free(h, n);
}

static void pf_frame(conn *c, const vk_spdy_frame *fr, void *arg)
{
    pf_session *s = arg;
    if (fr->control && fr->type == VK_SPDY_SYN_STREAM) {
        pf_stream(s, c, fr);
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        forward *f = &s->f[i];
        if (f->ended || fr->stream_id != f->data_id)
            continue;
        if (fr->control && fr->type == VK_SPDY_RST_STREAM)
            forward_end(c, f, NULL);
        else if (!fr->control && fr->len && f->be &&
                 il_httpc_upgrade_write(f->be, fr->payload, fr->len) < 0)
            forward_end(c, f, "the connection in the pod closed");
    }
}

/* WebSocket: a data channel's bytes go to its forward's connection. */
static void pf_channel(conn *c, int channel, const uint8_t *p, size_t n, void *arg)
{
    pf_session *s = arg;
    forward *f = channel % 2 == 0 && (size_t)(channel / 2) < s->n ? &s->f[channel / 2] : NULL;
    if (f && f->be && !f->ended && il_httpc_upgrade_write(f->be, p, n) < 0)
        forward_end(c, f, "the connection in the pod closed");
}

/* WebSocket: every ?port= is forwarded at once; each of its channels
 * first carries the port (two bytes, little-endian), as from a kubelet. */
static void pf_open_fixed(pf_session *s, conn *c)
{
    for (size_t i = 0; i < s->n; i++) {
        uint8_t port[2] = {(uint8_t)(s->f[i].port & 0xFF), (uint8_t)(s->f[i].port >> 8)};
        forward_put(c, &s->f[i], false, port, 2);
        forward_put(c, &s->f[i], true, port, 2);
        forward_open(s, c, &s->f[i]);
    }
}

static bool pf_all_ended(const pf_session *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->f[i].ended)
            return false;
    return true;
}

static void pf_backend(conn *c, forward *f)
{
    char buf[32 * 1024];
    for (;;) {
        ssize_t n = il_httpc_upgrade_read(f->be, buf, sizeof buf);
        if (n == IL_STREAM_AGAIN)
            return;
        if (n <= 0) {
            forward_end(c, f, NULL);
            return;
        }
        forward_put(c, f, false, buf, (size_t)n);
        if (c->out.len > 256 * 1024)
            conn_flush(c);
    }
}

static void pf_run(il_upgraded *u, void *arg)
{
    pf_session *s = arg;
    conn c;
    conn_init(&c, u, s->t);
    if (s->t != T_SPDY)
        pf_open_fixed(s, &c);
    while (!c.gone) {
        conn_input(&c, pf_frame, pf_channel, s);
        conn_flush(&c);
        if (s->t != T_SPDY && pf_all_ended(s))
            break;
        struct pollfd p[1 + MAX_FORWARDS];
        forward *who[1 + MAX_FORWARDS];
        size_t np = 1;
        p[0] = (struct pollfd){.fd = c.fd, .events = POLLIN};
        for (size_t i = 0; i < s->n; i++)
            if (s->f[i].be) {
                who[np] = &s->f[i];
                p[np++] = (struct pollfd){.fd = il_httpc_upgrade_fd(s->f[i].be),
                                          .events = POLLIN};
            }
        if (poll(p, np, 1000) < 0 && errno != EINTR)
            break;
        for (size_t i = 1; i < np; i++)
            if (p[i].revents)
                pf_backend(&c, who[i]);
        conn_poll_done(&c, p[0].revents);
    }
    for (size_t i = 0; i < s->n; i++)
        forward_end(&c, &s->f[i], NULL);
    conn_end(&c, u);
    free(s->ns);
    free(s->name);
    free(s->uid);
    free(s);
}

static void pf_abandon(void *arg)
{
    pf_session *s = arg;
    free(s->ns);
    free(s->name);
    free(s->uid);
    free(s);
}

/* WebSocket: the forwards are the query's ?port= values; 0, or -1 after
 * answering 400. */
static int pf_ports(il_request *req, pf_session *s)
{
    const char **ports = il_request_query_all(req, "port");
    int rc = ports[0] ? 0 : -1;
    for (size_t i = 0; ports[i] && rc == 0; i++) {
        int64_t p = 0;
        if (i == MAX_FORWARDS || il_parse_int64(ports[i], &p) < 0 || p < 1 || p > 65535)
            rc = -1;
        else
            s->f[s->n++] = (forward){.index = (int)i, .port = (int)p};
    }
    free(ports);
    if (rc != 0)
        il_respond_error(req, 400, "port-forward over WebSocket: 1 to %d ?port= values of 1 to "
                         "65535 are required", MAX_FORWARDS);
    return rc;
}

static void handle_portforward(il_request *req, void *ud)
{
    vk *v = ud;
    char *ns, *name, *uid, *none, *pod_id;
    if (parse_target(il_request_path(req) + strlen(PORTFORWARD_PREFIX), false, &ns, &name, &uid,
                     &none) < 0) {
        il_respond_error(req, 404, "expected /portForward/NAMESPACE/POD[/UID]");
        return;
    }
    upgrade_answer a;
    pf_session *s = il_xcalloc(1, sizeof *s);
    if (transport_agreed(req, PORTFORWARD_PROTOCOL, &a) &&
        (a.t == T_SPDY || pf_ports(req, s) == 0) &&
        (pod_id = pod_uid(req, v, ns, name, uid, NULL)) != NULL) {
        s->v = v;
        s->t = a.t;
        s->ns = ns;
        s->name = name;
        s->uid = pod_id;
        il_respond_upgrade(req, a.upgrade, a.headers, pf_run, s, pf_abandon);
        ns = name = NULL;
        s = NULL;
    }
    free(s);
    free(ns);
    free(name);
    free(uid);
}

void vk_streams_route(il_httpd *http, vk *v)
{
    il_httpd_route_prefix(http, EXEC_PREFIX, handle_exec, v);
    il_httpd_route_prefix(http, ATTACH_PREFIX, handle_attach, v);
    il_httpd_route_prefix(http, PORTFORWARD_PREFIX, handle_portforward, v);
}
