/* registry.c -- the gateway's pods: addresses, credentials, saved state.
 *
 * A pod keeps its address for as long as it is registered, also across
 * gateway restarts (StateDir/pods.json, replaced atomically on every
 * change, so a registration the VK was told about is never lost).  The
 * credential is not stored anywhere: it is HMAC-SHA256(key, UID), with the
 * key in StateDir/tunnel.key (0600), so a gateway recomputes it instead of
 * keeping a table of secrets, a new pod (a new UID) gets a new one, and
 * one pod's credential says nothing about another's. */
#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define STATE_MAX (64 * 1024 * 1024)

void gw_ip_text(uint32_t ip, char out[16])
{
    struct in_addr a = {htonl(ip)};
    inet_ntop(AF_INET, &a, out, 16);
}

void gw_pod_token(const gateway *gw, const char *uid, char out[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), gw->key, sizeof gw->key, (const unsigned char *)uid, strlen(uid), mac,
         &len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static int parse_network(const char *text, uint32_t *net, uint32_t *bits)
{
    char addr[32];
    unsigned b;
    struct in_addr a;
    if (!text || sscanf(text, "%31[0-9.]/%u", addr, &b) != 2 || b < 12 || b > 30 ||
        inet_pton(AF_INET, addr, &a) != 1)
        return -1;
    uint32_t mask = b ? 0xffffffffu << (32 - b) : 0;
    *net = ntohl(a.s_addr) & mask;
    *bits = b;
    return 0;
}

static int load_key(gateway *gw, char *err, size_t errlen)
{
    char *path = il_xasprintf("%s/tunnel.key", gw->cfg.state_dir);
    il_buf k = IL_BUF_INIT;
    int rc = 0;
    if (il_read_file(path, 1024, &k) == 0) {
        if (k.len == sizeof gw->key)
            memcpy(gw->key, k.data, sizeof gw->key);
        else
            snprintf(err, errlen, "%s: not a %zu-byte key", path, sizeof gw->key);
        rc = k.len == sizeof gw->key ? 0 : -1;
    } else if (errno != ENOENT || RAND_bytes(gw->key, sizeof gw->key) != 1 ||
               il_write_file_atomic(path, gw->key, sizeof gw->key, 0600) != 0) {
        rc = -1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    }
    il_buf_free(&k);
    free(path);
    return rc;
}

static gw_pod *pod_new(const char *uid, const char *ns, const char *name, uint32_t ip)
{
    gw_pod *p = il_xcalloc(1, sizeof *p);
    p->uid = il_xstrdup(uid);
    p->ns = il_xstrdup(ns ? ns : "");
    p->name = il_xstrdup(name ? name : "");
    p->ip = ip;
    p->stop_fd = -1;
    il_time_format(il_time_now(), false, p->since);
    return p;
}

static void pod_free(gw_pod *p)
{
    free(p->uid);
    free(p->ns);
    free(p->name);
    free(p);
}

static void pod_set_ports(gw_pod *p, const uint16_t *ports, size_t n)
{
    p->n_ports = n < TUN_MAX_PORTS ? n : TUN_MAX_PORTS;
    memcpy(p->ports, ports, p->n_ports * sizeof *ports);
}

static void pods_append(gateway *gw, gw_pod *p)
{
    if (gw->n_pods == gw->cap_pods) {
        gw->cap_pods = gw->cap_pods ? gw->cap_pods * 2 : 64;
        gw->pods = il_xrealloc(gw->pods, gw->cap_pods * sizeof *gw->pods);
    }
    gw->pods[gw->n_pods++] = p;
}

static json_t *ports_json(const gw_pod *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_ports; i++)
        json_array_append_new(a, json_integer(p->ports[i]));
    return a;
}

/* Under mu: pods.json from the registry, replaced atomically. */
static int save(gateway *gw, char *err, size_t errlen)
{
    json_t *pods = json_array();
    for (size_t i = 0; i < gw->n_pods; i++) {
        const gw_pod *p = gw->pods[i];
        char ip[16];
        gw_ip_text(p->ip, ip);
        json_array_append_new(pods, json_pack("{s:s, s:s, s:s, s:s, s:o}", "uid", p->uid,
                                              "namespace", p->ns, "name", p->name, "podIP",
                                              ip, "ports", ports_json(p)));
    }
    json_t *doc = json_pack("{s:o}", "pods", pods);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    int rc = il_write_file_atomic(gw->state_path, text, strlen(text), 0600);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", gw->state_path, strerror(errno));
    free(text);
    return rc;
}

static int load(gateway *gw, char *err, size_t errlen)
{
    il_buf text = IL_BUF_INIT;
    if (il_read_file(gw->state_path, STATE_MAX, &text) != 0) {
        il_buf_free(&text);
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", gw->state_path, strerror(errno));
        return -1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text.data, text.len, 0, &jerr);
    il_buf_free(&text);
    size_t i, j;
    json_t *p, *port;
    json_array_foreach(json_object_get(doc, "pods"), i, p) {
        const char *uid = json_string_value(json_object_get(p, "uid"));
        const char *ip = json_string_value(json_object_get(p, "podIP"));
        struct in_addr a;
        if (!uid || !ip || inet_pton(AF_INET, ip, &a) != 1)
            continue;
        gw_pod *pod = pod_new(uid, json_string_value(json_object_get(p, "namespace")),
                              json_string_value(json_object_get(p, "name")), ntohl(a.s_addr));
        json_array_foreach(json_object_get(p, "ports"), j, port) {
            json_int_t v = json_integer_value(port);
            if (v >= 1 && v <= 65535 && pod->n_ports < TUN_MAX_PORTS)
                pod->ports[pod->n_ports++] = (uint16_t)v;
        }
        pods_append(gw, pod);
    }
    if (!doc) {
        snprintf(err, errlen, "%s: %s", gw->state_path, jerr.text);
        return -1;
    }
    json_decref(doc);
    il_info("%zu registered pods from %s", gw->n_pods, gw->state_path);
    return 0;
}

