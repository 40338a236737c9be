/* httpc.c -- the HTTP client every daemon and the CLI use, on libcurl.
 *
 * Owns: libcurl global state, a connection cache shared by all threads of a
 * client (CURLSH with locks, so relaying many calls to a plugin reuses
 * keep-alive connections and TLS sessions), a pool of idle easy handles
 * (a fresh handle costs each call a socket pair and a dozen system calls
 * that curl makes for its internal multi handle), unix-socket addressing,
 * TLS credentials held in memory, and pulled response streams driven by
 * the multi interface.
 *
 * Every call has a connect timeout and (except streams) a total timeout, so
 * a hung peer produces an error instead of a hung caller. */
#include "httpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "log.h"
#include "trace.h"
#include "timeutil.h"

#define STREAM_PAUSE_BYTES (1024 * 1024)
#define CA_FILE_MAX (4 * 1024 * 1024)
#define IL_HTTPC_MAX_IDLE_CONNECTIONS 64L
#define IL_HTTPC_MAX_IDLE_HANDLES 16

struct il_httpc {
    char *base;               /* "http://localhost" for unix sockets */
    bool https;
    char *unix_path;          /* NULL for TCP */
    char *display;            /* what messages show */
    long connect_timeout_ms;
    long timeout_ms;
    char *auth_header;        /* "Authorization: Bearer ..." or NULL */
    char *proxy;              /* CURLOPT_PROXY, or NULL */
    bool proxy_from_env;
    il_buf ca, cert, key;     /* PEM blobs; empty = not set */
    bool insecure;
    void (*tune_ssl_ctx)(void *ssl_ctx);
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t idle_lock;
    CURL *idle[IL_HTTPC_MAX_IDLE_HANDLES];   /* reset handles of finished calls */
    size_t n_idle;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_global(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    il_httpc *c = ud;
    pthread_mutex_lock(&c->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    il_httpc *c = ud;
    pthread_mutex_unlock(&c->locks[data]);
}

/* "http://host" + port "4000" -> "http://host:4000"; an explicit port in
 * the URL wins, as upstream only appends the port setting when it is set.
 * A path prefix ("https://host/k8s/clusters/c1", as some API proxies use)
 * is kept, and the port goes before it. */
static char *http_base(const char *url, const char *port)
{
    size_t scheme = strstr(url, "://") - url + 3;
    const char *hostpart = url + scheme;
    size_t len = strlen(hostpart);
    while (len > 0 && hostpart[len - 1] == '/')
        len--;
    size_t hostlen = strcspn(hostpart, "/");
    hostlen = hostlen < len ? hostlen : len;
    const char *bracket = memchr(hostpart, ']', hostlen);
    const char *from = bracket ? bracket : hostpart;
    const char *colon = memchr(from, ':', hostlen - (size_t)(from - hostpart));
    if (colon || !port || !*port)
        return il_xasprintf("%.*s%.*s", (int)scheme, url, (int)len, hostpart);
    return il_xasprintf("%.*s%.*s:%s%.*s", (int)scheme, url, (int)hostlen, hostpart, port,
                        (int)(len - hostlen), hostpart + hostlen);
}

/* A CA file as a PEM blob.  Upstream's HTTP.CaCert is raw DER, which
 * OpenSSL's CAINFO does not take, so DER is wrapped into PEM here. */
static int load_ca_file(const char *path, il_buf *out, char *err, size_t errlen)
{
    il_buf raw = IL_BUF_INIT;
    if (il_read_file(path, CA_FILE_MAX, &raw) < 0) {
        snprintf(err, errlen, "CA file %s: %s", path, strerror(errno));
        il_buf_free(&raw);
        return -1;
    }
    if (raw.len > 0 && memmem(raw.data, raw.len, "-----BEGIN", 10)) {
        *out = raw;
        return 0;
    }
    char *b64 = il_base64_encode(raw.data ? raw.data : "", raw.len);
    il_buf_puts(out, "-----BEGIN CERTIFICATE-----\n");
    for (size_t i = 0, n = strlen(b64); i < n; i += 64)
        il_buf_printf(out, "%.64s\n", b64 + i);
    il_buf_puts(out, "-----END CERTIFICATE-----\n");
    free(b64);
    il_buf_free(&raw);
    return 0;
}

static int set_tls(il_httpc *c, const il_httpc_tls *tls, char *err, size_t errlen)
{
    if (!tls)
        return 0;
    c->insecure = tls->insecure;
    c->tune_ssl_ctx = tls->tune_ssl_ctx;
    if (tls->ca_pem && tls->ca_len)
        il_buf_append(&c->ca, tls->ca_pem, tls->ca_len);
    else if (tls->ca_file && *tls->ca_file && load_ca_file(tls->ca_file, &c->ca, err, errlen) < 0)
        return -1;
    if ((tls->cert_pem && tls->cert_len) != (tls->key_pem && tls->key_len)) {
        snprintf(err, errlen, "a client certificate needs its key, and a key its certificate");
        return -1;
    }
    if (tls->cert_pem && tls->cert_len) {
        il_buf_append(&c->cert, tls->cert_pem, tls->cert_len);
        il_buf_append(&c->key, tls->key_pem, tls->key_len);
    }
    return 0;
}

il_httpc *il_httpc_new(const il_httpc_opts *opts, char *err, size_t errlen)
{
    const char *url = opts->url ? opts->url : "";
    il_httpc *c = il_xcalloc(1, sizeof(*c));
    if (strncmp(url, "unix://", 7) == 0 && url[7] == '/') {
        c->unix_path = il_xstrdup(url + 7);
        c->base = il_xstrdup("http://localhost");
        c->display = il_xstrdup(url);
    } else if ((strncmp(url, "http://", 7) == 0 && url[7]) ||
               (strncmp(url, "https://", 8) == 0 && url[8])) {
        c->https = url[4] == 's';
        c->base = http_base(url, opts->port);
        c->display = il_xstrdup(c->base);
    } else {
        snprintf(err, errlen,
                 "URL must be unix:///absolute/path or http[s]://host[:port], got \"%s\"", url);
        free(c);
        return NULL;
    }
    if (set_tls(c, opts->tls, err, errlen) < 0) {
        il_httpc_free(c);
        return NULL;
    }
    c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 120000;
    c->proxy = opts->proxy && *opts->proxy ? il_xstrdup(opts->proxy) : NULL;
    c->proxy_from_env = opts->proxy_from_env;
    if (opts->bearer_token && *opts->bearer_token)
        c->auth_header = il_xasprintf("Authorization: Bearer %s", opts->bearer_token);

    pthread_once(&curl_once, curl_global);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    c->share = curl_share_init();
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    pthread_mutex_init(&c->idle_lock, NULL);
    return c;
}

void il_httpc_free(il_httpc *c)
{
    if (!c)
        return;
    if (c->share) {
        for (size_t i = 0; i < c->n_idle; i++)   /* before the share they use */
            curl_easy_cleanup(c->idle[i]);
        pthread_mutex_destroy(&c->idle_lock);
        curl_share_cleanup(c->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&c->locks[i]);
    }
    il_buf_free(&c->ca);
    il_buf_free(&c->cert);
    il_buf_free(&c->key);
    free(c->base);
    free(c->unix_path);
    free(c->display);
    free(c->auth_header);
    free(c->proxy);
    free(c);
}

const char *il_httpc_url(const il_httpc *c)
{
    return c->display;
}

/* ---- one request ----------------------------------------------------------- */

/* curl's own text names "localhost port 80" for unix sockets; say what
 * failed and the operating system's reason instead. */
static void describe_failure(CURL *h, CURLcode rc, const char *errbuf, char *out, size_t outlen)
{
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    if (rc == CURLE_COULDNT_CONNECT && os_errno)
        snprintf(out, outlen, "%s: %s", curl_easy_strerror(rc), strerror((int)os_errno));
    else
        snprintf(out, outlen, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
}

/* The answer's body, on its first bytes sized from Content-Length: one
 * block (mapped on its own when large) instead of a dozen doublings, whose
 * old blocks, when served from a free heap, stay resident until a trim
 * (interlink's /status answer to the VK is megabytes).  Only up to 64 MiB:
 * a length is the peer's word, and a larger body grows as it arrives. */
#define BODY_PRESIZE_MAX ((curl_off_t)64 << 20)
typedef struct body_sink {
    il_buf *body;
    CURL *h;
} body_sink;

static size_t append_body(char *data, size_t size, size_t nmemb, void *ud)
{
    body_sink *s = ud;
    curl_off_t cl = -1;
    if (!s->body->cap &&
        curl_easy_getinfo(s->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
        cl > (curl_off_t)(size * nmemb) && cl < BODY_PRESIZE_MAX) {
        s->body->data = il_xmalloc((size_t)cl + 1);
        s->body->cap = (size_t)cl + 1;
    }
    il_buf_append(s->body, data, size * nmemb);
    return size * nmemb;
}

static void blob_opt(CURL *h, CURLoption opt, const il_buf *b)
{
    struct curl_blob blob = {b->data, b->len, CURL_BLOB_COPY};
    curl_easy_setopt(h, opt, &blob);
}

static CURLcode tune_ssl_ctx(CURL *h, void *ssl_ctx, void *client)
{
    (void)h;
    ((il_httpc *)client)->tune_ssl_ctx(ssl_ctx);
    return CURLE_OK;
}

static void set_tls_opts(il_httpc *c, CURL *h)
{
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    if (c->ca.len)
        blob_opt(h, CURLOPT_CAINFO_BLOB, &c->ca);
    if (c->cert.len) {
        blob_opt(h, CURLOPT_SSLCERT_BLOB, &c->cert);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        blob_opt(h, CURLOPT_SSLKEY_BLOB, &c->key);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->tune_ssl_ctx) {
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, tune_ssl_ctx);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, c);
    }
}

static struct curl_slist *header_list(il_httpc *c, const il_httpc_req *req)
{
    char *line = il_xasprintf("Content-Type: %s",
                              req->content_type ? req->content_type : "application/json");
    struct curl_slist *hdrs = curl_slist_append(NULL, line);
    free(line);
    hdrs = curl_slist_append(hdrs, "Expect:");  /* no 100-continue round trip */
    if (req->session && *req->session) {
        line = il_xasprintf("InterLink-Http-Session: %s", req->session);
        hdrs = curl_slist_append(hdrs, line);
        free(line);
    }
    if (c->auth_header)
        hdrs = curl_slist_append(hdrs, c->auth_header);
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    char traceparent[IL_TRACEPARENT_SIZE];
    if (il_trace_traceparent(traceparent)) {
        line = il_xasprintf("traceparent: %s", traceparent);
        hdrs = curl_slist_append(hdrs, line);
        free(line);
    }
    return hdrs;
}

/* An idle handle of this client, or a new one. */
static CURL *easy_take(il_httpc *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->idle_lock);
    if (c->n_idle > 0)
        h = c->idle[--c->n_idle];
    pthread_mutex_unlock(&c->idle_lock);
    return h ? h : curl_easy_init();
}

/* Back to the idle handles (options reset, its internal multi kept), or
 * cleaned up when there are enough of them. */
static void easy_release(il_httpc *c, CURL *h)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&c->idle_lock);
    if (c->n_idle < IL_HTTPC_MAX_IDLE_HANDLES) {
        c->idle[c->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->idle_lock);
    if (h)
        curl_easy_cleanup(h);
}

