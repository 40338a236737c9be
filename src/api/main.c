/* main.c -- the `interlink` API server: configuration, flags, start-up and
 * shutdown.
 *
 * Configuration keys are upstream's InterLinkConfig.yaml keys with the same
 * environment overrides; flags work (upstream's -verbose and friends made
 * the binary exit 2) and win over both. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "deleter.h"
#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "memory.h"
#include "log.h"
#include "metrics.h"
#include "recent.h"
#include "refresher.h"
#include "tenants.h"
#include "trace.h"
#include "watch.h"

#define DEFAULT_CONFIG_PATH "/etc/interlink/InterLinkConfig.yaml"
#define TLS_FILE_MAX (1024 * 1024)

#define CFG(member) offsetof(api_config, member)

static const il_cfg_field config_fields[] = {
    {"InterlinkAddress", "INTERLINKURL", IL_CFG_STRING, CFG(interlink_address),
     NULL, "where to listen: unix:///path/to.sock or http://host (required)"},
    {"InterlinkPort", "INTERLINKPORT", IL_CFG_STRING, CFG(interlink_port),
     NULL, "TCP port for an http:// InterlinkAddress"},
    {"SidecarURL", "SIDECARURL", IL_CFG_STRING, CFG(sidecar_url), NULL,
     "the plugin: unix:///path/to.sock or http://host (required)"},
    {"SidecarPort", "SIDECARPORT", IL_CFG_STRING, CFG(sidecar_port), NULL,
     "TCP port of an http:// SidecarURL"},
    {"DataRootFolder", "INTERLINK_DATA_ROOT", IL_CFG_STRING, CFG(data_root),
     "/var/lib/interlink", "directory of the state database (interlink.db)"},
    {"VerboseLogging", NULL, IL_CFG_BOOL, CFG(verbose), NULL,
     "log at debug level (wins over ErrorsOnlyLogging, as upstream)"},
    {"ErrorsOnlyLogging", NULL, IL_CFG_BOOL, CFG(errors_only), NULL,
     "log errors only"},
    {"LogFormat", "INTERLINK_LOG_FORMAT", IL_CFG_STRING, CFG(log_format), "text",
     "log line format: text, or json (one object per line: time, level, daemon, msg, trace_id)"},
    {"MaxBodyBytes", "INTERLINK_MAX_BODY", IL_CFG_SIZE, CFG(max_body), "16Mi",
     "largest request body accepted (bytes or a quantity such as 16Mi); larger gets 413"},
    {"SidecarTimeoutSeconds", "INTERLINK_SIDECAR_TIMEOUT", IL_CFG_INT,
     CFG(sidecar_timeout_s), "120",
     "how long a plugin call may take before the caller gets 504"},
    {"SidecarTokenFile", "INTERLINK_SIDECAR_TOKEN_FILE", IL_CFG_STRING,
     CFG(sidecar_token_file), NULL,
     "file holding the token sent to the plugin as \"Authorization: Bearer\" (the plugin's "
     "PluginTokenFile); read at start"},
    {"JobScriptTemplate", NULL, IL_CFG_STRING, CFG(job_script_template), NULL,
     "upstream job-script template: not supported, refused when set"},
    {"TLS.Enabled", NULL, IL_CFG_BOOL, CFG(tls_enabled), NULL,
     "serve HTTPS on InterlinkAddress:InterlinkPort (needs TLS.CertFile and TLS.KeyFile)"},
    {"TLS.CertFile", NULL, IL_CFG_STRING, CFG(tls_cert_file), NULL,
     "serving certificate (PEM, chain allowed)"},
    {"TLS.KeyFile", NULL, IL_CFG_STRING, CFG(tls_key_file), NULL,
     "its private key (PEM)"},
    {"TLS.CACertFile", NULL, IL_CFG_STRING, CFG(tls_ca_file), NULL,
     "when set, every caller must present a client certificate signed by this CA (mTLS)"},
    {"AuthTokenFile", "INTERLINK_AUTH_TOKEN_FILE", IL_CFG_STRING,
     CFG(auth_token_file), NULL,
     "bearer tokens accepted, one a line (re-read when it changes); with AuthJWT.*, "
     "either kind of token is enough"},
    {"AuthJWT.PublicKeyFile", NULL, IL_CFG_STRING, CFG(jwt_key_file), NULL,
     "accept bearer JWTs signed by this public key (PEM; RS*/ES* only) with an unexpired exp"},
    {"AuthJWT.Issuer", NULL, IL_CFG_STRING, CFG(jwt_issuer), NULL,
     "the \"iss\" such JWTs must carry (empty: any)"},
    {"AuthJWT.Audience", NULL, IL_CFG_STRING, CFG(jwt_audience), NULL,
     "a value their \"aud\" must contain (empty: any)"},
    {"AuthJWT.UserClaim", NULL, IL_CFG_STRING, CFG(jwt_user_claim), "sub",
     "the JWT claim that names the caller (for TenantsFile and the plugin)"},
    {"AuthJWT.GroupsClaim", NULL, IL_CFG_STRING, CFG(jwt_groups_claim),
     "groups", "the JWT claim that lists the caller's groups (array or string)"},
    {"AuthOIDC.Issuer", NULL, IL_CFG_STRING, CFG(oidc_issuer), NULL,
     "accept bearer JWTs of this OIDC issuer (its \"iss\"): signing keys found by discovery "
     "(/.well-known/openid-configuration -> jwks_uri), cached, refetched for an unknown kid "
     "(at most every 10 s) and hourly; AuthJWT.Audience/UserClaim/GroupsClaim apply"},
    {"AuthOIDC.CACertFile", NULL, IL_CFG_STRING, CFG(oidc_ca_file), NULL,
     "CAs of an https issuer (default: the system's)"},
    {"AuthOIDC.MinRefetchSeconds", NULL, IL_CFG_INT, CFG(oidc_min_refetch_s),
     "10", "shortest time between two fetches of the issuer's keys (a token with an unknown "
     "kid asks for one)"},
    {"TenantsFile", "INTERLINK_TENANTS_FILE", IL_CFG_STRING, CFG(tenants_file),
     NULL, "YAML mapping of callers (users:) and groups (groups:) to the namespaces they may "
     "act on (\"*\": all); unset: every authenticated caller may act on every namespace"},
    {"StatusRefreshSeconds", "INTERLINK_STATUS_REFRESH", IL_CFG_INT,
     CFG(status_refresh_s), "1",
     "while somebody watches (GET /watch), refresh unfinished pods from the plugin this often "
     "(one batched call); 0: never (watchers hear only of changes /status calls find)"},
    {"MaxWatchers", "INTERLINK_MAX_WATCHERS", IL_CFG_INT, CFG(max_watchers),
     "64", "concurrent GET /watch requests; more get 429"},
    {"MaxConnections", "INTERLINK_MAX_CONNECTIONS", IL_CFG_INT,
     CFG(max_connections), "512",
     "open connections in all; beyond it new connections are closed at once"},
    {"MaxConnectionsPerClient", "INTERLINK_MAX_CONNECTIONS_PER_CLIENT", IL_CFG_INT,
     CFG(max_per_client), "128",
     "open connections from one client address (TCP listeners), so that one client's "
     "flood leaves room for the others; must be below MaxConnections"},
    {"ConnectionTimeoutSeconds", "INTERLINK_CONNECTION_TIMEOUT", IL_CFG_INT,
     CFG(conn_timeout_s), "30",
     "a connection that sends nothing (headers or body) this long is closed; not while "
     "interlink streams an answer to it (a followed log, a /watch long poll)"},
    {"PendingDeleteRetrySeconds", "INTERLINK_PENDING_DELETE_RETRY", IL_CFG_INT,
     CFG(pending_delete_retry_s), "10",
     "a delete the plugin did not confirm (unreachable, 503) is kept in the state database "
     "and retried this often until it is confirmed (1 to 3600)"},
};
#define N_CONFIG_FIELDS (sizeof(config_fields) / sizeof(config_fields[0]))

