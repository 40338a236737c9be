/* tunnelgw.c -- interlink-gateway's client in the VK (tunnelgw.h).
 *
 * Registration is idempotent at the gateway (same UID, same address and
 * credential), so a create retried, a VK restarted or a gateway that lost
 * nothing all come to the same answer; what the VK remembers (UID ->
 * address, and the tunnel state last reported) is only a cache of it. */
#include "tunnelgw.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "httpc.h"
#include "log.h"
#include "pods.h"
#include "timeutil.h"
#include "tunmux.h"
#include "util.h"

#define RETRY_LOOKUP_MS 30000
#define PEM_MAX (1024 * 1024)

struct vk_tunnelgw {
    il_httpc *http;
    char *tunnel_url;
    char *ca_pem;             /* Gateway.CAFile's text, or NULL */
    pthread_mutex_t mu;
    json_t *known;            /* uid -> {"ip", "state", "failedAt"} */
};

vk_tunnelgw *vk_tunnelgw_new(const vk_config *cfg, char *err, size_t errlen)
{
    *err = '\0';
    if (!cfg->gw_url || !*cfg->gw_url)
        return NULL;
    if (!cfg->gw_tunnel_url || strncmp(cfg->gw_tunnel_url, "https://", 8) != 0) {
        snprintf(err, errlen, "Gateway.URL needs Gateway.TunnelURL (https://host:port, what "
                 "the pods' nodes dial)");
        return NULL;
    }
    il_buf token = IL_BUF_INIT, ca = IL_BUF_INIT;
    if (cfg->gw_token_file && *cfg->gw_token_file &&
        il_read_file(cfg->gw_token_file, 64 * 1024, &token) != 0) {
        snprintf(err, errlen, "Gateway.TokenFile %s: %s", cfg->gw_token_file, strerror(errno));
        return NULL;
    }
    if (cfg->gw_ca_file && *cfg->gw_ca_file && il_read_file(cfg->gw_ca_file, PEM_MAX, &ca) != 0) {
        snprintf(err, errlen, "Gateway.CAFile %s: %s", cfg->gw_ca_file, strerror(errno));
        il_buf_free(&token);
        return NULL;
    }
    il_httpc_opts opts = {.url = cfg->gw_url, .timeout_ms = 10000,
                          .bearer_token = token.len ? il_trim(token.data) : NULL};
    il_httpc *http = il_httpc_new(&opts, err, errlen);
    il_buf_free(&token);
    if (!http) {
        il_buf_free(&ca);
        return NULL;
    }
    vk_tunnelgw *g = il_xcalloc(1, sizeof *g);
    g->http = http;
    g->tunnel_url = il_xstrdup(cfg->gw_tunnel_url);
    g->ca_pem = ca.len ? il_buf_steal(&ca) : NULL;
    il_buf_free(&ca);
    pthread_mutex_init(&g->mu, NULL);
    g->known = json_object();
    return g;
}

void vk_tunnelgw_free(vk_tunnelgw *g)
{
    if (!g)
        return;
    il_httpc_free(g->http);
    free(g->tunnel_url);
    free(g->ca_pem);
    json_decref(g->known);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* The cache entry of uid (created), under mu. */
static json_t *entry(vk_tunnelgw *g, const char *uid)
{
    json_t *e = json_object_get(g->known, uid);
    if (!e) {
        e = json_object();
        json_object_set_new(g->known, uid, e);
    }
    return e;
}

/* PUT /v1/pods/UID: the gateway's answer (new reference) or NULL, why set. */
static json_t *put(vk_tunnelgw *g, const json_t *pod, const uint16_t *ports, size_t n,
                   char *why, size_t len)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_integer(ports[i]));
    json_t *body = json_pack("{s:s, s:s, s:o}", "namespace", vk_pod_ns(pod), "name",
                             vk_pod_name(pod), "ports", list);
    char *text = json_dumps(body, JSON_COMPACT);
    char *path = il_xasprintf("/v1/pods/%s", vk_pod_uid(pod));
    il_http_result res;
    json_t *answer = NULL;
    if (il_httpc_request(g->http, "PUT", path, NULL, text, strlen(text), &res) != 0)
        snprintf(why, len, "tunnel gateway %s: %s", il_httpc_url(g->http), res.error);
    else if (res.status != 200)
        snprintf(why, len, "tunnel gateway %s answered %ld: %.300s", il_httpc_url(g->http),
                 res.status, il_buf_cstr(&res.body));
    else
        answer = json_loadb(res.body.data, res.body.len, 0, NULL);
    if (answer && (!json_string_value(json_object_get(answer, "podIP")) ||
                   !json_string_value(json_object_get(answer, "token")))) {
        snprintf(why, len, "tunnel gateway answered without podIP and token");
        json_decref(answer);
        answer = NULL;
    }
    il_http_result_free(&res);
    free(path);
    free(text);
    json_decref(body);
    return answer;
}

static void remember_ip(vk_tunnelgw *g, const char *uid, const char *ip)
{
    pthread_mutex_lock(&g->mu);
    json_object_set_new(entry(g, uid), "ip", json_string(ip));
    pthread_mutex_unlock(&g->mu);
}

