/* httpd.c -- the HTTP server every daemon uses, on libmicrohttpd.
 *
 * Owns: the listening socket (TCP or unix, created here so that stale unix
 * sockets can be told from live ones and port "0" can be reported), the
 * per-request state (body accumulation under a size limit), routing by exact
 * path, the response helpers, and pulled streams with client-gone detection.
 *
 * Threading: MHD runs one thread per connection, so handlers may block.  The
 * routing table is written before serving starts and only read afterwards.
 *
 * TLS: a certificate rotation starts a second MHD daemon on the same
 * listening socket with the new certificate and quiesces the old one, so
 * no connection is refused meanwhile and open streams (a followed log) go
 * on; retired daemons are stopped with the server.  GnuTLS details (peer
 * verification, checking a pair) live in httpd_tls.c. */
#include "httpd.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "httpd_tls.h"
#include "log.h"
#include "timeutil.h"
#include "trace.h"
#include "util.h"

#define IL_DEFAULT_MAX_BODY (16 * 1024 * 1024)
#define IL_MAX_ROUTES 32

/* TLS 1.2 and 1.3 only, GnuTLS's default ciphers for them. */
#define IL_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

typedef struct route {
    char *path;
    il_handler_fn fn;
    void *userdata;
    bool prefix;
} route;

/* A daemon replaced by a certificate rotation, still finishing the
 * connections it accepted, with the PEMs it was started from. */
typedef struct retired_daemon {
    struct MHD_Daemon *mhd;
    char *cert, *key;
    struct retired_daemon *next;
} retired_daemon;

struct il_httpd {
    struct MHD_Daemon *mhd;
    int listen_fd;
    char *unix_path;          /* NULL for TCP */
    int port;
    int64_t max_body;
    unsigned timeout_s;
    unsigned max_connections, max_per_client;
    route routes[IL_MAX_ROUTES];
    size_t n_routes;
    il_filter_fn filter;
    void *filter_ud;
    il_observer_fn observer;
    void *observer_ud;
    atomic_bool stopping;
    atomic_int upgraded;      /* sessions running after a 101 */
    bool tls;
    char *tls_cert, *tls_key, *tls_client_ca;   /* the current PEMs */
    retired_daemon *retired;
    pthread_mutex_t tls_lock;                    /* mhd, PEMs, retired: rotation vs stop */
};

struct il_request {
    il_httpd *srv;
    struct MHD_Connection *conn;
    char *method;
    char *path;
    il_buf body;
    bool body_mapped;             /* body.data is a mapping of body.cap bytes: body_map */
    bool too_large;
    bool responded;
    bool early;                   /* answered on the headers: close after it */
    bool streamed;                /* il_respond_stream: the idle timeout is off */
    int status;
    char session[64];
    int64_t started_ms;
    void *caller;                 /* il_request_set_caller */
    void (*caller_free)(void *);
    struct il_upgraded *upgrade;   /* set by il_respond_upgrade */
};

/* ---- listening socket -------------------------------------------------- */

/* A unix socket path that exists is either a live server (refuse to start:
 * two servers on one socket would split the traffic) or a leftover from a
 * crash (remove it; upstream refused to start in that case). */
static int clear_stale_unix_socket(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket; refusing to replace it", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    if (live) {
        snprintf(err, errlen, "another server is already listening on %s", path);
        return -1;
    }
    il_warn("removing stale socket %s left by a previous run", path);
    if (unlink(path) != 0) {
        snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int listen_unix(il_httpd *srv, const char *path, unsigned mode, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "unix socket path too long (max %zu bytes): %s",
                 sizeof(sa.sun_path) - 1, path);
        return -1;
    }
    if (clear_stale_unix_socket(path, err, errlen) != 0)
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(path, mode ? mode : 0660) != 0 || listen(fd, 512) != 0) {
        snprintf(err, errlen, "cannot listen on unix socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    srv->listen_fd = fd;
    srv->unix_path = il_xstrdup(path);
    return 0;
}

/* host may carry its own ":port"; otherwise port is used. */
static int listen_tcp(il_httpd *srv, const char *hostport, const char *port, char *err,
                      size_t errlen)
{
    char *host = il_xstrdup(hostport);
    char *slash = strchr(host, '/');
    if (slash)
        *slash = '\0';
    char *colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']')) {
        *colon = '\0';
        port = colon + 1;
    }
    if (!port || !*port) {
        snprintf(err, errlen, "http address %s needs a port (InterlinkPort/SidecarPort)", hostport);
        free(host);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *res = NULL;
    const char *node = (*host && strcmp(host, "0.0.0.0") != 0) ? host : NULL;
    int gai = getaddrinfo(node, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s port %s: %s", host, port, gai_strerror(gai));
        free(host);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 512) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%s: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        free(host);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    srv->listen_fd = fd;
    freeaddrinfo(res);
    free(host);
    return 0;
}

