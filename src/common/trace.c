/* trace.c -- spans, their context on each thread, and the OTLP exporter.
 *
 * Owns the tracing configuration (from OTEL_* at start), the thread-local
 * current span, and the export queue with its thread.  A span is built
 * in memory by its thread alone; only when it ends and is sampled does it
 * become an OTLP JSON object in the queue, so the lock is taken once per
 * span.  The exporter posts with libcurl directly, not through httpc.c:
 * its own calls must not be traced, and it must never share a connection
 * cache with the data path. */
#include "trace.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "prom.h"
#include "timeutil.h"
#include "util.h"

struct il_span {
    unsigned char trace_id[16];
    unsigned char span_id[8];
    unsigned char parent_id[8];
    bool has_parent;
    bool sampled;
    il_span_kind kind;
    char *name;
    int64_t start_ns;
    json_t *attributes;       /* OTLP KeyValue array */
    bool error;
    char *error_message;
    il_span *prev;            /* the thread's current span before this one */
};

typedef enum { SAMPLE_ON, SAMPLE_OFF, SAMPLE_RATIO } root_sampler;

static struct {
    bool enabled;
    char *url;                /* .../v1/traces */
    char *service;
    root_sampler root;
    bool parent_based;
    double ratio;
    long delay_ms;
    _Atomic long timeout_ms;  /* shortened by il_trace_shutdown */
    size_t max_queue, max_batch;
} cfg;

static _Thread_local il_span *current;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static json_t **queue;        /* ended spans as OTLP objects; a ring */
static size_t q_head, q_len;
static bool stopping, thread_started;
static pthread_t exporter;

/* ---- configuration ------------------------------------------------------- */

static long env_long(const char *name, long def, long min, long max)
{
    const char *s = getenv(name);
    char *end;
    long v = s && *s ? strtol(s, &end, 10) : def;
    if (s && *s && (*end || v < min || v > max)) {
        il_warn("%s=%s is not a number from %ld to %ld: using %ld", name, s, min, max, def);
        v = def;
    }
    return v;
}

static void configure_sampler(void)
{
    const char *s = getenv("OTEL_TRACES_SAMPLER");
    const char *arg = getenv("OTEL_TRACES_SAMPLER_ARG");
    cfg.parent_based = true;
    cfg.root = SAMPLE_ON;
    cfg.ratio = 1.0;
    if (!s || !*s || strcmp(s, "parentbased_always_on") == 0)
        return;
    if (strncmp(s, "parentbased_", 12) != 0)
        cfg.parent_based = false;
    const char *root = cfg.parent_based ? s + 12 : s;
    if (strcmp(root, "always_on") == 0) {
        cfg.root = SAMPLE_ON;
    } else if (strcmp(root, "always_off") == 0) {
        cfg.root = SAMPLE_OFF;
    } else if (strcmp(root, "traceidratio") == 0) {
        cfg.root = SAMPLE_RATIO;
        char *end;
        double r = arg && *arg ? strtod(arg, &end) : 1.0;
        if (arg && *arg && (*end || r < 0 || r > 1)) {
            il_warn("OTEL_TRACES_SAMPLER_ARG=%s is not a ratio from 0 to 1: using 1", arg);
            r = 1.0;
        }
        cfg.ratio = r;
    } else {
        il_warn("OTEL_TRACES_SAMPLER=%s is not supported: using parentbased_always_on", s);
        cfg.parent_based = true;
    }
}

static void *export_loop(void *arg);

