/* httpd_tls.c -- the GnuTLS side of the HTTP server.
 *
 * libmicrohttpd does the handshake; this file answers the questions it
 * leaves to the application: did the client prove an identity with its
 * certificate, and does a certificate/key pair load at all (checked before
 * a daemon starts or a rotation begins, so a bad file is reported with
 * GnuTLS's reason instead of MHD's "could not start"). */
#include "httpd_tls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>

static gnutls_datum_t datum(const char *pem)
{
    return (gnutls_datum_t){(unsigned char *)pem, pem ? (unsigned)strlen(pem) : 0};
}

/* The subject's CN and O values of a DER certificate. */
static int read_subject(const gnutls_datum_t *der, il_tls_peer *out)
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return -1;
    int rc = gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER);
    size_t size = sizeof out->cn;
    if (rc >= 0)
        rc = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, out->cn,
                                           &size);
    for (unsigned i = 0; rc >= 0 && out->n_orgs < IL_TLS_MAX_ORGS; i++) {
        size = sizeof out->orgs[0];
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0,
                                          out->orgs[out->n_orgs], &size) < 0)
            break;
        out->n_orgs++;
    }
    gnutls_x509_crt_deinit(crt);
    return rc < 0 ? -1 : 0;
}

void il_tls_peer_read(void *gnutls_session, il_tls_peer *out)
{
    gnutls_session_t session = gnutls_session;
    unsigned n = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(session, &n);
    if (!chain || n == 0)
        return;
    out->presented = true;
    /* The certificate must be meant for client authentication, as the
     * Kubernetes x509 authenticator requires. */
    gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                     .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT};
    unsigned status = 0;
    int rc = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
    if (rc < 0) {
        snprintf(out->why, sizeof out->why, "%s", gnutls_strerror(rc));
        return;
    }
    if (status != 0) {
        gnutls_datum_t text = {NULL, 0};
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0);
        snprintf(out->why, sizeof out->why, "%s", text.data ? (char *)text.data : "not trusted");
        gnutls_free(text.data);
        return;
    }
    if (read_subject(&chain[0], out) != 0) {
        snprintf(out->why, sizeof out->why, "the certificate has no readable subject CN");
        return;
    }
    out->verified = true;
}

int il_tls_check_pair(const char *cert_pem, const char *key_pem, char *err, size_t errlen)
{
    if (!cert_pem || !key_pem) {
        snprintf(err, errlen, "TLS needs both a certificate and a key");
        return -1;
    }
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        snprintf(err, errlen, "GnuTLS: out of memory");
        return -1;
    }
    gnutls_datum_t cert = datum(cert_pem), key = datum(key_pem);
    int rc = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (rc < 0) {
        snprintf(err, errlen, "TLS certificate and key: %s", gnutls_strerror(rc));
        return -1;
    }
    return 0;
}

int il_tls_check_ca(const char *ca_pem, char *err, size_t errlen)
{
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        snprintf(err, errlen, "GnuTLS: out of memory");
        return -1;
    }
    gnutls_datum_t ca = datum(ca_pem);
    int rc = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (rc <= 0) {
        snprintf(err, errlen, "TLS client CA: %s", rc < 0 ? gnutls_strerror(rc)
                                                        : "no certificate in it");
        return -1;
    }
    return 0;
}
