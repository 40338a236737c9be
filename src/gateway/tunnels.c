/* tunnels.c -- the gateway's tunnel listener: TLS, the upgrade, sessions.
 *
 * The data path is OpenSSL on the socket itself and one thread per tunnel
 * running tun_session_run: no relay through a socket pair as an HTTP
 * server library's upgrade would need over TLS, so a byte costs one
 * decryption and one copy.  The request before the upgrade is a single
 * GET with a few headers, read within HANDSHAKE_S seconds (up to
 * HEAD_MAX bytes) and authenticated before anything is allocated for the
 * pod: the pod's UID and its credential (Authorization: Bearer).
 *
 * One tunnel per pod: a second authenticated tunnel of the same pod
 * replaces the first (its node lost the old one without the gateway
 * noticing yet), after the first has released the pod's ports. */
#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define HANDSHAKE_S 10
#define HEAD_MAX 8192
#define REPLACE_WAIT_S 5
#define LISTEN_BACKLOG 128
#define TLS_READ_BUFFER (64 * 1024)   /* read ahead: four full records per read() */

struct gw_conn {
    gateway *gw;
    int fd;
    SSL *ssl;
    int stop[2];              /* a byte here ends the session */
    char *uid;                /* the pod, once claimed */
    tun_session *s;
    char peer[64];
};

/* ---- the transport ------------------------------------------------------------- */

static ssize_t ssl_result(SSL *ssl, int ok, size_t n)
{
    if (ok == 1)
        return (ssize_t)n;
    switch (SSL_get_error(ssl, ok)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return TUN_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default: {
        char e[256];
        ERR_error_string_n(ERR_peek_last_error(), e, sizeof e);
        il_debug("tunnel TLS: error %d (%s, errno %d)", SSL_get_error(ssl, ok), e, errno);
        return -1;
    }
    }
}

static ssize_t ssl_recv(void *ctx, void *buf, size_t len)
{
    size_t n = 0;
    ERR_clear_error();
    int ok = SSL_read_ex(ctx, buf, len, &n);
    return ssl_result(ctx, ok, n);
}

static ssize_t ssl_send(void *ctx, const void *buf, size_t len)
{
    size_t n = 0;
    ERR_clear_error();
    int ok = SSL_write_ex(ctx, buf, len, &n);
    return ssl_result(ctx, ok, n);
}

/* ---- the request ----------------------------------------------------------------- */

typedef struct tunnel_request {
    char *head;               /* NUL-terminated; headers point into it */
    size_t head_len;          /* through the blank line */
    size_t got;               /* bytes read (the rest: early tunnel frames) */
    const char *uid, *token, *upgrade;
} tunnel_request;

static void answer(SSL *ssl, int status, const char *reason, const char *msg)
{
    char text[512];
    int n = snprintf(text, sizeof text,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n", status, reason, strlen(msg) + 1, msg);
    size_t w;
    SSL_write_ex(ssl, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1, &w);
}

/* Read the request head; -1 on timeout, EOF or one too long. */
static int read_head(SSL *ssl, tunnel_request *r)
{
    r->head = il_xmalloc(HEAD_MAX + 1);
    while (r->got < HEAD_MAX) {
        size_t n = 0;
        if (SSL_read_ex(ssl, r->head + r->got, HEAD_MAX - r->got, &n) != 1)
            return -1;
        r->got += n;
        r->head[r->got] = '\0';
        char *end = memmem(r->head, r->got, "\r\n\r\n", 4);
        if (end) {
            r->head_len = (size_t)(end + 4 - r->head);
            *end = '\0';
            return 0;
        }
    }
    return -1;
}

static bool header_is(const char *line, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0 || line[n] != ':')
        return false;
    *value = line + n + 1 + strspn(line + n + 1, " \t");
    return true;
}