static size_t body_read(char *buf, size_t size, size_t n, void *arg)
{
    const il_httpc_req *req = arg;
    return req->read(buf, size * n, req->read_arg);
}

static int body_seek(void *arg, curl_off_t offset, int origin)
{
    const il_httpc_req *req = arg;
    return offset == 0 && origin == SEEK_SET && req->rewind && req->rewind(req->read_arg) == 0
               ? CURL_SEEKFUNC_OK
               : CURL_SEEKFUNC_CANTSEEK;
}

/* Common easy-handle setup; *headers must be freed by the caller.  A
 * synchronous call (borrow_body) sends req->body in place: a 10,000-pod
 * /status body is megabytes, and a stream copies it since its caller may
 * free it while the transfer goes on. */
static CURL *easy_setup(il_httpc *c, const il_httpc_req *req, struct curl_slist **headers,
                        bool borrow_body)
{
    CURL *h = easy_take(c);
    if (!h)
        return NULL;
    char *url = il_xasprintf("%s%s", c->base, req->path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url);
    if (c->unix_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    /* The shared cache keeps at most this many idle connections when a
     * handle is done; curl's default of 5 is less than the concurrency of
     * interlink's or the VK's workers, and every connection it closes costs
     * the next request a connect and the server a new thread. */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, IL_HTTPC_MAX_IDLE_CONNECTIONS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    if (c->https)
        set_tls_opts(c, h);
    else
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    if (c->proxy)
        curl_easy_setopt(h, CURLOPT_PROXY, c->proxy);
    else if (!c->proxy_from_env)
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    *headers = header_list(c, req);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);

    if (req->read && borrow_body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, body_read);
        curl_easy_setopt(h, CURLOPT_READDATA, (void *)req);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, body_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, (void *)req);
    } else if (req->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
        curl_easy_setopt(h, borrow_body ? CURLOPT_POSTFIELDS : CURLOPT_COPYPOSTFIELDS,
                         req->len ? req->body : "");
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, "");
    }
    /* After POSTFIELDS: GET and DELETE with a body are what the VK sends. */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    return h;
}

