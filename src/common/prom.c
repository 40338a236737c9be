/* prom.c -- the process-wide metrics registry and its text exposition.
 *
 * Owns every metric family of the process.  A few dozen families with a
 * few label sets each: linked lists under one mutex are enough, and an
 * update is a short scan plus an add.  Values are doubles, as Prometheus
 * stores them, so counters of seconds and of events share one code path. */
#include "prom.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM } prom_type;

typedef struct prom_series {
    char *values[IL_PROM_MAX_LABELS];
    double value;             /* counter or gauge; a histogram's sum */
    unsigned long long count; /* histogram observations */
    unsigned long long buckets[IL_PROM_MAX_BUCKETS]; /* per bucket, not cumulative */
    struct prom_series *next;
} prom_series;

struct il_metric {
    char *name;
    char *help;
    prom_type type;
    char *labels[IL_PROM_MAX_LABELS];
    size_t n_labels;
    double bounds[IL_PROM_MAX_BUCKETS];
    size_t n_bounds;
    prom_series *series, **tail;
    size_t n_series;
    il_metric *next;
};

const double il_prom_latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                          2.5,   5,    10,    30,   60,  120,  300, 600};
const size_t il_prom_n_latency_buckets =
    sizeof(il_prom_latency_buckets) / sizeof(il_prom_latency_buckets[0]);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static il_metric *families, **families_tail = &families;
static il_metric *_Atomic dropped;   /* updates lost to IL_PROM_MAX_SERIES */

static bool valid_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
            return false;
    return true;
}

static void bad_declaration(const char *name, const char *why)
{
    fprintf(stderr, "metric %s: %s\n", name ? name : "(null)", why);
    abort();
}

static il_metric *find_family(const char *name)
{
    for (il_metric *m = families; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static void split_labels(il_metric *m, const char *labels)
{
    if (!labels || !*labels)
        return;
    char *copy = il_xstrdup(labels), *save = NULL;
    for (char *l = strtok_r(copy, ",", &save); l; l = strtok_r(NULL, ",", &save)) {
        if (m->n_labels == IL_PROM_MAX_LABELS || !valid_name(l) || strncmp(l, "__", 2) == 0 ||
            strcmp(l, "le") == 0)
            bad_declaration(m->name, "bad or too many label names");
        m->labels[m->n_labels++] = il_xstrdup(l);
    }
    free(copy);
}

static il_metric *declare(const char *name, const char *help, const char *labels, prom_type type,
                          const double *bounds, size_t n)
{
    if (!valid_name(name) || n > IL_PROM_MAX_BUCKETS)
        bad_declaration(name, "bad name or too many buckets");
    pthread_mutex_lock(&mu);
    il_metric *m = find_family(name);
    if (m) {
        pthread_mutex_unlock(&mu);
        if (m->type != type)
            bad_declaration(name, "declared twice with different types");
        return m;
    }
    m = il_xcalloc(1, sizeof(*m));
    m->name = il_xstrdup(name);
    m->help = il_xstrdup(help ? help : "");
    m->type = type;
    m->tail = &m->series;
    split_labels(m, labels);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && bounds[i] <= bounds[i - 1])
            bad_declaration(name, "bucket bounds must ascend");
        m->bounds[i] = bounds[i];
    }
    m->n_bounds = n;
    *families_tail = m;
    families_tail = &m->next;
    pthread_mutex_unlock(&mu);
    return m;
}

il_metric *il_prom_counter(const char *name, const char *help, const char *labels)
{
    return declare(name, help, labels, PROM_COUNTER, NULL, 0);
}

il_metric *il_prom_gauge(const char *name, const char *help, const char *labels)
{
    return declare(name, help, labels, PROM_GAUGE, NULL, 0);
}

il_metric *il_prom_histogram(const char *name, const char *help, const char *labels,
                             const double *bounds, size_t n)
{
    if (!bounds) {
        bounds = il_prom_latency_buckets;
        n = il_prom_n_latency_buckets;
    }
    return declare(name, help, labels, PROM_HISTOGRAM, bounds, n);
}

/* The series for the label values in ap, created if new; NULL when the
 * family is full.  Called with mu held. */
static prom_series *series_for(il_metric *m, va_list ap, bool create)
{
    const char *values[IL_PROM_MAX_LABELS];
    for (size_t i = 0; i < m->n_labels; i++) {
        values[i] = va_arg(ap, const char *);
        if (!values[i])
            values[i] = "";
    }
    for (prom_series *s = m->series; s; s = s->next) {
        size_t i = 0;
        while (i < m->n_labels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == m->n_labels)
            return s;
    }
    if (!create)
        return NULL;
    if (m->n_series == IL_PROM_MAX_SERIES) {
        il_metric *counter = dropped;   /* never full itself: it has no labels */
        prom_series *d = counter ? counter->series : NULL;
        if (d)
            d->value++;
        return NULL;
    }
    prom_series *s = il_xcalloc(1, sizeof(*s));
    for (size_t i = 0; i < m->n_labels; i++)
        s->values[i] = il_xstrdup(values[i]);
    *m->tail = s;
    m->tail = &s->next;
    m->n_series++;
    return s;
}

static void ensure_dropped_counter(void)
{
    if (!dropped) {
        dropped = il_prom_counter("il_prom_series_dropped_total",
                                  "Metric updates dropped because a family had too many label "
                                  "sets.", NULL);
        il_prom_add(dropped, 0);
    }
}

