/* vkconfig.h -- interlink-vk's configuration: upstream's VK config keys,
 * the kubelet environment (KUBELET_PORT, KUBELET_URL, POD_IP), flags.
 *
 * The raw keys are filled by the common schema-driven loader; the values
 * that need more than a type check (quantities, "k=v" labels, taints,
 * accelerators) are validated and decoded here once, so the rest of the VK
 * reads typed fields and never re-parses configuration. */
#ifndef VK_VKCONFIG_H
#define VK_VKCONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pod.h"

#define VK_MAX_WORKERS 256    /* Workers' upper bound */

typedef struct vk_taint {
    char *key;
    char *value;              /* "" when none */
    char *effect;             /* NoSchedule, PreferNoSchedule or NoExecute */
} vk_taint;

typedef struct vk_accelerator {
    char *type;               /* "nvidia.com/gpu" */
    char *model;              /* "" when none */
    int64_t available;
} vk_accelerator;

typedef struct vk_config {
    /* ---- as loaded (config.h table) ---- */
    char *interlink_url;
    char *interlink_port;
    char *token_file;         /* VKTokenFile */
    char *oidc_token_url;     /* OIDC.*: the VK's own token (oidctoken.c) */
    char *oidc_client_id;
    char *oidc_client_secret_file;
    char *oidc_scope;
    char *oidc_audience;
    char *oidc_ca_file;
    char *cpu, *memory, *pods;
    json_t *accelerators_raw; /* Resources.Accelerators */
    char **node_labels_raw;   /* NodeLabels: "k=v" */
    json_t *node_taints_raw;  /* NodeTaints */
    bool http_insecure;
    char *http_ca_cert;       /* HTTP.CaCert: DER or PEM */
    bool tls_enabled;
    char *tls_cert, *tls_key, *tls_ca;
    bool kubelet_http_insecure;
    char *kubelet_cert, *kubelet_key;
    char *kubelet_client_ca;  /* KubeletClientCAFile */
    char **kubelet_allowed_users;
    char *csr_signer;
    bool disable_csr;
    bool verbose, errors_only;
    char *kubelet_address;    /* KUBELET_URL */
    int64_t kubelet_port;     /* KUBELET_PORT */
    int64_t kubelet_max_connections;     /* KubeletMaxConnections */
    int64_t kubelet_max_per_client;      /* KubeletMaxConnectionsPerClient */
    char *log_format;         /* LogFormat: text or json */
    char *metrics_address;    /* MetricsAddress: GET /metrics, plain HTTP */
    int64_t metrics_port;     /* MetricsPort; 0 = no metrics listener */
    char *pod_ip;             /* POD_IP */
    char *gw_url;             /* Gateway.*: pod tunnels (tunnelgw.c) */
    char *gw_token_file, *gw_tunnel_url, *gw_ca_file;
    char *pod_cidr;
    char *k8s_api_addr, *k8s_api_port, *k8s_api_ca;
    bool disable_projected_volumes;
    bool skip_downward_api;
    char *job_script_url;
    bool net_tunnel, net_mesh;
    char *unused_compat;      /* keys upstream declares but never uses */
    int64_t ping_interval_s;
    int64_t status_interval_s;
    bool status_watch;        /* StatusWatch: GET /watch wakes the status loop (changes.c) */
    int64_t workers;          /* Workers: podsync threads, status writes in flight */
    int64_t refs_cache_s;     /* RefsCacheSeconds: shared ConfigMap/Secret reads (refcache.c) */
    int64_t events_per_second; /* EventsPerSecond: the Event senders' limit (events.c) */
    int64_t event_burst;      /* EventBurst */
    int64_t lease_duration_s;
    int64_t timeout_s;

    /* ---- decoded by vk_config_load ---- */
    char *node_name;
    il_kv *labels;            /* NodeLabels */
    size_t n_labels;
    vk_taint *taints;         /* NodeTaints */
    size_t n_taints;
    vk_accelerator *accelerators;
    size_t n_accelerators;
} vk_config;

/* Command line: --config/-configpath FILE (env CONFIGPATH), --nodename/
 * -nodename NAME (env NODENAME), --verbose, --errorsonly, --version,
 * --help, --help-config. */
typedef struct vk_flags {
    const char *config_path;
    const char *node_name;
    bool verbose;
    bool errors_only;
} vk_flags;

/* Returns -1 to go on, or the exit status (after --help, --version, or a
 * usage error). */
int vk_parse_flags(int argc, char **argv, vk_flags *flags, FILE *out, FILE *errout);

/* Load path (NULL = defaults and environment only), apply flags, validate
 * and decode.  Returns 0 or -1 with a message naming the file and key. */
int vk_config_load(const vk_flags *flags, vk_config *cfg, char *err, size_t errlen);
void vk_config_free(vk_config *cfg);
void vk_config_print_help(FILE *out);
/* The node's address: PodIP, else 127.0.0.1.  Offloaded pods get it as
 * their hostIP and, without a tunnel, their podIP. */
const char *vk_node_address(const vk_config *cfg);

/* The config's taint effect spelling, or NULL if s is not an effect. */
const char *vk_taint_effect(const char *s);
/* Decode one taint object {Key, Value, Effect} (also lowercase keys, as a
 * PingResponse carries them); out is zeroed on failure. */
int vk_taint_from_json(const json_t *j, const char *path, vk_taint *out, char *err, size_t errlen);
void vk_taints_free(vk_taint *t, size_t n);

#endif
