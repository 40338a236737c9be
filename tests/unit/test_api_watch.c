/* test_api_watch.c -- GET /watch and its change journal (src/api/watch.c)
 * without the rest of interlink: the real handler on a real loopback HTTP
 * server, changes recorded with watch_record_pods directly.  Generations, the
 * answer shapes (200, 410 resync, 429, 400), one entry per pod with its
 * latest phase, the WATCH_JOURNAL_SIZE ring wrapping, a waiting watcher
 * woken by a change, resynced when more changes than the ring holds came
 * at once, timed out, and answered at once by watch_stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>

#include "api.h"
#include "httpd.h"
#include "metrics.h"
#include "timeutil.h"
#include "util.h"
#include "watch.h"

typedef struct fixture {
    watch_hub *hub;
    il_httpd *srv;
    api a;
    uint64_t created_us;      /* wall clock just before the hub was made */
    int port;
} fixture;

static int setup_max(void **state, int64_t max_watchers)
{
    fixture *f = il_xcalloc(1, sizeof(*f));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    f->created_us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
    f->hub = watch_hub_new(max_watchers);
    f->a.watch = f->hub;
    char err[256];
    il_httpd_opts opts = {.address = "http://127.0.0.1", .port = "0"};
    f->srv = il_httpd_new(&opts, err, sizeof(err));
    if (!f->srv) {
        fprintf(stderr, "httpd: %s\n", err);
        return -1;
    }
    il_httpd_route(f->srv, "/watch", handle_watch, &f->a);
    if (il_httpd_start(f->srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "httpd: %s\n", err);
        return -1;
    }
    f->port = il_httpd_port(f->srv);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_max(state, 8);
}

/* One watcher at most. */
static int setup_one(void **state)
{
    return setup_max(state, 1);
}

static int teardown(void **state)
{
    fixture *f = *state;
    watch_stop(f->hub);
    il_httpd_stop(f->srv);
    watch_hub_free(f->hub);
    free(f);
    return 0;
}

/* ---- the client ------------------------------------------------------------ */

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    il_buf_append(ud, p, size * n);
    return size * n;
}

/* GET /watch?query: the body (caller frees) and the status. */
static char *get_text(const fixture *f, const char *query, long *status)
{
    char *url = il_xasprintf("http://127.0.0.1:%d/watch%s%s", f->port, *query ? "?" : "",
                             query);
    il_buf body = IL_BUF_INIT;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    free(url);
    return il_buf_steal(&body);
}

/* The same, the body parsed (NULL if not JSON). */
static json_t *get(const fixture *f, const char *query, long *status)
{
    char *text = get_text(f, query, status);
    json_t *json = json_loads(text, 0, NULL);
    free(text);
    return json;
}

static json_t *get_ok(const fixture *f, const char *query)
{
    long status;
    json_t *answer = get(f, query, &status);
    assert_int_equal(status, 200);
    assert_non_null(answer);
    return answer;
}

static uint64_t generation(const json_t *answer)
{
    json_t *g = json_object_get(answer, "generation");
    assert_true(json_is_integer(g));
    return (uint64_t)json_integer_value(g);
}

static uint64_t current(const fixture *f)
{
    json_t *a = get_ok(f, "");
    uint64_t g = generation(a);
    json_decref(a);
    return g;
}

static char *since(uint64_t gen, int timeout_s)
{
    return timeout_s >= 0 ? il_xasprintf("since=%llu&timeoutSeconds=%d", (unsigned long long)gen,
                                         timeout_s)
                          : il_xasprintf("since=%llu", (unsigned long long)gen);
}

/* ---- recording ----------------------------------------------------------- */

static void uid_of(int i, char out[40])
{
    snprintf(out, 40, "00000000-0000-4000-8000-%012d", i);
}

/* Record that pod i (namespace ns, name p<i>) now has phase. */
static void record_one(fixture *f, int i, const char *phase)
{
    char uid[40], name[16];
    uid_of(i, uid);
    snprintf(name, sizeof(name), "p%d", i);
    watch_pod pod = {uid, "ns", name, phase};
    watch_record_pods(f->hub, &pod, 1);
}

