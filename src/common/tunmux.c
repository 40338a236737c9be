/* tunmux.c -- the tunnel session engine (protocol in tunmux.h).
 *
 * One thread, one poll() over the tunnel's transport, the gateway's
 * listeners and every stream's local socket.  Bytes move through two
 * queues of frames (to and from the tunnel) and one queue per stream (to
 * its local socket); a stream's local socket is read only while the peer
 * has given credit and the tunnel's queue is below OUT_HIGH, so a slow
 * peer or a slow local reader is paid for with a bounded buffer, never
 * with memory that grows. */
#include "tunmux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timeutil.h"
#include "util.h"

#define OUT_HIGH (512 * 1024)   /* tunnel queue: stop reading local sockets above it */
#define RECV_CHUNK (256 * 1024)
#define IN_CHUNK (TUN_HEADER + TUN_FRAME_MAX)
#define TLS_RECORD_MAX (16 * 1024)
#define DEFAULT_MAX_STREAMS 1024

/* ---- byte queues ----------------------------------------------------------- */

typedef struct tq {
    unsigned char *data;
    size_t head, len, cap;    /* pending bytes are data[head, len) */
} tq;

static size_t tq_pending(const tq *q)
{
    return q->len - q->head;
}

/* Room for n more bytes at the end; the bytes go in with tq_commit. */
static unsigned char *tq_reserve(tq *q, size_t n)
{
    if (q->head > 0 && q->len + n > q->cap) {
        memmove(q->data, q->data + q->head, q->len - q->head);
        q->len -= q->head;
        q->head = 0;
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + n)
            cap *= 2;
        q->data = il_xrealloc(q->data, cap);
        q->cap = cap;
    }
    return q->data + q->len;
}

static void tq_commit(tq *q, size_t n)
{
    q->len += n;
}

static void tq_consume(tq *q, size_t n)
{
    q->head += n;
    if (q->head == q->len)
        q->head = q->len = 0;
}

static void tq_free(tq *q)
{
    free(q->data);
    memset(q, 0, sizeof *q);
}

/* ---- frames --------------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void tun_put_header(unsigned char *p, int type, uint32_t id, uint32_t len)
{
    p[0] = (unsigned char)type;
    put32(p + 1, id);
    put32(p + 5, len);
}

void tun_get_header(const unsigned char *p, int *type, uint32_t *id, uint32_t *len)
{
    *type = p[0];
    *id = get32(p + 1);
    *len = get32(p + 5);
}

/* ---- sessions ---------------------------------------------------------------------- */

typedef struct tstream {
    uint32_t id;
    int fd;
    bool connecting;          /* node side: connect() in progress */
    bool rd_eof;              /* the local side ended: FIN sent */
    bool peer_fin;            /* the peer sent FIN: shut down writing once out drains */
    bool wr_shut;
    bool dead;                /* closed; removed at the end of the loop turn */
    tq out;                   /* DATA from the peer, for the local socket */
    size_t credit;            /* DATA bytes we may still send */
    size_t unacked;           /* bytes written locally, not yet returned with WINDOW */
} tstream;

typedef struct tlistener {
    int fd;
    uint16_t port;
} tlistener;

struct tun_session {
    tun_transport t;
    uint16_t ports[TUN_MAX_PORTS];
    size_t n_ports;
    struct in_addr target;
    tlistener listeners[TUN_MAX_PORTS];
    size_t n_listeners;
    tstream **streams;
    size_t n_streams, cap_streams, max_streams;
    uint32_t next_id;
    tq in, out;               /* frames from / to the tunnel */
    int64_t last_rx, last_tx;
    tun_stats stats;
    struct pollfd *pfd;       /* per loop turn, with the stream of each slot */
    tstream **pst;
    size_t pcap;
};

tun_session *tun_session_new(const tun_transport *t, const uint16_t *ports, size_t n_ports,
                             const char *target_host)
{
    tun_session *s = il_xcalloc(1, sizeof *s);
    s->t = *t;
    s->n_ports = n_ports < TUN_MAX_PORTS ? n_ports : TUN_MAX_PORTS;
    if (s->n_ports)
        memcpy(s->ports, ports, s->n_ports * sizeof *ports);
    if (!target_host || inet_pton(AF_INET, target_host, &s->target) != 1)
        s->target.s_addr = htonl(INADDR_LOOPBACK);
    s->max_streams = DEFAULT_MAX_STREAMS;
    s->next_id = 1;
    return s;
}

