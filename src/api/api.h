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
#include "uidlock.h"

typedef struct api_config {
    char *interlink_address;
    char *interlink_port;
    char *sidecar_url;
    char *sidecar_port;
    char *data_root;
    bool verbose;
    bool errors_only;
    char *log_format;         /* LogFormat: text or json */
    int64_t max_body;
    int64_t sidecar_timeout_s;
    char *sidecar_token_file; /* SidecarTokenFile: bearer token sent to the plugin */
    char *job_script_template;
    bool tls_enabled;         /* TLS.*: serve https (upstream keys) */
    char *tls_cert_file;
    char *tls_key_file;
    char *tls_ca_file;        /* set: client certificates required (mTLS) */
    char *auth_token_file;    /* AuthTokenFile: accepted bearer tokens (auth.c) */
    char *jwt_key_file;       /* AuthJWT.*: accepted JWTs */
    char *jwt_issuer;
    char *jwt_audience;
    char *jwt_user_claim;     /* AuthJWT.UserClaim, AuthJWT.GroupsClaim */
    char *jwt_groups_claim;
    char *oidc_issuer;        /* AuthOIDC.Issuer, AuthOIDC.CACertFile (oidc.c) */
    char *oidc_ca_file;
    int64_t oidc_min_refetch_s;
    char *tenants_file;       /* TenantsFile: identities -> namespaces (tenants.c) */
    int64_t status_refresh_s; /* StatusRefreshSeconds: the refresher (refresher.c); 0 = off */
    int64_t max_watchers;     /* MaxWatchers: concurrent GET /watch */
    int64_t max_connections;  /* MaxConnections, MaxConnectionsPerClient, */
    int64_t max_per_client;   /* ConnectionTimeoutSeconds: httpd.c's caps */
    int64_t conn_timeout_s;
    int64_t pending_delete_retry_s; /* PendingDeleteRetrySeconds (deleter.c) */
} api_config;

typedef struct api {
    api_config cfg;
    store *store;
    il_httpc *plugin;
    il_uidlock busy;          /* UIDs a create or delete is relaying right now */
    struct api_auth *auth;    /* who may call (auth.c) */
    struct tenants *tenants;  /* what each caller may touch (tenants.c); NULL = all */
    struct watch_hub *watch;  /* GET /watch: the change journal (watch.c) */
    struct deleter *deleter;  /* retries the deletes the plugin did not confirm (deleter.c) */
    struct recent *recent;    /* pods a /status just refreshed (recent.c); NULL: no refresher */
} api;

/* relay.c: one call to the plugin, counted in metrics.  Returns 0 when the
 * plugin answered (any status), -1 on transport failure (res->error says
 * why; relay_unreachable answers the caller). */
int relay_call(api *a, il_request *req, const char *method, const char *path,
               const void *body, size_t len, il_http_result *res);
/* The same, telling the plugin who asks and for which tenant (namespace,
 * or NULL) in X-Interlink-User, -Groups and -Tenant headers. */
int relay_call_for(api *a, il_request *req, const char *method, const char *path,
                   const void *body, size_t len, const char *tenant, il_http_result *res);
/* Those headers ("Name: value" lines, NULL-terminated) into hdrs, at most
 * 4 entries with the NULL; free them with relay_headers_free. */
void relay_identity_headers(il_request *req, const char *tenant, char *hdrs[4]);
void relay_headers_free(char *hdrs[4]);
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

/* batchstatus.c: refresh the statuses of every pod whose stored phase is
 * not final, read from the store one at a time, with at most one plugin
 * call (the refresher, refresher.c), but those a caller's /status
 * refreshed within the last fresh_ms (a->recent).  Changed statuses are
 * stored and told to watchers (watch.c).  True if it asked. */
bool status_refresh_unfinished(api *a, int64_t fresh_ms);

#endif