/* ---- responses ---------------------------------------------------------- */

static void finish(il_request *req, struct MHD_Response *resp, int status,
                   const char *content_type)
{
    if (req->responded) {
        il_error("%s %s: handler responded twice (second status %d ignored)",
                 req->method, req->path, status);
        MHD_destroy_response(resp);
        return;
    }
    req->responded = true;
    req->status = status;
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (req->early)   /* an unread body may follow: do not read it as the next request */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (MHD_queue_response(req->conn, (unsigned)status, resp) != MHD_YES)
        il_warn("%s %s: could not queue response %d", req->method, req->path, status);
    MHD_destroy_response(resp);
}

void il_respond(il_request *req, int status, const char *content_type, const void *body,
                size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    finish(req, resp, status, content_type);
}

/* vasprintf that cannot fail: the message, or "" if formatting failed. */
static char *format_message(const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return il_xstrdup("");
    return msg;
}

void il_respond_text(il_request *req, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_message(fmt, ap);
    va_end(ap);
    il_respond(req, status, "text/plain; charset=utf-8", msg, strlen(msg));
    free(msg);
}

void il_respond_json(il_request *req, int status, json_t *json)
{
    char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(json);
    if (!text) {
        il_respond_error(req, 500, "cannot encode response as JSON");
        return;
    }
    /* MHD frees the text when sent: a second copy of a 10,000-pod answer
     * would be megabytes more at the peak. */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    finish(req, resp, status, "application/json");
}

void il_respond_json_buf(il_request *req, int status, il_buf *b)
{
    size_t len = b->len;
    char *text = il_buf_steal(b);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    finish(req, resp, status, "application/json");
}

void il_respond_error(il_request *req, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = format_message(fmt, ap);
    va_end(ap);
    il_log(status >= 500 ? IL_LOG_ERROR : IL_LOG_WARN, "%s %s [%s] -> %d: %s", req->method,
           req->path, il_request_session(req), status, msg);
    il_respond_text(req, status, "%s\n", msg);
    free(msg);
}

/* ---- streams ------------------------------------------------------------ */

typedef struct stream_ctx {
    il_request *req;          /* valid while the response is being sent */
    il_httpd *srv;
    int client_fd;
    il_stream_read_fn read_fn;
    il_stream_free_fn free_fn;
    void *user;
} stream_ctx;