void tun_session_listen(tun_session *s, int listen_fd, uint16_t port)
{
    if (s->n_listeners == TUN_MAX_PORTS) {
        close(listen_fd);
        return;
    }
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);   /* accept until EAGAIN */
    s->listeners[s->n_listeners++] = (tlistener){listen_fd, port};
}

void tun_session_max_streams(tun_session *s, size_t max)
{
    s->max_streams = max ? max : DEFAULT_MAX_STREAMS;
}

void tun_session_feed(tun_session *s, const void *data, size_t len)
{
    memcpy(tq_reserve(&s->in, len), data, len);
    tq_commit(&s->in, len);
}

const tun_stats *tun_session_stats(const tun_session *s)
{
    return &s->stats;
}

size_t tun_session_active(const tun_session *s)
{
    return s->n_streams;
}

static void emit(tun_session *s, int type, uint32_t id, const void *payload, uint32_t len)
{
    unsigned char *p = tq_reserve(&s->out, TUN_HEADER + len);
    tun_put_header(p, type, id, len);
    if (len)
        memcpy(p + TUN_HEADER, payload, len);
    tq_commit(&s->out, TUN_HEADER + len);
}

static void emit_window(tun_session *s, tstream *st)
{
    unsigned char n[4];
    put32(n, (uint32_t)st->unacked);
    emit(s, TUN_WINDOW, st->id, n, 4);
    st->unacked = 0;
}

static tstream *stream_find(tun_session *s, uint32_t id)
{
    for (size_t i = 0; i < s->n_streams; i++)
        if (s->streams[i]->id == id && !s->streams[i]->dead)
            return s->streams[i];
    return NULL;
}

static tstream *stream_add(tun_session *s, uint32_t id, int fd)
{
    if (s->n_streams == s->cap_streams) {
        s->cap_streams = s->cap_streams ? s->cap_streams * 2 : 8;
        s->streams = il_xrealloc(s->streams, s->cap_streams * sizeof *s->streams);
    }
    tstream *st = il_xcalloc(1, sizeof *st);
    st->id = id;
    st->fd = fd;
    st->credit = TUN_WINDOW_BYTES;
    s->streams[s->n_streams++] = st;
    s->stats.streams++;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return st;
}

/* Close the local socket; reset sends a TCP RST to the local peer (the
 * remote end aborted, or a port refused). */