int il_httpc_request(il_httpc *c, const char *method, const char *path, const char *session,
                     const void *body, size_t len, il_http_result *res)
{
    il_httpc_req req = {.method = method, .path = path, .session = session, .body = body,
                        .len = len};
    return il_httpc_call(c, &req, res);
}

static int httpc_call(il_httpc *c, const il_httpc_req *req, il_http_result *res);

/* A client span around one call, inside the caller's trace only. */
static il_span *trace_call(const il_httpc *c, const il_httpc_req *req)
{
    char name[160];
    const char *q = strchr(req->path, '?');
    snprintf(name, sizeof name, "%s %.*s", req->method, (int)(q ? q - req->path : 120),
             req->path);
    il_span *span = il_span_start_child(name, IL_SPAN_CLIENT);
    il_span_set_str(span, "http.request.method", req->method);
    il_span_set_str(span, "server.address", il_httpc_url(c));
    return span;
}

int il_httpc_call(il_httpc *c, const il_httpc_req *req, il_http_result *res)
{
    il_span *span = trace_call(c, req);
    int ret = httpc_call(c, req, res);
    il_span_set_int(span, "http.response.status_code", res->status);
    if (ret != 0 || res->status >= 500)
        il_span_set_error(span, ret != 0 ? res->error : NULL);
    il_span_end(span);
    return ret;
}