/* Record pods first..first+n-1 as Running in one call. */
static void record_many(fixture *f, int first, int n)
{
    char (*uids)[40] = il_xcalloc((size_t)n, sizeof(*uids));
    watch_pod *pods = il_xcalloc((size_t)n, sizeof(*pods));
    for (int i = 0; i < n; i++) {
        uid_of(first + i, uids[i]);
        pods[i] = (watch_pod){uids[i], "ns", "x", "Running"};
    }
    watch_record_pods(f->hub, pods, (size_t)n);
    free(pods);
    free(uids);
}

static void assert_pod(const json_t *p, int i, const char *phase, uint64_t gen)
{
    char uid[40], name[16];
    uid_of(i, uid);
    snprintf(name, sizeof(name), "p%d", i);
    assert_string_equal(json_string_value(json_object_get(p, "UID")), uid);
    assert_string_equal(json_string_value(json_object_get(p, "namespace")), "ns");
    assert_string_equal(json_string_value(json_object_get(p, "name")), name);
    assert_string_equal(json_string_value(json_object_get(p, "phase")), phase);
    assert_int_equal(json_integer_value(json_object_get(p, "generation")), gen);
}

/* ---- tests ----------------------------------------------------------------- */

/* The first generation is the start time in microseconds, so a restarted
 * server never reuses a generation an old watcher holds. */
static void test_first_answer(void **state)
{
    fixture *f = *state;
    json_t *a = get_ok(f, "");
    uint64_t g = generation(a);
    assert_true(g >= f->created_us && g < f->created_us + 60 * 1000000ull);
    assert_int_equal(json_array_size(json_object_get(a, "pods")), 0);
    assert_true(json_is_false(json_object_get(a, "resync")));
    assert_int_equal(json_object_size(a), 3);
    json_decref(a);
}

/* Each pod once, with its latest phase and generation, oldest change first. */
static void test_changes_since(void **state)
{
    fixture *f = *state;
    uint64_t g = current(f);
    record_one(f, 1, "Pending");
    record_one(f, 2, "Pending");
    record_one(f, 1, "Running");

    char *q = since(g, -1);
    json_t *a = get_ok(f, q);
    free(q);
    assert_int_equal(generation(a), g + 3);
    assert_true(json_is_false(json_object_get(a, "resync")));
    json_t *pods = json_object_get(a, "pods");
    assert_int_equal(json_array_size(pods), 2);
    assert_pod(json_array_get(pods, 0), 2, "Pending", g + 2);
    assert_pod(json_array_get(pods, 1), 1, "Running", g + 3);
    json_decref(a);

    q = since(g + 2, -1);
    a = get_ok(f, q);
    free(q);
    pods = json_object_get(a, "pods");
    assert_int_equal(json_array_size(pods), 1);
    assert_pod(json_array_get(pods, 0), 1, "Running", g + 3);
    json_decref(a);

    /* Up to date with timeoutSeconds=0: answered at once, nothing new. */
    q = since(g + 3, 0);
    a = get_ok(f, q);
    free(q);
    assert_int_equal(generation(a), g + 3);
    assert_int_equal(json_array_size(json_object_get(a, "pods")), 0);
    json_decref(a);
}

static void assert_resync_410(const fixture *f, uint64_t gen, uint64_t want_gen)
{
    char *q = since(gen, 0);
    long status;
    json_t *a = get(f, q, &status);
    free(q);
    assert_int_equal(status, 410);
    assert_non_null(a);
    assert_int_equal(generation(a), want_gen);
    assert_true(json_is_true(json_object_get(a, "resync")));
    assert_int_equal(json_array_size(json_object_get(a, "pods")), 0);
    const char *why = json_string_value(json_object_get(a, "error"));
    assert_non_null(why);
    assert_non_null(strstr(why, "look at every pod again"));
    json_decref(a);
}

/* A generation from the future or from a previous run: resync. */
static void test_unknown_generation(void **state)
{
    fixture *f = *state;
    uint64_t g = current(f);
    record_one(f, 1, "Pending");
    assert_resync_410(f, g + 2, g + 1);
    assert_resync_410(f, 0, g + 1);
    assert_resync_410(f, g - 1, g + 1);
    assert_resync_410(f, UINT64_MAX, g + 1);
}

/* The ring keeps the last WATCH_JOURNAL_SIZE changes: a watcher exactly
 * that far behind gets them all, one further behind must resync. */
