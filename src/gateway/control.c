/* control.c -- the gateway's control API, for the virtual kubelet.
 *
 *   PUT    /v1/pods/UID  {"namespace", "name", "ports": [N...]}
 *                        -> {"uid", "podIP", "token", "ports"}  register (idempotent)
 *   DELETE /v1/pods/UID  forget the pod and close its tunnel
 *   GET    /v1/pods/UID  the pod and its tunnel's state (no token)
 *   GET    /v1/pods      all of them: {"pods": [...]}
 *
 * Every call carries the control token (ControlTokenFile) as a bearer
 * token; it is checked on the headers, before any body is read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "httpd.h"
#include "log.h"
#include "util.h"

#define PODS_PATH "/v1/pods"

static bool authorized(il_request *req, void *ud)
{
    gateway *gw = ud;
    const char *token = il_request_bearer(req);
    if (!gw->control_token || (token && il_secret_equal(token, gw->control_token)))
        return true;
    il_respond_error(req, 401, "the gateway's control API needs its token");
    return false;
}

static bool uid_ok(const char *uid)
{
    size_t n = strlen(uid);
    return n > 0 && n <= 128 && strspn(uid, "abcdefghijklmnopqrstuvwxyz"
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static void put_pod(il_request *req, gateway *gw, const char *uid)
{
    json_t *body = il_request_json(req);
    if (!body)
        return;
    const char *ns = json_string_value(json_object_get(body, "namespace"));
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *list = json_object_get(body, "ports");
    uint16_t ports[TUN_MAX_PORTS];
    size_t n = 0, i;
    json_t *v;
    bool ok = ns && name && json_is_array(list) && json_array_size(list) <= TUN_MAX_PORTS;
    json_array_foreach(list, i, v) {
        json_int_t p = json_integer_value(v);
        ok = ok && json_is_integer(v) && p >= 1 && p <= 65535;
        if (ok)
            ports[n++] = (uint16_t)p;
    }
    if (!ok) {
        il_respond_error(req, 400, "expected {\"namespace\": S, \"name\": S, \"ports\": [1 to "
                         "%d ports, 1..65535]}", TUN_MAX_PORTS);
        json_decref(body);
        return;
    }
    char ip[16], token[65], err[512];
    int rc = gw_pod_put(gw, uid, ns, name, ports, n, ip, token, err, sizeof err);
    if (rc != 0) {
        il_respond_error(req, rc > 0 ? 507 : 503, "%s", err);
    } else {
        il_info("pod %s/%s (%s) registered at %s", ns, name, uid, ip);
        il_respond_json(req, 200, json_pack("{s:s, s:s, s:s, s:O}", "uid", uid, "podIP", ip,
                                            "token", token, "ports", list));
    }
    json_decref(body);
}

static void pod_route(il_request *req, void *ud)
{
    gateway *gw = ud;
    const char *uid = il_request_path(req) + strlen(PODS_PATH "/");
    const char *method = il_request_method(req);
    if (!uid_ok(uid)) {
        il_respond_error(req, 400, "a pod UID is 1 to 128 letters, digits and dashes");
        return;
    }
    if (strcmp(method, "PUT") == 0) {
        put_pod(req, gw, uid);
    } else if (strcmp(method, "DELETE") == 0) {
        char err[512];
        int rc = gw_pod_delete(gw, uid, err, sizeof err);
        if (rc < 0)
            il_respond_error(req, 503, "%s", err);
        else if (rc > 0)
            il_respond_error(req, 404, "pod %s is not registered", uid);
        else
            il_respond_json(req, 200, json_pack("{s:s, s:b}", "uid", uid, "deleted", 1));
        if (rc == 0)
            il_info("pod %s unregistered", uid);
    } else if (strcmp(method, "GET") == 0) {
        pthread_mutex_lock(&gw->mu);
        gw_pod *p = gw_pod_find(gw, uid);
        json_t *o = p ? gw_pod_json(p) : NULL;
        pthread_mutex_unlock(&gw->mu);
        if (o)
            il_respond_json(req, 200, o);
        else
            il_respond_error(req, 404, "pod %s is not registered", uid);
    } else {
        il_respond_error(req, 405, "%s: PUT, DELETE or GET", PODS_PATH "/UID");
    }
}

static void list_route(il_request *req, void *ud)
{
    gateway *gw = ud;
    json_t *pods = json_array();
    pthread_mutex_lock(&gw->mu);
    for (size_t i = 0; i < gw->n_pods; i++)
        json_array_append_new(pods, gw_pod_json(gw->pods[i]));
    size_t conns = gw->n_conns;
    pthread_mutex_unlock(&gw->mu);
    il_respond_json(req, 200, json_pack("{s:o, s:I}", "pods", pods, "connections",
                                        (json_int_t)conns));
}

void gw_control_routes(il_httpd *srv, gateway *gw)
{
    il_httpd_set_filter(srv, authorized, gw);
    il_httpd_route(srv, PODS_PATH, list_route, gw);
    il_httpd_route_prefix(srv, PODS_PATH "/", pod_route, gw);
}
