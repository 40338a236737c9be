/* test_vk_kube.c -- the Kubernetes REST client against an in-process HTTP
 * server: verbs, content types, credentials, metav1.Status errors, and
 * watch streams (split lines, bookmarks, 410 in both forms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "kube.h"
#include "util.h"

static il_httpd *srv;
static char server_url[64];

/* ---- the server side --------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void handle_echo(il_request *req, void *ud)
{
    (void)ud;
    json_t *body = json_loads(il_request_body(req), 0, NULL);
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "method", il_request_method(req),
                          "path", il_request_path(req), "contentType",
                          str_or_null(il_request_header(req, "Content-Type")), "auth",
                          str_or_null(il_request_header(req, "Authorization")), "accept",
                          str_or_null(il_request_header(req, "Accept")), "fieldSelector",
                          str_or_null(il_request_query(req, "fieldSelector")), "body",
                          body ? body : json_null());
    il_respond_json(req, 200, o);
}

static void handle_missing(il_request *req, void *ud)
{
    (void)ud;
    static const char st[] =
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
        "\"message\":\"pods \\\"missing\\\" not found\",\"reason\":\"NotFound\","
        "\"details\":{\"name\":\"missing\",\"kind\":\"pods\"},\"code\":404}";
    il_respond(req, 404, "application/json", st, strlen(st));
}

static void handle_text_error(il_request *req, void *ud)
{
    (void)ud;
    il_respond_text(req, 502, "bad gateway\nsecond line");
}

typedef struct chunks {
    const char *const *v;
    size_t next;
} chunks;

static ssize_t chunk_read(void *ctx, char *buf, size_t max)
{
    chunks *c = ctx;
    const char *s = c->v[c->next];
    if (!s)
        return 0;
    c->next++;
    size_t n = strlen(s) < max ? strlen(s) : max;
    memcpy(buf, s, n);
    return (ssize_t)n;
}

static void stream_chunks(il_request *req, const char *const *v)
{
    chunks *c = il_xcalloc(1, sizeof *c);
    c->v = v;
    il_respond_stream(req, 200, "application/json", chunk_read, c, free);
}

#define POD(rv) "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"" rv "\"}}"

static void handle_watch(il_request *req, void *ud)
{
    (void)ud;
    static const char *const v[] = {
        "{\"type\":\"ADDED\",\"object\":" POD("1") "}\n{\"type\":\"MOD",
        "IFIED\",\"object\":" POD("2") "}\n\n",
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":"
        "\"7\"}}}\n",
        "{\"type\":\"DELETED\",\"object\":" POD("8") "}", /* last one without a newline */
        NULL};
    stream_chunks(req, v);
}

static void handle_watch_gone(il_request *req, void *ud)
{
    (void)ud;
    static const char *const v[] = {
        "{\"type\":\"ADDED\",\"object\":" POD("1") "}\n",
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\","
        "\"message\":\"too old resource version: 1 (5)\",\"reason\":\"Expired\",\"code\":410}}\n",
        NULL};
    stream_chunks(req, v);
}

static void handle_watch_error(il_request *req, void *ud)
{
    (void)ud;
    static const char *const v[] = {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
                                    "\"message\":\"etcd down\",\"code\":500}}\n",
                                    NULL};
    stream_chunks(req, v);
}

static void handle_410(il_request *req, void *ud)
{
    (void)ud;
    static const char st[] = "{\"kind\":\"Status\",\"message\":\"too old resource version\","
                             "\"reason\":\"Expired\",\"code\":410}";
    il_respond(req, 410, "application/json", st, strlen(st));
}

static int start_server(void **state)
{
    (void)state;
    char err[256];
    il_httpd_opts opts = {.address = "http://127.0.0.1", .port = "0"};
    srv = il_httpd_new(&opts, err, sizeof err);
    assert_non_null(srv);
    il_httpd_route(srv, "/echo", handle_echo, NULL);
    il_httpd_route(srv, "/api/v1/namespaces/default/pods/missing", handle_missing, NULL);
    il_httpd_route(srv, "/text-error", handle_text_error, NULL);
    il_httpd_route(srv, "/watch", handle_watch, NULL);
    il_httpd_route(srv, "/watch-gone", handle_watch_gone, NULL);
    il_httpd_route(srv, "/watch-error", handle_watch_error, NULL);
    il_httpd_route(srv, "/watch-410", handle_410, NULL);
    assert_int_equal(il_httpd_start(srv, err, sizeof err), 0);
    snprintf(server_url, sizeof server_url, "http://127.0.0.1:%d", il_httpd_port(srv));
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    il_httpd_stop(srv);
    return 0;
}

/* ---- the client side --------------------------------------------------- */

