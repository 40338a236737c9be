/* test_prom.c -- the metrics registry: declarations, updates from threads,
 * histogram buckets, label escaping and the cap on label sets. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prom.h"

static char *render(void)
{
    il_buf out = IL_BUF_INIT;
    il_prom_render(&out);
    return il_buf_steal(&out);
}

static void test_counter_with_labels(void **state)
{
    (void)state;
    il_metric *m = il_prom_counter("t_requests_total", "Requests.", "endpoint,code");
    assert_ptr_equal(m, il_prom_counter("t_requests_total", "Requests.", "endpoint,code"));
    il_prom_add(m, 1, "/create", "200");
    il_prom_add(m, 2, "/create", "200");
    il_prom_add(m, 1, "/status", "500");
    assert_true(il_prom_value(m, "/create", "200") == 3);
    assert_true(il_prom_value(m, "/nothing", "200") == 0);
    char *text = render();
    assert_non_null(strstr(text, "# HELP t_requests_total Requests.\n"
                                 "# TYPE t_requests_total counter\n"
                                 "t_requests_total{endpoint=\"/create\",code=\"200\"} 3\n"
                                 "t_requests_total{endpoint=\"/status\",code=\"500\"} 1\n"));
    free(text);
}

static void test_unlabelled_families_show_zero(void **state)
{
    (void)state;
    il_prom_gauge("t_idle", "Never set.", NULL);
    char *text = render();
    assert_non_null(strstr(text, "# TYPE t_idle gauge\nt_idle 0\n"));
    free(text);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    static const double bounds[] = {0.1, 1, 10};
    il_metric *h = il_prom_histogram("t_seconds", "Latency.", "op", bounds, 3);
    il_prom_observe(h, 0.05, "x");
    il_prom_observe(h, 0.1, "x");    /* le is inclusive */
    il_prom_observe(h, 5, "x");
    il_prom_observe(h, 50, "x");     /* only in +Inf */
    char *text = render();
    assert_non_null(strstr(text, "t_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
                                 "t_seconds_bucket{op=\"x\",le=\"1\"} 2\n"
                                 "t_seconds_bucket{op=\"x\",le=\"10\"} 3\n"
                                 "t_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
                                 "t_seconds_sum{op=\"x\"} 55.15\n"
                                 "t_seconds_count{op=\"x\"} 4\n"));
    free(text);
}

static void test_label_values_are_escaped(void **state)
{
    (void)state;
    il_metric *m = il_prom_gauge("t_escaped", "Help with \\ and\nnewline.", "v");
    il_prom_set(m, 1, "a\"b\\c\nd");
    il_prom_set(m, 2, NULL);
    char *text = render();
    assert_non_null(strstr(text, "# HELP t_escaped Help with \\\\ and\\nnewline.\n"));
    assert_non_null(strstr(text, "t_escaped{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
    assert_non_null(strstr(text, "t_escaped{v=\"\"} 2\n"));
    free(text);
}

static void test_label_sets_are_capped(void **state)
{
    (void)state;
    il_metric *m = il_prom_counter("t_capped_total", "Capped.", "k");
    char key[32];
    for (int i = 0; i < IL_PROM_MAX_SERIES + 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        il_prom_add(m, 1, key);
    }
    assert_true(il_prom_value(m, "k0") == 1);
    assert_true(il_prom_value(m, "k300") == 0);
    il_metric *dropped = il_prom_counter("il_prom_series_dropped_total", NULL, NULL);
    assert_true(il_prom_value(dropped) == 10);
}

static void *add_many(void *arg)
{
    for (int i = 0; i < 10000; i++)
        il_prom_add(arg, 1, "t");
    return NULL;
}

static void test_threads_lose_no_update(void **state)
{
    (void)state;
    il_metric *m = il_prom_counter("t_threads_total", "From threads.", "who");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, add_many, m);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(il_prom_value(m, "t") == 40000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_with_labels),
        cmocka_unit_test(test_unlabelled_families_show_zero),
        cmocka_unit_test(test_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_label_sets_are_capped),
        cmocka_unit_test(test_threads_lose_no_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
