/* test_vk_events.c -- Events are aggregated as the kubelet's are: a repeat
 * of the same pod, type, reason and message raises count and
 * lastTimestamp on the first Event instead of posting another; an Event
 * that expired meanwhile (404 on the update) is posted anew.  Once the
 * senders run, vk_event returns before a slow API server answers, they
 * keep to EventsPerSecond, and vk_events_stop posts what is queued. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "events.h"
#include "httpd.h"
#include "kube.h"
#include "timeutil.h"

static il_httpd *srv;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *calls;         /* [{method, path, body}] */
static bool expire_next_patch;
static int delay_ms;          /* how long the server takes to answer */

static void handle_events(il_request *req, void *ud)
{
    (void)ud;
    json_t *body = json_loads(il_request_body(req), 0, NULL);
    pthread_mutex_lock(&mu);
    json_array_append_new(calls, json_pack("{s:s, s:s, s:O}", "method", il_request_method(req),
                                           "path", il_request_path(req), "body",
                                           body ? body : json_null()));
    bool expired = strcmp(il_request_method(req), "PATCH") == 0 && expire_next_patch;
    if (expired)
        expire_next_patch = false;
    int delay = delay_ms;
    pthread_mutex_unlock(&mu);
    if (delay)
        usleep((useconds_t)delay * 1000);
    if (expired) {
        static const char st[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
                                 "\"Failure\",\"reason\":\"NotFound\",\"code\":404}";
        il_respond(req, 404, "application/json", st, strlen(st));
    } else {
        il_respond_json(req, strcmp(il_request_method(req), "POST") == 0 ? 201 : 200,
                        body ? json_incref(body) : json_object());
    }
    json_decref(body);
}

static vk_kube *kube(void)
{
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", il_httpd_port(srv));
    vk_kubeconfig kc = {.server = url};
    vk_kube *k = vk_kube_new(&kc, 5000, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    return k;
}

static json_t *call(size_t i, const char **method)
{
    json_t *c = json_array_get(calls, i);
    *method = json_string_value(json_object_get(c, "method"));
    return json_object_get(c, "body");
}

static void test_repeats_update_the_first_event(void **state)
{
    (void)state;
    vk_kube *k = kube();
    json_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "p", "namespace",
                            "default", "uid", "uid-1");
    for (int i = 0; i < 3; i++)
        vk_event(k, "node", pod, "Warning", "FailedMount", "configmap %s not found", "cm");
    vk_event(k, "node", pod, "Warning", "FailedMount", "configmap %s not found", "other");
    assert_int_equal(json_array_size(calls), 4);
    const char *method;
    json_t *first = call(0, &method);
    assert_string_equal(method, "POST");
    const char *name = json_string_value(json_object_get(json_object_get(first, "metadata"),
                                                         "name"));
    char *path = NULL;
    assert_true(asprintf(&path, "/api/v1/namespaces/default/events/%s", name) > 0);
    for (size_t i = 1; i < 3; i++) {
        json_t *patch = call(i, &method);
        assert_string_equal(method, "PATCH");
        assert_string_equal(json_string_value(json_object_get(json_array_get(calls, i), "path")),
                            path);
        assert_int_equal(json_integer_value(json_object_get(patch, "count")), (int)i + 1);
        assert_non_null(json_string_value(json_object_get(patch, "lastTimestamp")));
    }
    json_t *other = call(3, &method);   /* another message: another Event */
    assert_string_equal(method, "POST");
    assert_non_null(strstr(json_string_value(json_object_get(other, "message")), "other"));
    free(path);

    /* The first Event expired: the next repeat posts a new one. */
    expire_next_patch = true;
    vk_event(k, "node", pod, "Warning", "FailedMount", "configmap %s not found", "cm");
    assert_int_equal(json_array_size(calls), 6);
    call(4, &method);
    assert_string_equal(method, "PATCH");
    json_t *again = call(5, &method);
    assert_string_equal(method, "POST");
    assert_int_equal(json_integer_value(json_object_get(again, "count")), 1);
    json_decref(pod);
    vk_kube_free(k);
}

static void test_senders_do_not_wait_for_the_api_server(void **state)
{
    (void)state;
    vk_kube *k = kube();
    json_array_clear(calls);
    delay_ms = 400;
    vk_events_start(0, 1);
    int64_t t0 = il_monotonic_ms();
    for (int i = 0; i < 6; i++) {
        char uid[16];
        snprintf(uid, sizeof uid, "uid-q%d", i);
        json_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "q", "namespace",
                                "default", "uid", uid);
        vk_event(k, "node", pod, "Normal", "Started", "Started container %s", "main");
        json_decref(pod);   /* the queue keeps what it needs of the pod */
    }
    /* Posted in turn, six answers would take 2.4 s; queued, a few microseconds
     * (the margin is for a loaded machine). */
    assert_true(il_monotonic_ms() - t0 < 1200);
    /* Four senders each wait 400 ms on one: the others are queued (the gauge). */
    assert_true(vk_events_queued() >= 1);
    vk_events_stop();
    delay_ms = 0;
    assert_int_equal(vk_events_queued(), 0);
    assert_int_equal(json_array_size(calls), 6);
    for (size_t i = 0; i < 6; i++) {
        const char *method;
        json_t *ev = call(i, &method);
        assert_string_equal(method, "POST");
        assert_string_equal(json_string_value(json_object_get(ev, "reason")), "Started");
    }
    /* Stopped: posted before vk_event returns again. */
    json_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "q", "namespace",
                            "default", "uid", "uid-after");
    vk_event(k, "node", pod, "Normal", "Started", "Started container %s", "main");
    assert_int_equal(json_array_size(calls), 7);
    json_decref(pod);
    vk_kube_free(k);
}