static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
        return true;
    /* Readable: either pipelined bytes (still here) or EOF (gone). */
    char c;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_ctx *sc = cls;
    for (;;) {
        ssize_t n = sc->read_fn(sc->user, buf, max);
        if (n > 0)
            return n;
        if (n == 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (n != IL_STREAM_AGAIN)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (atomic_load(&sc->srv->stopping) || client_gone(sc->client_fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls)
{
    stream_ctx *sc = cls;
    if (sc->free_fn)
        sc->free_fn(sc->user);
    free(sc);
}

void il_respond_stream(il_request *req, int status, const char *content_type,
                       il_stream_read_fn read_fn, void *ctx, il_stream_free_fn free_fn)
{
    stream_ctx *sc = il_xcalloc(1, sizeof(*sc));
    sc->req = req;
    sc->srv = req->srv;
    sc->read_fn = read_fn;
    sc->free_fn = free_fn;
    sc->user = ctx;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    sc->client_fd = ci ? ci->connect_fd : -1;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, sc, stream_free);
    /* The server's idle timeout counts from the connection's last byte, and
     * a stream waits for its next one inside stream_reader: a watch longer
     * than the timeout, or a log followed through a quiet minute, was cut
     * off as idle the moment its data came.  While the stream is sent the
     * reader itself ends it when the client leaves or the server stops; the
     * timeout is back for the connection's next request (on_completed). */
    req->streamed = MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                              0u) == MHD_YES;
    finish(req, resp, status, content_type);
}

/* ---- upgrade ------------------------------------------------------------ */

/* Who owns it is decided by `claimed`: the upgrade handler (the switch
 * happened: a thread runs fn) or on_completed (it never did: free_fn). */
struct il_upgraded {
    il_httpd *srv;
    il_upgrade_fn fn;
    il_stream_free_fn free_fn;
    void *ctx;
    atomic_bool claimed;
    int fd;
    int peer_fd;              /* the client's own socket (behind TLS: not fd) */
    char *early;
    size_t n_early;
    struct MHD_UpgradeResponseHandle *urh;
};

static void *upgraded_main(void *arg)
{
    il_upgraded *u = arg;
    u->fn(u, u->ctx);
    return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls,
                       const char *extra_in, size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    (void)con_cls;
    il_upgraded *u = cls;
    u->fd = sock;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    u->peer_fd = ci ? ci->connect_fd : -1;
    u->urh = urh;
    if (extra_in_size) {
        u->early = il_xmalloc(extra_in_size);
        memcpy(u->early, extra_in, extra_in_size);
        u->n_early = extra_in_size;
    }
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add(&u->srv->upgraded, 1);
    if (atomic_exchange(&u->claimed, true)) {
        il_upgraded_close(u);   /* on_completed freed the context already */
    } else if (pthread_create(&t, &attr, upgraded_main, u) != 0) {
        il_error("upgraded connection: no thread for it");
        if (u->free_fn)
            u->free_fn(u->ctx);
        il_upgraded_close(u);
    }
    pthread_attr_destroy(&attr);
}

void il_respond_upgrade(il_request *req, const char *protocol, const char *const *headers,
                        il_upgrade_fn fn, void *ctx, il_stream_free_fn free_fn)
{
    il_upgraded *u = il_xcalloc(1, sizeof *u);
    *u = (il_upgraded){.srv = req->srv, .fn = fn, .free_fn = free_fn, .ctx = ctx, .fd = -1,
                       .peer_fd = -1};
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, u);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, protocol);
    for (size_t i = 0; headers && headers[i]; i++) {
        const char *colon = strchr(headers[i], ':');
        if (!colon)
            continue;
        char *name = il_xstrndup(headers[i], (size_t)(colon - headers[i]));
        MHD_add_response_header(resp, name, colon + 1 + strspn(colon + 1, " "));
        free(name);
    }
    req->upgrade = u;
    finish(req, resp, MHD_HTTP_SWITCHING_PROTOCOLS, NULL);
}

int il_upgraded_fd(const il_upgraded *u) { return u->fd; }

bool il_upgraded_gone(const il_upgraded *u)
{
    return atomic_load(&u->srv->stopping) || client_gone(u->peer_fd);
}

const char *il_upgraded_early(const il_upgraded *u, size_t *len)
{
    *len = u->n_early;
    return u->early;
}

void il_upgraded_close(il_upgraded *u)
{
    il_httpd *srv = u->srv;
    bool counted = u->urh != NULL;
    if (u->urh)
        MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(u->early);
    free(u);
    if (counted)
        atomic_fetch_sub(&srv->upgraded, 1);
}

typedef struct query_values {
    const char *name;
    const char **v;
    size_t n;
} query_values;

/* Header names compare without case, query parameters exactly. */
static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    query_values *q = cls;
    if (key && (kind == MHD_HEADER_KIND ? !strcasecmp(key, q->name) : !strcmp(key, q->name))) {
        q->v = il_xrealloc(q->v, (q->n + 2) * sizeof *q->v);
        q->v[q->n++] = value ? value : "";
        q->v[q->n] = NULL;
    }
    return MHD_YES;
}

const char **il_request_query_all(const il_request *req, const char *name)
{
    query_values q = {.name = name, .v = il_xcalloc(1, sizeof(char *))};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    return q.v;
}

const char **il_request_header_all(const il_request *req, const char *name)
{
    query_values q = {.name = name, .v = il_xcalloc(1, sizeof(char *))};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_query, &q);
    return q.v;
}

/* ---- request accessors -------------------------------------------------- */