static int httpc_call(il_httpc *c, const il_httpc_req *req, il_http_result *res)
{
    memset(res, 0, sizeof(*res));
    struct curl_slist *headers = NULL;
    CURL *h = easy_setup(c, req, &headers, true);
    if (!h) {
        snprintf(res->error, sizeof(res->error), "cannot create a curl handle");
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms);
    body_sink sink = {&res->body, h};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);

    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
        if (!res->body.data)
            il_buf_append(&res->body, "", 0);
    } else {
        res->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        describe_failure(h, rc, errbuf, res->error, sizeof(res->error));
        res->status = 0;
        ret = -1;
    }
    easy_release(c, h);
    curl_slist_free_all(headers);
    return ret;
}

void il_http_result_free(il_http_result *res)
{
    il_buf_free(&res->body);
}

/* ---- streams ------------------------------------------------------------------ */

struct il_httpc_stream {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    il_buf pending;           /* received, not yet read */
    size_t offset;            /* read position in pending */
    bool headers_done;
    bool finished;
    bool paused;
    int wait_ms;              /* a read's wait for data; 0: the default 1000 */
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t stream_write(char *data, size_t size, size_t nmemb, void *ud)
{
    il_httpc_stream *s = ud;
    if (s->pending.len - s->offset > STREAM_PAUSE_BYTES) {
        s->paused = true;
        return CURL_WRITEFUNC_PAUSE;   /* the reader is slower than the peer */
    }
    il_buf_append(&s->pending, data, size * nmemb);
    return size * nmemb;
}

static size_t stream_header(char *data, size_t size, size_t nmemb, void *ud)
{
    il_httpc_stream *s = ud;
    size_t n = size * nmemb;
    if (n <= 2 && (data[0] == '\r' || data[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200)   /* not an interim 1xx block */
            s->headers_done = true;
    }
    return n;
}

/* Drive the transfer for at most wait_ms. */
static void stream_pump(il_httpc_stream *s, int wait_ms)
{
    int running = 0;
    curl_multi_perform(s->multi, &running);
    if (running && wait_ms > 0) {
        curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
        curl_multi_perform(s->multi, &running);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            s->finished = true;
            s->result = msg->data.result;
        }
    }
}

il_httpc_stream *il_httpc_stream_open(il_httpc *c, const char *method, const char *path,
                                      const char *session, const void *body, size_t len,
                                      long *status, bool *timed_out, char *err, size_t errlen)
{
    il_httpc_req req = {.method = method, .path = path, .session = session, .body = body,
                        .len = len};
    return il_httpc_stream_call(c, &req, status, timed_out, err, errlen);
}

il_httpc_stream *il_httpc_stream_call(il_httpc *c, const il_httpc_req *req, long *status,
                                      bool *timed_out, char *err, size_t errlen)
{
    if (timed_out)
        *timed_out = false;
    long header_timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms;
    il_httpc_stream *s = il_xcalloc(1, sizeof(*s));
    s->easy = easy_setup(c, req, &s->headers, false);
    s->multi = curl_multi_init();
    if (!s->easy || !s->multi) {
        snprintf(err, errlen, "cannot create a curl handle");
        il_httpc_stream_close(s);
        return NULL;
    }
    curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, stream_header);
    curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
    curl_multi_add_handle(s->multi, s->easy);

