/* trace.h -- OpenTelemetry traces: spans, W3C traceparent, OTLP export.
 *
 * Configured from the standard environment, read once by il_trace_init:
 *   OTEL_EXPORTER_OTLP_ENDPOINT          collector base URL (+ /v1/traces)
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   or the full traces URL
 *   OTEL_SERVICE_NAME                    default: the daemon's name
 *   OTEL_TRACES_SAMPLER (+ _ARG)         always_on, always_off, traceidratio,
 *                                        parentbased_always_on (default),
 *                                        parentbased_always_off,
 *                                        parentbased_traceidratio
 *   OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE,
 *   OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_EXPORTER_OTLP_TIMEOUT (ms)
 * With no endpoint, tracing is off: spans are NULL and every function
 * below accepts NULL and does nothing, so call sites never check.
 *
 * A span becomes its thread's current span when started and stops being
 * it when ended (spans of one thread end in reverse order of their start).
 * Client HTTP calls (httpc.c) carry the current span as traceparent;
 * servers (httpd.c) continue the caller's trace.  Ended, sampled spans go
 * into a bounded queue; a background thread posts them in batches as
 * OTLP/HTTP JSON.  A full queue or a dead collector drops spans (counted
 * in interlink_trace_spans_dropped_total); nothing on the request path
 * ever waits for the collector. */
#ifndef IL_TRACE_H
#define IL_TRACE_H

#include <stdbool.h>

typedef struct il_span il_span;

typedef enum { IL_SPAN_INTERNAL = 1, IL_SPAN_SERVER = 2, IL_SPAN_CLIENT = 3 } il_span_kind;

/* "00-" 32 hex "-" 16 hex "-" 2 hex, and the NUL. */
#define IL_TRACEPARENT_SIZE 56

/* Read the environment and start the exporter thread.  Call once, before
 * other threads start.  service: OTEL_SERVICE_NAME's default. */
void il_trace_init(const char *service);
/* Export what is queued (waiting at most ~2 s) and stop the thread. */
void il_trace_shutdown(void);

/* A span whose parent is traceparent when that is a valid W3C value, else
 * the thread's current span, else none (a new trace). */
il_span *il_span_start(const char *name, il_span_kind kind, const char *traceparent);
/* A child of the thread's current span, or NULL when there is none (a
 * call made outside any trace starts no trace of its own). */
il_span *il_span_start_child(const char *name, il_span_kind kind);
void il_span_set_str(il_span *s, const char *key, const char *value);
void il_span_set_int(il_span *s, const char *key, long long value);
/* The pod's k8s.namespace.name, k8s.pod.name and k8s.pod.uid. */
void il_span_set_pod(il_span *s, const char *ns, const char *name, const char *uid);
/* Mark the span failed; message may be NULL. */
void il_span_set_error(il_span *s, const char *message);
void il_span_end(il_span *s);
/* The thread's current span, or NULL. */
il_span *il_span_current(void);

/* The traceparent header value of the thread's current span; false (out
 * untouched) when there is none. */
bool il_trace_traceparent(char out[IL_TRACEPARENT_SIZE]);
/* Parse a traceparent value; false when it is not a valid one. */
bool il_trace_parse_traceparent(const char *s, unsigned char trace_id[16],
                                unsigned char span_id[8], bool *sampled);

#endif