static size_t n_calls(void)
{
    pthread_mutex_lock(&mu);
    size_t n = json_array_size(calls);
    pthread_mutex_unlock(&mu);
    return n;
}

static void raise_started(vk_kube *k, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char uid[32];
        snprintf(uid, sizeof uid, "uid-%s%d", prefix, i);
        json_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "r", "namespace",
                                "default", "uid", uid);
        vk_event(k, "node", pod, "Normal", "Started", "Started container %s", "main");
        json_decref(pod);
    }
}

/* EventsPerSecond 20 after a burst of 2: six Events take at least the
 * four tokens' 200 ms; at a stop, what is queued goes out at once. */
static void test_senders_keep_to_the_rate(void **state)
{
    (void)state;
    vk_kube *k = kube();
    json_array_clear(calls);
    vk_events_start(20, 2);
    int64_t t0 = il_monotonic_ms();
    raise_started(k, "rate", 6);
    while (n_calls() < 6 && il_monotonic_ms() - t0 < 5000)
        usleep(2000);
    int64_t took = il_monotonic_ms() - t0;
    assert_int_equal(n_calls(), 6);
    assert_true(took >= 150);
    vk_events_stop();

    json_array_clear(calls);
    vk_events_start(1, 1);
    raise_started(k, "stop", 8);
    t0 = il_monotonic_ms();
    vk_events_stop();   /* 8 s at the rate; the stop posts them without it */
    assert_int_equal(n_calls(), 8);
    assert_true(il_monotonic_ms() - t0 < 1900);
    vk_kube_free(k);
}

int main(void)
{
    char err[256];
    il_httpd_opts opts = {.address = "http://127.0.0.1", .port = "0"};
    srv = il_httpd_new(&opts, err, sizeof err);
    if (!srv)
        return 1;
    il_httpd_route_prefix(srv, "/api/v1/namespaces/default/events", handle_events, NULL);
    if (il_httpd_start(srv, err, sizeof err) != 0)
        return 1;
    calls = json_array();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_update_the_first_event),
        cmocka_unit_test(test_senders_do_not_wait_for_the_api_server),
        cmocka_unit_test(test_senders_keep_to_the_rate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    il_httpd_stop(srv);
    json_decref(calls);
    return rc;
}
