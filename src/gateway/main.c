/* main.c -- interlink-gateway: configuration, start-up and shutdown.
 *
 * Two listeners: the tunnel listener (TLS, reached by the pods' nodes,
 * tunnels.c) and the control API (reached by the virtual kubelet,
 * control.c).  Configuration is declared once in `fields`, which also
 * prints --help-config. */
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "gateway.h"
#include "httpd.h"
#include "log.h"
#include "util.h"

#define DEFAULT_CONFIG_PATH "/etc/interlink/gateway.yaml"
#define CFG(member) offsetof(gw_config, member)

static const il_cfg_field fields[] = {
    {"TunnelAddress", "GATEWAY_TUNNEL_ADDRESS", IL_CFG_STRING, CFG(tunnel_address), "0.0.0.0",
     "IPv4 address of the tunnel listener (TLS), which the pods' nodes dial"},
    {"TunnelPort", "GATEWAY_TUNNEL_PORT", IL_CFG_STRING, CFG(tunnel_port), "7443",
     "its port"},
    {"TLS.CertFile", "GATEWAY_TLS_CERT", IL_CFG_STRING, CFG(cert_file), NULL,
     "the tunnel listener's certificate (PEM, chain allowed; required)"},
    {"TLS.KeyFile", "GATEWAY_TLS_KEY", IL_CFG_STRING, CFG(key_file), NULL,
     "its private key (PEM; required)"},
    {"ControlAddress", "GATEWAY_CONTROL_ADDRESS", IL_CFG_STRING, CFG(control_address),
     "http://127.0.0.1", "the control API for the virtual kubelet: http://host or "
     "unix:///path"},
    {"ControlPort", "GATEWAY_CONTROL_PORT", IL_CFG_STRING, CFG(control_port), "7080",
     "its port (http://)"},
    {"ControlTokenFile", "GATEWAY_CONTROL_TOKEN_FILE", IL_CFG_STRING,
     CFG(control_token_file), NULL, "file holding the bearer token the control API requires "
     "(the VK's Gateway.TokenFile); required for a TCP ControlAddress"},
    {"StateDir", "GATEWAY_STATE_DIR", IL_CFG_STRING, CFG(state_dir),
     "/var/lib/interlink-gateway", "registered pods (pods.json) and the credential key "
     "(tunnel.key, created at first start)"},
    {"PodNetwork", "GATEWAY_POD_NETWORK", IL_CFG_STRING, CFG(pod_network), NULL,
     "IPv4 network (/12 to /30) the pods' addresses come from; routed to this host and "
     "local on it (`ip route add local NET dev lo`); required"},
    {"MaxTunnels", "GATEWAY_MAX_TUNNELS", IL_CFG_INT, CFG(max_tunnels), "4096",
     "tunnel connections at once (one thread each); more are closed at once"},
    {"MaxStreamsPerPod", "GATEWAY_MAX_STREAMS", IL_CFG_INT, CFG(max_streams), "256",
     "connections to one pod at once; more are reset"},
    {"LogFormat", "GATEWAY_LOG_FORMAT", IL_CFG_STRING, CFG(log_format), "text",
     "log line format: text or json"},
    {"VerboseLogging", NULL, IL_CFG_BOOL, CFG(verbose), NULL, "log at debug level"},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static int check(const gw_config *c, const char *path)
{
    const char *problem = NULL;
    if (!c->cert_file || !c->key_file)
        problem = "TLS.CertFile and TLS.KeyFile are required (the tunnel is TLS only)";
    else if (!c->pod_network)
        problem = "PodNetwork is required";
    else if (strncmp(c->control_address, "unix://", 7) != 0 &&
             (!c->control_token_file || !*c->control_token_file))
        problem = "a TCP ControlAddress needs ControlTokenFile";
    else if (c->max_tunnels < 1 || c->max_tunnels > 100000)
        problem = "MaxTunnels must be from 1 to 100000";
    else if (c->max_streams < 1 || c->max_streams > 65536)
        problem = "MaxStreamsPerPod must be from 1 to 65536";
    else if (il_log_use_format(c->log_format) != 0)
        problem = "LogFormat must be text or json";
    if (problem)
        il_error("%s: %s", path, problem);
    return problem ? -1 : 0;
}

static int serve(gateway *gw)
{
    char err[512];
    il_buf token = IL_BUF_INIT;
    if (gw->cfg.control_token_file && *gw->cfg.control_token_file) {
        if (il_read_file(gw->cfg.control_token_file, 64 * 1024, &token) != 0 ||
            !*il_trim(token.data)) {
            il_error("ControlTokenFile %s: unreadable or empty", gw->cfg.control_token_file);
            il_buf_free(&token);
            return 1;
        }
        gw->control_token = il_trim(token.data);
    }
    il_httpd_opts o = {.address = gw->cfg.control_address, .port = gw->cfg.control_port,
                       .max_body = 64 * 1024};
    il_httpd *srv = NULL;
    int rc = 1;
    if (gw_registry_open(gw, err, sizeof err) != 0 || gw_tunnels_start(gw, err, sizeof err) != 0 ||
        !(srv = il_httpd_new(&o, err, sizeof err))) {
        il_error("%s", err);
    } else {
        gw_control_routes(srv, gw);
        if (il_httpd_start(srv, err, sizeof err) != 0) {
            il_error("%s", err);
        } else {
            il_info("tunnels on %s:%s, control API on %s:%s, pods from %s",
                    gw->cfg.tunnel_address, gw->cfg.tunnel_port, gw->cfg.control_address,
                    gw->cfg.control_port, gw->cfg.pod_network);
            int sig = il_daemon_wait_for_signal();
            il_info("signal %d: stopping", sig);
            rc = 0;
        }
    }
    il_httpd_stop(srv);
    gw_tunnels_stop(gw);
    gw_registry_close(gw);
    il_buf_free(&token);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: interlink-gateway [--config FILE] [--verbose]\n"
                 "       interlink-gateway --version | --help | --help-config\n\n"
                 "The in-cluster end of offloaded pods' tunnels: a routable address per pod.\n"
                 "  --config FILE   configuration (env GATEWAYCONFIGPATH; default "
                 DEFAULT_CONFIG_PATH ")\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
        {"help-config", no_argument, NULL, 'H'},  {NULL, 0, NULL, 0},
    };
    const char *path = getenv("GATEWAYCONFIGPATH");
    bool verbose = false;
    int opt;
    while ((opt = getopt_long_only(argc, argv, "c:vVh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'v': verbose = true; break;
        case 'V': printf("interlink-gateway %s\n", IL_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        case 'H': il_config_print_help(stdout, fields, N_FIELDS); return 0;
        default: usage(stderr); return 2;
        }
    }
    il_log_set_ident("interlink-gateway");
    gateway gw = {.listen_fd = -1};
    pthread_mutex_init(&gw.mu, NULL);
    pthread_cond_init(&gw.conn_gone, NULL);
    char err[512];
    if (!path)
        path = DEFAULT_CONFIG_PATH;
    if (il_config_load(path, fields, N_FIELDS, &gw.cfg, err, sizeof err) != 0) {
        il_error("%s", err);
        return 1;
    }
    if (verbose || gw.cfg.verbose)
        il_log_set_level(IL_LOG_DEBUG);
    int rc = 1;
    if (check(&gw.cfg, path) == 0) {
        il_daemon_init_signals();
        signal(SIGPIPE, SIG_IGN);   /* OpenSSL writes to sockets whose peer may be gone */
        rc = serve(&gw);
    }
    il_config_free(fields, N_FIELDS, &gw.cfg);
    return rc;
}