int gw_registry_open(gateway *gw, char *err, size_t errlen)
{
    if (parse_network(gw->cfg.pod_network, &gw->net, &gw->bits) != 0) {
        snprintf(err, errlen, "PodNetwork \"%s\" is not an IPv4 network from /12 to /30",
                 gw->cfg.pod_network ? gw->cfg.pod_network : "");
        return -1;
    }
    if (il_mkdir_p(gw->cfg.state_dir, 0700) != 0) {
        snprintf(err, errlen, "%s: %s", gw->cfg.state_dir, strerror(errno));
        return -1;
    }
    gw->state_path = il_xasprintf("%s/pods.json", gw->cfg.state_dir);
    return load_key(gw, err, errlen) == 0 ? load(gw, err, errlen) : -1;
}

void gw_registry_close(gateway *gw)
{
    for (size_t i = 0; i < gw->n_pods; i++)
        pod_free(gw->pods[i]);
    free(gw->pods);
    free(gw->state_path);
}

gw_pod *gw_pod_find(gateway *gw, const char *uid)
{
    for (size_t i = 0; i < gw->n_pods; i++)
        if (strcmp(gw->pods[i]->uid, uid) == 0)
            return gw->pods[i];
    return NULL;
}

/* Under mu: the lowest free host address of the pool, 0 if none. */
static uint32_t allocate(const gateway *gw)
{
    uint32_t size = 1u << (32 - gw->bits);
    unsigned char *used = il_xcalloc(size / 8, 1);
    for (size_t i = 0; i < gw->n_pods; i++) {
        uint32_t off = gw->pods[i]->ip - gw->net;
        if (off < size)
            used[off / 8] |= (unsigned char)(1u << (off % 8));
    }
    uint32_t ip = 0;
    for (uint32_t off = 1; off < size - 1 && !ip; off++)   /* not network, not broadcast */
        if (!(used[off / 8] & (1u << (off % 8))))
            ip = gw->net + off;
    free(used);
    return ip;
}

int gw_pod_put(gateway *gw, const char *uid, const char *ns, const char *name,
               const uint16_t *ports, size_t n_ports, char ip[16], char token[65], char *err,
               size_t errlen)
{
    pthread_mutex_lock(&gw->mu);
    gw_pod *p = gw_pod_find(gw, uid);
    int rc = 0;
    if (p) {
        free(p->ns);
        free(p->name);
        p->ns = il_xstrdup(ns);
        p->name = il_xstrdup(name);
    } else {
        uint32_t a = allocate(gw);
        if (a) {
            p = pod_new(uid, ns, name, a);
            pods_append(gw, p);
        } else {
            rc = 1;
            snprintf(err, errlen, "PodNetwork %s has no free address", gw->cfg.pod_network);
        }
    }
    if (p) {
        pod_set_ports(p, ports, n_ports);
        rc = save(gw, err, errlen);
        gw_ip_text(p->ip, ip);
    }
    pthread_mutex_unlock(&gw->mu);
    gw_pod_token(gw, uid, token);
    return rc;
}

int gw_pod_delete(gateway *gw, const char *uid, char *err, size_t errlen)
{
    pthread_mutex_lock(&gw->mu);
    int rc = 1;
    for (size_t i = 0; i < gw->n_pods; i++) {
        gw_pod *p = gw->pods[i];
        if (strcmp(p->uid, uid) != 0)
            continue;
        gw_pod_stop_tunnel(p);
        gw->pods[i] = gw->pods[--gw->n_pods];
        pod_free(p);
        rc = save(gw, err, errlen);
        break;
    }
    pthread_mutex_unlock(&gw->mu);
    return rc;
}

void gw_pod_stop_tunnel(gw_pod *p)
{
    if (p->conn && write(p->stop_fd, "x", 1) < 0)
        il_warn("pod %s: cannot stop its tunnel: %s", p->uid, strerror(errno));
}

json_t *gw_pod_json(const gw_pod *p)
{
    char ip[16];
    gw_ip_text(p->ip, ip);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:I}", "uid", p->uid,
                          "namespace", p->ns, "name", p->name, "podIP", ip, "ports",
                          ports_json(p), "tunnel", p->conn ? "connected" : "disconnected",
                          "since", p->since, "lastError", p->last_error, "connects",
                          (json_int_t)p->connects);
    if (!p->conn)
        return o;
    const tun_stats *st = tun_session_stats(p->session);
    json_object_set_new(o, "peer", json_string(p->peer));
    json_object_set_new(o, "streams", json_integer((json_int_t)tun_session_active(p->session)));
    json_object_set_new(o, "streamsTotal", json_integer((json_int_t)st->streams));
    json_object_set_new(o, "bytesFromPod", json_integer((json_int_t)st->bytes_up));
    json_object_set_new(o, "bytesToPod", json_integer((json_int_t)st->bytes_down));
    return o;
}