/* Split the head into lines; the request line must be GET of the tunnel. */
static int parse_head(tunnel_request *r)
{
    char *save = NULL;
    char *line = strtok_r(r->head, "\r\n", &save);
    size_t path_len = strlen(TUN_PATH);
    if (!line || strncmp(line, "GET " TUN_PATH, 4 + path_len) != 0 ||
        (line[4 + path_len] != ' ' && line[4 + path_len] != '?'))
        return -1;
    const char *v;
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        if (header_is(line, TUN_POD_HEADER, &v))
            r->uid = v;
        else if (header_is(line, "Upgrade", &v))
            r->upgrade = v;
        else if (header_is(line, "Authorization", &v) && strncasecmp(v, "Bearer ", 7) == 0)
            r->token = v + 7;
    }
    return 0;
}

/* ---- claiming the pod -------------------------------------------------------------- */

static int listen_on(uint32_t ip, uint16_t port, char *why, size_t whylen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(ip)};
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
        return fd;
    char ip_text[16];
    gw_ip_text(ip, ip_text);
    snprintf(why, whylen, "cannot listen on %s:%u: %s%s", ip_text, port, strerror(errno),
             errno == EADDRNOTAVAIL ? " (is PodNetwork routed to this host, e.g. `ip route add "
                                      "local NET dev lo`?)" : "");
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Under mu: wait until the pod's old tunnel has released its ports.
 * Returns the pod again (it may have been deleted meanwhile: NULL). */
static gw_pod *replace_old(gateway *gw, const char *uid)
{
    gw_pod *p = gw_pod_find(gw, uid);
    if (p)
        gw_pod_stop_tunnel(p);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += REPLACE_WAIT_S;
    while ((p = gw_pod_find(gw, uid)) != NULL && p->conn)
        if (pthread_cond_timedwait(&gw->conn_gone, &gw->mu, &until) == ETIMEDOUT)
            break;
    return p;
}

/* Authenticate and take the pod: its listeners go to the session.
 * Returns 0, or the HTTP status to refuse with (why set). */
static int claim(gw_conn *c, const tunnel_request *r, char *why, size_t whylen)
{
    gateway *gw = c->gw;
    char expected[65];
    if (!r->uid || !r->token || strlen(r->uid) > 128) {
        snprintf(why, whylen, "a tunnel needs %s and Authorization: Bearer", TUN_POD_HEADER);
        return 401;
    }
    gw_pod_token(gw, r->uid, expected);
    pthread_mutex_lock(&gw->mu);
    gw_pod *p = gw_pod_find(gw, r->uid);
    if (!p || !il_secret_equal(r->token, expected)) {
        pthread_mutex_unlock(&gw->mu);
        snprintf(why, whylen, "unknown pod or wrong credential");
        return 401;
    }
    p = replace_old(gw, r->uid);
    int status = 0;
    if (!p) {
        snprintf(why, whylen, "the pod was deleted");
        status = 401;
    } else if (p->conn) {
        snprintf(why, whylen, "the pod's previous tunnel did not end");
        status = 503;
    }
    for (size_t i = 0; !status && i < p->n_ports; i++) {
        int fd = listen_on(p->ip, p->ports[i], why, whylen);
        if (fd < 0)
            status = 503;
        else
            tun_session_listen(c->s, fd, p->ports[i]);
    }
    if (p && status) {
        snprintf(p->last_error, sizeof p->last_error, "%s", why);
    } else if (p) {
        p->conn = c;
        p->stop_fd = c->stop[1];
        p->session = c->s;
        snprintf(p->peer, sizeof p->peer, "%s", c->peer);
        c->uid = il_xstrdup(p->uid);
        p->connects++;
        p->last_error[0] = '\0';
        il_time_format(il_time_now(), false, p->since);
    }
    pthread_mutex_unlock(&gw->mu);
    return status;
}

/* ---- one connection ---------------------------------------------------------------- */