static void test_ring_wraps(void **state)
{
    fixture *f = *state;
    uint64_t g = current(f);
    const int extra = 10;
    record_many(f, 0, 1000);
    record_many(f, 1000, WATCH_JOURNAL_SIZE + extra - 1000);
    uint64_t now = g + WATCH_JOURNAL_SIZE + extra;

    assert_resync_410(f, g, now);
    assert_resync_410(f, now - WATCH_JOURNAL_SIZE - 1, now);

    char *q = since(now - WATCH_JOURNAL_SIZE, -1);
    json_t *a = get_ok(f, q);
    free(q);
    assert_int_equal(generation(a), now);
    json_t *pods = json_object_get(a, "pods");
    assert_int_equal(json_array_size(pods), WATCH_JOURNAL_SIZE);
    char uid[40];
    uid_of(extra, uid);   /* the oldest change kept */
    assert_string_equal(json_string_value(json_object_get(json_array_get(pods, 0), "UID")), uid);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(pods, 0), "generation")),
                     now - WATCH_JOURNAL_SIZE + 1);
    uid_of(WATCH_JOURNAL_SIZE + extra - 1, uid);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(pods, WATCH_JOURNAL_SIZE - 1), "UID")),
        uid);
    json_decref(a);

    /* Overwritten slots hold the new changes, not the old ones. */
    q = since(now - 1, -1);
    a = get_ok(f, q);
    free(q);
    pods = json_object_get(a, "pods");
    assert_int_equal(json_array_size(pods), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pods, 0), "UID")), uid);
    json_decref(a);
}

/* A watcher in a thread: its query, answer and how long it took. */
typedef struct waiter {
    const fixture *f;
    char *query;
    long status;
    json_t *answer;
    int64_t took_ms;
    pthread_t th;
} waiter;

static void *wait_main(void *p)
{
    waiter *w = p;
    int64_t t0 = il_monotonic_ms();
    w->answer = get(w->f, w->query, &w->status);
    w->took_ms = il_monotonic_ms() - t0;
    return NULL;
}

static void waiter_start(waiter *w, const fixture *f, uint64_t gen, int timeout_s)
{
    *w = (waiter){.f = f, .query = since(gen, timeout_s)};
    assert_int_equal(pthread_create(&w->th, NULL, wait_main, w), 0);
}

static void waiter_join(waiter *w)
{
    pthread_join(w->th, NULL);
    free(w->query);
}

/* Watchers connected now, as /metrics tells. */
static long long watchers_now(void)
{
    il_buf m = IL_BUF_INIT;
    metrics_render(&m);
    const char *line = strstr(il_buf_cstr(&m), "\ninterlink_watchers ");
    long long n = line ? strtoll(line + strlen("\ninterlink_watchers "), NULL, 10) : -1;
    il_buf_free(&m);
    return n;
}

/* Wait until exactly n watchers are connected: a waiter holds its slot, or
 * an answered watcher has left (it leaves just after its answer is sent). */
static void wait_watchers(long long n)
{
    for (int i = 0; i < 500; i++) {
        if (watchers_now() == n)
            return;
        usleep(10 * 1000);
    }
    fail_msg("%lld watchers connected, want %lld", watchers_now(), n);
}

/* A waiter that holds its watcher slot at generation gen. */
static void waiter_start_waiting(waiter *w, const fixture *f, uint64_t gen, int timeout_s)
{
    wait_watchers(0);
    waiter_start(w, f, gen, timeout_s);
    wait_watchers(1);
}

static void test_long_poll_woken(void **state)
{
    fixture *f = *state;
    uint64_t g = current(f);
    waiter w;
    waiter_start_waiting(&w, f, g, 30);
    record_one(f, 7, "Running");
    waiter_join(&w);
    assert_int_equal(w.status, 200);
    assert_true(w.took_ms < 10000);
    assert_int_equal(generation(w.answer), g + 1);
    json_t *pods = json_object_get(w.answer, "pods");
    assert_int_equal(json_array_size(pods), 1);
    assert_pod(json_array_get(pods, 0), 7, "Running", g + 1);
    json_decref(w.answer);
}

/* While a watcher waited, more changes came than the ring holds: it is
 * answered 200 with resync and the changes the ring still has. */
