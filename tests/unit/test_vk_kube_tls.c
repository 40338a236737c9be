/* test_vk_kube_tls.c -- the Kubernetes client over real HTTPS, against the
 * API server test double (tests/kube/fake_apiserver.py): CA from the
 * kubeconfig, bearer token and client-certificate users, verification
 * failures, patches and a watch with real API semantics.  Skipped when the
 * double or python3 is not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kube.h"
#include "util.h"

static char dir[64];
static pid_t server = -1;

static char *fake_path(void)
{
    const char *data = getenv("IL_TEST_DATA") ? getenv("IL_TEST_DATA") : "tests/data";
    return il_xasprintf("%s/../kube/fake_apiserver.py", data);
}

static int start_fake(void **state)
{
    (void)state;
    char *script = fake_path();
    if (access(script, R_OK) != 0 || access("/usr/bin/python3", X_OK) != 0) {
        free(script);
        return 0;   /* each test skips */
    }
    snprintf(dir, sizeof dir, "/tmp/il-test-kubetls-XXXXXX");
    assert_non_null(mkdtemp(dir));
    server = fork();
    if (server == 0) {
        execl("/usr/bin/python3", "python3", script, "--port", "0", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    free(script);
    char *port = il_xasprintf("%s/port", dir);
    for (int i = 0; i < 300 && access(port, R_OK) != 0; i++)
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    int up = access(port, R_OK) == 0;
    free(port);
    assert_true(up);
    return 0;
}

static int stop_fake(void **state)
{
    (void)state;
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        il_rm_rf(dir);
    }
    return 0;
}

static vk_kube *client_from(const char *file, bool insecure)
{
    if (server <= 0)
        skip();
    char *path = il_xasprintf("%s/%s", dir, file);
    vk_kubeconfig kc;
    char err[512];
    if (vk_kubeconfig_load_files(path, &kc, err, sizeof err) < 0)
        fail_msg("%s", err);
    free(path);
    kc.insecure = insecure;
    vk_kube *k = vk_kube_new(&kc, 10000, err, sizeof err);
    vk_kubeconfig_free(&kc);
    if (!k)
        fail_msg("%s", err);
    return k;
}

#define CM_PATH "/api/v1/namespaces/default/configmaps"

static void test_token_user_crud(void **state)
{
    (void)state;
    vk_kube *k = client_from("kubeconfig", false);
    vk_kube_result res;
    json_t *cm = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
                           "ConfigMap", "metadata", "name", "tls-test", "data", "a", "1");
    if (vk_kube_create(k, CM_PATH, cm, &res) < 0)
        fail_msg("%s", res.error);
    vk_kube_result_free(&res);
    assert_int_equal(vk_kube_create(k, CM_PATH, cm, &res), -1);
    assert_int_equal(res.status, 409);
    assert_string_equal(res.reason, "AlreadyExists");
    vk_kube_result_free(&res);

    json_t *patch = json_pack("{s:{s:s, s:n}}", "data", "b", "2", "a");
    assert_int_equal(vk_kube_patch(k, CM_PATH "/tls-test", VK_PATCH_MERGE, patch, &res), 0);
    json_t *data = json_object_get(res.body, "data");
    assert_string_equal(json_string_value(json_object_get(data, "b")), "2");
    assert_null(json_object_get(data, "a"));   /* null removes, as RFC 7386 says */
    vk_kube_result_free(&res);

    assert_int_equal(vk_kube_get(k, CM_PATH "/nope", &res), -1);
    assert_true(vk_kube_is(&res, 404));
    assert_string_equal(res.reason, "NotFound");
    vk_kube_result_free(&res);

    assert_int_equal(vk_kube_delete(k, CM_PATH "/tls-test", NULL, &res), 0);
    vk_kube_result_free(&res);
    json_decref(patch);
    json_decref(cm);
    vk_kube_free(k);
}

static void test_cert_user_and_watch(void **state)
{
    (void)state;
    vk_kube *k = client_from("kubeconfig-cert", false);
    vk_kube_result res;
    if (vk_kube_get(k, CM_PATH, &res) < 0)
        fail_msg("%s", res.error);
    const char *rv = json_string_value(json_object_get(json_object_get(res.body, "metadata"),
                                                       "resourceVersion"));
    assert_non_null(rv);
    char *path = il_xasprintf(CM_PATH "?watch=1&allowWatchBookmarks=true&timeoutSeconds=10"
                              "&resourceVersion=%s", rv);
    vk_kube_result_free(&res);
    vk_watch *w = vk_watch_open(k, path, &res);
    if (!w)
        fail_msg("%s", res.error);
    json_t *cm = json_pack("{s:{s:s}}", "metadata", "name", "watched");
    assert_int_equal(vk_kube_create(k, CM_PATH, cm, &res), 0);
    vk_kube_result_free(&res);
    vk_watch_event ev;
    char err[256];
    int rc = IL_STREAM_AGAIN;
    for (int i = 0; i < 10 && rc == IL_STREAM_AGAIN; i++)
        rc = vk_watch_next(w, &ev, err, sizeof err);
    assert_int_equal(rc, 1);
    assert_int_equal(ev.type, VK_EVENT_ADDED);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev.object, "metadata"),
                                                          "name")), "watched");
    json_decref(ev.object);
    vk_watch_close(w);

    free(path);
    json_decref(cm);
    vk_kube_free(k);
}

static void test_verification(void **state)
{
    (void)state;
    if (server <= 0)
        skip();
    char *path = il_xasprintf("%s/kubeconfig", dir);
    vk_kubeconfig kc;
    char err[512];
    assert_int_equal(vk_kubeconfig_load_files(path, &kc, err, sizeof err), 0);
    free(path);
    il_buf_free(&kc.ca);   /* the system store does not know the test CA */
    vk_kube *k = vk_kube_new(&kc, 10000, err, sizeof err);
    vk_kube_result res;
    assert_int_equal(vk_kube_get(k, CM_PATH, &res), -1);
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(res.error, "certificate"));
    vk_kube_free(k);

    kc.insecure = true;   /* insecure-skip-tls-verify */
    k = vk_kube_new(&kc, 10000, err, sizeof err);
    assert_int_equal(vk_kube_get(k, CM_PATH, &res), 0);
    vk_kube_result_free(&res);
    vk_kube_free(k);

    free(kc.token);   /* a wrong token: 401 from the API server, as a message */
    kc.token = il_xstrdup("wrong");
    k = vk_kube_new(&kc, 10000, err, sizeof err);
    assert_int_equal(vk_kube_get(k, CM_PATH, &res), -1);
    assert_int_equal(res.status, 401);
    vk_kube_free(k);
    vk_kubeconfig_free(&kc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_user_crud),
        cmocka_unit_test(test_cert_user_and_watch),
        cmocka_unit_test(test_verification),
    };
    return cmocka_run_group_tests(tests, start_fake, stop_fake);
}
