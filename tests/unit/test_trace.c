/* test_trace.c -- W3C traceparent parsing, span context on a thread, the
 * parent-based sampler, and a dead collector counted, not waited for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prom.h"
#include "timeutil.h"
#include "trace.h"

#define PARENT_SAMPLED "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#define PARENT_UNSAMPLED "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"

static void test_traceparent_parsing(void **state)
{
    (void)state;
    unsigned char t[16], s[8];
    bool sampled = false;
    assert_true(il_trace_parse_traceparent(PARENT_SAMPLED, t, s, &sampled));
    assert_true(sampled);
    assert_int_equal(t[0], 0x0a);
    assert_int_equal(s[7], 0x31);
    assert_true(il_trace_parse_traceparent(PARENT_UNSAMPLED, t, s, &sampled));
    assert_false(sampled);
    static const char *const bad[] = {
        "", "00", "garbage",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",   /* zero trace id */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   /* zero span id */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* version ff */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   /* upper case */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", /* 00 has 4 fields */
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333$-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(il_trace_parse_traceparent(bad[i], t, s, &sampled));
    assert_false(il_trace_parse_traceparent(NULL, t, s, &sampled));
}

static void test_spans_nest_on_a_thread_and_propagate(void **state)
{
    (void)state;
    char tp[IL_TRACEPARENT_SIZE];
    assert_null(il_span_current());
    assert_false(il_trace_traceparent(tp));
    assert_null(il_span_start_child("no parent, no span", IL_SPAN_CLIENT));

    il_span *server = il_span_start("POST /create", IL_SPAN_SERVER, PARENT_SAMPLED);
    assert_non_null(server);
    assert_ptr_equal(il_span_current(), server);
    assert_true(il_trace_traceparent(tp));
    /* Same trace, a new span id, sampled as the parent was. */
    assert_memory_equal(tp, "00-0af7651916cd43dd8448eb211c80319c-", 36);
    assert_string_not_equal(tp + 36, "b7ad6b7169203331-01");
    assert_string_equal(tp + 52, "-01");
    char server_tp[IL_TRACEPARENT_SIZE];
    strcpy(server_tp, tp);

    il_span *child = il_span_start_child("sbatch", IL_SPAN_INTERNAL);
    il_span_set_str(child, "interlink.backend", "slurm");
    il_span_set_int(child, "process.exit.code", 0);
    assert_true(il_trace_traceparent(tp));
    assert_memory_equal(tp, server_tp, 36);
    assert_memory_not_equal(tp + 36, server_tp + 36, 16);
    il_span_end(child);
    assert_ptr_equal(il_span_current(), server);
    il_span_end(server);
    assert_null(il_span_current());
}

static void test_parent_based_sampler(void **state)
{
    (void)state;
    char tp[IL_TRACEPARENT_SIZE];
    /* OTEL_TRACES_SAMPLER=parentbased_always_off: roots are not sampled... */
    il_span *root = il_span_start("root", IL_SPAN_INTERNAL, NULL);
    assert_true(il_trace_traceparent(tp));
    assert_string_equal(tp + 52, "-00");
    il_span_end(root);
    /* ...children follow their parent, either way. */
    il_span *s = il_span_start("x", IL_SPAN_SERVER, PARENT_UNSAMPLED);
    assert_true(il_trace_traceparent(tp));
    assert_string_equal(tp + 52, "-00");
    il_span_end(s);
}

static void test_a_dead_collector_is_counted_not_waited_for(void **state)
{
    (void)state;
    il_metric *dropped = il_prom_counter("interlink_trace_spans_dropped_total", NULL, "reason");
    double before = il_prom_value(dropped, "export_failed");
    int64_t started = il_monotonic_ms();
    for (int i = 0; i < 100; i++)
        il_span_end(il_span_start("request", IL_SPAN_SERVER, PARENT_SAMPLED));
    assert_true(il_monotonic_ms() - started < 1000);   /* no export on this thread */
    il_trace_shutdown();   /* flushes: the post to port 1 fails */
    assert_true(il_prom_value(dropped, "export_failed") >= before + 100);
}

int main(void)
{
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
    setenv("OTEL_TRACES_SAMPLER", "parentbased_always_off", 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "50", 1);
    il_trace_init("test");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_parsing),
        cmocka_unit_test(test_spans_nest_on_a_thread_and_propagate),
        cmocka_unit_test(test_parent_based_sampler),
        cmocka_unit_test(test_a_dead_collector_is_counted_not_waited_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
