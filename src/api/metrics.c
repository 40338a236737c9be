/* metrics.c -- the counters behind GET /metrics.
 *
 * A handful of fixed label sets, so a small table under one mutex is enough;
 * paths outside the known endpoints are counted as "other" to keep hostile
 * clients from growing the table. */
#include "metrics.h"

#include <pthread.h>
#include <string.h>

#define MAX_SERIES 64

typedef struct series {
    const char *endpoint;     /* points at a string literal */
    int code;
    unsigned long long count;
    double seconds;
} series;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static series requests[MAX_SERIES];
static size_t n_requests;
static series plugin_calls[MAX_SERIES];
static size_t n_plugin_calls;
static long long pods_known;
static metrics_watch watch_counts;

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

static series *find_series(series *table, size_t *n, const char *endpoint, int code)
{
    for (size_t i = 0; i < *n; i++)
        if (table[i].code == code && strcmp(table[i].endpoint, endpoint) == 0)
            return &table[i];
    if (*n == MAX_SERIES)
        return NULL;
    table[*n] = (series){endpoint, code, 0, 0};
    return &table[(*n)++];
}

void metrics_count_request(const char *path, int status, double seconds)
{
    pthread_mutex_lock(&mu);
    series *s = find_series(requests, &n_requests, canonical_path(path), status);
    if (s) {
        s->count++;
        s->seconds += seconds;
    }
    pthread_mutex_unlock(&mu);
}

void metrics_count_plugin_call(const char *endpoint, bool failed, double seconds)
{
    pthread_mutex_lock(&mu);
    series *s = find_series(plugin_calls, &n_plugin_calls, canonical_path(endpoint), failed);
    if (s) {
        s->count++;
        s->seconds += seconds;
    }
    pthread_mutex_unlock(&mu);
}

void metrics_set_pods(long long pods)
{
    pthread_mutex_lock(&mu);
    pods_known = pods;
    pthread_mutex_unlock(&mu);
}

void metrics_set_watch(const metrics_watch *w)
{
    pthread_mutex_lock(&mu);
    watch_counts = *w;
    pthread_mutex_unlock(&mu);
}

static void render_watch(il_buf *out)
{
    il_buf_printf(out, "# HELP interlink_watchers Watchers connected to /watch.\n"
                       "# TYPE interlink_watchers gauge\ninterlink_watchers %lld\n"
                       "# HELP interlink_watch_generation The latest status change generation.\n"
                       "# TYPE interlink_watch_generation gauge\n"
                       "interlink_watch_generation %llu\n", watch_counts.watchers,
                  watch_counts.generation);
    il_buf_printf(out, "# HELP interlink_watch_refreshes_total Plugin status refreshes made "
                       "for watchers.\n"
                       "# TYPE interlink_watch_refreshes_total counter\n"
                       "interlink_watch_refreshes_total %llu\n"
                       "# HELP interlink_watch_rejected_total Watchers refused: too many (429).\n"
                       "# TYPE interlink_watch_rejected_total counter\n"
                       "interlink_watch_rejected_total %llu\n"
                       "# HELP interlink_watch_resyncs_total Watchers told to resync (410).\n"
                       "# TYPE interlink_watch_resyncs_total counter\n"
                       "interlink_watch_resyncs_total %llu\n", watch_counts.refreshes,
                  watch_counts.rejected, watch_counts.resyncs);
}

static void render_plugin_calls(il_buf *out, bool failed_only, const char *name)
{
    for (size_t i = 0; i < n_plugin_calls; i++)
        if (!failed_only || plugin_calls[i].code)
            il_buf_printf(out, "%s{endpoint=\"%s\"} %llu\n", name, plugin_calls[i].endpoint,
                          plugin_calls[i].count);
}

void metrics_render(il_buf *out)
{
    pthread_mutex_lock(&mu);
    il_buf_puts(out, "# HELP interlink_requests_total Requests answered, by endpoint and code.\n"
                     "# TYPE interlink_requests_total counter\n");
    for (size_t i = 0; i < n_requests; i++)
        il_buf_printf(out, "interlink_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
                      requests[i].endpoint, requests[i].code, requests[i].count);
    il_buf_puts(out, "# HELP interlink_request_seconds_sum Time spent answering, by endpoint.\n"
                     "# TYPE interlink_request_seconds_sum counter\n");
    for (size_t i = 0; i < n_requests; i++)
        il_buf_printf(out, "interlink_request_seconds_sum{endpoint=\"%s\",code=\"%d\"} %.6f\n",
                      requests[i].endpoint, requests[i].code, requests[i].seconds);
    /* Successful and failed calls are separate series; sum them per endpoint. */
    il_buf_puts(out, "# HELP interlink_plugin_requests_total Calls made to the plugin.\n"
                     "# TYPE interlink_plugin_requests_total counter\n");
    series totals[MAX_SERIES];
    size_t n_totals = 0;
    for (size_t i = 0; i < n_plugin_calls; i++) {
        series *t = find_series(totals, &n_totals, plugin_calls[i].endpoint, 0);
        t->count += plugin_calls[i].count;
    }
    for (size_t i = 0; i < n_totals; i++)
        il_buf_printf(out, "interlink_plugin_requests_total{endpoint=\"%s\"} %llu\n",
                      totals[i].endpoint, totals[i].count);
    il_buf_puts(out, "# HELP interlink_plugin_request_errors_total Plugin calls that failed "
                     "(unreachable, timeout).\n"
                     "# TYPE interlink_plugin_request_errors_total counter\n");
    render_plugin_calls(out, true, "interlink_plugin_request_errors_total");
    il_buf_printf(out, "# HELP interlink_pods Pods in the state database.\n"
                       "# TYPE interlink_pods gauge\ninterlink_pods %lld\n", pods_known);
    render_watch(out);
    pthread_mutex_unlock(&mu);
}
