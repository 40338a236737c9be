/* gateway.h -- interlink-gateway: the in-cluster end of the pod tunnels.
 *
 * An offloaded pod that declares containerPorts is registered here by the
 * virtual kubelet (control API, control.c) and gets an address of its own
 * from PodNetwork, and a credential: HMAC-SHA256 of its UID under the
 * gateway's key, which the VK hands to the pod's node with the create
 * request and nobody else stores.  The pod's tunnel client dials in
 * (tunnels.c: TLS, HTTP/1.1 Upgrade); while its tunnel is up the gateway
 * listens on podIP:port for every declared port and carries each
 * connection to the pod as a stream of the tunnel (tunmux.h).  The
 * registrations survive restarts (registry.c, a JSON file in StateDir);
 * tunnels do not: clients dial again. */
#ifndef IL_GATEWAY_H
#define IL_GATEWAY_H

#include <jansson.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "timeutil.h"
#include "tunmux.h"

typedef struct gw_config {
    char *tunnel_address;     /* TunnelAddress */
    char *tunnel_port;        /* TunnelPort */
    char *control_address;    /* ControlAddress */
    char *control_port;       /* ControlPort */
    char *cert_file;          /* TLS.CertFile */
    char *key_file;           /* TLS.KeyFile */
    char *control_token_file; /* ControlTokenFile */
    char *state_dir;          /* StateDir */
    char *pod_network;        /* PodNetwork */
    int64_t max_tunnels;      /* MaxTunnels */
    int64_t max_streams;      /* MaxStreamsPerPod */
    char *log_format;
    bool verbose;
} gw_config;

typedef struct gw_conn gw_conn;

typedef struct gw_pod {
    char *uid, *ns, *name;
    uint32_t ip;              /* host byte order */
    uint16_t ports[TUN_MAX_PORTS];
    size_t n_ports;
    gw_conn *conn;            /* the live tunnel, or NULL; then: */
    int stop_fd;              /* a byte written here ends it */
    const tun_session *session; /* its figures */
    char peer[64];            /* where it comes from */
    char since[IL_RFC3339_MAX]; /* of the last change of conn */
    char last_error[256];     /* why the last tunnel ended, or why one was refused */
    uint64_t connects;
} gw_pod;

typedef struct gateway {
    gw_config cfg;
    pthread_mutex_t mu;       /* pods and every gw_conn's pod link */
    pthread_cond_t conn_gone; /* a pod's conn became NULL */
    gw_pod **pods;
    size_t n_pods, cap_pods;
    uint32_t net, bits;       /* PodNetwork: address and prefix length */
    unsigned char key[32];    /* the credential key (StateDir/tunnel.key) */
    char *state_path;
    char *control_token;      /* NULL: the control API takes anyone who reaches it */
    SSL_CTX *ssl;
    int listen_fd;
    size_t n_conns;           /* tunnel connections, authenticated or not (under mu) */
    pthread_t acceptor;
} gateway;

/* ---- registry.c ------------------------------------------------------------------- */

/* Key, pool and saved registrations; -1 with err set. */
int gw_registry_open(gateway *gw, char *err, size_t errlen);
void gw_registry_close(gateway *gw);
/* Register or update (same UID: same address, new name and ports); the
 * pod's address and credential into ip/token.  Returns 0, 1 when the pool
 * is full, -1 when the state cannot be saved (err set).  Locks mu. */
int gw_pod_put(gateway *gw, const char *uid, const char *ns, const char *name,
               const uint16_t *ports, size_t n_ports, char ip[16], char token[65], char *err,
               size_t errlen);
/* Forget a pod and close its tunnel.  0, 1 if unknown, -1 save failed.  Locks mu. */
int gw_pod_delete(gateway *gw, const char *uid, char *err, size_t errlen);
/* Under mu: end the pod's live tunnel, if any. */
void gw_pod_stop_tunnel(gw_pod *p);
/* Under mu: the pod, or NULL. */
gw_pod *gw_pod_find(gateway *gw, const char *uid);
/* The credential of uid (64 hex digits). */
void gw_pod_token(const gateway *gw, const char *uid, char out[65]);
/* The pod as the control API shows it (no credential).  Under mu. */
json_t *gw_pod_json(const gw_pod *p);
void gw_ip_text(uint32_t ip, char out[16]);

/* ---- tunnels.c -------------------------------------------------------------------- */

/* TLS context and the listener with its accepting thread; -1 with err set. */
int gw_tunnels_start(gateway *gw, char *err, size_t errlen);
void gw_tunnels_stop(gateway *gw);

/* ---- control.c -------------------------------------------------------------------- */

/* The routes of the control API on srv. */
struct il_httpd;
void gw_control_routes(struct il_httpd *srv, gateway *gw);

#endif