void il_trace_init(const char *service)
{
    if (cfg.enabled)
        return;
    const char *traces = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    const char *base = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    if (traces && *traces) {
        cfg.url = il_xstrdup(traces);
    } else if (base && *base) {
        size_t n = strlen(base);
        cfg.url = il_xasprintf("%.*s/v1/traces", (int)(n && base[n - 1] == '/' ? n - 1 : n),
                               base);
    } else {
        return;   /* off */
    }
    const char *name = getenv("OTEL_SERVICE_NAME");
    cfg.service = il_xstrdup(name && *name ? name : service);
    configure_sampler();
    cfg.delay_ms = env_long("OTEL_BSP_SCHEDULE_DELAY", 1000, 1, 600000);
    cfg.timeout_ms = env_long("OTEL_EXPORTER_OTLP_TIMEOUT", 10000, 1, 600000);
    cfg.max_queue = (size_t)env_long("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1000000);
    cfg.max_batch = (size_t)env_long("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 1000000);
    if (cfg.max_batch > cfg.max_queue)
        cfg.max_batch = cfg.max_queue;
    queue = il_xcalloc(cfg.max_queue, sizeof(*queue));
    /* The families exist from the start, so a scrape shows zeros. */
    il_prom_counter("interlink_trace_spans_exported_total",
                    "Spans the collector accepted.", NULL);
    il_metric *dropped = il_prom_counter("interlink_trace_spans_dropped_total",
                                         "Spans dropped: queue_full (the collector is slower "
                                         "than the spans come) or export_failed.", "reason");
    il_prom_add(dropped, 0, "queue_full");
    il_prom_add(dropped, 0, "export_failed");
    cfg.enabled = true;
    if (pthread_create(&exporter, NULL, export_loop, NULL) == 0)
        thread_started = true;
    else
        cfg.enabled = false;
    il_info("tracing: OTLP/HTTP JSON to %s as service %s", cfg.url, cfg.service);
}

/* ---- ids and traceparent -------------------------------------------------- */

static void random_bytes(unsigned char *out, size_t n)
{
    do {
        if (getrandom(out, n, 0) != (ssize_t)n)
            for (size_t i = 0; i < n; i++)   /* never: getrandom on a live system */
                out[i] = (unsigned char)rand();
    } while (out[0] == 0 && memcmp(out, out + 1, n - 1) == 0);   /* all zero is invalid */
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool unhex(const char *s, unsigned char *out, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
        nonzero |= v != 0;
    }
    return nonzero;
}

bool il_trace_parse_traceparent(const char *s, unsigned char trace_id[16],
                                unsigned char span_id[8], bool *sampled)
{
    unsigned char version[1] = {0}, flags[1] = {0};
    if (!s || strlen(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    if (!unhex(s, version, 1) && strncmp(s, "00", 2) != 0)
        return false;
    bool v00 = strncmp(s, "00", 2) == 0;
    if (strncmp(s, "ff", 2) == 0 || (v00 && s[55] != '\0') || (!v00 && s[55] && s[55] != '-'))
        return false;   /* ff is invalid; 00 has four fields, later versions may add some */
    if (!unhex(s + 3, trace_id, 16) || !unhex(s + 36, span_id, 8))
        return false;
    if (!unhex(s + 53, flags, 1) && strncmp(s + 53, "00", 2) != 0)
        return false;
    *sampled = flags[0] & 1;
    return true;
}

bool il_trace_traceparent(char out[IL_TRACEPARENT_SIZE])
{
    if (!current)
        return false;
    char t[33], p[17];
    hex(current->trace_id, 16, t);
    hex(current->span_id, 8, p);
    snprintf(out, IL_TRACEPARENT_SIZE, "00-%s-%s-%s", t, p, current->sampled ? "01" : "00");
    return true;
}

/* ---- spans ---------------------------------------------------------------- */

static bool sample_root(const unsigned char trace_id[16])
{
    if (cfg.root == SAMPLE_ON)
        return true;
    if (cfg.root == SAMPLE_OFF)
        return false;
    /* The low 8 bytes of the id against the ratio: every service that sees
     * this trace id decides alike. */
    uint64_t x = 0;
    for (int i = 8; i < 16; i++)
        x = (x << 8) | trace_id[i];
    return cfg.ratio >= 1.0 || (double)x < cfg.ratio * 18446744073709551616.0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void make_current(il_span *s)
{
    current = s;
    char t[33];
    if (s)
        hex(s->trace_id, 16, t);
    il_log_set_trace_id(s ? t : NULL);
}

static il_span *span_new(const char *name, il_span_kind kind)
{
    il_span *s = il_xcalloc(1, sizeof(*s));
    s->name = il_xstrdup(name);
    s->kind = kind;
    s->start_ns = now_ns();
    s->attributes = json_array();
    random_bytes(s->span_id, 8);
    s->prev = current;
    return s;
}

il_span *il_span_start(const char *name, il_span_kind kind, const char *traceparent)
{
    if (!cfg.enabled)
        return NULL;
    il_span *s = span_new(name, kind);
    bool parent_sampled;
    if (il_trace_parse_traceparent(traceparent, s->trace_id, s->parent_id, &parent_sampled)) {
        s->has_parent = true;
    } else if (current) {
        memcpy(s->trace_id, current->trace_id, 16);
        memcpy(s->parent_id, current->span_id, 8);
        parent_sampled = current->sampled;
        s->has_parent = true;
    } else {
        random_bytes(s->trace_id, 16);
    }
    s->sampled = s->has_parent && cfg.parent_based ? parent_sampled : sample_root(s->trace_id);
    make_current(s);
    return s;
}

il_span *il_span_start_child(const char *name, il_span_kind kind)
{
    return current ? il_span_start(name, kind, NULL) : NULL;
}

il_span *il_span_current(void)
{
    return current;
}

void il_span_set_str(il_span *s, const char *key, const char *value)
{
    if (s && value)
        json_array_append_new(s->attributes, json_pack("{s:s, s:{s:s}}", "key", key, "value",
                                                       "stringValue", value));
}

void il_span_set_int(il_span *s, const char *key, long long value)
{
    /* OTLP JSON carries 64-bit integers as strings. */
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    if (s)
        json_array_append_new(s->attributes, json_pack("{s:s, s:{s:s}}", "key", key, "value",
                                                       "intValue", text));
}

void il_span_set_pod(il_span *s, const char *ns, const char *name, const char *uid)
{
    il_span_set_str(s, "k8s.namespace.name", ns);
    il_span_set_str(s, "k8s.pod.name", name);
    il_span_set_str(s, "k8s.pod.uid", uid);
}

void il_span_set_error(il_span *s, const char *message)
{
    if (!s)
        return;
    s->error = true;
    free(s->error_message);
    s->error_message = il_xstrdup(message);
}

static json_t *span_json(il_span *s, int64_t end_ns)
{
    char trace[33], id[17], parent[17], start[24], end[24];
    hex(s->trace_id, 16, trace);
    hex(s->span_id, 8, id);
    hex(s->parent_id, 8, parent);
    snprintf(start, sizeof start, "%" PRId64, s->start_ns);
    snprintf(end, sizeof end, "%" PRId64, end_ns);
    json_t *status = json_pack("{s:i}", "code", s->error ? 2 : 0);
    if (s->error_message)
        json_object_set_new(status, "message", json_string(s->error_message));
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:O, s:o}", "traceId", trace, "spanId",
                          id, "name", s->name, "kind", (int)s->kind, "startTimeUnixNano", start,
                          "endTimeUnixNano", end, "attributes", s->attributes, "status",
                          status);
    if (s->has_parent)
        json_object_set_new(j, "parentSpanId", json_string(parent));
    return j;
}

static void drop(const char *reason, size_t n)
{
    il_prom_add(il_prom_counter("interlink_trace_spans_dropped_total", NULL, "reason"),
                (double)n, reason);
}

void il_span_end(il_span *s)
{
    if (!s)
        return;
    if (current == s)
        make_current(s->prev);
    if (s->sampled) {
        json_t *j = span_json(s, now_ns());
        pthread_mutex_lock(&mu);
        bool full = q_len == cfg.max_queue;
        if (!full) {
            queue[(q_head + q_len++) % cfg.max_queue] = j;
            if (q_len >= cfg.max_batch)
                pthread_cond_signal(&wake);
        }
        pthread_mutex_unlock(&mu);
        if (full) {
            json_decref(j);
            drop("queue_full", 1);
        }
    }
    json_decref(s->attributes);
    free(s->error_message);
    free(s->name);
    free(s);
}

/* ---- export ---------------------------------------------------------------- */

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* One OTLP/HTTP JSON request; true when the collector accepted it. */
static bool post(json_t *spans)
{
    json_t *doc = json_pack(
        "{s:[{s:{s:[{s:s, s:{s:s}}]}, s:[{s:{s:s, s:s}, s:O}]}]}", "resourceSpans", "resource",
        "attributes", "key", "service.name", "value", "stringValue", cfg.service, "scopeSpans",
        "scope", "name", "interlink-c", "version", IL_VERSION, "spans", spans);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    CURL *h = curl_easy_init();
    bool ok = false;
    if (h && body) {
        struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_URL, cfg.url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        long timeout_ms = cfg.timeout_ms;
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
        long status = 0;
        CURLcode rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        ok = rc == CURLE_OK && status >= 200 && status <= 299;
        if (!ok)
            il_debug("trace export to %s failed: %s (HTTP %ld)", cfg.url,
                     rc == CURLE_OK ? "rejected" : curl_easy_strerror(rc), status);
        curl_slist_free_all(hdrs);
    }
    if (h)
        curl_easy_cleanup(h);
    free(body);
    return ok;
}

/* Take up to max_batch spans from the queue (called with mu held). */
static json_t *take_batch(void)
{
    json_t *spans = json_array();
    while (q_len > 0 && json_array_size(spans) < cfg.max_batch) {
        json_array_append_new(spans, queue[q_head]);
        q_head = (q_head + 1) % cfg.max_queue;
        q_len--;
    }
    return spans;
}

static void *export_loop(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        if (q_len < cfg.max_batch && !stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += cfg.delay_ms / 1000;
            ts.tv_nsec += (cfg.delay_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&wake, &mu, &ts);
        }
        bool last = stopping;
        json_t *spans = take_batch();
        pthread_mutex_unlock(&mu);
        size_t n = json_array_size(spans);
        if (n > 0) {
            if (post(spans))
                il_prom_add(il_prom_counter("interlink_trace_spans_exported_total", NULL, NULL),
                            (double)n);
            else
                drop("export_failed", n);
        }
        json_decref(spans);
        pthread_mutex_lock(&mu);
        if (last && q_len == 0)
            break;
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

void il_trace_shutdown(void)
{
    if (!thread_started)
        return;
    pthread_mutex_lock(&mu);
    stopping = true;
    if (cfg.timeout_ms > 2000)
        cfg.timeout_ms = 2000;   /* a dead collector must not hold up the exit */
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
    pthread_join(exporter, NULL);
    thread_started = false;
    cfg.enabled = false;   /* the queue stays: a late span end must find it */
}