static void conn_end(gw_conn *c, const char *why)
{
    gateway *gw = c->gw;
    SSL_free(c->ssl);
    close(c->fd);
    pthread_mutex_lock(&gw->mu);
    tun_session_free(c->s);   /* closes the pod's listeners and streams */
    gw_pod *p = c->uid ? gw_pod_find(gw, c->uid) : NULL;
    if (p && p->conn == c) {
        p->conn = NULL;
        p->stop_fd = -1;
        p->session = NULL;
        snprintf(p->last_error, sizeof p->last_error, "%s", why);
        il_time_format(il_time_now(), false, p->since);
        il_info("tunnel of pod %s/%s from %s ended: %s", p->ns, p->name, c->peer, why);
        pthread_cond_broadcast(&gw->conn_gone);
    } else if (c->uid) {
        il_info("tunnel of pod %s from %s ended: %s", c->uid, c->peer, why);
    }
    pthread_mutex_unlock(&gw->mu);
    free(c->uid);
    close(c->stop[0]);
    close(c->stop[1]);
    free(c);
    /* last: once the count is down, shutdown may free what SSL objects use */
    OPENSSL_thread_stop();
    pthread_mutex_lock(&gw->mu);
    gw->n_conns--;
    pthread_cond_broadcast(&gw->conn_gone);
    pthread_mutex_unlock(&gw->mu);
}

static void serve(gw_conn *c)
{
    tunnel_request r = {0};
    char why[512] = "";
    struct timeval tv = {HANDSHAKE_S, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    tun_transport t = {.fd = c->fd, .recv = ssl_recv, .send = ssl_send, .ctx = c->ssl};
    c->s = tun_session_new(&t, NULL, 0, NULL);
    tun_session_max_streams(c->s, (size_t)c->gw->cfg.max_streams);
    int status = 0;
    if (SSL_accept(c->ssl) != 1) {
        snprintf(why, sizeof why, "TLS handshake failed");
    } else if (read_head(c->ssl, &r) != 0 || parse_head(&r) != 0) {
        snprintf(why, sizeof why, "not a tunnel request");
        answer(c->ssl, 400, "Bad Request", "expected GET " TUN_PATH " with Upgrade: "
               TUN_PROTOCOL);
    } else if (!r.upgrade || strcasecmp(r.upgrade, TUN_PROTOCOL) != 0) {
        snprintf(why, sizeof why, "not an upgrade to %s", TUN_PROTOCOL);
        answer(c->ssl, 400, "Bad Request", why);
    } else if ((status = claim(c, &r, why, sizeof why)) != 0) {
        answer(c->ssl, status, status == 401 ? "Unauthorized" : "Service Unavailable", why);
        il_warn("tunnel from %s for pod %.128s refused (%d): %s", c->peer, r.uid, status, why);
    } else {
        static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                 "Upgrade: " TUN_PROTOCOL "\r\n\r\n";
        size_t w;
        SSL_write_ex(c->ssl, ok, sizeof ok - 1, &w);
        il_info("tunnel of pod %s up from %s", r.uid, c->peer);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        if (r.got > r.head_len)
            tun_session_feed(c->s, r.head + r.head_len, r.got - r.head_len);
        if (tun_session_run(c->s, c->stop[0], why, sizeof why) == 1)
            snprintf(why, sizeof why, "closed by the gateway (pod deleted or replaced)");
    }
    free(r.head);
    conn_end(c, why);
}

static void *conn_main(void *arg)
{
    serve(arg);
    return NULL;
}

/* ---- the listener ----------------------------------------------------------------- */

static void start_conn(gateway *gw, int fd, const struct sockaddr_in *from)
{
    pthread_mutex_lock(&gw->mu);
    bool full = gw->n_conns >= (size_t)gw->cfg.max_tunnels;
    if (!full)
        gw->n_conns++;
    pthread_mutex_unlock(&gw->mu);
    gw_conn *c = full ? NULL : il_xcalloc(1, sizeof *c);
    if (!c || pipe2(c->stop, O_CLOEXEC | O_NONBLOCK) != 0) {
        if (c) {
            pthread_mutex_lock(&gw->mu);
            gw->n_conns--;
            pthread_mutex_unlock(&gw->mu);
            free(c);
        }
        close(fd);
        return;
    }
    c->gw = gw;
    c->fd = fd;
    char addr[16] = "?";
    inet_ntop(AF_INET, &from->sin_addr, addr, sizeof addr);
    snprintf(c->peer, sizeof c->peer, "%s:%u", addr, ntohs(from->sin_port));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = SSL_new(gw->ssl);
    SSL_set_fd(c->ssl, fd);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&th, &attr, conn_main, c) != 0)
        conn_end(c, "no thread");
    pthread_attr_destroy(&attr);
}