    int64_t waited_ms = 0;
    while (!s->headers_done && !s->finished && waited_ms < header_timeout_ms) {
        stream_pump(s, 200);
        waited_ms += 200;
    }
    if (s->finished && s->result != CURLE_OK) {
        describe_failure(s->easy, s->result, s->errbuf, err, errlen);
        il_httpc_stream_close(s);
        return NULL;
    }
    if (!s->headers_done && !s->finished) {
        if (timed_out)
            *timed_out = true;
        snprintf(err, errlen, "%s %s%s: no response within %ld ms", req->method, c->display,
                 req->path, header_timeout_ms);
        il_httpc_stream_close(s);
        return NULL;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, status);
    return s;
}

ssize_t il_httpc_stream_read(il_httpc_stream *s, char *buf, size_t max)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t avail = s->pending.len - s->offset;
        if (avail > 0) {
            size_t n = avail < max ? avail : max;
            memcpy(buf, s->pending.data + s->offset, n);
            s->offset += n;
            if (s->offset == s->pending.len) {
                il_buf_reset(&s->pending);
                s->offset = 0;
            }
            if (s->paused) {
                s->paused = false;
                curl_easy_pause(s->easy, CURLPAUSE_CONT);
            }
            return (ssize_t)n;
        }
        if (s->finished)
            return s->result == CURLE_OK ? 0 : -1;
        stream_pump(s, attempt == 0 ? 0 : s->wait_ms ? s->wait_ms : 1000);
    }
    return s->pending.len > s->offset || s->finished ? il_httpc_stream_read(s, buf, max)
                                                      : IL_STREAM_AGAIN;
}

void il_httpc_stream_set_wait(il_httpc_stream *s, int ms)
{
    s->wait_ms = ms;
}

void il_httpc_stream_close(il_httpc_stream *s)
{
    if (!s)
        return;
    if (s->multi && s->easy)
        curl_multi_remove_handle(s->multi, s->easy);
    if (s->easy)
        curl_easy_cleanup(s->easy);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->headers);
    il_buf_free(&s->pending);
    free(s);
}

