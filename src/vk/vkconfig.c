/* vkconfig.c -- interlink-vk's configuration keys, flags and their checks.
 *
 * Owns the key table (upstream's pkg/virtualkubelet/config.go names, so an
 * upstream VK config file loads unchanged), the kubelet environment
 * variables, the command line, and decoding of labels, taints and
 * accelerators.  Unlike upstream, a bad value is an error at start-up with
 * the key named (upstream panics on quantities and silently rewrites
 * unknown taint effects). */
#include "vkconfig.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "jsonutil.h"
#include "log.h"
#include "quantity.h"
#include "util.h"

#define DEFAULT_CONFIG_PATH "/etc/interlink/InterLinkConfig.yaml"
#define CFG(member) offsetof(vk_config, member)

static const il_cfg_field fields[] = {
    {"InterlinkURL", NULL, IL_CFG_STRING, CFG(interlink_url), NULL,
     "interlink API: unix:///path, http://host or https://host (required)"},
    {"InterlinkPort", NULL, IL_CFG_STRING, CFG(interlink_port), NULL,
     "port appended to an http(s) InterlinkURL"},
    {"VKTokenFile", NULL, IL_CFG_STRING, CFG(token_file), NULL,
     "bearer token for interlink, re-read on every call (trimmed)"},
    {"OIDC.TokenURL", NULL, IL_CFG_STRING, CFG(oidc_token_url), NULL,
     "the issuer's token endpoint: the VK gets its own bearer token for interlink there "
     "(client-credentials grant) and renews it at 4/5 of its lifetime; wins over VKTokenFile"},
    {"OIDC.ClientID", NULL, IL_CFG_STRING, CFG(oidc_client_id), NULL, "the VK's client id"},
    {"OIDC.ClientSecretFile", NULL, IL_CFG_STRING, CFG(oidc_client_secret_file), NULL,
     "file holding its client secret (re-read at each renewal)"},
    {"OIDC.Scope", NULL, IL_CFG_STRING, CFG(oidc_scope), NULL, "scope asked for (optional)"},
    {"OIDC.Audience", NULL, IL_CFG_STRING, CFG(oidc_audience), NULL,
     "audience asked for (optional; some issuers need it)"},
    {"OIDC.CACertFile", NULL, IL_CFG_STRING, CFG(oidc_ca_file), NULL,
     "CAs of an https token endpoint (default: the system's)"},
    {"Resources.CPU", NULL, IL_CFG_STRING, CFG(cpu), "100", "node cpu capacity (quantity)"},
    {"Resources.Memory", NULL, IL_CFG_STRING, CFG(memory), "3000G", "node memory capacity"},
    {"Resources.Pods", NULL, IL_CFG_STRING, CFG(pods), "10000", "node pod capacity"},
    {"Resources.Accelerators", NULL, IL_CFG_JSON, CFG(accelerators_raw), NULL,
     "list of {ResourceType, Model, Available}"},
    {"NodeLabels", NULL, IL_CFG_STRLIST, CFG(node_labels_raw), NULL, "extra node labels, \"k=v\""},
    {"NodeTaints", NULL, IL_CFG_JSON, CFG(node_taints_raw), NULL,
     "extra node taints, list of {Key, Value, Effect}"},
    {"HTTP.Insecure", NULL, IL_CFG_BOOL, CFG(http_insecure), NULL,
     "do not verify interlink's certificate"},
    {"HTTP.CaCert", NULL, IL_CFG_STRING, CFG(http_ca_cert), NULL,
     "CA of interlink's certificate (DER as upstream, or PEM)"},
    {"TLS.Enabled", NULL, IL_CFG_BOOL, CFG(tls_enabled), NULL, "client certificate for interlink"},
    {"TLS.CertFile", NULL, IL_CFG_STRING, CFG(tls_cert), NULL, "its certificate (PEM)"},
    {"TLS.KeyFile", NULL, IL_CFG_STRING, CFG(tls_key), NULL, "its key (PEM)"},
    {"TLS.CACertFile", NULL, IL_CFG_STRING, CFG(tls_ca), NULL,
     "CA of interlink (PEM); wins over "
     "HTTP.CaCert"},
    {"KubeletHTTP.Insecure", NULL, IL_CFG_BOOL, CFG(kubelet_http_insecure), NULL,
     "accepted for compatibility; no effect (as upstream)"},
    {"KubeletCertFile", NULL, IL_CFG_STRING, CFG(kubelet_cert), NULL,
     "kubelet serving certificate"},
    {"KubeletKeyFile", NULL, IL_CFG_STRING, CFG(kubelet_key), NULL, "its key"},
    {"KubeletClientCAFile", NULL, IL_CFG_STRING, CFG(kubelet_client_ca), NULL,
     "CAs of client certificates accepted on the kubelet API (default: the kubeconfig's CA)"},
    {"KubeletAllowedUsers", NULL, IL_CFG_STRLIST, CFG(kubelet_allowed_users), NULL,
     "users allowed on the kubelet API besides group system:masters "
     "(default: kube-apiserver-kubelet-client)"},
    {"KubeletCSRSignerName", NULL, IL_CFG_STRING, CFG(csr_signer), "kubernetes.io/kubelet-serving",
     "signer of the kubelet serving certificate CSR"},
    {"DisableCSR", NULL, IL_CFG_BOOL, CFG(disable_csr), NULL,
     "self-signed kubelet certificate instead of a CSR"},
    {"VerboseLogging", NULL, IL_CFG_BOOL, CFG(verbose), NULL, "debug logging"},
    {"ErrorsOnlyLogging", NULL, IL_CFG_BOOL, CFG(errors_only), NULL, "errors only"},
    {"LogFormat", "INTERLINK_LOG_FORMAT", IL_CFG_STRING, CFG(log_format), "text",
     "log line format: text, or json (one object per line: time, level, daemon, msg, "
     "trace_id)"},
    {"MetricsAddress", "VK_METRICS_ADDRESS", IL_CFG_STRING, CFG(metrics_address), "0.0.0.0",
     "address of the plain-HTTP /metrics listener (Prometheus)"},
    {"MetricsPort", "VK_METRICS_PORT", IL_CFG_INT, CFG(metrics_port), "0",
     "port of the /metrics listener; 0: none (metrics are never on the kubelet port)"},
    {"KubeletAddress", "KUBELET_URL", IL_CFG_STRING, CFG(kubelet_address), "0.0.0.0",
     "kubelet API listen address"},
    {"KubeletMaxConnections", NULL, IL_CFG_INT, CFG(kubelet_max_connections), "1024",
     "open connections to the kubelet port in all; beyond it new ones are closed at once"},
    {"KubeletMaxConnectionsPerClient", NULL, IL_CFG_INT, CFG(kubelet_max_per_client), "512",
     "open connections from one address (the API server proxies every kubectl logs/exec "
     "from its own address, so keep it high)"},
    {"KubeletPort", "KUBELET_PORT", IL_CFG_INT, CFG(kubelet_port), "5820",
     "kubelet API port (node daemonEndpoints)"},
    {"PodIP", "POD_IP", IL_CFG_STRING, CFG(pod_ip), NULL, "node InternalIP address"},
    {"Gateway.URL", "GATEWAY_URL", IL_CFG_STRING, CFG(gw_url), NULL,
     "interlink-gateway's control API (http://host:port or unix:///path): pods with "
     "containerPorts get a tunnel and their own podIP; unset: no tunnels"},
    {"Gateway.TokenFile", "GATEWAY_TOKEN_FILE", IL_CFG_STRING, CFG(gw_token_file), NULL,
     "file holding the gateway's control token (its ControlTokenFile)"},
    {"Gateway.TunnelURL", "GATEWAY_TUNNEL_URL", IL_CFG_STRING, CFG(gw_tunnel_url), NULL,
     "https://host:port of the gateway's tunnel listener as the pods' nodes reach it"},
    {"Gateway.CAFile", "GATEWAY_CA_FILE", IL_CFG_STRING, CFG(gw_ca_file), NULL,
     "CA (PEM) the nodes verify the tunnel listener's certificate with (default: theirs)"},
    {"PodCIDR.Subnet", NULL, IL_CFG_STRING, CFG(pod_cidr), NULL, "node spec.podCIDR"},
    {"KubernetesApiAddr", NULL, IL_CFG_STRING, CFG(k8s_api_addr), NULL,
     "KUBERNETES_SERVICE_HOST given to containers"},
    {"KubernetesApiPort", NULL, IL_CFG_STRING, CFG(k8s_api_port), NULL,
     "KUBERNETES_SERVICE_PORT given to containers"},
    {"KubernetesApiCaCrt", NULL, IL_CFG_STRING, CFG(k8s_api_ca), NULL,
     "PEM served as kube-root-ca.crt in projected volumes"},
    {"DisableProjectedVolumes", NULL, IL_CFG_BOOL, CFG(disable_projected_volumes), NULL,
     "skip projected and downwardAPI volumes"},
    {"SkipDownwardAPIResolution", NULL, IL_CFG_BOOL, CFG(skip_downward_api), NULL,
     "accepted for compatibility; env is always resolved by the VK"},
    {"JobScriptBuilderURL", NULL, IL_CFG_STRING, CFG(job_script_url), NULL, "sent as jobscriptURL"},
    {"Network.EnableTunnel", NULL, IL_CFG_BOOL, CFG(net_tunnel), NULL, "not supported; refused"},
    {"Network.FullMesh", NULL, IL_CFG_BOOL, CFG(net_mesh), NULL, "not supported; refused"},
    /* Declared but unused upstream; one shared slot (each load frees the
     * previous value) keeps them from being reported as unknown. */
    {"VKConfigPath", NULL, IL_CFG_STRING, CFG(unused_compat), NULL, "unused (as upstream)"},
    {"ServiceAccount", NULL, IL_CFG_STRING, CFG(unused_compat), NULL, "unused (as upstream)"},
    {"Namespace", NULL, IL_CFG_STRING, CFG(unused_compat), NULL, "unused (as upstream)"},
    {"PingIntervalSeconds", NULL, IL_CFG_INT, CFG(ping_interval_s), "10",
     "interlink ping period (upstream: 30, first after 30)"},
    {"StatusIntervalSeconds", NULL, IL_CFG_INT, CFG(status_interval_s), "5", "pod status period"},
    {"StatusWatch", NULL, IL_CFG_BOOL, CFG(status_watch), "true",
     "long-poll interlink's GET /watch and refresh statuses as soon as they change "
     "(off by itself against an interlink without it)"},
    {"Workers", NULL, IL_CFG_INT, CFG(workers), "16",
     "pods created or deleted at once, and status writes of one cycle in flight at once"},
    {"RefsCacheSeconds", NULL, IL_CFG_INT, CFG(refs_cache_s), "2",
     "how long a ConfigMap or Secret read for one pod serves the next pods; 0: read each time"},
    {"EventsPerSecond", NULL, IL_CFG_INT, CFG(events_per_second), "50",
     "Events posted per second at most, after a burst of EventBurst (the kubelet's "
     "eventRecordQPS); 0: no limit"},
    {"EventBurst", NULL, IL_CFG_INT, CFG(event_burst), "100",
     "Events posted at once before EventsPerSecond applies"},
    {"LeaseDurationSeconds", NULL, IL_CFG_INT, CFG(lease_duration_s), "40",
     "node lease duration; renewed every quarter of it"},
    {"InterlinkTimeoutSeconds", NULL, IL_CFG_INT, CFG(timeout_s), "120",
     "deadline of one interlink call"},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

/* ---- flags ------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: interlink-vk [--config FILE] [--nodename NAME] [--verbose] [--errorsonly]\n"
            "       interlink-vk --version | --help | --help-config\n\n"
            "The interLink virtual kubelet: a Node whose pods run through interlink.\n"
            "  --config FILE    configuration (also -configpath; env CONFIGPATH;\n"
            "                   default " DEFAULT_CONFIG_PATH ")\n"
            "  --nodename NAME  the node (also -nodename; env NODENAME; required)\n"
            "  --verbose        log at debug level\n"
            "  --errorsonly     log errors only\n"
            "  --help-config    list every configuration key\n"
            "Kubernetes credentials: KUBECONFIG, else the in-cluster service account.\n");
}

int vk_parse_flags(int argc, char **argv, vk_flags *flags, FILE *out, FILE *errout)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"configpath", required_argument, NULL, 'c'},
        {"nodename", required_argument, NULL, 'n'}, {"verbose", no_argument, NULL, 'v'},
        {"errorsonly", no_argument, NULL, 'e'},   {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {"help-config", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    memset(flags, 0, sizeof *flags);
    optind = 0;   /* reset getopt: tests call this more than once */
    opterr = 0;
    int opt;
    while ((opt = getopt_long_only(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'c': flags->config_path = optarg; break;
        case 'n': flags->node_name = optarg; break;
        case 'v': flags->verbose = true; break;
        case 'e': flags->errors_only = true; break;
        case 'V': fprintf(out, "interlink-vk %s\n", IL_VERSION); return 0;
        case 'h': usage(out); return 0;
        case 'H': il_config_print_help(out, fields, N_FIELDS); return 0;
        default:
            fprintf(errout, "interlink-vk: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(errout);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(errout, "interlink-vk: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!flags->config_path)
        flags->config_path = getenv("CONFIGPATH");
    if (!flags->config_path)
        flags->config_path = DEFAULT_CONFIG_PATH;
    if (!flags->node_name || !*flags->node_name)
        flags->node_name = getenv("NODENAME");
    return -1;
}

void vk_config_print_help(FILE *out)
{
    il_config_print_help(out, fields, N_FIELDS);
}

/* ---- taints ------------------------------------------------------------ */

const char *vk_node_address(const vk_config *cfg)
{
    return cfg->pod_ip && *cfg->pod_ip ? cfg->pod_ip : "127.0.0.1";
}

const char *vk_taint_effect(const char *s)
{
    static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};
    if (!s || !*s)
        return "NoSchedule";   /* upstream's default */
    for (size_t i = 0; i < sizeof effects / sizeof effects[0]; i++)
        if (!strcasecmp(s, effects[i]))
            return effects[i];
    return NULL;
}

/* obj[Key] or obj[key]: config files use Go field names, PingResponse
 * JSON the lowercase json tags. */
static int either_case(const json_t *obj, const char *path, const char *key, const char **out,
                       char *err, size_t errlen)
{
    char lower[32];
    snprintf(lower, sizeof lower, "%s", key);
    lower[0] = (char)(lower[0] - 'A' + 'a');
    if (il_jstring(obj, path, key, out, err, errlen) < 0)
        return -1;
    return *out ? 0 : il_jstring(obj, path, lower, out, err, errlen);
}

int vk_taint_from_json(const json_t *j, const char *path, vk_taint *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *key, *value, *effect, *canon;
    if (!json_is_object(j))
        return il_jfail(err, errlen, path, "expected a mapping");
    if (either_case(j, path, "Key", &key, err, errlen) < 0 ||
        either_case(j, path, "Value", &value, err, errlen) < 0 ||
        either_case(j, path, "Effect", &effect, err, errlen) < 0)
        return -1;
    if (!key || !*key)
        return il_jfail(err, errlen, path, "Key: required");
    if (!(canon = vk_taint_effect(effect)))
        return il_jfail(err, errlen, path, "Effect: \"%s\" is not NoSchedule, PreferNoSchedule "
                        "or NoExecute", effect);
    out->key = il_xstrdup(key);
    out->value = il_xstrdup(value ? value : "");
    out->effect = il_xstrdup(canon);
    return 0;
}

void vk_taints_free(vk_taint *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].key);
        free(t[i].value);
        free(t[i].effect);
    }
    free(t);
}

