/* test_vk_kubeconfig.c -- kubeconfig files (contexts, inline and file
 * credentials, relative paths, KUBECONFIG lists) and the in-cluster
 * service account. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "kubeconfig.h"
#include "util.h"

#define CA_PEM "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/il-test-kc-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    il_rm_rf(dir);
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    return 0;
}

/* dir/name with text; returns the path (static buffer per call site). */
static const char *put(const char *name, const char *text)
{
    static char paths[8][128];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 128, "%s/%s", dir, name);
    assert_int_equal(il_write_file_atomic(path, text, strlen(text), 0600), 0);
    return path;
}

static void assert_buf(const il_buf *b, const char *want)
{
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->data, want, b->len);
}

static void test_token_and_inline_ca(void **state)
{
    (void)state;
    char *ca64 = il_base64_encode(CA_PEM, strlen(CA_PEM));
    char *text = il_xasprintf(
        "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
        "clusters:\n"
        "- name: one\n  cluster: {server: 'https://one:6443'}\n"
        "- name: two\n  cluster:\n    server: https://two:6443\n    certificate-authority-data: "
        "%s\n"
        "contexts:\n"
        "- name: a\n  context: {cluster: one, user: ua}\n"
        "- name: b\n  context: {cluster: two, user: ub, namespace: team}\n"
        "users:\n- name: ua\n  user: {token: wrong}\n- name: ub\n  user: {token: s3cret}\n",
        ca64);
    vk_kubeconfig kc;
    char err[512];
    assert_int_equal(vk_kubeconfig_load_files(put("config", text), &kc, err, sizeof err), 0);
    assert_string_equal(kc.server, "https://two:6443");
    assert_buf(&kc.ca, CA_PEM);
    assert_false(kc.insecure);
    assert_string_equal(kc.token, "s3cret");
    assert_string_equal(kc.ns, "team");
    assert_int_equal(kc.cert.len, 0);
    assert_non_null(strstr(kc.source, "context b"));
    char *tok;
    assert_int_equal(vk_kubeconfig_token(&kc, &tok, err, sizeof err), 0);
    assert_string_equal(tok, "s3cret");
    free(tok);
    vk_kubeconfig_free(&kc);
    free(text);
    free(ca64);
}

