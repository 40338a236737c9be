/* httpd.h -- the HTTP server every daemon uses (libmicrohttpd underneath).
 *
 * Listens on "unix:///path" or "http://host" + port.  A connection gets its
 * own thread, so a handler may block (relaying to a plugin, following a log)
 * without stalling other callers.  The server reads the whole request body
 * (up to max_body bytes; larger bodies get 413 before any handler runs,
 * and a filter may refuse a request on its headers before any body is read),
 * then calls the handler routed by exact path; any method is accepted, as
 * upstream's Go ServeMux does, and GET bodies are read.
 *
 * A handler answers exactly once with one of il_respond*.  Streams are
 * pulled: the reader is called on the connection thread until it returns 0
 * (end) or -1 (abort); IL_STREAM_AGAIN means "nothing yet", after which the
 * server checks whether the client went away before asking again.
 *
 * TLS (GnuTLS through libmicrohttpd, TLS 1.2 or newer) is on when the
 * options carry a certificate; the address may then be "https://host" or
 * "http://host".  With a client CA, clients are asked for a certificate
 * but not required to send one (a bearer token may authenticate them
 * instead): handlers decide with il_request_tls_peer. */
#ifndef IL_HTTPD_H
#define IL_HTTPD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jsonsplit.h"
#include "util.h"

typedef struct il_httpd il_httpd;
typedef struct il_request il_request;

typedef void (*il_handler_fn)(il_request *req, void *userdata);
/* Fill buf with up to max bytes; return the count, 0 at end, -1 on error,
 * or IL_STREAM_AGAIN after waiting a little (about a second at most). */
typedef ssize_t (*il_stream_read_fn)(void *ctx, char *buf, size_t max);
typedef void (*il_stream_free_fn)(void *ctx);

/* Connection caps: beyond them a new connection is closed at once, so a
 * flood from one address (half-open connections) cannot take every
 * thread and descriptor from the others. */
#define IL_HTTPD_MAX_CONNECTIONS 512
#define IL_HTTPD_MAX_PER_CLIENT 128
#define IL_HTTPD_TIMEOUT_S 30

typedef struct il_httpd_opts {
    const char *address;      /* "unix:///run/x.sock" or "http://127.0.0.1" */
    const char *port;         /* for http; ignored for unix */
    int64_t max_body;         /* bytes; <= 0 means 16 MiB */
    unsigned timeout_s;       /* idle connection timeout; 0 = 30 */
    unsigned max_connections; /* open connections in all; 0 = IL_HTTPD_MAX_CONNECTIONS */
    unsigned max_per_client;  /* from one client address (TCP); 0 = IL_HTTPD_MAX_PER_CLIENT */
    unsigned socket_mode;     /* unix socket permissions; 0 = 0660 */
    const char *tls_cert_pem; /* serving certificate (chain), PEM; NULL = plain HTTP */
    const char *tls_key_pem;  /* its private key, PEM */
    const char *tls_client_ca_pem; /* CAs that client certificates must chain to; NULL =
                                      no client certificates asked for */
} il_httpd_opts;

/* Open the listening socket.  A stale unix socket left by a crash is
 * removed; a live one (something answers on it) is an error.  Returns NULL
 * with err set on failure.  Nothing is served until il_httpd_start. */
il_httpd *il_httpd_new(const il_httpd_opts *opts, char *err, size_t errlen);
/* Routes are added between il_httpd_new and il_httpd_start. */
void il_httpd_route(il_httpd *srv, const char *path, il_handler_fn fn, void *userdata);
/* Start serving in background threads.  Returns 0 or -1 with err set. */
int il_httpd_start(il_httpd *srv, char *err, size_t errlen);
/* Set a handler called for every request as soon as its headers are in,
 * before any of its body is read (authentication: an anonymous caller
 * costs no memory for its body).  Returning false means it already
 * responded; the body is then discarded and the connection closed. */
typedef bool (*il_filter_fn)(il_request *req, void *userdata);
void il_httpd_set_filter(il_httpd *srv, il_filter_fn fn, void *userdata);
/* Called after every response with what was answered (for metrics and
 * access logs); runs on the connection thread. */
typedef void (*il_observer_fn)(const char *method, const char *path, int status,
                               double seconds, void *userdata);
void il_httpd_set_observer(il_httpd *srv, il_observer_fn fn, void *userdata);
/* Stop accepting, wait for handlers, remove the unix socket file, free.
 * Also valid on a server that was never started. */
void il_httpd_stop(il_httpd *srv);
/* The bound TCP port (useful with port "0"), or 0 for unix sockets. */
int il_httpd_port(const il_httpd *srv);
/* Like il_httpd_route, for every path that starts with prefix; exact
 * routes win over prefix routes, and the first matching prefix wins. */