int vk_tunnelgw_register(vk_tunnelgw *g, const json_t *pod, json_t **tunnel, char *why,
                         size_t len)
{
    *tunnel = NULL;
    uint16_t ports[TUN_MAX_PORTS];
    size_t n = g ? tun_pod_ports((json_t *)pod, ports, TUN_MAX_PORTS) : 0;
    if (n == 0)
        return 0;
    json_t *answer = put(g, pod, ports, n, why, len);
    if (!answer)
        return -1;
    const char *ip = json_string_value(json_object_get(answer, "podIP"));
    remember_ip(g, vk_pod_uid(pod), ip);
    *tunnel = json_pack("{s:s, s:O}", "url", g->tunnel_url, "token",
                        json_object_get(answer, "token"));
    if (g->ca_pem)
        json_object_set_new(*tunnel, "ca", json_string(g->ca_pem));
    json_decref(answer);
    return 0;
}

int vk_tunnelgw_unregister(vk_tunnelgw *g, const json_t *pod, char *why, size_t len)
{
    uint16_t ports[TUN_MAX_PORTS];
    if (!g || tun_pod_ports((json_t *)pod, ports, TUN_MAX_PORTS) == 0)
        return 0;
    char *path = il_xasprintf("/v1/pods/%s", vk_pod_uid(pod));
    il_http_result res;
    int rc = il_httpc_request(g->http, "DELETE", path, NULL, NULL, 0, &res);
    if (rc != 0)
        snprintf(why, len, "tunnel gateway %s: %s", il_httpc_url(g->http), res.error);
    else if (res.status != 200 && res.status != 404)
        snprintf(why, len, "tunnel gateway %s answered %ld: %.300s", il_httpc_url(g->http),
                 res.status, il_buf_cstr(&res.body));
    rc = rc == 0 && (res.status == 200 || res.status == 404) ? 0 : -1;
    il_http_result_free(&res);
    free(path);
    if (rc == 0) {
        pthread_mutex_lock(&g->mu);
        json_object_del(g->known, vk_pod_uid(pod));
        pthread_mutex_unlock(&g->mu);
    }
    return rc;
}

char *vk_tunnelgw_pod_ip(vk_tunnelgw *g, const json_t *pod)
{
    uint16_t ports[TUN_MAX_PORTS];
    size_t n = g ? tun_pod_ports((json_t *)pod, ports, TUN_MAX_PORTS) : 0;
    if (n == 0)
        return NULL;
    const char *uid = vk_pod_uid(pod);
    int64_t now = il_monotonic_ms();
    pthread_mutex_lock(&g->mu);
    json_t *e = entry(g, uid);
    char *ip = il_xstrdup(json_string_value(json_object_get(e, "ip")));
    json_int_t failed = json_integer_value(json_object_get(e, "failedAt"));
    pthread_mutex_unlock(&g->mu);
    if (ip || (failed && now - failed < RETRY_LOOKUP_MS))
        return ip;
    /* Not known here (the VK restarted): the gateway's idempotent answer. */
    char why[512];
    json_t *answer = put(g, pod, ports, n, why, sizeof why);
    if (answer) {
        ip = il_xstrdup(json_string_value(json_object_get(answer, "podIP")));
        remember_ip(g, uid, ip);
        json_decref(answer);
    } else {
        il_warn("pod %s/%s: no tunnel address yet: %s", vk_pod_ns(pod), vk_pod_name(pod), why);
        pthread_mutex_lock(&g->mu);
        json_object_set_new(entry(g, uid), "failedAt", json_integer(now));
        pthread_mutex_unlock(&g->mu);
    }
    return ip;
}

void vk_tunnelgw_note(vk_tunnelgw *g, vk_kube *kube, const char *node, const json_t *pod,
                      const json_t *tunnel)
{
    const char *state = json_string_value(json_object_get(tunnel, "state"));
    if (!g || !state)
        return;
    pthread_mutex_lock(&g->mu);
    json_t *e = entry(g, vk_pod_uid(pod));
    const char *before = json_string_value(json_object_get(e, "state"));
    bool changed = !before || strcmp(before, state) != 0;
    if (changed)
        json_object_set_new(e, "state", json_string(state));
    char *ip = il_xstrdup(json_string_value(json_object_get(e, "ip")));
    pthread_mutex_unlock(&g->mu);
    const char *message = json_string_value(json_object_get(tunnel, "message"));
    if (changed && strcmp(state, "connected") == 0)
        vk_event(kube, node, pod, "Normal", "TunnelConnected",
                 "Tunnel to %s up: the pod's ports are reachable at %s", g->tunnel_url,
                 ip ? ip : "its tunnel address");
    else if (changed && strcmp(state, "connecting") != 0)
        vk_event(kube, node, pod, "Warning", strcmp(state, "refused") == 0 ? "TunnelRefused"
                                                                           : "TunnelDown",
                 "%s", message && *message ? message : state);
    free(ip);
}