typedef struct cli_flags {
    const char *config_path;
    bool verbose;
    bool errors_only;
} cli_flags;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: interlink [--config FILE] [--verbose] [--errorsonly]\n"
            "       interlink --version | --help | --help-config\n\n"
            "The interLink API server: relays pods from a virtual kubelet to a plugin.\n"
            "  --config FILE      configuration (also -interlinkconfigpath FILE, env\n"
            "                     INTERLINKCONFIGPATH; default " DEFAULT_CONFIG_PATH ")\n"
            "  --verbose          log at debug level\n"
            "  --errorsonly       log errors only\n"
            "  --help-config      list every configuration key\n");
}

/* Returns -1 to continue, or an exit status. */
static int parse_flags(int argc, char **argv, cli_flags *flags)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"interlinkconfigpath", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"errorsonly", no_argument, NULL, 'e'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"help-config", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long_only(argc, argv, "c:veVh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': flags->config_path = optarg; break;
        case 'v': flags->verbose = true; break;
        case 'e': flags->errors_only = true; break;
        case 'V': printf("interlink %s\n", IL_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        case 'H': il_config_print_help(stdout, config_fields, N_CONFIG_FIELDS); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "interlink: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!flags->config_path)
        flags->config_path = getenv("INTERLINKCONFIGPATH");
    if (!flags->config_path)
        flags->config_path = DEFAULT_CONFIG_PATH;
    return -1;
}

static int check_config(const api_config *cfg, const char *path)
{
    const char *problem = NULL;
    if (!cfg->interlink_address || !*cfg->interlink_address)
        problem = "InterlinkAddress is not set";
    else if (!cfg->sidecar_url || !*cfg->sidecar_url)
        problem = "SidecarURL is not set";
    else if (cfg->job_script_template && *cfg->job_script_template)
        problem = "JobScriptTemplate is not supported by this interlink; remove it";
    else if (cfg->tls_enabled && (!cfg->tls_cert_file || !cfg->tls_key_file))
        problem = "TLS.Enabled needs TLS.CertFile and TLS.KeyFile";
    else if (cfg->tls_enabled && strncmp(cfg->interlink_address, "unix://", 7) == 0)
        problem = "TLS.Enabled: TLS is for TCP listeners, not unix sockets";
    else if (!cfg->tls_enabled && strncmp(cfg->interlink_address, "https://", 8) == 0)
        problem = "an https:// InterlinkAddress needs TLS.Enabled with TLS.CertFile and "
                  "TLS.KeyFile";
    else if (cfg->tls_ca_file && *cfg->tls_ca_file && !cfg->tls_enabled)
        problem = "TLS.CACertFile (client certificates) needs TLS.Enabled";
    else if (cfg->sidecar_timeout_s <= 0)
        problem = "SidecarTimeoutSeconds must be positive";
    else if (cfg->status_refresh_s < 0 || cfg->status_refresh_s > 86400)
        problem = "StatusRefreshSeconds must be from 0 (off) to 86400";
    else if (cfg->max_watchers < 1 || cfg->max_watchers > 10000)
        problem = "MaxWatchers must be from 1 to 10000";
    else if (cfg->max_connections < 2 || cfg->max_connections > 100000)
        problem = "MaxConnections must be from 2 to 100000";
    else if (cfg->max_per_client < 1 || cfg->max_per_client >= cfg->max_connections)
        problem = "MaxConnectionsPerClient must be from 1 to below MaxConnections";
    else if (cfg->conn_timeout_s < 1 || cfg->conn_timeout_s > 3600)
        problem = "ConnectionTimeoutSeconds must be from 1 to 3600";
    else if (cfg->tenants_file && *cfg->tenants_file && !cfg->tls_ca_file &&
             !cfg->auth_token_file && !cfg->jwt_key_file && !cfg->oidc_issuer)
        problem = "TenantsFile needs authentication (TLS.CACertFile, AuthTokenFile, "
                  "AuthJWT.PublicKeyFile or AuthOIDC.Issuer): without it no caller has a name";
    else if (cfg->pending_delete_retry_s < 1 || cfg->pending_delete_retry_s > 3600)
        problem = "PendingDeleteRetrySeconds must be from 1 to 3600";
    else if (il_log_parse_format(cfg->log_format, &(il_log_format){0}) != 0)
        problem = "LogFormat must be text or json";
    if (problem)
        il_error("%s: %s", path, problem);
    return problem ? -1 : 0;
}

static void set_log_level(const api_config *cfg, const cli_flags *flags)
{
    if (cfg->verbose || flags->verbose)
        il_log_set_level(IL_LOG_DEBUG);
    else if (cfg->errors_only || flags->errors_only)
        il_log_set_level(IL_LOG_ERROR);
    il_log_use_format(cfg->log_format);   /* a bad value is refused by check_config */
}

static void observe(const char *method, const char *path, int status, double seconds, void *ud)
{
    (void)method;
    (void)ud;
    metrics_count_request(path, status, seconds);
}

static void add_routes(il_httpd *srv, api *a)
{
    il_httpd_route(srv, "/create", handle_create, a);
    il_httpd_route(srv, "/status", handle_status, a);
    il_httpd_route(srv, "/delete", handle_delete, a);
    il_httpd_route(srv, "/getLogs", handle_logs, a);
    il_httpd_route(srv, "/pinglink", handle_ping, a);
    il_httpd_route(srv, "/updateCache", handle_update_cache, a);
    il_httpd_route(srv, "/pods", handle_pods, a);
    il_httpd_route(srv, "/metrics", handle_metrics, a);
    il_httpd_route(srv, "/healthz", handle_healthz, a);
    il_httpd_route(srv, "/watch", handle_watch, a);
    il_httpd_route(srv, "/exec", handle_session, a);
    il_httpd_route(srv, "/portforward", handle_session, a);
    il_httpd_set_observer(srv, observe, NULL);
}

/* TLS.* files, read once at start-up; NULL for those not configured. */
typedef struct tls_files {
    il_buf cert, key, ca;
} tls_files;

static int read_tls_files(const api_config *cfg, tls_files *f, char *err, size_t errlen)
{
    const char *paths[] = {cfg->tls_cert_file, cfg->tls_key_file, cfg->tls_ca_file};
    il_buf *into[] = {&f->cert, &f->key, &f->ca};
    for (size_t i = 0; cfg->tls_enabled && i < 3; i++) {
        if (paths[i] && *paths[i] && il_read_file(paths[i], TLS_FILE_MAX, into[i]) != 0) {
            snprintf(err, errlen, "%s: %s", paths[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

static const char *pem_or_null(const il_buf *pem)
{
    return pem->len > 0 ? il_buf_cstr(pem) : NULL;
}

/* The listening server with its TLS and the authentication filter. */
static il_httpd *open_listener(api *a, char *err, size_t errlen)
{
    tls_files tls = {0};
    il_httpd *srv = NULL;
    auth_config acfg = {.client_cert = a->cfg.tls_ca_file && *a->cfg.tls_ca_file,
                        .token_file = a->cfg.auth_token_file,
                        .jwt_key_file = a->cfg.jwt_key_file,
                        .jwt_issuer = a->cfg.jwt_issuer,
                        .jwt_audience = a->cfg.jwt_audience,
                        .jwt_user_claim = a->cfg.jwt_user_claim,
                        .jwt_groups_claim = a->cfg.jwt_groups_claim,
                        .oidc_issuer = a->cfg.oidc_issuer,
                        .oidc_ca_file = a->cfg.oidc_ca_file,
                        .oidc_min_refetch_s = a->cfg.oidc_min_refetch_s};
    if (read_tls_files(&a->cfg, &tls, err, errlen) == 0 &&
        (a->auth = auth_new(&acfg, err, errlen)) != NULL) {
        il_httpd_opts sopts = {.address = a->cfg.interlink_address,
                               .port = a->cfg.interlink_port, .max_body = a->cfg.max_body,
                               .timeout_s = (unsigned)a->cfg.conn_timeout_s,
                               .max_connections = (unsigned)a->cfg.max_connections,
                               .max_per_client = (unsigned)a->cfg.max_per_client,
                               .tls_cert_pem = pem_or_null(&tls.cert),
                               .tls_key_pem = pem_or_null(&tls.key),
                               .tls_client_ca_pem = pem_or_null(&tls.ca)};
        srv = il_httpd_new(&sopts, err, errlen);
    }
    if (srv && a->cfg.tenants_file && *a->cfg.tenants_file &&
        !(a->tenants = tenants_load(a->cfg.tenants_file, err, errlen))) {
        il_httpd_stop(srv);
        srv = NULL;
    }
    if (srv && auth_enabled(a->auth))
        il_httpd_set_filter(srv, auth_filter, a->auth);
    else if (srv)
        il_warn("UNAUTHENTICATED MODE: no authentication configured (TLS.CACertFile, "
                "AuthTokenFile, AuthJWT.*): anyone who can reach %s may create, read and "
                "delete every pod; only the socket's permissions protect it",
                a->cfg.interlink_address);
    if (srv && auth_enabled(a->auth) && !a->tenants)
        il_warn("no TenantsFile: every authenticated caller may act on every namespace");
    il_buf_free(&tls.cert);
    il_buf_free(&tls.key);
    il_buf_free(&tls.ca);
    return srv;
}

/* Open the state, the plugin client and the listener; serve until a signal. */
static int serve(api *a)
{
    char err[512];
    a->store = store_open(a->cfg.data_root, err, sizeof(err));
    il_buf token = IL_BUF_INIT;
    il_httpc_opts copts = {.url = a->cfg.sidecar_url, .port = a->cfg.sidecar_port,
                           .timeout_ms = a->cfg.sidecar_timeout_s * 1000};
    bool want_token = a->cfg.sidecar_token_file && *a->cfg.sidecar_token_file;
    if (a->store && want_token) {
        if (il_read_file(a->cfg.sidecar_token_file, 64 * 1024, &token) == 0 && token.len)
            copts.bearer_token = il_trim(token.data);
        else
            snprintf(err, sizeof(err), "SidecarTokenFile %s: cannot read it, or it is empty",
                     a->cfg.sidecar_token_file);
    }
    a->plugin = a->store && (!want_token || copts.bearer_token)
                    ? il_httpc_new(&copts, err, sizeof(err)) : NULL;
    il_buf_free(&token);
    il_httpd *srv = a->plugin ? open_listener(a, err, sizeof(err)) : NULL;
    int status = 1;
    a->watch = srv ? watch_hub_new(a->cfg.max_watchers) : NULL;
    a->recent = srv && a->cfg.status_refresh_s > 0 ? recent_new(a->cfg.status_refresh_s * 1000)
                                                   : NULL;
    bool refresher_ok = true;
    refresher *refresh = srv ? refresher_start(a, &refresher_ok) : NULL;
    if (!refresher_ok)
        snprintf(err, sizeof(err), "cannot start the status refresher");
    else if (srv && deleter_start(a) != 0)
        snprintf(err, sizeof(err), "cannot start the pending-delete retrier");
    else if (srv) {
        add_routes(srv, a);
        if (il_httpd_start(srv, err, sizeof(err)) == 0) {
            il_info("interlink %s listening on %s%s%s, plugin at %s", IL_VERSION,
                    a->cfg.interlink_address, a->cfg.interlink_port ? " port " : "",
                    a->cfg.interlink_port ? a->cfg.interlink_port : "", il_httpc_url(a->plugin));
            int sig = il_daemon_wait_for_signal();
            il_info("signal %d: shutting down", sig);
            status = 0;
        }
    }
    if (status != 0)
        il_error("%s", err);
    watch_stop(a->watch);     /* answers waiting watchers, so the server can stop */
    refresher_stop(refresh);
    il_httpd_stop(srv);
    deleter_stop(a);
    auth_free(a->auth);
    tenants_free(a->tenants);
    watch_hub_free(a->watch);
    recent_free(a->recent);
    il_httpc_free(a->plugin);
    store_close(a->store);
    return status;
}

int main(int argc, char **argv)
{
    il_log_set_ident("interlink");
    cli_flags flags = {0};
    int early = parse_flags(argc, argv, &flags);
    if (early >= 0)
        return early;

    api a;
    memset(&a, 0, sizeof(a));
    char err[1024];
    if (access(flags.config_path, R_OK) != 0) {
        il_error("cannot read configuration %s: %m (use --config FILE)", flags.config_path);
        return 1;
    }
    if (il_config_load(flags.config_path, config_fields, N_CONFIG_FIELDS, &a.cfg, err,
                       sizeof(err)) != 0) {
        il_error("%s", err);
        return 1;
    }
    set_log_level(&a.cfg, &flags);
    int status = 1;
    if (check_config(&a.cfg, flags.config_path) == 0) {
        pthread_mutex_init(&a.busy.mu, NULL);
        pthread_cond_init(&a.busy.changed, NULL);
        il_daemon_init_signals();
        il_memory_init();
        il_trace_init("interlink");
        status = serve(&a);
        il_trace_shutdown();
        il_uidlock_free(&a.busy);
    }
    il_config_free(config_fields, N_CONFIG_FIELDS, &a.cfg);
    return status;
}