static void test_long_poll_resync(void **state)
{
    fixture *f = *state;
    uint64_t g = current(f);
    waiter w;
    waiter_start_waiting(&w, f, g, 30);
    record_many(f, 0, WATCH_JOURNAL_SIZE + 5);
    waiter_join(&w);
    assert_int_equal(w.status, 200);
    assert_true(json_is_true(json_object_get(w.answer, "resync")));
    assert_int_equal(generation(w.answer), g + WATCH_JOURNAL_SIZE + 5);
    json_t *pods = json_object_get(w.answer, "pods");
    assert_int_equal(json_array_size(pods), WATCH_JOURNAL_SIZE);
    char uid[40];
    uid_of(5, uid);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pods, 0), "UID")), uid);
    json_decref(w.answer);
}

/* Nothing changed within timeoutSeconds: an empty answer at the timeout. */
static void test_long_poll_timeout(void **state)
{
    fixture *f = *state;
    uint64_t g = current(f);
    waiter w;
    waiter_start(&w, f, g, 1);
    waiter_join(&w);
    assert_int_equal(w.status, 200);
    assert_true(w.took_ms >= 900 && w.took_ms < 5000);
    assert_int_equal(generation(w.answer), g);
    assert_int_equal(json_array_size(json_object_get(w.answer, "pods")), 0);
    assert_true(json_is_false(json_object_get(w.answer, "resync")));
    json_decref(w.answer);
}

static void test_too_many_watchers(void **state)
{
    fixture *f = *state;
    uint64_t g = current(f);
    waiter w;
    waiter_start_waiting(&w, f, g, 30);
    long status;
    char *text = get_text(f, "", &status);
    assert_int_equal(status, 429);
    assert_non_null(strstr(text, "too many watchers (MaxWatchers is 1)"));
    free(text);
    record_one(f, 1, "Running");
    waiter_join(&w);
    assert_int_equal(w.status, 200);
    json_decref(w.answer);
    /* The slot is free again once the watcher left. */
    wait_watchers(0);
    json_decref(get(f, "timeoutSeconds=0", &status));
    assert_int_equal(status, 200);
}

static void test_bad_query(void **state)
{
    fixture *f = *state;
    static const char *bad[] = {"since=-1", "since=abc", "since=", "since=1%200",
                                "since=18446744073709551616", "timeoutSeconds=301",
                                "timeoutSeconds=-1", "timeoutSeconds=1e3", NULL};
    for (int i = 0; bad[i]; i++) {
        long status;
        char *text = get_text(f, bad[i], &status);
        if (status != 400)
            fail_msg("%s: status %ld, want 400", bad[i], status);
        assert_non_null(strstr(text, "must be"));
        free(text);
    }
    long status;
    json_decref(get(f, "timeoutSeconds=300&since=18446744073709551615", &status));
    assert_int_equal(status, 410);   /* the largest values parse */
}

/* watch_stop answers a waiting watcher at once (an empty answer, not a cut
 * connection) and ends the refresher's waits. */
static void test_stop(void **state)
{
    fixture *f = *state;
    uint64_t g = current(f);
    waiter w;
    waiter_start_waiting(&w, f, g, 30);
    assert_int_equal(watch_wait_for_watchers(f->hub, 10), 1);   /* somebody watches */
    int64_t t0 = il_monotonic_ms();
    watch_stop(f->hub);
    waiter_join(&w);
    assert_true(il_monotonic_ms() - t0 < 900);   /* at once, not at its next 1 s check */
    assert_int_equal(w.status, 200);
    assert_int_equal(generation(w.answer), g);
    assert_int_equal(json_array_size(json_object_get(w.answer, "pods")), 0);
    json_decref(w.answer);
    t0 = il_monotonic_ms();
    assert_int_equal(watch_wait_for_watchers(f->hub, 5000), -1);
    assert_true(il_monotonic_ms() - t0 < 1000);
}

/* The refresher runs only while somebody watches or did a moment ago. */
static void test_wait_for_watchers(void **state)
{
    fixture *f = *state;
    int64_t t0 = il_monotonic_ms();
    assert_int_equal(watch_wait_for_watchers(f->hub, 100), 0);   /* never watched */
    assert_true(il_monotonic_ms() - t0 >= 100);
    json_decref(get_ok(f, ""));
    assert_int_equal(watch_wait_for_watchers(f->hub, 10), 1);    /* just left: lingers */
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_poll_woken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_poll_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_poll_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_watchers, setup_one, teardown),
        cmocka_unit_test_setup_teardown(test_bad_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_watchers, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
