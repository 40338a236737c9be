/* metrics.h -- Prometheus counters of the API server (GET /metrics).
 *
 * Upstream interLink exports no metrics; an HPC admin wants to see request
 * rates, error rates and how often the plugin is called (one /status call
 * per VK cycle, however many pods, is the promise these counters verify). */
#ifndef IL_API_METRICS_H
#define IL_API_METRICS_H

#include "util.h"

void metrics_count_request(const char *path, int status, double seconds);
void metrics_count_plugin_call(const char *endpoint, bool failed, double seconds);
void metrics_set_pods(long long pods);
/* Prometheus text exposition format. */
void metrics_render(il_buf *out);

#endif