void il_httpd_route_prefix(il_httpd *srv, const char *prefix, il_handler_fn fn, void *userdata);
/* Replace a TLS server's certificate (rotation).  New connections get it
 * at once; open ones finish on the old one.  On failure (a pair GnuTLS
 * rejects) the old certificate stays in use: -1 with err set. */
int il_httpd_set_tls_cert(il_httpd *srv, const char *cert_pem, const char *key_pem, char *err,
                          size_t errlen);

/* Request accessors; strings are valid until the handler returns. */
const char *il_request_method(const il_request *req);
const char *il_request_path(const il_request *req);
const char *il_request_body(const il_request *req);   /* NUL-terminated, "" if none */
size_t il_request_body_len(const il_request *req);
const char *il_request_header(const il_request *req, const char *name);
const char *il_request_query(const il_request *req, const char *name);
/* InterLink-Http-Session from the caller, or a generated "Request-<uuid>". */
const char *il_request_session(const il_request *req);
/* What TLS says about the caller.  verified: a client certificate was
 * presented, chains to tls_client_ca_pem, is within its validity and
 * allows client authentication; cn and orgs are then its subject's CN and
 * O values (the Kubernetes user and groups). */
#define IL_TLS_MAX_ORGS 8
typedef struct il_tls_peer {
    bool tls;                 /* the request came over TLS */
    bool presented;           /* the client sent a certificate */
    bool verified;
    char why[128];            /* presented but not verified: why, for logs */
    char cn[256];
    char orgs[IL_TLS_MAX_ORGS][128];
    size_t n_orgs;
} il_tls_peer;
void il_request_tls_peer(il_request *req, il_tls_peer *out);
/* Something the filter learnt about the caller (its identity), kept for
 * the handler; free_fn(data) runs when the request ends.  Setting again
 * frees the previous one. */
void il_request_set_caller(il_request *req, void *data, void (*free_fn)(void *));
void *il_request_caller(const il_request *req);
/* The token of "Authorization: Bearer TOKEN", or NULL. */
const char *il_request_bearer(const il_request *req);
/* Parse the body as JSON; on failure responds 400 itself and returns NULL. */
json_t *il_request_json(il_request *req);
/* Start splitting the body as a JSON array (jsonsplit.h), true; for a body
 * that is not an array answer 400 itself (with what when it is other JSON)
 * and return false. */
bool il_request_split_array(il_request *req, il_json_split *s, const char *what);

void il_respond(il_request *req, int status, const char *content_type,
                const void *body, size_t len);
void il_respond_text(il_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Serialize json (reference stolen) as application/json. */
void il_respond_json(il_request *req, int status, json_t *json);
/* JSON already serialized, as application/json: the buffer's text is
 * handed to the server without a copy (b is empty after). */
void il_respond_json_buf(il_request *req, int status, il_buf *b);
/* An error: text body "message\n", logged with method, path and session. */
void il_respond_error(il_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Stream a body; free_fn(ctx) runs when the stream ends or the client
 * leaves, on every path (also if the response cannot be queued). */
void il_respond_stream(il_request *req, int status, const char *content_type,
                       il_stream_read_fn read_fn, void *ctx, il_stream_free_fn free_fn);

/* ---- connection upgrade (101 Switching Protocols) ---------------------- */

/* A connection the server handed over after a 101: raw bytes both ways
 * (over TLS the server relays them through this socket). */
typedef struct il_upgraded il_upgraded;
/* Runs on a thread of its own once the 101 is on the wire.  It owns u and
 * ends by calling il_upgraded_close(u). */
typedef void (*il_upgrade_fn)(il_upgraded *u, void *ctx);
/* Answer 101 with "Upgrade: protocol" and the extra headers ("Name:
 * value", NULL-terminated list, may be NULL).  If the switch never
 * happens (the client left), free_fn(ctx) runs instead of fn. */
void il_respond_upgrade(il_request *req, const char *protocol, const char *const *headers,
                        il_upgrade_fn fn, void *ctx, il_stream_free_fn free_fn);
int il_upgraded_fd(const il_upgraded *u);
/* Whether the client hung up.  Over TLS the server relays through fd and
 * does not always pass a hang-up on, so loops ask this now and then. */
bool il_upgraded_gone(const il_upgraded *u);
/* Bytes the client sent after its request, before the switch: read them
 * before the socket. */
const char *il_upgraded_early(const il_upgraded *u, size_t *len);
void il_upgraded_close(il_upgraded *u);
/* Every value of a repeated query parameter (?command=a&command=b), in
 * order; a NULL-terminated array the caller frees (not its strings, which
 * live until the handler returns). */
const char **il_request_query_all(const il_request *req, const char *name);
/* The same for a header sent more than once. */
const char **il_request_header_all(const il_request *req, const char *name);

#endif
