/* test_vk_certs.c -- the kubelet API's keys, CSRs and self-signed
 * certificates, checked by reading them back with OpenSSL: subject, SANs
 * (IP vs DNS), usages the kubelet-serving signer insists on, signatures,
 * validity and the renewal point; and errors on garbage input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certs.h"

static const char *const sans[] = {"10.1.2.3", "vk-node-a", "fd00::7"};
static const vk_cert_names names = {.cn = "system:node:vk-node-a", .org = "system:nodes",
                                    .sans = sans, .n_sans = 3};

static char *key(void)
{
    char err[256];
    char *k = vk_certs_new_key(err, sizeof err);
    if (!k)
        fail_msg("%s", err);
    assert_non_null(strstr(k, "-----BEGIN PRIVATE KEY-----"));
    return k;
}

static void assert_subject(X509_NAME *subj)
{
    char cn[128], o[128];
    assert_true(X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof cn) > 0);
    assert_true(X509_NAME_get_text_by_NID(subj, NID_organizationName, o, sizeof o) > 0);
    assert_string_equal(cn, "system:node:vk-node-a");
    assert_string_equal(o, "system:nodes");
}

/* "DNS:x" / "IP:y" entries of a SAN extension, in order, joined by ' '. */
static void san_text(const GENERAL_NAMES *gens, char *out, size_t len)
{
    out[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char item[80] = "?";
        if (g->type == GEN_DNS)
            snprintf(item, sizeof item, "DNS:%s",
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        else if (g->type == GEN_IPADD)
            snprintf(item, sizeof item, "IP/%d", ASN1_STRING_length(g->d.iPAddress));
        strncat(out, item, len - strlen(out) - 2);
        strcat(out, " ");
    }
}

static void test_csr_for_the_kubelet_serving_signer(void **state)
{
    (void)state;
    char *k = key(), err[256];
    char *pem = vk_certs_csr(k, &names, err, sizeof err);
    if (!pem)
        fail_msg("%s", err);
    assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----"));
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    assert_non_null(req);
    EVP_PKEY *pub = X509_REQ_get_pubkey(req);
    assert_int_equal(X509_REQ_verify(req, pub), 1);
    assert_subject(X509_REQ_get_subject_name(req));
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    char text[256];
    san_text(gens, text, sizeof text);
    assert_string_equal(text, "IP/4 DNS:vk-node-a IP/16 ");
    EXTENDED_KEY_USAGE *eku = X509V3_get_d2i(exts, NID_ext_key_usage, NULL, NULL);
    assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
    assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_server_auth);
    EXTENDED_KEY_USAGE_free(eku);
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    EVP_PKEY_free(pub);
    X509_REQ_free(req);
    BIO_free(bio);
    free(pem);
    free(k);
}

static X509 *parse_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *crt = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(crt);
    return crt;
}

static void test_self_signed(void **state)
{
    (void)state;
    char *k = key(), err[256];
    char *pem = vk_certs_self_signed(k, &names, 365, err, sizeof err);
    if (!pem)
        fail_msg("%s", err);
    X509 *crt = parse_cert(pem);
    assert_subject(X509_get_subject_name(crt));
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(crt), X509_get_issuer_name(crt)), 0);
    EVP_PKEY *pub = X509_get_pubkey(crt);
    assert_int_equal(X509_verify(crt, pub), 1);
    assert_int_equal(X509_check_ip_asc(crt, "10.1.2.3", 0), 1);
    assert_int_equal(X509_check_ip_asc(crt, "fd00::7", 0), 1);
    assert_int_equal(X509_check_host(crt, "vk-node-a", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(crt, "10.1.2.4", 0), 0);
    assert_int_equal(X509_check_purpose(crt, X509_PURPOSE_SSL_SERVER, 0), 1);
    assert_int_equal(X509_check_purpose(crt, X509_PURPOSE_SSL_CLIENT, 0), 0);

    int64_t nb, na, now = (int64_t)time(NULL);
    assert_int_equal(vk_certs_validity(pem, &nb, &na, err, sizeof err), 0);
    assert_true(nb <= now - 3500 && nb >= now - 3700);   /* an hour of clock skew */
    assert_true(na >= now + 365 * 86400 - 60 && na <= now + 365 * 86400 + 60);
    char *again = vk_certs_self_signed(k, &names, 365, err, sizeof err);
    X509 *crt2 = parse_cert(again);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(crt),
                                          X509_get0_serialNumber(crt2)), 0);
    X509_free(crt2);
    free(again);
    EVP_PKEY_free(pub);
    X509_free(crt);
    free(pem);
    free(k);
}

static void test_without_sans_or_org(void **state)
{
    (void)state;
    char *k = key(), err[256];
    vk_cert_names bare = {.cn = "system:node:x"};
    char *pem = vk_certs_self_signed(k, &bare, 1, err, sizeof err);
    assert_non_null(pem);
    X509 *crt = parse_cert(pem);
    assert_null(X509_get_ext_d2i(crt, NID_subject_alt_name, NULL, NULL));
    assert_int_equal(X509_NAME_get_index_by_NID(X509_get_subject_name(crt), NID_organizationName,
                                                -1), -1);
    X509_free(crt);
    free(pem);
    free(k);
}

static void test_renewal_point(void **state)
{
    (void)state;
    assert_int_equal(vk_certs_renew_at(1000, 2000), 1800);
    assert_int_equal(vk_certs_renew_at(0, 365 * 86400), 292 * 86400);
}

static void test_garbage(void **state)
{
    (void)state;
    char err[256];
    assert_null(vk_certs_csr("not a key", &names, err, sizeof err));
    assert_non_null(strstr(err, "reading the private key"));
    assert_null(vk_certs_self_signed("", &names, 1, err, sizeof err));
    int64_t a, b;
    assert_int_equal(vk_certs_validity("-----BEGIN CERTIFICATE-----\nxx\n", &a, &b, err,
                                       sizeof err), -1);
    assert_non_null(strstr(err, "reading the certificate"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr_for_the_kubelet_serving_signer),
        cmocka_unit_test(test_self_signed),
        cmocka_unit_test(test_without_sans_or_org),
        cmocka_unit_test(test_renewal_point),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
