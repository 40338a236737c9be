/* vkmetrics.c -- what the virtual kubelet counts, and GET /metrics.
 *
 * Owns the VK's metric families (declared in the common registry, prom.c)
 * and their plain-HTTP listener.  Pods by phase are counted from the pod
 * table at scrape time, so they are never stale; everything else is
 * recorded where it happens (kube.c, podwatch.c, queue.c, statusloop.c,
 * podsync.c call in here). */
#include "vkmetrics.h"

#include <stdio.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "prom.h"
#include "timeutil.h"
#include "vk.h"

/* The Kubernetes verb of an HTTP method. */
static const char *verb_of(const char *method)
{
    static const char *const map[][2] = {{"GET", "get"},       {"POST", "create"},
                                         {"PUT", "update"},    {"PATCH", "patch"},
                                         {"DELETE", "delete"}, {"WATCH", "watch"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(method, map[i][0]) == 0)
            return map[i][1];
    return "other";
}

void vk_metrics_apiserver(const char *method, long status, double seconds, bool failed)
{
    char code[16];
    snprintf(code, sizeof code, "%ld", status);
    const char *verb = verb_of(method);
    il_prom_add(il_prom_counter("interlink_vk_apiserver_requests_total",
                                "Kubernetes API server calls, by verb and HTTP code (0: no "
                                "answer).", "verb,code"),
                1, verb, code);
    il_prom_add(il_prom_counter("interlink_vk_apiserver_request_errors_total",
                                "Kubernetes API server calls that failed (no answer or not "
                                "2xx), by verb.", "verb"),
                failed ? 1 : 0, verb);
    il_prom_observe(il_prom_histogram("interlink_vk_apiserver_request_seconds",
                                      "Kubernetes API server call latency, by verb.", "verb",
                                      NULL, 0),
                    seconds, verb);
}

void vk_metrics_kubelet_request(const char *method, const char *path, int status,
                                double seconds, void *ud)
{
    (void)method;
    (void)ud;
    const char *endpoint = strcmp(path, "/healthz") == 0 ? "/healthz"
                           : strncmp(path, "/containerLogs/", 15) == 0 ? "/containerLogs"
                                                                       : "other";
    char code[16];
    snprintf(code, sizeof code, "%d", status);
    il_prom_add(il_prom_counter("interlink_vk_kubelet_requests_total",
                                "Kubelet API requests answered, by endpoint and code.",
                                "endpoint,code"),
                1, endpoint, code);
    il_prom_observe(il_prom_histogram("interlink_vk_kubelet_request_seconds",
                                      "Kubelet API answer time, by endpoint and code (a log "
                                      "stream: until it ended).", "endpoint,code", NULL, 0),
                    seconds, endpoint, code);
}

static il_metric *watch_restarts(void)
{
    return il_prom_counter("interlink_vk_watch_restarts_total",
                           "Times the pod watch started again, by reason (gone: 410, relist; "
                           "error: the stream failed).", "reason");
}

void vk_metrics_watch_restart(const char *reason)
{
    il_prom_add(watch_restarts(), 1, reason);
}

void vk_metrics_queue_depth(size_t n)
{
    il_prom_set(il_prom_gauge("interlink_vk_queue_depth",
                              "Pods whose work (create, delete, a retry) is due and waiting for a "
                              "worker.", NULL),
                (double)n);
}

void vk_metrics_status_cycle(double seconds, size_t pods, bool failed)
{
    il_prom_observe(il_prom_histogram("interlink_vk_status_cycle_seconds",
                                      "Duration of one status cycle (one interlink /status call "
                                      "and the status writes).", NULL, NULL, 0),
                    seconds);
    il_prom_set(il_prom_gauge("interlink_vk_status_cycle_pods",
                              "Pods asked about in the latest status cycle.", NULL),
                (double)pods);
    il_prom_add(il_prom_counter("interlink_vk_status_cycle_failures_total",
                                "Status cycles in which interlink could not answer.", NULL),
                failed ? 1 : 0);
}

static double seconds_since(const json_t *pod, const char *field)
{
    const char *ts = json_string_value(
        json_object_get(json_object_get(pod, "metadata"), field));
    il_time t;
    if (!ts || il_time_parse(ts, &t) != 0)
        return -1;
    double s = (double)(il_time_to_ns(il_time_now()) - il_time_to_ns(t)) / 1e9;
    return s < 0 ? 0 : s;
}

void vk_metrics_pod_running(const json_t *pod)
{
    double s = seconds_since(pod, "creationTimestamp");
    if (s >= 0)
        il_prom_observe(il_prom_histogram("interlink_vk_pod_start_seconds",
                                          "From the pod's creation to the VK seeing it Running.",
                                          NULL, NULL, 0),
                        s);
}

void vk_metrics_pod_gone(const json_t *pod)
{
    double s = seconds_since(pod, "deletionTimestamp");
    if (s >= 0)
        il_prom_observe(il_prom_histogram("interlink_vk_pod_delete_seconds",
                                          "From the pod's deletion request to its removal "
                                          "(backend delete confirmed).", NULL, NULL, 0),
                        s);
}

/* ---- the listener -------------------------------------------------------- */

static void declare_families(const vk_config *cfg)
{
    /* What the status cycle's duration is to be compared with (alerts). */
    il_prom_set(il_prom_gauge("interlink_vk_status_interval_seconds",
                              "StatusIntervalSeconds: how often a status cycle starts.", NULL),
                (double)cfg->status_interval_s);
    /* Families that are only updated later show from the first scrape. */
    vk_metrics_queue_depth(0);
    watch_restarts();
    il_prom_histogram("interlink_vk_status_cycle_seconds",
                      "Duration of one status cycle (one interlink /status call and the status "
                      "writes).", NULL, NULL, 0);
    il_prom_histogram("interlink_vk_pod_start_seconds",
                      "From the pod's creation to the VK seeing it Running.", NULL, NULL, 0);
    il_prom_histogram("interlink_vk_pod_delete_seconds",
                      "From the pod's deletion request to its removal (backend delete "
                      "confirmed).", NULL, NULL, 0);
}

static void handle_metrics(il_request *req, void *ud)
{
    vk *v = ud;
    static const char *const phases[] = {"Pending", "Running", "Succeeded", "Failed", "Unknown"};
    size_t counts[5];
    vk_pods_count_phases(v->pods, phases, 5, counts);
    il_metric *m = il_prom_gauge("interlink_vk_pods",
                                 "Pods on this node, by phase (as written to the API server).",
                                 "phase");
    for (size_t i = 0; i < 5; i++)
        il_prom_set(m, (double)counts[i], phases[i]);
    il_prom_set(il_prom_gauge("interlink_vk_events_queued",
                              "Events raised and waiting to be posted (EventsPerSecond).", NULL),
                (double)vk_events_queued());
    il_buf text = IL_BUF_INIT;
    il_prom_render(&text);
    il_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text.data, text.len);
    il_buf_free(&text);
}

il_httpd *vk_metrics_listen(vk *v, char *err, size_t errlen)
{
    *err = '\0';
    if (v->cfg->metrics_port <= 0)
        return NULL;
    declare_families(v->cfg);
    char port[16];
    snprintf(port, sizeof port, "%lld", (long long)v->cfg->metrics_port);
    char *addr = il_xasprintf("http://%s", v->cfg->metrics_address);
    il_httpd_opts opts = {.address = addr, .port = port, .timeout_s = 30, .max_body = 4096};
    il_httpd *http = il_httpd_new(&opts, err, errlen);
    free(addr);
    if (!http)
        return NULL;
    il_httpd_route(http, "/metrics", handle_metrics, v);
    if (il_httpd_start(http, err, errlen) < 0) {
        il_httpd_stop(http);
        return NULL;
    }
    il_info("metrics on http://%s:%d/metrics", v->cfg->metrics_address, il_httpd_port(http));
    return http;
}