/* ---- decoding ---------------------------------------------------------- */

/* One list element into elem, or -1 with err naming path. */
typedef int (*decode_fn)(const json_t *j, const char *path, void *elem, char *err, size_t errlen);

/* A config list of mappings (key) into a new array of n elements of size
 * bytes; *n counts the decoded ones, so a failure frees cleanly. */
static int decode_list(const json_t *list, const char *key, size_t size, decode_fn fn,
                       void **out, size_t *n, char *err, size_t errlen)
{
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return il_jfail(err, errlen, key, "expected a list");
    *out = il_xcalloc(json_array_size(list), size);
    for (size_t i = 0; i < json_array_size(list); i++) {
        char path[IL_JPATH_MAX];
        il_jpath_idx(path, key, i);
        if (fn(json_array_get(list, i), path, (char *)*out + i * size, err, errlen) < 0)
            return -1;
        (*n)++;
    }
    return 0;
}

static int decode_taint(const json_t *j, const char *path, void *elem, char *err, size_t errlen)
{
    return vk_taint_from_json(j, path, elem, err, errlen);
}

static int decode_accelerator(const json_t *a, const char *path, void *elem, char *err,
                              size_t errlen)
{
    vk_accelerator *out = elem;
    const char *type, *model, *avail;
    if (!json_is_object(a))
        return il_jfail(err, errlen, path, "expected a mapping");
    if (il_jstring_req(a, path, "ResourceType", &type, err, errlen) < 0 ||
        il_jstring(a, path, "Model", &model, err, errlen) < 0)
        return -1;
    const json_t *av = json_object_get(a, "Available");
    if (av && !json_is_null(av) && !json_is_integer(av) && !json_is_string(av))
        return il_jfail(err, errlen, path, "Available: expected a whole number");
    char *num = json_is_integer(av) ? il_xasprintf("%lld", (long long)json_integer_value(av))
                                    : il_xstrdup(json_string_value(av));
    avail = num && *num ? num : "0";   /* upstream: empty means 0 */
    int64_t milli;
    int rc = il_quantity_milli(avail, &milli);
    if (rc < 0 || milli % 1000 != 0) {
        rc = il_jfail(err, errlen, path, "Available: \"%s\" is not a whole number", avail);
    } else {
        out->type = il_xstrdup(type);
        out->model = il_xstrdup(model ? model : "");
        out->available = milli / 1000;
    }
    free(num);
    return rc;
}