static void test_client_cert_relative_files(void **state)
{
    (void)state;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/pki", dir);
    assert_int_equal(il_mkdir_p(sub, 0700), 0);
    put("pki/ca.crt", CA_PEM);
    put("pki/me.crt", "CERT");
    put("pki/me.key", "KEY");
    const char *path = put("kc.yaml",
        "current-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://k:443', certificate-authority: pki/ca.crt,"
        " insecure-skip-tls-verify: true}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "users: [{name: u, user: {client-certificate: pki/me.crt, client-key: pki/me.key}}]\n");
    vk_kubeconfig kc;
    char err[512];
    assert_int_equal(vk_kubeconfig_load_files(path, &kc, err, sizeof err), 0);
    assert_buf(&kc.ca, CA_PEM);
    assert_true(kc.insecure);
    assert_buf(&kc.cert, "CERT");
    assert_buf(&kc.key, "KEY");
    assert_null(kc.token);
    char *tok = (char *)"x";
    assert_int_equal(vk_kubeconfig_token(&kc, &tok, err, sizeof err), 0);
    assert_null(tok);   /* certificate only: no Authorization header */
    vk_kubeconfig_free(&kc);
}

/* kubectl's merge: the first file that sets a value wins, missing files in
 * the list are skipped, and each file's relative paths are its own. */
static void test_list_merge(void **state)
{
    (void)state;
    char *c64 = il_base64_encode("C", 1), *k64 = il_base64_encode("K", 1);
    put("tok", "  from-file\n\n");
    const char *first = put("first", "current-context: main\n"
                            "contexts: [{name: main, context: {cluster: k, user: u}}]\n"
                            "users: [{name: u, user: {tokenFile: tok}}]\n");
    char *second_text = il_xasprintf(
        "current-context: other\n"
        "clusters: [{name: k, cluster: {server: 'https://merged:6443'}}]\n"
        "users: [{name: u, user: {client-certificate-data: %s, client-key-data: %s}}]\n",
        c64, k64);
    const char *second = put("second", second_text);
    char *list = il_xasprintf("%s:%s/missing::%s", first, dir, second);
    vk_kubeconfig kc;
    char err[512];
    assert_int_equal(vk_kubeconfig_load_files(list, &kc, err, sizeof err), 0);
    assert_string_equal(kc.server, "https://merged:6443");
    assert_int_equal(kc.cert.len, 0);   /* user u comes from the first file */
    char *want = il_xasprintf("%s/tok", dir);
    assert_string_equal(kc.token_file, want);
    char *tok;
    assert_int_equal(vk_kubeconfig_token(&kc, &tok, err, sizeof err), 0);
    assert_string_equal(tok, "from-file");   /* trimmed, re-read on use */
    free(tok);
    put("tok", "rotated");
    assert_int_equal(vk_kubeconfig_token(&kc, &tok, err, sizeof err), 0);
    assert_string_equal(tok, "rotated");
    free(tok);
    put("tok", " \n");
    assert_int_equal(vk_kubeconfig_token(&kc, &tok, err, sizeof err), -1);
    assert_non_null(strstr(err, "is empty"));
    vk_kubeconfig_free(&kc);
    free(want);
    free(list);
    free(second_text);
    free(c64);
    free(k64);
}

static void expect_error(const char *text, const char *fragment)
{
    vk_kubeconfig kc;
    char err[512] = "";
    assert_int_equal(vk_kubeconfig_load_files(put("bad", text), &kc, err, sizeof err), -1);
    if (!strstr(err, fragment))
        fail_msg("error \"%s\" does not contain \"%s\"", err, fragment);
    assert_null(kc.server);   /* nothing left to free */
}

static void test_errors(void **state)
{
    (void)state;
    static const char ctx[] = "current-context: c\n"
                              "contexts: [{name: c, context: {cluster: k, user: u}}]\n";
    static const char cluster[] = "clusters: [{name: k, cluster: {server: 'https://k'}}]\n";
    char *t;
    expect_error("clusters: []\n", "no current-context");
    expect_error("current-context: nope\n", "context \"nope\" not found");
    expect_error(ctx, "no cluster named \"k\"");
    expect_error("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                 "clusters: [{name: k, cluster: {}}]\n", "has no server");
    t = il_xasprintf("%s%susers: [{name: u, user: {exec: {command: aws}}}]\n", ctx, cluster);
    expect_error(t, "exec authentication is not supported");
    free(t);
    t = il_xasprintf("%s%susers: [{name: u, user: {client-certificate-data: '!!!'}}]\n", ctx,
                     cluster);
    expect_error(t, "client-certificate-data is not valid base64");
    free(t);
    t = il_xasprintf("%s%susers: [{name: u, user: {client-certificate-data: QQ==}}]\n", ctx,
                     cluster);
    expect_error(t, "needs its key");
    free(t);
    t = il_xasprintf("%s%susers: [{name: u, user: {client-key: nokey.pem}}]\n", ctx, cluster);
    expect_error(t, "nokey.pem");
    free(t);
    expect_error("- a\n- b\n", "expected a mapping");
    expect_error("a: [\n", "line");

    vk_kubeconfig kc;
    char err[256];
    char *missing = il_xasprintf("%s/none", dir);
    assert_int_equal(vk_kubeconfig_load_files(missing, &kc, err, sizeof err), -1);
    assert_non_null(strstr(err, "no such file"));
    free(missing);
}

/* A context without a user is anonymous, as in kubectl. */
static void test_anonymous(void **state)
{
    (void)state;
    vk_kubeconfig kc;
    char err[256];
    const char *p = put("anon", "current-context: c\n"
                        "contexts: [{name: c, context: {cluster: k}}]\n"
                        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:8080'}}]\n");
    assert_int_equal(vk_kubeconfig_load_files(p, &kc, err, sizeof err), 0);
    assert_null(kc.token);
    assert_null(kc.token_file);
    vk_kubeconfig_free(&kc);
}

static void test_in_cluster(void **state)
{
    (void)state;
    vk_kubeconfig kc;
    char err[512];
    assert_int_equal(vk_kubeconfig_in_cluster(dir, &kc, err, sizeof err), -1);
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(vk_kubeconfig_in_cluster(dir, &kc, err, sizeof err), -1);
    assert_non_null(strstr(err, "ca.crt"));
    put("ca.crt", CA_PEM);
    assert_int_equal(vk_kubeconfig_in_cluster(dir, &kc, err, sizeof err), -1);
    assert_non_null(strstr(err, "token"));   /* checked at start, not at first use */

    put("token", "sa-token\n");
    put("namespace", "interlink\n");
    assert_int_equal(vk_kubeconfig_in_cluster(dir, &kc, err, sizeof err), 0);
    assert_string_equal(kc.server, "https://10.96.0.1:443");
    assert_buf(&kc.ca, CA_PEM);
    assert_string_equal(kc.ns, "interlink");
    char *tok;
    assert_int_equal(vk_kubeconfig_token(&kc, &tok, err, sizeof err), 0);
    assert_string_equal(tok, "sa-token");
    free(tok);
    vk_kubeconfig_free(&kc);

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(vk_kubeconfig_in_cluster(dir, &kc, err, sizeof err), 0);
    assert_string_equal(kc.server, "https://[fd00::1]:443");
    vk_kubeconfig_free(&kc);
}

static void test_load_prefers_kubeconfig_env(void **state)
{
    (void)state;
    const char *p = put("env", "current-context: c\n"
                        "contexts: [{name: c, context: {cluster: k}}]\n"
                        "clusters: [{name: k, cluster: {server: 'https://from-env'}}]\n");
    setenv("KUBECONFIG", p, 1);
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    vk_kubeconfig kc;
    char err[256];
    assert_int_equal(vk_kubeconfig_load(&kc, err, sizeof err), 0);
    assert_string_equal(kc.server, "https://from-env");
    vk_kubeconfig_free(&kc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_and_inline_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_cert_relative_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anonymous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_prefers_kubeconfig_env, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