const char *il_request_method(const il_request *req) { return req->method; }
const char *il_request_path(const il_request *req) { return req->path; }
const char *il_request_body(const il_request *req) { return il_buf_cstr(&req->body); }
size_t il_request_body_len(const il_request *req) { return req->body.len; }

const char *il_request_header(const il_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *il_request_query(const il_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *il_request_session(const il_request *req)
{
    return req->session;
}

void il_request_tls_peer(il_request *req, il_tls_peer *out)
{
    memset(out, 0, sizeof *out);
    if (!req->srv->tls)
        return;
    out->tls = true;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci && ci->tls_session)
        il_tls_peer_read(ci->tls_session, out);
}

void il_request_set_caller(il_request *req, void *data, void (*free_fn)(void *))
{
    if (req->caller_free)
        req->caller_free(req->caller);
    req->caller = data;
    req->caller_free = free_fn;
}

void *il_request_caller(const il_request *req)
{
    return req->caller;
}

const char *il_request_bearer(const il_request *req)
{
    const char *auth = il_request_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth ? auth : NULL;
}

json_t *il_request_json(il_request *req)
{
    if (req->body.len == 0) {
        il_respond_error(req, 400, "empty request body: expected JSON");
        return NULL;
    }
    json_error_t jerr;
    json_t *json = json_loadb(req->body.data, req->body.len, JSON_DECODE_ANY, &jerr);
    if (!json)
        il_respond_error(req, 400, "invalid JSON body: %s (line %d, column %d)", jerr.text,
                         jerr.line, jerr.column);
    return json;
}

bool il_request_split_array(il_request *req, il_json_split *s, const char *what)
{
    if (req->body.len > 0 && il_json_split_begin(s, req->body.data, req->body.len) == 0)
        return true;
    json_t *other = il_request_json(req);   /* answers 400 if not JSON at all */
    if (other)
        il_respond_error(req, 400, "%s", what);
    json_decref(other);
    return false;
}

/* ---- dispatch ------------------------------------------------------------ */

static il_request *request_new(il_httpd *srv, struct MHD_Connection *conn, const char *method,
                               const char *url)
{
    il_request *req = il_xcalloc(1, sizeof(*req));
    req->srv = srv;
    req->conn = conn;
    req->method = il_xstrdup(method);
    req->path = il_xstrdup(url);
    req->started_ms = il_monotonic_ms();
    const char *session = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                      "InterLink-Http-Session");
    if (session && *session) {
        snprintf(req->session, sizeof(req->session), "%s", session);
    } else {
        char uuid[37];
        il_uuid4(uuid);
        snprintf(req->session, sizeof(req->session), "Request-%s", uuid);
    }
    return req;
}

static bool body_exceeds_limit(il_request *req)
{
    const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strtoll(cl, NULL, 10) > req->srv->max_body;
}

static const route *find_route(const il_httpd *srv, const char *path)
{
    for (size_t i = 0; i < srv->n_routes; i++)
        if (!srv->routes[i].prefix && strcmp(srv->routes[i].path, path) == 0)
            return &srv->routes[i];
    for (size_t i = 0; i < srv->n_routes; i++)
        if (srv->routes[i].prefix &&
            strncmp(srv->routes[i].path, path, strlen(srv->routes[i].path)) == 0)
            return &srv->routes[i];
    return NULL;
}

/* A server span for the request, continuing the caller's traceparent;
 * scrapes and health checks are not traced. */
static il_span *trace_request(il_request *req, const char *route_path)
{
    if (strcmp(route_path, "/metrics") == 0 || strcmp(route_path, "/healthz") == 0)
        return NULL;
    char name[160];
    snprintf(name, sizeof name, "%s %s", req->method, route_path);
    il_span *span = il_span_start(name, IL_SPAN_SERVER, il_request_header(req, "traceparent"));
    il_span_set_str(span, "http.request.method", req->method);
    il_span_set_str(span, "url.path", req->path);
    return span;
}

static void dispatch(il_request *req)
{
    il_httpd *srv = req->srv;
    const route *r = find_route(srv, req->path);
    if (r) {
        il_span *span = trace_request(req, r->path);
        r->fn(req, r->userdata);
        if (!req->responded)
            il_respond_error(req, 500, "internal error: %s gave no answer", req->path);
        il_span_set_int(span, "http.response.status_code", req->status);
        if (req->status >= 500)
            il_span_set_error(span, NULL);
        il_span_end(span);
        return;
    }
    il_debug("%s %s: no such endpoint", req->method, req->path);
    il_respond_text(req, 404, "404 page not found\n");
}