static int decode_labels(vk_config *cfg, char *err, size_t errlen)
{
    size_t n = 0;
    while (cfg->node_labels_raw && cfg->node_labels_raw[n])
        n++;
    cfg->labels = il_xcalloc(n, sizeof *cfg->labels);
    for (size_t i = 0; i < n; i++) {
        const char *s = cfg->node_labels_raw[i];
        const char *eq = strchr(s, '=');
        if (!eq || eq == s) {
            snprintf(err, errlen, "NodeLabels[%zu]: \"%s\" is not key=value", i, s);
            return -1;
        }
        cfg->labels[i].key = il_xstrndup(s, (size_t)(eq - s));
        cfg->labels[i].value = il_xstrdup(eq + 1);
        cfg->n_labels++;
    }
    return 0;
}

/* ---- checks ------------------------------------------------------------ */

static const char *check_quantities(const vk_config *cfg)
{
    int64_t v;
    if (il_quantity_milli(cfg->cpu, &v) < 0)
        return "Resources.CPU is not a quantity";
    if (il_quantity_value(cfg->memory, &v) < 0)
        return "Resources.Memory is not a quantity";
    if (il_quantity_milli(cfg->pods, &v) < 0 || v % 1000 != 0)
        return "Resources.Pods is not a whole number";
    return NULL;
}

