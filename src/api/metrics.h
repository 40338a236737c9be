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
/* GET /watch (watch.c): watchers connected now, the latest generation, the
 * refresher's plugin refreshes, watchers refused (429) and told to resync
 * (410). */
typedef struct metrics_watch {
    long long watchers;
    unsigned long long generation;
    unsigned long long refreshes;
    unsigned long long rejected;
    unsigned long long resyncs;
} metrics_watch;
void metrics_set_watch(const metrics_watch *w);
/* Prometheus text exposition format. */
void metrics_render(il_buf *out);

#endif