/* A body announced at BODY_MAP_MIN bytes or more (a virtual kubelet's
 * /status at 10,000 pods is 16 MB) goes into a mapping of that size on
 * transparent huge pages, where the kernel gives them on request: filling
 * 16 MB of fresh 4 KiB heap pages took about 60 ms of page faults on a VM,
 * on huge pages about 5 ms.  The mapping goes with the request. */
#define BODY_MAP_MIN ((size_t)1 << 20)

static void body_map(il_request *req)
{
    const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long announced = cl ? strtoll(cl, NULL, 10) : 0;
    if (announced < (long long)BODY_MAP_MIN || announced > req->srv->max_body)
        return;
    size_t size = (size_t)announced + 1;   /* and il_buf's NUL */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;   /* the heap, then */
    madvise(p, size, MADV_HUGEPAGE);   /* advice only: refused where THP is off */
    req->body = (il_buf){.data = p, .len = 0, .cap = size};
    req->body_mapped = true;
}

static void body_free(il_request *req)
{
    if (req->body_mapped)
        munmap(req->body.data, req->body.cap);
    else
        il_buf_free(&req->body);
    req->body = (il_buf)IL_BUF_INIT;
    req->body_mapped = false;
}

/* Append a chunk; a mapped body never grows (il_buf_append would realloc
 * it): more than was announced moves it to the heap first. */
static void body_append(il_request *req, const char *data, size_t len)
{
    if (req->body_mapped && req->body.len + len + 1 > req->body.cap) {
        il_buf heap = IL_BUF_INIT;
        il_buf_append(&heap, req->body.data, req->body.len);
        body_free(req);
        req->body = heap;
    }
    il_buf_append(&req->body, data, len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    il_httpd *srv = cls;
    il_request *req = *con_cls;
    if (!req) {
        req = request_new(srv, conn, method, url);
        *con_cls = req;
        req->early = true;
        /* Headers only so far: the filter (authentication) decides before
         * a byte of the body is read, so an anonymous caller costs nothing. */
        if (srv->filter && !srv->filter(req, srv->filter_ud)) {
            if (!req->responded)
                il_respond_error(req, 500, "internal error: the request filter gave no answer");
        } else if (body_exceeds_limit(req)) {
            req->too_large = true;
            il_respond_error(req, 413, "request body larger than the limit of %lld bytes",
                             (long long)srv->max_body);
        }
        req->early = false;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (req->responded) {
            *upload_data_size = 0;   /* refused early: discard, never buffer */
            return MHD_YES;
        }
        if (!req->body.data)
            body_map(req);
        if (!req->too_large && req->body.len + *upload_data_size <= (size_t)srv->max_body)
            body_append(req, upload_data, *upload_data_size);
        else
            req->too_large = true;   /* chunked upload: drain, answer at the end */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->responded)
        return MHD_YES;
    if (req->too_large)
        il_respond_error(req, 413, "request body larger than the limit of %lld bytes",
                         (long long)srv->max_body);
    else
        dispatch(req);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    il_httpd *srv = cls;
    il_request *req = *con_cls;
    if (!req)
        return;
    double seconds = (double)(il_monotonic_ms() - req->started_ms) / 1000.0;
    il_debug("%s %s [%s] -> %d in %.3fs%s", req->method, req->path, req->session, req->status,
             seconds,
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    if (srv->observer && req->responded)
        srv->observer(req->method, req->path, req->status, seconds, srv->observer_ud);
    il_request_set_caller(req, NULL, NULL);
    if (req->streamed)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, srv->timeout_s);
    if (req->upgrade && !atomic_exchange(&req->upgrade->claimed, true)) {
        if (req->upgrade->free_fn)
            req->upgrade->free_fn(req->upgrade->ctx);
        il_upgraded_close(req->upgrade);
    }
    body_free(req);
    free(req->method);
    free(req->path);
    free(req);
    *con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    il_debug("libmicrohttpd: %s", msg);
}

/* ---- lifecycle ------------------------------------------------------------ */

static int open_listener(il_httpd *srv, const il_httpd_opts *opts, char *err, size_t errlen)
{
    const char *addr = opts->address ? opts->address : "";
    if (strncmp(addr, "unix://", 7) == 0 && opts->tls_cert_pem) {
        snprintf(err, errlen, "TLS needs a TCP address, not %s", addr);
        return -1;
    }
    if (strncmp(addr, "unix://", 7) == 0)
        return listen_unix(srv, addr + 7, opts->socket_mode, err, errlen);
    if (strncmp(addr, "http://", 7) == 0)
        return listen_tcp(srv, addr + 7, opts->port, err, errlen);
    if (strncmp(addr, "https://", 8) == 0 && !opts->tls_cert_pem) {
        snprintf(err, errlen, "https listeners need a certificate: %s "
                 "(put a TLS proxy in front, or use unix://)", addr);
        return -1;
    }
    if (strncmp(addr, "https://", 8) == 0)
        return listen_tcp(srv, addr + 8, opts->port, err, errlen);
    snprintf(err, errlen, "address must start with unix://, http:// or https://, got \"%s\"",
             addr);
    return -1;
}

/* Copy the TLS material after checking it, so a bad pair is reported
 * with GnuTLS's reason before anything listens. */
static int take_tls_opts(il_httpd *srv, const il_httpd_opts *opts, char *err, size_t errlen)
{
    if (!opts->tls_cert_pem)
        return 0;
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        snprintf(err, errlen, "this libmicrohttpd was built without TLS support");
        return -1;
    }
    if (il_tls_check_pair(opts->tls_cert_pem, opts->tls_key_pem, err, errlen) != 0 ||
        (opts->tls_client_ca_pem && il_tls_check_ca(opts->tls_client_ca_pem, err, errlen) != 0))
        return -1;
    srv->tls = true;
    srv->tls_cert = il_xstrdup(opts->tls_cert_pem);
    srv->tls_key = il_xstrdup(opts->tls_key_pem);
    srv->tls_client_ca = il_xstrdup(opts->tls_client_ca_pem);
    return 0;
}