static vk_kube *client(const char *token, const char *token_file)
{
    vk_kubeconfig kc = {.server = (char *)server_url, .token = (char *)token,
                        .token_file = (char *)token_file};
    char err[256];
    vk_kube *k = vk_kube_new(&kc, 5000, err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    return k;
}

static const char *field(const vk_kube_result *res, const char *key)
{
    return json_string_value(json_object_get(res->body, key));
}

static void test_verbs_and_content_types(void **state)
{
    (void)state;
    vk_kube *k = client("tok", NULL);
    vk_kube_result res;
    json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "n1");

    assert_int_equal(vk_kube_get(k, "/echo", &res), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(field(&res, "method"), "GET");
    assert_string_equal(field(&res, "auth"), "Bearer tok");
    assert_string_equal(field(&res, "accept"), "application/json");
    assert_true(json_is_null(json_object_get(res.body, "body")));
    assert_string_equal(res.error, "");
    vk_kube_result_free(&res);

    static const struct { vk_patch_type type; const char *ct; } patches[] = {
        {VK_PATCH_MERGE, "application/merge-patch+json"},
        {VK_PATCH_STRATEGIC, "application/strategic-merge-patch+json"},
        {VK_PATCH_JSON, "application/json-patch+json"}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(vk_kube_patch(k, "/echo", patches[i].type, obj, &res), 0);
        assert_string_equal(field(&res, "method"), "PATCH");
        assert_string_equal(field(&res, "contentType"), patches[i].ct);
        assert_true(json_equal(json_object_get(res.body, "body"), obj));
        vk_kube_result_free(&res);
    }
    assert_int_equal(vk_kube_create(k, "/echo", obj, &res), 0);
    assert_string_equal(field(&res, "method"), "POST");
    assert_string_equal(field(&res, "contentType"), "application/json");
    vk_kube_result_free(&res);
    assert_int_equal(vk_kube_update(k, "/echo", obj, &res), 0);
    assert_string_equal(field(&res, "method"), "PUT");
    vk_kube_result_free(&res);
    json_t *opts =
        json_pack("{s:i, s:{s:s}}", "gracePeriodSeconds", 0, "preconditions", "uid", "u1");
    assert_int_equal(vk_kube_delete(k, "/echo", opts, &res), 0);
    assert_string_equal(field(&res, "method"), "DELETE");
    assert_true(json_equal(json_object_get(res.body, "body"), opts));
    vk_kube_result_free(&res);
    json_decref(opts);
    json_decref(obj);
    vk_kube_free(k);
}

static void test_query_escape(void **state)
{
    (void)state;
    char *e = vk_kube_escape("spec.nodeName=vk-1,status.phase!=Failed");
    assert_string_equal(e, "spec.nodeName%3Dvk-1%2Cstatus.phase%21%3DFailed");
    vk_kube *k = client(NULL, NULL);
    char *path = il_xasprintf("/echo?fieldSelector=%s", e);
    vk_kube_result res;
    assert_int_equal(vk_kube_get(k, path, &res), 0);
    assert_string_equal(field(&res, "fieldSelector"), "spec.nodeName=vk-1,status.phase!=Failed");
    assert_null(field(&res, "auth"));   /* no token: no header */
    vk_kube_result_free(&res);
    vk_kube_free(k);
    free(path);
    free(e);
}

static void test_token_file_reread(void **state)
{
    (void)state;
    char path[] = "/tmp/il-test-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(il_write_file_atomic(path, "one\n", 4, 0600), 0);
    vk_kube *k = client(NULL, path);
    vk_kube_result res;
    assert_int_equal(vk_kube_get(k, "/echo", &res), 0);
    assert_string_equal(field(&res, "auth"), "Bearer one");
    vk_kube_result_free(&res);
    assert_int_equal(il_write_file_atomic(path, "two", 3, 0600), 0);
    assert_int_equal(vk_kube_get(k, "/echo", &res), 0);
    assert_string_equal(field(&res, "auth"), "Bearer two");
    vk_kube_result_free(&res);
    unlink(path);
    assert_int_equal(vk_kube_get(k, "/echo", &res), -1);   /* no request without credentials */
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(res.error, path));
    vk_kube_free(k);
}

static void test_errors(void **state)
{
    (void)state;
    vk_kube *k = client(NULL, NULL);
    vk_kube_result res;
    assert_int_equal(vk_kube_get(k, "/api/v1/namespaces/default/pods/missing", &res), -1);
    assert_true(vk_kube_is(&res, 404));
    assert_string_equal(res.reason, "NotFound");
    assert_string_equal(res.error, "GET /api/v1/namespaces/default/pods/missing: 404 NotFound: "
                                   "pods \"missing\" not found");
    assert_null(res.body);
    vk_kube_result_free(&res);

    assert_int_equal(vk_kube_get(k, "/text-error", &res), -1);
    assert_int_equal(res.status, 502);
    assert_string_equal(res.reason, "");
    assert_string_equal(res.error, "GET /text-error: HTTP 502: bad gateway");
    vk_kube_result_free(&res);
    vk_kube_free(k);

    vk_kubeconfig kc = {.server = (char *)"http://127.0.0.1:1"};
    char err[256];
    k = vk_kube_new(&kc, 2000, err, sizeof err);
    assert_int_equal(vk_kube_get(k, "/x", &res), -1);
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(res.error, "GET http://127.0.0.1:1/x: "));
    vk_kube_free(k);

    kc.server = (char *)"ftp://nope";
    assert_null(vk_kube_new(&kc, 0, err, sizeof err));
    assert_non_null(strstr(err, "http[s]://"));
}

