/* test_httpd_tls.c -- the HTTP server over TLS: serving, client
 * certificates (verified, absent, from another CA), bearer tokens, prefix
 * routes, certificate rotation under a running server, bad material, and
 * the TLS 1.2 floor.  Certificates are made with the openssl command;
 * the client is our own (libcurl).  Skipped when openssl is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpc.h"
#include "httpd.h"
#include "util.h"

static char dir[64];

/* CA1 signs the server and "alice"; CA2 signs "mallory" and server2. */
static const char pki_script[] =
    "set -e; cd %s; exec 2>/dev/null\n"
    "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key"
    "  -subj /CN=$1 -days 2 -out $1.crt; }\n"
    "leaf() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key"
    "  -subj \"$3\" -out $1.csr;"
    "  printf 'extendedKeyUsage=%%s\\nsubjectAltName=IP:127.0.0.1\\n' $4 > $1.ext;"
    "  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -days 1"
    "  -extfile $1.ext -out $1.crt; }\n"
    "ca ca1; ca ca2\n"
    "leaf server ca1 /CN=server serverAuth\n"
    "leaf server2 ca2 /CN=server2 serverAuth\n"
    "leaf alice ca1 /O=team1/O=team2/CN=alice clientAuth\n"
    "leaf mallory ca2 /O=system:masters/CN=mallory clientAuth\n"
    "leaf serveruse ca1 /O=system:masters/CN=bob serverAuth\n";

static char *pem(const char *name)
{
    char *path = il_xasprintf("%s/%s", dir, name);
    il_buf b = IL_BUF_INIT;
    if (il_read_file(path, 1 << 20, &b) < 0)
        fail_msg("cannot read %s", path);
    free(path);
    return il_buf_steal(&b);
}

static int make_pki(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/il-test-httpdtls-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char *cmd = il_xasprintf(pki_script, dir);
    FILE *sh = popen("/bin/sh", "w");
    assert_non_null(sh);
    fputs(cmd, sh);
    free(cmd);
    if (pclose(sh) != 0)
        dir[0] = '\0';   /* no openssl: every test skips */
    return 0;
}

static int remove_pki(void **state)
{
    (void)state;
    if (dir[0])
        il_rm_rf(dir);
    return 0;
}

/* ---- server ------------------------------------------------------------- */

/* Says what the server learned about the caller. */
static void handle_who(il_request *req, void *ud)
{
    (void)ud;
    il_tls_peer p;
    il_request_tls_peer(req, &p);
    const char *bearer = il_request_bearer(req);
    il_respond_text(req, 200, "tls=%d presented=%d verified=%d cn=%s orgs=%s,%s bearer=%s",
                    p.tls, p.presented, p.verified, p.cn, p.n_orgs > 0 ? p.orgs[0] : "",
                    p.n_orgs > 1 ? p.orgs[1] : "", bearer ? bearer : "-");
}

static void handle_tag(il_request *req, void *ud)
{
    il_respond_text(req, 200, "%s %s", (const char *)ud, il_request_path(req));
}

#define BIG_BYTES (3 * 1024 * 1024 + 7)

static void handle_big(il_request *req, void *ud)
{
    (void)ud;
    char *body = malloc(BIG_BYTES);
    for (size_t i = 0; i < BIG_BYTES; i++)
        body[i] = (char)('a' + i % 26);
    il_respond(req, 200, "text/plain", body, BIG_BYTES);
    free(body);
}

static il_httpd *server(const char *cert, const char *key, const char *client_ca)
{
    if (!dir[0])
        skip();
    char *c = pem(cert), *k = pem(key), *ca = client_ca ? pem(client_ca) : NULL;
    il_httpd_opts opts = {.address = "https://127.0.0.1", .port = "0", .tls_cert_pem = c,
                          .tls_key_pem = k, .tls_client_ca_pem = ca};
    char err[256];
    il_httpd *srv = il_httpd_new(&opts, err, sizeof err);
    free(c);   /* the server keeps its own copies */
    free(k);
    free(ca);
    if (!srv)
        fail_msg("%s", err);
    il_httpd_route(srv, "/who", handle_who, NULL);
    il_httpd_route_prefix(srv, "/p/", handle_tag, "prefix");
    il_httpd_route(srv, "/p/exact", handle_tag, "exact");
    il_httpd_route(srv, "/big", handle_big, NULL);
    assert_int_equal(il_httpd_start(srv, err, sizeof err), 0);
    return srv;
}

