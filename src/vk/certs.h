/* certs.h -- keys and certificates for the kubelet API (OpenSSL libcrypto).
 *
 * Everything is PEM text in and out, the form the HTTP server, the CSR
 * object and files want.  Keys are ECDSA P-256: accepted by every TLS
 * client and by the Kubernetes signers (upstream's Ed25519 is not). */
#ifndef VK_CERTS_H
#define VK_CERTS_H

#include <stddef.h>
#include <stdint.h>

/* The subject and alternative names of a kubelet serving certificate.
 * A SAN that parses as an IPv4/IPv6 address becomes an IP SAN, any other
 * a DNS SAN. */
typedef struct vk_cert_names {
    const char *cn;
    const char *org;          /* NULL = none */
    const char *const *sans;
    size_t n_sans;
} vk_cert_names;

/* A new private key (PKCS#8 PEM), or NULL with err set.  Caller frees. */
char *vk_certs_new_key(char *err, size_t errlen);
/* A PKCS#10 request for names signed with key_pem, or NULL. */
char *vk_certs_csr(const char *key_pem, const vk_cert_names *names, char *err, size_t errlen);
/* A self-signed serving certificate for names, valid from an hour ago
 * (clock skew) for days days, or NULL. */
char *vk_certs_self_signed(const char *key_pem, const vk_cert_names *names, int days, char *err,
                           size_t errlen);
/* The validity of the first certificate in cert_pem, as Unix seconds. */
int vk_certs_validity(const char *cert_pem, int64_t *not_before, int64_t *not_after, char *err,
                      size_t errlen);
/* When to renew a certificate valid over [not_before, not_after]: at 80%
 * of its lifetime, as the kubelet's certificate manager does. */
int64_t vk_certs_renew_at(int64_t not_before, int64_t not_after);

#endif
