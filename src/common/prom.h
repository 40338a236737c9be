/* prom.h -- Prometheus metrics: one process-wide registry, text exposition.
 *
 * A daemon declares a metric family once (name, help, label names) and
 * updates it from any thread; GET /metrics renders every family in the
 * text format Prometheus scrapes.  Counters only go up, gauges are set,
 * histograms count observations into fixed buckets (cumulative "le" on
 * output, plus _sum and _count).
 *
 * Declaring is idempotent: the same name returns the same family, so a
 * call site may declare where it updates.  Label values follow the value
 * as const char * arguments, one per label name, in declaration order.
 * A family holds at most IL_PROM_MAX_SERIES label sets; updates for more
 * are dropped (and counted in il_prom_series_dropped_total), so label
 * values that come from callers can never grow memory without bound. */
#ifndef IL_PROM_H
#define IL_PROM_H

#include <stddef.h>

#include "util.h"

#define IL_PROM_MAX_LABELS 4
#define IL_PROM_MAX_SERIES 256
#define IL_PROM_MAX_BUCKETS 24

typedef struct il_metric il_metric;

/* labels: comma-separated label names ("endpoint,code"), or NULL/"" for
 * none.  Names must follow Prometheus rules; a bad declaration aborts
 * (it is a programming error, found by the first test that runs it). */
il_metric *il_prom_counter(const char *name, const char *help, const char *labels);
il_metric *il_prom_gauge(const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds in base units, n of them (at most
 * IL_PROM_MAX_BUCKETS); NULL = il_prom_latency_buckets. */
il_metric *il_prom_histogram(const char *name, const char *help, const char *labels,
                             const double *bounds, size_t n);
/* Seconds, from 5 ms to 10 min: request, command and pod-start latencies. */
extern const double il_prom_latency_buckets[];
extern const size_t il_prom_n_latency_buckets;

/* Label values follow v; NULL is rendered as "". */
void il_prom_add(il_metric *m, double v, ...);       /* counter or gauge: += v */
void il_prom_set(il_metric *m, double v, ...);       /* gauge: = v */
void il_prom_observe(il_metric *m, double v, ...);   /* histogram */
/* Set every series of a gauge family to 0 (before re-counting, so a
 * label set that disappeared reads 0 rather than its last value). */
void il_prom_zero(il_metric *m);
/* A counter's or gauge's current value (tests, self-checks); 0 if the
 * series does not exist. */
double il_prom_value(il_metric *m, ...);

/* Every family, in declaration order. */
void il_prom_render(il_buf *out);

/* The backend this process speaks to ("slurm", "local"): the "backend"
 * label of the command metrics below.  Set once at start-up. */
void il_prom_set_backend(const char *name);
const char *il_prom_backend(void);
/* Count one backend command (argv[0]; its base name is the label): how
 * long it took, and failure ("exit", "timeout", "spawn") or NULL when it
 * succeeded. */
void il_prom_observe_command(const char *command, double seconds, const char *failure);

#endif