/* ---- connection upgrade ------------------------------------------------ */

/* libcurl connects (TCP or unix socket, TLS with the client's
 * credentials) and then steps aside (CONNECT_ONLY): the request and the
 * stream after the 101 are ours, through curl_easy_send/recv. */
struct il_httpc_upgrade {
    CURL *easy;
    int fd;
    il_buf early;             /* bytes that came after the 101's headers */
    size_t early_at;
};

#define UPGRADE_HEAD_MAX (16 * 1024)

static int upgrade_wait(il_httpc_upgrade *u, short events, int timeout_ms)
{
    struct pollfd p = {.fd = u->fd, .events = events};
    int n = poll(&p, 1, timeout_ms);
    return n > 0 ? 0 : -1;
}

ssize_t il_httpc_upgrade_send(il_httpc_upgrade *u, const void *buf, size_t len)
{
    size_t sent = 0;
    CURLcode rc = curl_easy_send(u->easy, buf, len, &sent);
    if (rc == CURLE_AGAIN)
        return IL_STREAM_AGAIN;
    return rc == CURLE_OK ? (ssize_t)sent : -1;
}

int il_httpc_upgrade_write(il_httpc_upgrade *u, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        size_t sent = 0;
        CURLcode rc = curl_easy_send(u->easy, p, len, &sent);
        if (rc == CURLE_AGAIN) {
            if (upgrade_wait(u, POLLOUT, 30000) < 0)
                return -1;
            continue;
        }
        if (rc != CURLE_OK)
            return -1;
        p += sent;
        len -= sent;
    }
    return 0;
}

ssize_t il_httpc_upgrade_read(il_httpc_upgrade *u, void *buf, size_t max)
{
    if (u->early_at < u->early.len) {
        size_t n = u->early.len - u->early_at;
        n = n < max ? n : max;
        memcpy(buf, u->early.data + u->early_at, n);
        u->early_at += n;
        return (ssize_t)n;
    }
    size_t got = 0;
    CURLcode rc = curl_easy_recv(u->easy, buf, max, &got);
    if (rc == CURLE_AGAIN)
        return IL_STREAM_AGAIN;
    if (rc != CURLE_OK)
        return -1;
    return (ssize_t)got;
}

int il_httpc_upgrade_fd(const il_httpc_upgrade *u)
{
    return u->fd;
}

void il_httpc_upgrade_close(il_httpc_upgrade *u)
{
    if (!u)
        return;
    curl_easy_cleanup(u->easy);
    il_buf_free(&u->early);
    free(u);
}

/* "host[:port]" and the path prefix of the base URL. */
static void base_parts(const char *base, char **host, const char **prefix)
{
    const char *h = strstr(base, "://");
    h = h ? h + 3 : base;
    size_t n = strcspn(h, "/");
    *host = il_xstrndup(h, n);
    *prefix = h + n;
}

static void upgrade_request(il_httpc *c, const il_httpc_req *req, const char *protocol,
                            il_buf *out)
{
    char *host;
    const char *prefix;
    base_parts(c->base, &host, &prefix);
    il_buf_printf(out, "%s %s%s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n"
                  "Content-Type: %s\r\nContent-Length: %zu\r\n", req->method, prefix, req->path,
                  host, protocol, req->content_type ? req->content_type : "application/json",
                  req->body ? req->len : 0);
    free(host);
    if (req->session && *req->session)
        il_buf_printf(out, "InterLink-Http-Session: %s\r\n", req->session);
    if (c->auth_header)
        il_buf_printf(out, "%s\r\n", c->auth_header);
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        il_buf_printf(out, "%s\r\n", req->headers[i]);
    il_buf_puts(out, "\r\n");
    if (req->body && req->len)
        il_buf_append(out, req->body, req->len);
}

/* Read the response head into u->early; its length (through the blank
 * line), or -1. */