static const char *check(const vk_config *cfg)
{
    if (!cfg->node_name || !*cfg->node_name)
        return "the node name is not set (--nodename NAME or env NODENAME)";
    if (!cfg->interlink_url || !*cfg->interlink_url)
        return "InterlinkURL is not set";
    if (cfg->tls_enabled && (!cfg->tls_cert || !cfg->tls_key))
        return "TLS.Enabled needs TLS.CertFile and TLS.KeyFile";
    if (!cfg->kubelet_cert != !cfg->kubelet_key)
        return "KubeletCertFile and KubeletKeyFile go together";
    if (cfg->net_tunnel || cfg->net_mesh)
        return "Network.EnableTunnel/FullMesh are not supported by this virtual kubelet";
    if (il_log_parse_format(cfg->log_format, &(il_log_format){0}) != 0)
        return "LogFormat (INTERLINK_LOG_FORMAT) must be text or json";
    if (cfg->metrics_port < 0 || cfg->metrics_port > 65535)
        return "MetricsPort (VK_METRICS_PORT) must be a TCP port or 0";
    if (cfg->kubelet_port <= 0 || cfg->kubelet_port > 65535)
        return "KubeletPort (KUBELET_PORT) must be a TCP port";
    if (cfg->kubelet_max_connections < 2 || cfg->kubelet_max_connections > 100000 ||
        cfg->kubelet_max_per_client < 1 ||
        cfg->kubelet_max_per_client > cfg->kubelet_max_connections)
        return "KubeletMaxConnections must be from 2 to 100000 and "
               "KubeletMaxConnectionsPerClient from 1 to KubeletMaxConnections";
    if (cfg->ping_interval_s <= 0 || cfg->status_interval_s <= 0 || cfg->timeout_s <= 0)
        return "PingIntervalSeconds, StatusIntervalSeconds and InterlinkTimeoutSeconds must be "
               "positive";
    if (cfg->lease_duration_s < 4)
        return "LeaseDurationSeconds must be at least 4";
    if (cfg->workers < 1 || cfg->workers > VK_MAX_WORKERS || cfg->refs_cache_s < 0 ||
        cfg->refs_cache_s > 3600)
        return "Workers must be from 1 to 256 and RefsCacheSeconds from 0 to 3600";
    if (cfg->events_per_second < 0 || cfg->events_per_second > 100000 || cfg->event_burst < 1 ||
        cfg->event_burst > 100000)
        return "EventsPerSecond must be from 0 to 100000 and EventBurst from 1 to 100000";
    return check_quantities(cfg);
}