static void test_describe_error_long_text(void **state)
{
    (void)state;
    vk_kube_result res = {0};
    char body[1000];
    memset(body, 'x', sizeof body);
    vk_kube_describe_error("PUT", "/p", 500, body, sizeof body, &res);
    assert_int_equal(strlen(res.error), strlen("PUT /p: HTTP 500: ") + 200);
    vk_kube_describe_error("PUT", "/p", 503, NULL, 0, &res);
    assert_string_equal(res.error, "PUT /p: HTTP 503");
}

/* Next event, waiting through "nothing yet". */
static int next(vk_watch *w, vk_watch_event *ev, char *err, size_t errlen)
{
    int rc;
    for (int i = 0; i < 10; i++)
        if ((rc = vk_watch_next(w, ev, err, errlen)) != IL_STREAM_AGAIN)
            return rc;
    fail_msg("watch: no event within 10 tries");
    return -1;
}

static const char *rv(const vk_watch_event *ev)
{
    return json_string_value(json_object_get(json_object_get(ev->object, "metadata"),
                                             "resourceVersion"));
}

static void test_watch_stream(void **state)
{
    (void)state;
    vk_kube *k = client("tok", NULL);
    vk_kube_result res;
    vk_watch *w = vk_watch_open(k, "/watch?watch=1&resourceVersion=0", &res);
    assert_non_null(w);
    assert_int_equal(res.status, 200);
    static const struct { vk_event_type type; const char *rv; } want[] = {
        {VK_EVENT_ADDED, "1"}, {VK_EVENT_MODIFIED, "2"}, {VK_EVENT_BOOKMARK, "7"},
        {VK_EVENT_DELETED, "8"}};
    vk_watch_event ev;
    char err[256];
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(next(w, &ev, err, sizeof err), 1);
        assert_int_equal(ev.type, want[i].type);
        assert_string_equal(rv(&ev), want[i].rv);
        json_decref(ev.object);
    }
    assert_int_equal(next(w, &ev, err, sizeof err), 0);
    vk_watch_close(w);
    vk_kube_free(k);
}

static void test_watch_gone_and_errors(void **state)
{
    (void)state;
    vk_kube *k = client(NULL, NULL);
    vk_kube_result res;
    vk_watch_event ev;
    char err[256];
    vk_watch *w = vk_watch_open(k, "/watch-gone", &res);
    assert_non_null(w);
    assert_int_equal(next(w, &ev, err, sizeof err), 1);
    json_decref(ev.object);
    assert_int_equal(next(w, &ev, err, sizeof err), VK_WATCH_GONE);
    vk_watch_close(w);

    w = vk_watch_open(k, "/watch-error", &res);
    assert_int_equal(next(w, &ev, err, sizeof err), -1);
    assert_string_equal(err, "watch error 500: etcd down");
    vk_watch_close(w);

    assert_null(vk_watch_open(k, "/watch-410?watch=1&resourceVersion=3", &res));
    assert_true(vk_kube_is(&res, 410));
    assert_string_equal(res.reason, "Expired");
    assert_non_null(strstr(res.error, "too old resource version"));
    vk_kube_free(k);
}

static void test_watch_parse(void **state)
{
    (void)state;
    vk_watch_event ev;
    char err[256];
    static const struct { const char *line; int rc; const char *msg; } cases[] = {
        {"{\"type\":\"ADDED\",\"object\":{}}", 1, NULL},
        {"not json", -1, "malformed event"},
        {"{\"type\":\"SURPRISE\",\"object\":{}}", -1, "unknown event \"SURPRISE\""},
        {"{\"type\":\"ADDED\"}", -1, "object-less event"},
        {"{\"type\":\"ERROR\",\"object\":{\"code\":410}}", VK_WATCH_GONE, NULL},
        {"{\"type\":\"ERROR\",\"object\":{\"code\":403}}", -1, "watch error 403: (no message)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        int rc = vk_watch_parse(cases[i].line, strlen(cases[i].line), &ev, err, sizeof err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
        if (cases[i].msg && !strstr(err, cases[i].msg))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
        json_decref(ev.object);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbs_and_content_types),
        cmocka_unit_test(test_query_escape),
        cmocka_unit_test(test_token_file_reread),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_describe_error_long_text),
        cmocka_unit_test(test_watch_stream),
        cmocka_unit_test(test_watch_gone_and_errors),
        cmocka_unit_test(test_watch_parse),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