static ssize_t read_head(il_httpc_upgrade *u, long timeout_ms)
{
    int64_t deadline = il_monotonic_ms() + timeout_ms;
    char chunk[4096];
    for (;;) {
        const char *end = u->early.len ? memmem(u->early.data, u->early.len, "\r\n\r\n", 4)
                                       : NULL;
        if (end)
            return end + 4 - u->early.data;
        if (u->early.len > UPGRADE_HEAD_MAX)
            return -1;
        size_t got = 0;
        CURLcode rc = curl_easy_recv(u->easy, chunk, sizeof chunk, &got);
        if (rc == CURLE_AGAIN) {
            int64_t left = deadline - il_monotonic_ms();
            if (left <= 0 || upgrade_wait(u, POLLIN, (int)left) < 0)
                return -1;
            continue;
        }
        if (rc != CURLE_OK || got == 0)
            return -1;
        il_buf_append(&u->early, chunk, got);
    }
}

/* A refusal's body (what the peer said), as far as it came. */
static void refusal_body(il_httpc_upgrade *u, size_t head_len, char *err, size_t errlen)
{
    size_t have = u->early.len - head_len;
    for (int i = 0; i < 20 && have < 1024; i++) {
        char chunk[1024];
        ssize_t n = il_httpc_upgrade_read(u, chunk, sizeof chunk);
        if (n == IL_STREAM_AGAIN) {
            if (upgrade_wait(u, POLLIN, 100) < 0)
                break;
            continue;
        }
        if (n <= 0)
            break;
        il_buf_append(&u->early, chunk, (size_t)n);
        have += (size_t)n;
    }
    snprintf(err, errlen, "%.*s", (int)(have < 1024 ? have : 1024), u->early.data + head_len);
    err[strcspn(err, "\r\n")] = '\0';
}

il_httpc_upgrade *il_httpc_upgrade_open(il_httpc *c, const il_httpc_req *req,
                                        const char *protocol, long *status, char *err,
                                        size_t errlen)
{
    *status = 0;
    struct curl_slist *headers = NULL;
    il_httpc_upgrade *u = il_xcalloc(1, sizeof *u);
    u->fd = -1;
    u->easy = easy_setup(c, req, &headers, false);
    if (!u->easy) {
        snprintf(err, errlen, "cannot create a curl handle");
        free(u);
        return NULL;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(u->easy, CURLOPT_ERRORBUFFER, errbuf);
    /* A connection of its own (not from or into the shared cache), kept
     * open after perform for send/recv. */
    curl_easy_setopt(u->easy, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(u->easy, CURLOPT_SHARE, NULL);
    curl_easy_setopt(u->easy, CURLOPT_FRESH_CONNECT, 1L);
    /* Through a proxy: a CONNECT tunnel, for http:// as for https:// */
    curl_easy_setopt(u->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
    CURLcode rc = curl_easy_perform(u->easy);
    curl_easy_setopt(u->easy, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    curl_socket_t sock = CURL_SOCKET_BAD;
    if (rc == CURLE_OK)
        rc = curl_easy_getinfo(u->easy, CURLINFO_ACTIVESOCKET, &sock);
    if (rc != CURLE_OK) {
        describe_failure(u->easy, rc, errbuf, err, errlen);
        il_httpc_upgrade_close(u);
        return NULL;
    }
    u->fd = (int)sock;
    il_buf text = IL_BUF_INIT;
    upgrade_request(c, req, protocol, &text);
    int sent = il_httpc_upgrade_write(u, text.data, text.len);
    il_buf_free(&text);
    ssize_t head = sent < 0 ? -1 : read_head(u, req->timeout_ms > 0 ? req->timeout_ms
                                                                     : c->timeout_ms);
    int code = 0;
    if (head < 0 || sscanf(u->early.data, "HTTP/1.%*d %d", &code) != 1) {
        snprintf(err, errlen, "%s: no answer to the %s upgrade", c->display, protocol);
        il_httpc_upgrade_close(u);
        return NULL;
    }
    *status = code;
    if (code != 101) {
        refusal_body(u, (size_t)head, err, errlen);
        il_httpc_upgrade_close(u);
        return NULL;
    }
    u->early_at = (size_t)head;
    return u;
}