static void update(il_metric *m, double v, va_list ap, int how)
{
    if (!m)
        return;
    if (m->n_labels > 0)
        ensure_dropped_counter();
    pthread_mutex_lock(&mu);
    prom_series *s = series_for(m, ap, true);
    if (s && how == 0) {
        s->value += v;
    } else if (s && how == 1) {
        s->value = v;
    } else if (s) {
        s->value += v;
        s->count++;
        size_t b = 0;
        while (b < m->n_bounds && v > m->bounds[b])
            b++;
        if (b < m->n_bounds)
            s->buckets[b]++;
    }
    pthread_mutex_unlock(&mu);
}

void il_prom_add(il_metric *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(m, v, ap, 0);
    va_end(ap);
}

void il_prom_set(il_metric *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(m, v, ap, 1);
    va_end(ap);
}

void il_prom_observe(il_metric *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(m, v, ap, 2);
    va_end(ap);
}

void il_prom_zero(il_metric *m)
{
    pthread_mutex_lock(&mu);
    for (prom_series *s = m->series; s; s = s->next)
        s->value = 0;
    pthread_mutex_unlock(&mu);
}

double il_prom_value(il_metric *m, ...)
{
    va_list ap;
    va_start(ap, m);
    pthread_mutex_lock(&mu);
    prom_series *s = series_for(m, ap, false);
    double v = s ? s->value : 0;
    pthread_mutex_unlock(&mu);
    va_end(ap);
    return v;
}

/* ---- exposition ------------------------------------------------------------ */

static void put_escaped(il_buf *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            il_buf_puts(out, "\\\\");
        else if (*s == '\n')
            il_buf_puts(out, "\\n");
        else if (*s == '"' && quote)
            il_buf_puts(out, "\\\"");
        else
            il_buf_append(out, s, 1);
    }
}

static void put_number(il_buf *out, double v)
{
    if (v == (double)(long long)v && v < 9e15 && v > -9e15)
        il_buf_printf(out, "%lld", (long long)v);
    else
        il_buf_printf(out, "%.9g", v);
}

/* name{labels[,le="bound"]} value */
static void put_sample(il_buf *out, const il_metric *m, const char *suffix, const prom_series *s,
                       const char *le, double v)
{
    il_buf_printf(out, "%s%s", m->name, suffix);
    if (m->n_labels > 0 || le) {
        il_buf_puts(out, "{");
        for (size_t i = 0; i < m->n_labels; i++) {
            il_buf_printf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
            put_escaped(out, s->values[i], true);
            il_buf_puts(out, "\"");
        }
        if (le)
            il_buf_printf(out, "%sle=\"%s\"", m->n_labels ? "," : "", le);
        il_buf_puts(out, "}");
    }
    il_buf_puts(out, " ");
    put_number(out, v);
    il_buf_puts(out, "\n");
}

static void render_histogram(il_buf *out, const il_metric *m, const prom_series *s)
{
    unsigned long long cumulative = 0;
    char le[32];
    for (size_t b = 0; b < m->n_bounds; b++) {
        cumulative += s->buckets[b];
        snprintf(le, sizeof le, "%g", m->bounds[b]);
        put_sample(out, m, "_bucket", s, le, (double)cumulative);
    }
    put_sample(out, m, "_bucket", s, "+Inf", (double)s->count);
    put_sample(out, m, "_sum", s, NULL, s->value);
    put_sample(out, m, "_count", s, NULL, (double)s->count);
}

void il_prom_render(il_buf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&mu);
    for (const il_metric *m = families; m; m = m->next) {
        il_buf_printf(out, "# HELP %s ", m->name);
        put_escaped(out, m->help, false);
        il_buf_printf(out, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
        /* A family without labels always has its one sample, 0 until set. */
        if (m->n_labels == 0 && !m->series) {
            prom_series zero = {0};
            if (m->type == PROM_HISTOGRAM)
                render_histogram(out, m, &zero);
            else
                put_sample(out, m, "", &zero, NULL, 0);
        }
        for (const prom_series *s = m->series; s; s = s->next) {
            if (m->type == PROM_HISTOGRAM)
                render_histogram(out, m, s);
            else
                put_sample(out, m, "", s, NULL, s->value);
        }
    }
    pthread_mutex_unlock(&mu);
}

/* ---- backend commands ---------------------------------------------------------- */

static const char *command_backend = "unknown";

void il_prom_set_backend(const char *name)
{
    command_backend = name;
}

const char *il_prom_backend(void)
{
    return command_backend;
}

void il_prom_observe_command(const char *command, double seconds, const char *failure)
{
    const char *base = strrchr(command, '/');
    base = base ? base + 1 : command;
    il_prom_observe(il_prom_histogram("interlink_backend_command_seconds",
                                      "Time backend commands (sbatch, squeue, podman...) took.",
                                      "backend,command", NULL, 0),
                    seconds, command_backend, base);
    il_metric *failures = il_prom_counter("interlink_backend_command_failures_total",
                                          "Backend commands that failed, by reason (exit: a "
                                          "non-zero status, timeout, spawn: could not start).",
                                          "backend,command,reason");
    if (failure)
        il_prom_add(failures, 1, command_backend, base, failure);
}
