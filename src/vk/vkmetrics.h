/* vkmetrics.h -- the virtual kubelet's metrics and the port that serves
 * them.
 *
 * GET /metrics is served on its own plain-HTTP listener (MetricsAddress,
 * MetricsPort), not on the kubelet API: that port is HTTPS with client
 * certificates the API server holds, which a Prometheus in the cluster
 * does not have, and a scrape must never be able to reach logs or exec. */
#ifndef VK_VKMETRICS_H
#define VK_VKMETRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "httpd.h"

struct vk;

/* One API server call: method (GET, POST, ...; "WATCH" for a watch),
 * HTTP status (0: no answer), seconds, and whether it failed. */
void vk_metrics_apiserver(const char *method, long status, double seconds, bool failed);
/* An il_httpd observer for the kubelet API: requests by endpoint
 * (/healthz, /containerLogs, other) and code, and their latency. */
void vk_metrics_kubelet_request(const char *method, const char *path, int status,
                                double seconds, void *ud);
/* The pod watch had to start again: "gone" (410, relist), "error". */
void vk_metrics_watch_restart(const char *reason);
void vk_metrics_queue_depth(size_t n);
void vk_metrics_status_cycle(double seconds, size_t pods, bool failed);
/* The pod reached Running / is gone from the API after a delete: the
 * time since its creationTimestamp / deletionTimestamp is observed. */
void vk_metrics_pod_running(const json_t *pod);
void vk_metrics_pod_gone(const json_t *pod);

/* Start the listener when MetricsPort is set; NULL with err empty when it
 * is not, NULL with err set when it cannot listen. */
il_httpd *vk_metrics_listen(struct vk *v, char *err, size_t errlen);

#endif