/* ---- client ------------------------------------------------------------- */

typedef struct answer {
    long status;
    char body[512];
} answer;

/* GET path over https trusting ca, with an optional client identity. */
static answer get(il_httpd *srv, const char *ca, const char *ident, const char *path,
                  const char *bearer)
{
    char *ca_pem = pem(ca), *cert = NULL, *key = NULL;
    if (ident) {
        char *c = il_xasprintf("%s.crt", ident), *k = il_xasprintf("%s.key", ident);
        cert = pem(c);
        key = pem(k);
        free(c);
        free(k);
    }
    il_httpc_tls tls = {.ca_pem = ca_pem, .ca_len = strlen(ca_pem), .cert_pem = cert,
                        .cert_len = cert ? strlen(cert) : 0, .key_pem = key,
                        .key_len = key ? strlen(key) : 0};
    char url[64], err[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", il_httpd_port(srv));
    il_httpc_opts opts = {.url = url, .timeout_ms = 5000, .tls = &tls, .bearer_token = bearer};
    il_httpc *c = il_httpc_new(&opts, err, sizeof err);
    assert_non_null(c);
    il_http_result res;
    answer a = {0, ""};
    if (il_httpc_request(c, "GET", path, NULL, NULL, 0, &res) == 0) {
        a.status = res.status;
        snprintf(a.body, sizeof a.body, "%s", il_buf_cstr(&res.body));
    } else {
        snprintf(a.body, sizeof a.body, "%s", res.error);
    }
    il_http_result_free(&res);
    il_httpc_free(c);
    free(ca_pem);
    free(cert);
    free(key);
    return a;
}

/* ---- tests -------------------------------------------------------------- */

static void test_serves_tls_without_client_ca(void **state)
{
    (void)state;
    il_httpd *srv = server("server.crt", "server.key", NULL);
    answer a = get(srv, "ca1.crt", "alice", "/who", "tok-1");
    assert_int_equal(a.status, 200);
    /* Without a client CA nothing is asked for, so nothing is verified. */
    assert_string_equal(a.body, "tls=1 presented=0 verified=0 cn= orgs=, bearer=tok-1");
    answer wrong_ca = get(srv, "ca2.crt", NULL, "/who", NULL);
    assert_int_equal(wrong_ca.status, 0);   /* the client does not trust the server */
    il_httpd_stop(srv);
}

static void test_client_certificates(void **state)
{
    (void)state;
    il_httpd *srv = server("server.crt", "server.key", "ca1.crt");
    answer a = get(srv, "ca1.crt", "alice", "/who", NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "tls=1 presented=1 verified=1 cn=alice orgs=team1,team2 bearer=-");
    answer none = get(srv, "ca1.crt", NULL, "/who", "abc");   /* asked, not required */
    assert_string_equal(none.body, "tls=1 presented=0 verified=0 cn= orgs=, bearer=abc");
    answer foreign = get(srv, "ca1.crt", "mallory", "/who", NULL);
    assert_int_equal(foreign.status, 200);
    assert_string_equal(foreign.body, "tls=1 presented=1 verified=0 cn= orgs=, bearer=-");
    /* Signed by the right CA but not for client authentication. */
    answer usage = get(srv, "ca1.crt", "serveruse", "/who", NULL);
    assert_string_equal(usage.body, "tls=1 presented=1 verified=0 cn= orgs=, bearer=-");
    il_httpd_stop(srv);
}

static void test_prefix_routes(void **state)
{
    (void)state;
    il_httpd *srv = server("server.crt", "server.key", NULL);
    assert_string_equal(get(srv, "ca1.crt", NULL, "/p/a/b", NULL).body, "prefix /p/a/b");
    assert_string_equal(get(srv, "ca1.crt", NULL, "/p/exact", NULL).body, "exact /p/exact");
    assert_int_equal(get(srv, "ca1.crt", NULL, "/p", NULL).status, 404);
    il_httpd_stop(srv);
}

/* A large answer arrives whole, in one block sized from its Content-Length
 * (not grown by doubling: its capacity is its length and the NUL). */
static void test_large_answer_in_one_block(void **state)
{
    (void)state;
    il_httpd *srv = server("server.crt", "server.key", NULL);
    char *ca_pem = pem("ca1.crt");
    il_httpc_tls tls = {.ca_pem = ca_pem, .ca_len = strlen(ca_pem)};
    char url[64], err[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", il_httpd_port(srv));
    il_httpc_opts opts = {.url = url, .timeout_ms = 10000, .tls = &tls};
    il_httpc *c = il_httpc_new(&opts, err, sizeof err);
    assert_non_null(c);
    il_http_result res;
    assert_int_equal(il_httpc_request(c, "GET", "/big", NULL, NULL, 0, &res), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body.len, BIG_BYTES);
    assert_int_equal(res.body.cap, BIG_BYTES + 1);
    for (size_t i = 0; i < BIG_BYTES; i += 4099)
        assert_int_equal(res.body.data[i], 'a' + i % 26);
    assert_int_equal(res.body.data[BIG_BYTES], '\0');
    il_http_result_free(&res);
    il_httpc_free(c);
    free(ca_pem);
    il_httpd_stop(srv);
}

static void test_rotation(void **state)
{
    (void)state;
    il_httpd *srv = server("server.crt", "server.key", NULL);
    assert_int_equal(get(srv, "ca1.crt", NULL, "/who", NULL).status, 200);
    char *cert = pem("server2.crt"), *key = pem("server2.key"), *other = pem("server.key");
    char err[256];
    assert_int_equal(il_httpd_set_tls_cert(srv, cert, other, err, sizeof err), -1);
    assert_non_null(strstr(err, "TLS certificate and key"));
    assert_int_equal(get(srv, "ca1.crt", NULL, "/who", NULL).status, 200);   /* unchanged */
    assert_int_equal(il_httpd_set_tls_cert(srv, cert, key, err, sizeof err), 0);
    assert_int_equal(get(srv, "ca2.crt", NULL, "/who", NULL).status, 200);
    assert_int_equal(get(srv, "ca1.crt", NULL, "/who", NULL).status, 0);
    assert_int_equal(il_httpd_set_tls_cert(srv, cert, key, err, sizeof err), 0);   /* twice */
    assert_int_equal(get(srv, "ca2.crt", NULL, "/who", NULL).status, 200);
    free(cert);
    free(key);
    free(other);
    il_httpd_stop(srv);
}

static void test_bad_material(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    char *cert = pem("server.crt"), *key = pem("alice.key"), *good = pem("server.key"), err[256];
    il_httpd_opts mismatch = {.address = "https://127.0.0.1", .port = "0", .tls_cert_pem = cert,
                              .tls_key_pem = key};
    assert_null(il_httpd_new(&mismatch, err, sizeof err));
    assert_non_null(strstr(err, "TLS certificate and key"));
    il_httpd_opts bad_ca = {.address = "https://127.0.0.1", .port = "0", .tls_cert_pem = cert,
                            .tls_key_pem = good, .tls_client_ca_pem = "nonsense"};
    assert_null(il_httpd_new(&bad_ca, err, sizeof err));
    assert_non_null(strstr(err, "client CA"));
    il_httpd_opts no_cert = {.address = "https://127.0.0.1", .port = "0"};
    assert_null(il_httpd_new(&no_cert, err, sizeof err));
    assert_non_null(strstr(err, "need a certificate"));
    il_httpd_opts on_unix = {.address = "unix:///tmp/x.sock", .tls_cert_pem = cert,
                             .tls_key_pem = good};
    assert_null(il_httpd_new(&on_unix, err, sizeof err));
    assert_non_null(strstr(err, "TCP address"));
    free(cert);
    free(key);
    free(good);
}

/* openssl s_client offering exactly one protocol version; 0 = handshake done. */
static int handshake_with(il_httpd *srv, const char *version)
{
    char *cmd = il_xasprintf("openssl s_client -connect 127.0.0.1:%d %s -cipher DEFAULT@SECLEVEL=0"
                             " </dev/null >/dev/null 2>&1", il_httpd_port(srv), version);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static void test_tls12_floor(void **state)
{
    (void)state;
    il_httpd *srv = server("server.crt", "server.key", NULL);
    assert_int_equal(handshake_with(srv, "-tls1_2"), 0);
    assert_int_equal(handshake_with(srv, "-tls1_3"), 0);
    assert_int_not_equal(handshake_with(srv, "-tls1_1"), 0);
    assert_int_not_equal(handshake_with(srv, "-tls1"), 0);
    il_httpd_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serves_tls_without_client_ca),
        cmocka_unit_test(test_client_certificates),
        cmocka_unit_test(test_prefix_routes),
        cmocka_unit_test(test_large_answer_in_one_block),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_bad_material),
        cmocka_unit_test(test_tls12_floor),
    };
    return cmocka_run_group_tests(tests, make_pki, remove_pki);
}