static void free_tls(il_httpd *srv)
{
    free(srv->tls_cert);
    free(srv->tls_key);
    free(srv->tls_client_ca);
    pthread_mutex_destroy(&srv->tls_lock);
}

il_httpd *il_httpd_new(const il_httpd_opts *opts, char *err, size_t errlen)
{
    il_httpd *srv = il_xcalloc(1, sizeof(*srv));
    srv->listen_fd = -1;
    srv->max_body = opts->max_body > 0 ? opts->max_body : IL_DEFAULT_MAX_BODY;
    srv->timeout_s = opts->timeout_s ? opts->timeout_s : IL_HTTPD_TIMEOUT_S;
    srv->max_connections = opts->max_connections ? opts->max_connections
                                                 : IL_HTTPD_MAX_CONNECTIONS;
    srv->max_per_client = opts->max_per_client ? opts->max_per_client : IL_HTTPD_MAX_PER_CLIENT;
    pthread_mutex_init(&srv->tls_lock, NULL);
    if (take_tls_opts(srv, opts, err, errlen) != 0 || open_listener(srv, opts, err, errlen) != 0) {
        free_tls(srv);
        free(srv);
        return NULL;
    }
    return srv;
}

/* One MHD daemon on the server's socket; cert and key only for TLS.
 * With a client CA, MHD asks clients for a certificate without requiring
 * one; il_request_tls_peer verifies it. */
static struct MHD_Daemon *start_mhd(il_httpd *srv, const char *cert, const char *key)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_SUPPRESS_DATE_NO_CLOCK | MHD_ALLOW_UPGRADE;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)IL_TLS_PRIORITIES},
        {srv->tls_client_ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, srv->tls_client_ca},
        {MHD_OPTION_END, 0, NULL},
    };
    if (srv->tls)
        flags |= MHD_USE_TLS | MHD_USE_ITC;   /* ITC: rotation quiesces the daemon */
    else
        tls[0].option = MHD_OPTION_END;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
        MHD_OPTION_CONNECTION_TIMEOUT, srv->timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, srv->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->unix_path ? 0u : srv->max_per_client,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
}