int vk_config_load(const vk_flags *flags, vk_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (il_config_load(flags->config_path, fields, N_FIELDS, cfg, err, errlen) < 0)
        return -1;
    cfg->verbose |= flags->verbose;
    cfg->errors_only |= flags->errors_only;
    cfg->node_name = il_xstrdup(flags->node_name);
    const char *file = flags->config_path ? flags->config_path : "configuration";
    char derr[384] = "";
    const char *problem = NULL;
    if (decode_labels(cfg, derr, sizeof derr) < 0 ||
        decode_list(cfg->node_taints_raw, "NodeTaints", sizeof *cfg->taints, decode_taint,
                    (void **)&cfg->taints, &cfg->n_taints, derr, sizeof derr) < 0 ||
        decode_list(cfg->accelerators_raw, "Resources.Accelerators", sizeof *cfg->accelerators,
                    decode_accelerator, (void **)&cfg->accelerators, &cfg->n_accelerators, derr,
                    sizeof derr) < 0)
        problem = derr;
    else
        problem = check(cfg);
    if (problem) {
        snprintf(err, errlen, "%s: %s", file, problem);
        vk_config_free(cfg);
        return -1;
    }
    return 0;
}

void vk_config_free(vk_config *cfg)
{
    il_config_free(fields, N_FIELDS, cfg);
    free(cfg->node_name);
    for (size_t i = 0; i < cfg->n_labels; i++) {
        free(cfg->labels[i].key);
        free(cfg->labels[i].value);
    }
    free(cfg->labels);
    vk_taints_free(cfg->taints, cfg->n_taints);
    for (size_t i = 0; i < cfg->n_accelerators; i++) {
        free(cfg->accelerators[i].type);
        free(cfg->accelerators[i].model);
    }
    free(cfg->accelerators);
    memset(cfg, 0, sizeof *cfg);
}