static void stream_close(tstream *st, bool reset)
{
    if (st->dead)
        return;
    if (reset) {
        struct linger lg = {1, 0};
        setsockopt(st->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(st->fd);
    st->fd = -1;
    st->dead = true;
}

static void stream_abort(tun_session *s, tstream *st)
{
    emit(s, TUN_RST, st->id, NULL, 0);
    stream_close(st, true);
}

static void stream_maybe_done(tstream *st)
{
    if (!st->dead && st->rd_eof && st->wr_shut)
        stream_close(st, false);
}

/* Write what the peer sent to the local socket; return credit. */
static void stream_write(tun_session *s, tstream *st)
{
    if (st->dead || st->connecting)
        return;
    while (tq_pending(&st->out) > 0) {
        ssize_t n = send(st->fd, st->out.data + st->out.head, tq_pending(&st->out),
                         MSG_NOSIGNAL);   /* a reset peer is an error here, not SIGPIPE */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            stream_abort(s, st);
            return;
        }
        tq_consume(&st->out, (size_t)n);
        st->unacked += (size_t)n;
    }
    /* Credit goes back in quarters of the window, not after every frame:
     * the peer can only run out while three quarters are in flight or
     * queued here, and writing those out returns a quarter again. */
    if (st->unacked >= TUN_WINDOW_BYTES / 4)
        emit_window(s, st);
    if (tq_pending(&st->out) == 0 && st->peer_fin && !st->wr_shut) {
        shutdown(st->fd, SHUT_WR);
        st->wr_shut = true;
        stream_maybe_done(st);
    }
}

/* DATA for the local socket: straight from the tunnel's buffer when
 * nothing is queued before it (no copy), the rest queued. */
static void stream_deliver(tun_session *s, tstream *st, const unsigned char *p, size_t len)
{
    if (tq_pending(&st->out) == 0 && !st->connecting && !st->dead) {
        ssize_t n;
        do
            n = send(st->fd, p, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            stream_abort(s, st);
            return;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            st->unacked += (size_t)n;
        }
    }
    if (len > 0) {
        memcpy(tq_reserve(&st->out, len), p, len);
        tq_commit(&st->out, len);
    }
    stream_write(s, st);
}

/* Read the local socket into DATA frames while credit and room last. */
static void stream_read(tun_session *s, tstream *st)
{
    while (!st->dead && !st->rd_eof && st->credit > 0 && tq_pending(&s->out) < OUT_HIGH) {
        size_t want = st->credit < TUN_FRAME_MAX ? st->credit : TUN_FRAME_MAX;
        unsigned char *p = tq_reserve(&s->out, TUN_HEADER + want);
        ssize_t n = read(st->fd, p + TUN_HEADER, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            stream_abort(s, st);
            return;
        }
        if (n == 0) {
            emit(s, TUN_FIN, st->id, NULL, 0);
            st->rd_eof = true;
            stream_maybe_done(st);
            return;
        }
        tun_put_header(p, TUN_DATA, st->id, (uint32_t)n);
        tq_commit(&s->out, TUN_HEADER + (size_t)n);
        st->credit -= (size_t)n;
        s->stats.bytes_down += (uint64_t)n;
        if ((size_t)n < want)
            return;   /* drained for now: poll again rather than read EAGAIN */
    }
}

static bool port_allowed(const tun_session *s, uint16_t port)
{
    for (size_t i = 0; i < s->n_ports; i++)
        if (s->ports[i] == port)
            return true;
    return false;
}

/* Node side: a connection for port arrived at the gateway. */
static int on_open(tun_session *s, uint32_t id, const unsigned char *p, uint32_t len,
                   char *why, size_t whylen)
{
    if (s->n_listeners > 0 || len != 2 || stream_find(s, id)) {
        snprintf(why, whylen, "protocol error: unexpected OPEN of stream %u", id);
        return -1;
    }
    uint16_t port = (uint16_t)(p[0] << 8 | p[1]);
    if (!port_allowed(s, port) || s->n_streams >= s->max_streams) {
        emit(s, TUN_RST, id, NULL, 0);
        return 0;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr = s->target};
    int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc < 0 && errno != EINPROGRESS) {
        if (fd >= 0)
            close(fd);
        emit(s, TUN_RST, id, NULL, 0);
        return 0;
    }
    tstream *st = stream_add(s, id, fd);
    st->connecting = rc < 0;
    return 0;
}

static int on_frame(tun_session *s, int type, uint32_t id, const unsigned char *p,
                    uint32_t len, char *why, size_t whylen)
{
    if (type == TUN_OPEN)
        return on_open(s, id, p, len, why, whylen);
    if (type == TUN_PING) {
        emit(s, TUN_PONG, 0, NULL, 0);
        return 0;
    }
    if (type == TUN_PONG)
        return 0;
    tstream *st = stream_find(s, id);
    if (!st)
        return 0;   /* already closed here; the peer learns it from our RST or FIN */
    switch (type) {
    case TUN_DATA:
        if (st->peer_fin || tq_pending(&st->out) + len > TUN_WINDOW_BYTES) {
            snprintf(why, whylen, "protocol error: stream %u: data beyond %s", id,
                     st->peer_fin ? "its FIN" : "the window");
            return -1;
        }
        s->stats.bytes_up += len;
        stream_deliver(s, st, p, len);
        return 0;
    case TUN_FIN:
        st->peer_fin = true;
        stream_write(s, st);
        return 0;
    case TUN_RST:
        stream_close(st, true);
        return 0;
    case TUN_WINDOW:
        if (len != 4 || st->credit + get32(p) > TUN_WINDOW_BYTES) {
            snprintf(why, whylen, "protocol error: stream %u: bad WINDOW", id);
            return -1;
        }
        st->credit += get32(p);
        return 0;
    default:
        snprintf(why, whylen, "protocol error: unknown frame type %d", type);
        return -1;
    }
}

