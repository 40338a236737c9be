/* httpc.h -- the HTTP client every daemon and the CLI use (libcurl).
 *
 * A client is bound to one base URL, "unix:///path", "http://host[:port]"
 * or "https://host[:port][/prefix]", and is safe to share between threads:
 * every call takes its own easy handle while connections (and TLS
 * sessions) are kept alive in a shared cache.  Calls never hang: connect
 * and total timeouts are always set (streams have only the connect timeout
 * and a stall timeout). */
#ifndef IL_HTTPC_H
#define IL_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util.h"

typedef struct il_httpc il_httpc;

/* TLS settings for https:// URLs.  PEM blobs are copied into the client,
 * so the caller's memory may go away after il_httpc_new.  With no CA the
 * system store is used; verification is on unless insecure is set. */
typedef struct il_httpc_tls {
    const void *ca_pem;       /* trusted CA bundle (PEM), or NULL */
    size_t ca_len;
    const char *ca_file;      /* or a CA file: PEM, or DER (upstream's HTTP.CaCert) */
    const void *cert_pem;     /* client certificate (PEM), or NULL */
    size_t cert_len;
    const void *key_pem;      /* its private key (PEM) */
    size_t key_len;
    bool insecure;            /* skip server certificate verification */
    /* Called with the OpenSSL SSL_CTX of each new connection, before its
     * handshake, to tune it (read ahead, buffers); NULL = none. */
    void (*tune_ssl_ctx)(void *ssl_ctx);
} il_httpc_tls;

typedef struct il_httpc_opts {
    const char *url;          /* "unix:///path", "http[s]://host" or "http[s]://host:port" */
    const char *port;         /* appended to an http(s) url without a port; may be NULL */
    long connect_timeout_ms;  /* 0 = 5000 */
    long timeout_ms;          /* whole call; 0 = 120000 */
    const char *bearer_token; /* Authorization: Bearer ..., or NULL */
    const il_httpc_tls *tls;  /* for https://; NULL = system CAs */
    const char *proxy;        /* HTTP proxy URL (CONNECT for https), or NULL: none, unless */
    bool proxy_from_env;      /* ... this: the standard https_proxy/no_proxy variables */
} il_httpc_opts;

il_httpc *il_httpc_new(const il_httpc_opts *opts, char *err, size_t errlen);
void il_httpc_free(il_httpc *c);
/* "unix:///path" or "http://host:port", for messages. */
const char *il_httpc_url(const il_httpc *c);

typedef struct il_http_result {
    long status;              /* HTTP status, or 0 if no response arrived */
    il_buf body;
    char error[512];          /* transport error, "" if a response arrived */
    bool timed_out;
} il_http_result;

/* One request with Content-Type: application/json.  session may be NULL.
 * Returns 0 if a response arrived (any status), -1 on transport failure
 * (message in res->error).  Free res with il_http_result_free. */
int il_httpc_request(il_httpc *c, const char *method, const char *path, const char *session,
                     const void *body, size_t len, il_http_result *res);
void il_http_result_free(il_http_result *res);

/* The general form of a call, for peers that need more than interlink's
 * JSON-everywhere convention (the Kubernetes API: patch content types,
 * per-request credentials). */
typedef struct il_httpc_req {
    const char *method;
    const char *path;         /* appended to the base URL, with any query */
    const char *content_type; /* NULL = application/json */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
    const char *session;      /* InterLink-Http-Session, or NULL */
    const void *body;         /* NULL = none */
    size_t len;
    long timeout_ms;          /* 0 = the client's */
    /* Instead of body, for il_httpc_call only: a body of len bytes made
     * while it is sent, so one of megabytes is never whole in memory.  read
     * fills up to n bytes of buf and returns how many (0 at the end); rewind
     * starts it again (0, or -1 when it cannot), as a resend needs. */
    size_t (*read)(char *buf, size_t n, void *arg);
    int (*rewind)(void *arg);
    void *read_arg;
} il_httpc_req;

/* As il_httpc_request. */
int il_httpc_call(il_httpc *c, const il_httpc_req *req, il_http_result *res);

/* Streaming: returns once the status line and headers have arrived.  A
 * non-2xx body can still be read through the stream.  On failure returns
 * NULL with err set, and *timed_out (if not NULL) says whether the peer
 * was reached but did not answer within the client's timeout. */
typedef struct il_httpc_stream il_httpc_stream;
il_httpc_stream *il_httpc_stream_open(il_httpc *c, const char *method, const char *path,
                                      const char *session, const void *body, size_t len,
                                      long *status, bool *timed_out, char *err, size_t errlen);
/* Bytes read, 0 at end, -1 on error, IL_STREAM_AGAIN (-2) after ~1 s without data. */
/* As il_httpc_stream_open; req->timeout_ms bounds the wait for headers. */
il_httpc_stream *il_httpc_stream_call(il_httpc *c, const il_httpc_req *req, long *status,
                                      bool *timed_out, char *err, size_t errlen);
ssize_t il_httpc_stream_read(il_httpc_stream *s, char *buf, size_t max);
/* A read's wait for data before IL_STREAM_AGAIN (1000 ms unless set). */
void il_httpc_stream_set_wait(il_httpc_stream *s, int ms);
void il_httpc_stream_close(il_httpc_stream *s);

/* Connection upgrade: send req with "Connection: Upgrade" and "Upgrade:
 * protocol" and, on a 101, keep the connection as a raw byte stream both
 * ways (over TLS too).  Returns NULL otherwise: *status 0 and err for a
 * transport failure, or the status with the first KiB of its body in err.
 * The caller owns the handle and ends it with il_httpc_upgrade_close. */
typedef struct il_httpc_upgrade il_httpc_upgrade;
il_httpc_upgrade *il_httpc_upgrade_open(il_httpc *c, const il_httpc_req *req,
                                        const char *protocol, long *status, char *err,
                                        size_t errlen);
/* The socket to poll for reading.  Data may be buffered above it (TLS, or
 * bytes that came with the 101), so read until IL_STREAM_AGAIN before
 * polling again. */
int il_httpc_upgrade_fd(const il_httpc_upgrade *u);
/* Bytes read, 0 at end, -1 on error, IL_STREAM_AGAIN when none now. */
ssize_t il_httpc_upgrade_read(il_httpc_upgrade *u, void *buf, size_t max);
/* Write what fits now: the count, IL_STREAM_AGAIN, or -1 once the peer is gone. */
ssize_t il_httpc_upgrade_send(il_httpc_upgrade *u, const void *buf, size_t len);
/* Write all of buf (waiting as needed): 0, or -1 once the peer is gone. */
int il_httpc_upgrade_write(il_httpc_upgrade *u, const void *buf, size_t len);
void il_httpc_upgrade_close(il_httpc_upgrade *u);

#endif