int il_httpd_start(il_httpd *srv, char *err, size_t errlen)
{
    pthread_mutex_lock(&srv->tls_lock);
    srv->mhd = start_mhd(srv, srv->tls_cert, srv->tls_key);
    pthread_mutex_unlock(&srv->tls_lock);
    if (!srv->mhd) {
        snprintf(err, errlen, "libmicrohttpd could not start serving");
        return -1;
    }
    return 0;
}

/* Start the new daemon before quiescing the old one: for a moment both
 * accept, so no client finds the port closed. */
static int rotate(il_httpd *srv, char *cert, char *key, char *err, size_t errlen)
{
    struct MHD_Daemon *next = start_mhd(srv, cert, key);
    if (!next) {
        snprintf(err, errlen, "libmicrohttpd could not start serving the new certificate");
        return -1;
    }
    MHD_quiesce_daemon(srv->mhd);
    retired_daemon *r = il_xcalloc(1, sizeof *r);
    *r = (retired_daemon){srv->mhd, srv->tls_cert, srv->tls_key, srv->retired};
    srv->retired = r;
    srv->mhd = next;
    return 0;
}

int il_httpd_set_tls_cert(il_httpd *srv, const char *cert_pem, const char *key_pem, char *err,
                          size_t errlen)
{
    if (!srv->tls) {
        snprintf(err, errlen, "not a TLS server");
        return -1;
    }
    if (il_tls_check_pair(cert_pem, key_pem, err, errlen) != 0)
        return -1;
    char *cert = il_xstrdup(cert_pem), *key = il_xstrdup(key_pem);
    pthread_mutex_lock(&srv->tls_lock);
    int rc = 0;
    if (atomic_load(&srv->stopping)) {
        snprintf(err, errlen, "the server is stopping");
        rc = -1;
    } else if (srv->mhd) {
        rc = rotate(srv, cert, key, err, errlen);   /* the old PEMs go with the old daemon */
    } else {
        free(srv->tls_cert);
        free(srv->tls_key);
    }
    if (rc == 0) {
        srv->tls_cert = cert;
        srv->tls_key = key;
    } else {
        free(cert);
        free(key);
    }
    pthread_mutex_unlock(&srv->tls_lock);
    return rc;
}

static void add_route(il_httpd *srv, const char *path, il_handler_fn fn, void *userdata,
                      bool prefix)
{
    if (srv->n_routes == IL_MAX_ROUTES) {
        il_error("too many routes; %s not added", path);
        return;
    }
    srv->routes[srv->n_routes++] = (route){il_xstrdup(path), fn, userdata, prefix};
}

void il_httpd_route(il_httpd *srv, const char *path, il_handler_fn fn, void *userdata)
{
    add_route(srv, path, fn, userdata, false);
}

void il_httpd_route_prefix(il_httpd *srv, const char *prefix, il_handler_fn fn, void *userdata)
{
    add_route(srv, prefix, fn, userdata, true);
}

void il_httpd_set_filter(il_httpd *srv, il_filter_fn fn, void *userdata)
{
    srv->filter = fn;
    srv->filter_ud = userdata;
}

void il_httpd_set_observer(il_httpd *srv, il_observer_fn fn, void *userdata)
{
    srv->observer = fn;
    srv->observer_ud = userdata;
}

int il_httpd_port(const il_httpd *srv)
{
    return srv->port;
}

void il_httpd_stop(il_httpd *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, true);
    /* Sessions see `stopping` within a second (il_upgraded_gone) and end;
     * they use srv until then. */
    while (atomic_load(&srv->upgraded) > 0)
        usleep(10 * 1000);
    pthread_mutex_lock(&srv->tls_lock);   /* no rotation from here on */
    pthread_mutex_unlock(&srv->tls_lock);
    for (retired_daemon *r = srv->retired, *next; r; r = next) {
        next = r->next;
        MHD_stop_daemon(r->mhd);
        free(r->cert);
        free(r->key);
        free(r);
    }
    if (srv->mhd)
        MHD_stop_daemon(srv->mhd);
    close(srv->listen_fd);
    if (srv->unix_path)
        unlink(srv->unix_path);
    for (size_t i = 0; i < srv->n_routes; i++)
        free(srv->routes[i].path);
    free(srv->unix_path);
    free_tls(srv);
    free(srv);
}