/* Read the tunnel until it has nothing more, handling whole frames. */
static int tunnel_recv(tun_session *s, char *why, size_t whylen)
{
    for (;;) {
        while (tq_pending(&s->in) >= TUN_HEADER) {
            int type;
            uint32_t id, len;
            tun_get_header(s->in.data + s->in.head, &type, &id, &len);
            if (len > TUN_FRAME_MAX) {
                snprintf(why, whylen, "protocol error: frame of %u bytes", len);
                return -1;
            }
            if (tq_pending(&s->in) < TUN_HEADER + (size_t)len)
                break;
            if (on_frame(s, type, id, s->in.data + s->in.head + TUN_HEADER, len, why,
                         whylen) < 0)
                return -1;
            tq_consume(&s->in, TUN_HEADER + len);
        }
        /* A TLS read yields one record at most: asking room for a whole
         * frame, not more, keeps the queue from moving its partial frame
         * to the front every few reads. */
        unsigned char *p = tq_reserve(&s->in, IN_CHUNK);
        ssize_t n = s->t.recv(s->t.ctx, p, IN_CHUNK);
        if (n == TUN_AGAIN)
            return 1;
        if (n == 0) {
            snprintf(why, whylen, "the peer closed the tunnel");
            return 0;
        }
        if (n < 0) {
            snprintf(why, whylen, "tunnel read error");
            return -1;
        }
        tq_commit(&s->in, (size_t)n);
        s->last_rx = il_monotonic_ms();
    }
}

static int tunnel_send(tun_session *s, char *why, size_t whylen)
{
    while (tq_pending(&s->out) > 0) {
        size_t want = tq_pending(&s->out);
        ssize_t n = s->t.send(s->t.ctx, s->out.data + s->out.head,
                              want < RECV_CHUNK ? want : RECV_CHUNK);
        if (n == TUN_AGAIN)
            return 0;
        if (n <= 0) {
            snprintf(why, whylen, "tunnel write error (%zd of %zu)", n, want);
            return -1;
        }
        tq_consume(&s->out, (size_t)n);
        s->last_tx = il_monotonic_ms();
    }
    return 0;
}

/* TLS writes one record (16 KiB at most) per write(): corked, the records
 * of one flush leave in full-sized segments, not a segment (and a wakeup of
 * the peer) per record.  A single small record (an interactive message) is
 * not corked: it leaves at once either way. */
static void tunnel_cork(tun_session *s, int on)
{
    setsockopt(s->t.fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

static int tunnel_flush(tun_session *s, char *why, size_t whylen)
{
    bool cork = tq_pending(&s->out) > TLS_RECORD_MAX;
    if (cork)
        tunnel_cork(s, 1);
    int rc = tunnel_send(s, why, whylen);
    if (cork)
        tunnel_cork(s, 0);
    return rc;
}

static void accept_all(tun_session *s, const tlistener *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (s->n_streams >= s->max_streams) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(fd);
            continue;
        }
        tstream *st = stream_add(s, s->next_id++, fd);
        unsigned char port[2] = {(unsigned char)(l->port >> 8), (unsigned char)l->port};
        emit(s, TUN_OPEN, st->id, port, 2);
    }
}

static void stream_connected(tun_session *s, tstream *st)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        stream_abort(s, st);
        return;
    }
    st->connecting = false;
    stream_write(s, st);
}

static void sweep(tun_session *s)
{
    size_t j = 0;
    for (size_t i = 0; i < s->n_streams; i++) {
        tstream *st = s->streams[i];
        if (st->dead) {
            tq_free(&st->out);
            free(st);
        } else {
            s->streams[j++] = st;
        }
    }
    s->n_streams = j;
}

/* The poll set of one loop turn: transport, stop fd, listeners, streams. */
static size_t poll_set(tun_session *s, int stop_fd)
{
    size_t need = 2 + s->n_listeners + s->n_streams;
    if (need > s->pcap) {
        s->pcap = need * 2;
        s->pfd = il_xrealloc(s->pfd, s->pcap * sizeof *s->pfd);
        s->pst = il_xrealloc(s->pst, s->pcap * sizeof *s->pst);
    }
    size_t k = 0;
    s->pfd[k] = (struct pollfd){s->t.fd, POLLIN | (tq_pending(&s->out) ? POLLOUT : 0), 0};
    s->pst[k++] = NULL;
    s->pfd[k] = (struct pollfd){stop_fd, POLLIN, 0};
    s->pst[k++] = NULL;
    for (size_t i = 0; i < s->n_listeners; i++) {
        s->pfd[k] = (struct pollfd){s->listeners[i].fd, POLLIN, 0};
        s->pst[k++] = NULL;
    }
    bool room = tq_pending(&s->out) < OUT_HIGH;
    for (size_t i = 0; i < s->n_streams; i++) {
        tstream *st = s->streams[i];
        short ev = 0;
        if (st->connecting || tq_pending(&st->out) > 0)
            ev |= POLLOUT;
        if (!st->connecting && !st->rd_eof && st->credit > 0 && room)
            ev |= POLLIN;
        s->pfd[k] = (struct pollfd){st->fd, ev, 0};
        s->pst[k++] = st;
    }
    return k;
}