static void *acceptor(void *arg)
{
    gateway *gw = arg;
    for (;;) {
        struct sockaddr_in from = {0};
        socklen_t len = sizeof from;
        int fd = accept4(gw->listen_fd, (struct sockaddr *)&from, &len, SOCK_CLOEXEC);
        if (fd >= 0) {
            start_conn(gw, fd, &from);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
            if (errno == EMFILE || errno == ENFILE)
                usleep(100000);
            continue;
        }
        return NULL;   /* the listener was shut down */
    }
}

static SSL_CTX *tls_context(const gw_config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Read ahead: one read() takes in several records, not two per record
     * (header, then body); the buffer goes back to the heap when drained, so
     * an idle tunnel does not keep it. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_BUFFER);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_num_tickets(ctx, 0);   /* clients reconnect rarely: no resumption state */
    /* AES-128-GCM first: as strong as needed here and the cheapest per byte */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                                  "TLS_AES_256_GCM_SHA384");
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        snprintf(err, errlen, "TLS.CertFile %s / TLS.KeyFile %s: %s", cfg->cert_file,
                 cfg->key_file, e);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int gw_tunnels_start(gateway *gw, char *err, size_t errlen)
{
    gw->listen_fd = -1;
    gw->ssl = tls_context(&gw->cfg, err, errlen);
    if (!gw->ssl)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int64_t port = 0;
    int one = 1;
    if (inet_pton(AF_INET, gw->cfg.tunnel_address, &sa.sin_addr) != 1 ||
        il_parse_int64(gw->cfg.tunnel_port, &port) != 0 || port < 0 || port > 65535) {
        snprintf(err, errlen, "TunnelAddress/TunnelPort: \"%s\":\"%s\" is not an IPv4 address "
                 "and a port", gw->cfg.tunnel_address, gw->cfg.tunnel_port);
        return -1;
    }
    sa.sin_port = htons((uint16_t)port);
    gw->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (gw->listen_fd < 0 ||
        setsockopt(gw->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(gw->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(gw->listen_fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "tunnel listener %s:%s: %s", gw->cfg.tunnel_address,
                 gw->cfg.tunnel_port, strerror(errno));
        return -1;
    }
    if (pthread_create(&gw->acceptor, NULL, acceptor, gw) != 0) {
        snprintf(err, errlen, "cannot start the acceptor thread");
        return -1;
    }
    return 0;
}

/* Stop accepting and end every tunnel; returns once their threads are done. */
void gw_tunnels_stop(gateway *gw)
{
    if (gw->listen_fd >= 0) {
        shutdown(gw->listen_fd, SHUT_RDWR);
        pthread_join(gw->acceptor, NULL);
        close(gw->listen_fd);
    }
    pthread_mutex_lock(&gw->mu);
    for (size_t i = 0; i < gw->n_pods; i++)
        gw_pod_stop_tunnel(gw->pods[i]);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += HANDSHAKE_S + 1;
    while (gw->n_conns > 0)
        if (pthread_cond_timedwait(&gw->conn_gone, &gw->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&gw->mu);
    if (gw->ssl)
        SSL_CTX_free(gw->ssl);
}
