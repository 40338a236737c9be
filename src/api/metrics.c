/* metrics.c -- the API server's metrics, declared in the common registry
 * (prom.c) and served by GET /metrics.
 *
 * Paths outside the known endpoints are counted as "other" to keep
 * hostile clients from growing the label sets. */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "prom.h"

static const char *const known_paths[] = {
    "/create", "/status", "/delete", "/getLogs", "/pinglink", "/updateCache",
    "/pods", "/metrics", "/healthz", "/watch",
};

static const char *canonical_path(const char *path)
{
    for (size_t i = 0; i < sizeof(known_paths) / sizeof(known_paths[0]); i++)
        if (strcmp(known_paths[i], path) == 0)
            return known_paths[i];
    return "other";
}

void metrics_count_request(const char *path, int status, double seconds)
{
    char code[16];
    snprintf(code, sizeof code, "%d", status);
    path = canonical_path(path);
    il_prom_add(il_prom_counter("interlink_requests_total",
                                "Requests answered, by endpoint and code.", "endpoint,code"),
                1, path, code);
    il_prom_observe(il_prom_histogram("interlink_request_seconds",
                                      "Time spent answering, by endpoint and code.",
                                      "endpoint,code", NULL, 0),
                    seconds, path, code);
}

void metrics_count_plugin_call(const char *endpoint, bool failed, double seconds)
{
    endpoint = canonical_path(endpoint);
    il_metric *errors = il_prom_counter("interlink_plugin_request_errors_total",
                                        "Plugin calls that failed (unreachable, timeout).",
                                        "endpoint");
    il_prom_add(il_prom_counter("interlink_plugin_requests_total", "Calls made to the plugin.",
                                "endpoint"),
                1, endpoint);
    il_prom_add(errors, failed ? 1 : 0, endpoint);
    il_prom_observe(il_prom_histogram("interlink_plugin_request_seconds",
                                      "Time the plugin took to answer, by endpoint.",
                                      "endpoint", NULL, 0),
                    seconds, endpoint);
}

void metrics_set_pods(long long pods)
{
    il_prom_set(il_prom_gauge("interlink_pods", "Pods in the state database.", NULL),
                (double)pods);
}

/* The watch families, declared where they are both set and rendered. */
static il_metric *watch_family(int i)
{
    switch (i) {
    case 0: return il_prom_gauge("interlink_watchers", "Watchers connected to /watch.", NULL);
    case 1: return il_prom_gauge("interlink_watch_generation",
                                 "The latest status change generation.", NULL);
    case 2: return il_prom_counter("interlink_watch_refreshes_total",
                                   "Plugin status refreshes made for watchers.", NULL);
    case 3: return il_prom_counter("interlink_watch_rejected_total",
                                   "Watchers refused: too many (429).", NULL);
    default: return il_prom_counter("interlink_watch_resyncs_total",
                                    "Watchers told to resync (410).", NULL);
    }
}

void metrics_set_watch(const metrics_watch *w)
{
    /* Totals kept by watch.c: copied, so set rather than added. */
    double values[] = {(double)w->watchers, (double)w->generation, (double)w->refreshes,
                       (double)w->rejected, (double)w->resyncs};
    for (int i = 0; i < 5; i++)
        il_prom_set(watch_family(i), values[i]);
}

void metrics_render(il_buf *out)
{
    /* Declared up front, so a scrape before any traffic shows every family. */
    for (int i = 0; i < 5; i++)
        watch_family(i);
    il_prom_render(out);
}
