/* httpd_tls.h -- GnuTLS helpers of the HTTP server (private to httpd.c
 * and its tests): what a TLS peer proved, and whether PEM material loads. */
#ifndef IL_HTTPD_TLS_H
#define IL_HTTPD_TLS_H

#include <stddef.h>

#include "httpd.h"

/* Fill presented/verified/why/cn/orgs of out from a GnuTLS session (MHD's
 * MHD_CONNECTION_INFO_GNUTLS_SESSION), verifying the peer's chain against
 * the trust list the daemon was given. */
void il_tls_peer_read(void *gnutls_session, il_tls_peer *out);
/* 0 when GnuTLS accepts cert_pem (a chain) with key_pem as a serving
 * pair; else -1 with GnuTLS's reason in err. */
int il_tls_check_pair(const char *cert_pem, const char *key_pem, char *err, size_t errlen);
/* 0 when ca_pem holds at least one certificate. */
int il_tls_check_ca(const char *ca_pem, char *err, size_t errlen);

#endif
