/* certs.c -- the kubelet API's keys, CSRs and self-signed certificates,
 * with OpenSSL's libcrypto.  Every function cleans up on every path and
 * reports OpenSSL's own reason for a failure. */
#include "certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* err = "what: OpenSSL's first queued reason"; always returns NULL so
 * callers can `return fail(...)`. */
static void *fail(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s", what, reason);
    return NULL;
}

/* The PEM text of exactly one of key, crt and req, or NULL. */
static char *to_pem(EVP_PKEY *key, X509 *crt, X509_REQ *req)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = bio && (key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                     : crt ? PEM_write_bio_X509(bio, crt) : PEM_write_bio_X509_REQ(bio, req));
    char *data = NULL;
    long n = ok ? BIO_get_mem_data(bio, &data) : 0;
    char *pem = n > 0 ? il_xstrndup(data, (size_t)n) : NULL;
    BIO_free(bio);
    return pem;
}

char *vk_certs_new_key(char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key)
        return fail(err, errlen, "generating a P-256 key");
    char *pem = to_pem(key, NULL, NULL);
    if (!pem)
        fail(err, errlen, "encoding the key");
    EVP_PKEY_free(key);
    return pem;
}

static EVP_PKEY *read_key(const char *key_pem, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(key_pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!key)
        fail(err, errlen, "reading the private key");
    return key;
}

static X509_NAME *subject(const vk_cert_names *names)
{
    X509_NAME *n = X509_NAME_new();
    if (!n)
        return NULL;
    if ((names->org && !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                                   (const unsigned char *)names->org, -1, -1, 0)) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)names->cn, -1,
                                    -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* "IP:a, DNS:b" for X509V3_EXT_conf_nid; NULL when there are no SANs. */
static char *san_config(const vk_cert_names *names)
{
    if (names->n_sans == 0)
        return NULL;
    il_buf b = IL_BUF_INIT;
    for (size_t i = 0; i < names->n_sans; i++) {
        unsigned char addr[16];
        const char *s = names->sans[i];
        bool ip = inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
        il_buf_printf(&b, "%s%s:%s", i ? "," : "", ip ? "IP" : "DNS", s);
    }
    return il_buf_steal(&b);
}

/* The serving extensions; ctx carries issuer/subject for the key ids. */
static STACK_OF(X509_EXTENSION) *serving_extensions(const vk_cert_names *names, X509V3_CTX *ctx)
{
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char *sans = san_config(names);
    const struct { int nid; const char *value; } want[] = {
        {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_alt_name, sans},
    };
    for (size_t i = 0; exts && i < sizeof want / sizeof want[0]; i++) {
        if (!want[i].value)
            continue;
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, want[i].nid, want[i].value);
        if (!ext || !sk_X509_EXTENSION_push(exts, ext)) {
            X509_EXTENSION_free(ext);
            sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
            exts = NULL;
        }
    }
    free(sans);
    return exts;
}

char *vk_certs_csr(const char *key_pem, const vk_cert_names *names, char *err, size_t errlen)
{
    EVP_PKEY *key = read_key(key_pem, err, errlen);
    if (!key)
        return NULL;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = subject(names);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
    STACK_OF(X509_EXTENSION) *exts = req ? serving_extensions(names, &ctx) : NULL;
    char *pem = NULL;
    if (req && name && exts && X509_REQ_set_version(req, 0) &&
        X509_REQ_set_subject_name(req, name) && X509_REQ_set_pubkey(req, key) &&
        X509_REQ_add_extensions(req, exts) && X509_REQ_sign(req, key, EVP_sha256()))
        pem = to_pem(NULL, NULL, req);
    if (!pem)
        fail(err, errlen, "building the certificate request");
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return pem;
}

static int add_extensions(X509 *crt, const vk_cert_names *names)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, crt, crt, NULL, NULL, 0);
    STACK_OF(X509_EXTENSION) *exts = serving_extensions(names, &ctx);
    int ok = exts != NULL;
    for (int i = 0; ok && i < sk_X509_EXTENSION_num(exts); i++)
        ok = X509_add_ext(crt, sk_X509_EXTENSION_value(exts, i), -1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return ok;
}

/* A random positive 127-bit serial, as RFC 5280 recommends. */
static int random_serial(X509 *crt)
{
    BIGNUM *bn = BN_new();
    int ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)) != NULL;
    BN_free(bn);
    return ok;
}

char *vk_certs_self_signed(const char *key_pem, const vk_cert_names *names, int days, char *err,
                           size_t errlen)
{
    EVP_PKEY *key = read_key(key_pem, err, errlen);
    if (!key)
        return NULL;
    X509 *crt = X509_new();
    X509_NAME *name = subject(names);
    char *pem = NULL;
    if (crt && name && X509_set_version(crt, 2) && random_serial(crt) &&
        X509_set_subject_name(crt, name) && X509_set_issuer_name(crt, name) &&
        X509_gmtime_adj(X509_getm_notBefore(crt), -3600) &&
        X509_time_adj_ex(X509_getm_notAfter(crt), days, 0, NULL) &&
        X509_set_pubkey(crt, key) && add_extensions(crt, names) &&
        X509_sign(crt, key, EVP_sha256()))
        pem = to_pem(NULL, crt, NULL);
    if (!pem)
        fail(err, errlen, "making a self-signed certificate");
    X509_NAME_free(name);
    X509_free(crt);
    EVP_PKEY_free(key);
    return pem;
}

static int asn1_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm))
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int vk_certs_validity(const char *cert_pem, int64_t *not_before, int64_t *not_after, char *err,
                      size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(cert_pem, -1);
    X509 *crt = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    int rc = crt && asn1_unix(X509_get0_notBefore(crt), not_before) == 0 &&
                     asn1_unix(X509_get0_notAfter(crt), not_after) == 0 ? 0 : -1;
    if (rc != 0)
        fail(err, errlen, "reading the certificate");
    X509_free(crt);
    return rc;
}

int64_t vk_certs_renew_at(int64_t not_before, int64_t not_after)
{
    return not_before + (not_after - not_before) * 4 / 5;
}
