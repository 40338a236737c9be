/* api.h -- the interlink API server's shared state and endpoint entry points.
 *
 * The server is the edge of the system: it validates what the virtual
 * kubelet (or interlinkctl) sends, keeps durable per-pod state in SQLite and
 * relays to one plugin.  Each endpoint lives in the file named after it. */
#ifndef IL_API_H
#define IL_API_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "httpc.h"
#include "httpd.h"
#include "store.h"

typedef struct api_config {
    char *interlink_address;
    char *interlink_port;
    char *sidecar_url;
    char *sidecar_port;
    char *data_root;
    bool verbose;
    bool errors_only;
    int64_t max_body;
    int64_t sidecar_timeout_s;
    char *job_script_template;
    bool tls_enabled;         /* TLS.*: serve https (upstream keys) */
    char *tls_cert_file;
    char *tls_key_file;
    char *tls_ca_file;        /* set: client certificates required (mTLS) */
    char *auth_token_file;    /* AuthTokenFile: accepted bearer tokens (auth.c) */
    char *jwt_key_file;       /* AuthJWT.*: accepted JWTs */
    char *jwt_issuer;
    char *jwt_audience;
    int64_t status_refresh_s; /* StatusRefreshSeconds: watch.c's refresher; 0 = off */
    int64_t max_watchers;     /* MaxWatchers: concurrent GET /watch */
} api_config;

/* UIDs whose /create is being relayed right now, so that a concurrent
 * duplicate waits for the first answer instead of submitting again. */
typedef struct inflight_set {
    pthread_mutex_t mu;
    pthread_cond_t changed;
    char **uids;
    size_t n;
    size_t cap;
} inflight_set;

typedef struct api {
    api_config cfg;
    store *store;
    il_httpc *plugin;
    inflight_set creating;
    struct api_auth *auth;    /* who may call (auth.c) */
    struct watch_hub *watch;  /* GET /watch: change journal and refresher (watch.c) */
} api;

/* relay.c: one call to the plugin, counted in metrics.  Returns 0 when the
 * plugin answered (any status), -1 on transport failure (res->error says
 * why; relay_unreachable answers the caller). */
int relay_call(api *a, il_request *req, const char *method, const char *path,
               const void *body, size_t len, il_http_result *res);
/* Answer 502 (unreachable) or 504 (timed out) for a failed relay_call. */
void relay_unreachable(api *a, il_request *req, const char *path, const il_http_result *res);
/* Answer the caller with the plugin's non-200 status and body, as upstream
 * does (the plugin's code is kept; its message is passed on). */
void relay_failure(il_request *req, const char *what, const il_http_result *res);

/* Endpoints. */
void handle_create(il_request *req, void *api);
void handle_status(il_request *req, void *api);
void handle_pods(il_request *req, void *api);
void handle_update_cache(il_request *req, void *api);
void handle_delete(il_request *req, void *api);
void handle_logs(il_request *req, void *api);
void handle_ping(il_request *req, void *api);
void handle_metrics(il_request *req, void *api);
void handle_healthz(il_request *req, void *api);
void handle_watch(il_request *req, void *api);
/* POST /exec and /portforward: sessions relayed to the plugin (sessionrelay.c). */
void handle_session(il_request *req, void *api);

/* status.c: refresh the statuses of pods (JSON pod objects, borrowed) with
 * at most one plugin call; returns a new array of PodStatus in pods' order
 * (unknown pods left out).  If the plugin cannot answer: with strict, NULL
 * after answering the caller with the error; otherwise the stored statuses.
 * Changed statuses are stored and told to watchers (watch.c).  req is NULL
 * for interlink's own refreshes (then strict must be false). */
json_t *status_refresh(api *a, il_request *req, json_t *pods, bool strict);

#endif