static int next_timeout(const tun_session *s, int64_t now)
{
    int64_t ping = s->last_tx + TUN_PING_MS, dead = s->last_rx + TUN_DEAD_MS;
    int64_t t = (ping < dead ? ping : dead) - now;
    return t < 0 ? 0 : (int)t;
}

int tun_session_run(tun_session *s, int stop_fd, char *why, size_t whylen)
{
    s->last_rx = s->last_tx = il_monotonic_ms();
    int rc = tunnel_recv(s, why, whylen);   /* bytes fed before the start */
    if (rc <= 0)
        return rc;
    for (;;) {
        if (tunnel_flush(s, why, whylen) < 0)
            return -1;
        size_t n = poll_set(s, stop_fd);
        int64_t now = il_monotonic_ms();
        if (poll(s->pfd, n, next_timeout(s, now)) < 0 && errno != EINTR) {
            snprintf(why, whylen, "poll: %s", strerror(errno));
            return -1;
        }
        now = il_monotonic_ms();
        if (s->pfd[1].revents)
            return 1;
        if (s->pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            rc = tunnel_recv(s, why, whylen);
            if (rc <= 0)
                return rc;
        }
        for (size_t i = 0; i < s->n_listeners; i++)
            if (s->pfd[2 + i].revents)
                accept_all(s, &s->listeners[i]);
        for (size_t k = 2 + s->n_listeners; k < n; k++) {
            tstream *st = s->pst[k];
            short re = s->pfd[k].revents;
            if (st->dead || !re)
                continue;
            if (st->connecting) {
                stream_connected(s, st);
                continue;
            }
            if (re & (POLLOUT | POLLERR | POLLHUP))
                stream_write(s, st);
            if (re & (POLLIN | POLLERR | POLLHUP))
                stream_read(s, st);
            /* hung up with nothing left to read: it would poll as ready forever */
            if ((re & (POLLERR | POLLHUP)) && st->rd_eof && !st->dead)
                stream_abort(s, st);
        }
        sweep(s);
        if (now - s->last_rx >= TUN_DEAD_MS) {
            snprintf(why, whylen, "nothing received for %d s", TUN_DEAD_MS / 1000);
            return -1;
        }
        if (now - s->last_tx >= TUN_PING_MS && tq_pending(&s->out) == 0)
            emit(s, TUN_PING, 0, NULL, 0);
    }
}

void tun_session_free(tun_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_streams; i++) {
        stream_close(s->streams[i], true);
        tq_free(&s->streams[i]->out);
        free(s->streams[i]);
    }
    for (size_t i = 0; i < s->n_listeners; i++)
        close(s->listeners[i].fd);
    free(s->streams);
    free(s->pfd);
    free(s->pst);
    tq_free(&s->in);
    tq_free(&s->out);
    free(s);
}

/* ---- the pod's ports -------------------------------------------------------------- */

static void ports_of(json_t *containers, uint16_t *ports, size_t *n, size_t max)
{
    size_t i, j;
    json_t *c, *p;
    json_array_foreach(containers, i, c) {
        json_array_foreach(json_object_get(c, "ports"), j, p) {
            json_int_t port = json_integer_value(json_object_get(p, "containerPort"));
            const char *proto = json_string_value(json_object_get(p, "protocol"));
            if (port < 1 || port > 65535 || (proto && strcmp(proto, "TCP") != 0))
                continue;
            bool seen = false;
            for (size_t k = 0; k < *n; k++)
                seen = seen || ports[k] == (uint16_t)port;
            if (!seen && *n < max)
                ports[(*n)++] = (uint16_t)port;
        }
    }
}

size_t tun_pod_ports(json_t *pod, uint16_t *ports, size_t max)
{
    json_t *spec = json_object_get(pod, "spec");
    size_t n = 0;
    ports_of(json_object_get(spec, "containers"), ports, &n, max);
    ports_of(json_object_get(spec, "initContainers"), ports, &n, max);
    return n;
}
