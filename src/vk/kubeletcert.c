/* kubeletcert.c -- the kubelet API's serving certificate: where it comes
 * from and keeping it current (the certificate thread).
 *
 *   files        KubeletCertFile/KubeletKeyFile, re-read every
 *                FILE_CHECK_MS and served again when they changed
 *                (cert-manager and friends rotate them in place)
 *   CSR          a kubernetes.io/kubelet-serving CertificateSigningRequest
 *                (KubeletCSRSignerName), CN system:node:NAME, O system:nodes,
 *                SANs POD_IP and the node name; renewed with a new key at
 *                80% of its lifetime.  Until the first one is issued a
 *                self-signed certificate is served, so the port answers
 *                (/healthz, clients that do not verify) instead of failing
 *                every handshake as upstream does.
 *   self-signed  DisableCSR: a new key and certificate for a year,
 *                renewed at 80% as well.
 *
 * CSRs are never deleted here, neither ours nor an earlier run's: as for a
 * kubelet, kube-controller-manager's CSR cleaner collects them (Approved,
 * Denied or Failed after 1 h, Pending after 24 h).  Upstream deletes every
 * CSR of the node at start and its own at renewal; that needs `delete` on
 * CSRs, which a kubelet-like RBAC role (interLink's k3s CI one) lacks, and
 * can remove a request someone else is acting on. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "certs.h"
#include "kubelet.h"
#include "log.h"
#include "timeutil.h"
#include "util.h"
#include "vk.h"

#define FILE_CHECK_MS (30 * 1000)
#define CSR_POLL_MS 1000      /* first poll; doubling up to CSR_POLL_MAX_MS while */
#define CSR_POLL_MAX_MS 30000 /* a person has yet to approve */
#define CSR_RETRY_MS (10 * 1000)
#define SELF_SIGNED_DAYS 365
#define PEM_MAX (1024 * 1024)
#define CSR_PATH "/apis/certificates.k8s.io/v1/certificatesigningrequests"

/* ---- the certificate served now ------------------------------------------- */

struct vk_serving_cert {
    il_httpd *http;
    pthread_mutex_t lock;     /* guards cert and renew_at */
    char *cert;               /* the PEM served now */
    int64_t renew_at;
};

vk_serving_cert *vk_serving_cert_new(il_httpd *http)
{
    vk_serving_cert *sc = il_xcalloc(1, sizeof(*sc));
    sc->http = http;
    pthread_mutex_init(&sc->lock, NULL);
    return sc;
}

void vk_serving_cert_free(vk_serving_cert *sc)
{
    if (!sc)
        return;
    pthread_mutex_destroy(&sc->lock);
    free(sc->cert);
    free(sc);
}

void vk_serving_cert_install(vk_serving_cert *sc, const char *cert, const char *key,
                             const char *what)
{
    char err[512];
    int64_t not_before, not_after;
    if (vk_certs_validity(cert, &not_before, &not_after, err, sizeof err) < 0 ||
        il_httpd_set_tls_cert(sc->http, cert, key, err, sizeof err) < 0) {
        il_error("kubelet API: cannot serve %s: %s", what, err);
        return;
    }
    pthread_mutex_lock(&sc->lock);
    free(sc->cert);
    sc->cert = il_xstrdup(cert);
    sc->renew_at = vk_certs_renew_at(not_before, not_after);
    pthread_mutex_unlock(&sc->lock);
    char until[IL_RFC3339_MAX];
    il_time_format((il_time){not_after, 0}, false, until);
    il_info("kubelet API: serving %s (valid until %s)", what, until);
}

int64_t vk_serving_cert_renew_at(vk_serving_cert *sc)
{
    pthread_mutex_lock(&sc->lock);
    int64_t at = sc->renew_at;
    pthread_mutex_unlock(&sc->lock);
    return at;
}

bool vk_serving_cert_changed(vk_serving_cert *sc, const char *cert)
{
    pthread_mutex_lock(&sc->lock);
    bool changed = !sc->cert || strcmp(sc->cert, cert) != 0;
    pthread_mutex_unlock(&sc->lock);
    return changed;
}

/* ---- where it comes from ------------------------------------------------------ */

vk_cert_source vk_kubelet_cert_source(const vk *v)
{
    if (v->cfg->kubelet_cert && *v->cfg->kubelet_cert)
        return VK_CERT_FILES;
    return v->cfg->disable_csr ? VK_CERT_SELF_SIGNED : VK_CERT_CSR;
}

/* The names of this node's serving certificate; valid while v lives. */
typedef struct node_names {
    char cn[320];
    const char *sans[2];
    vk_cert_names names;
} node_names;

static void node_names_init(const vk *v, node_names *n)
{
    snprintf(n->cn, sizeof n->cn, "system:node:%s", v->cfg->node_name);
    size_t count = 0;
    if (v->cfg->pod_ip && *v->cfg->pod_ip)
        n->sans[count++] = v->cfg->pod_ip;
    n->sans[count++] = v->cfg->node_name;
    n->names = (vk_cert_names){.cn = n->cn, .org = "system:nodes", .sans = n->sans,
                               .n_sans = count};
}

static int self_signed(const vk *v, char **cert, char **key, char *err, size_t errlen)
{
    node_names n;
    node_names_init(v, &n);
    *key = vk_certs_new_key(err, errlen);
    *cert = *key ? vk_certs_self_signed(*key, &n.names, SELF_SIGNED_DAYS, err, errlen) : NULL;
    if (*cert)
        return 0;
    free(*key);
    *key = NULL;
    return -1;
}

static int read_files(const vk *v, char **cert, char **key, char *err, size_t errlen)
{
    il_buf c = IL_BUF_INIT, k = IL_BUF_INIT;
    const char *bad = il_read_file(v->cfg->kubelet_cert, PEM_MAX, &c) < 0 ? v->cfg->kubelet_cert
                      : il_read_file(v->cfg->kubelet_key, PEM_MAX, &k) < 0 ? v->cfg->kubelet_key
                                                                             : NULL;
    if (bad) {
        snprintf(err, errlen, "cannot read %s", bad);
        il_buf_free(&c);
        il_buf_free(&k);
        return -1;
    }
    *cert = il_buf_steal(&c);
    *key = il_buf_steal(&k);
    return 0;
}

int vk_kubelet_first_cert(vk *v, char **cert, char **key, char *err, size_t errlen)
{
    if (vk_kubelet_cert_source(v) == VK_CERT_FILES)
        return read_files(v, cert, key, err, errlen);
    return self_signed(v, cert, key, err, errlen);
}

/* ---- the CSR flow ------------------------------------------------------- */

static json_t *csr_object(const vk *v, const char *csr_pem)
{
    char *request = il_base64_encode(csr_pem, strlen(csr_pem));
    char *gen = il_xasprintf("csr-%s-", v->cfg->node_name);
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:[s, s, s]}}", "apiVersion",
                            "certificates.k8s.io/v1", "kind", "CertificateSigningRequest",
                            "metadata", "generateName", gen, "spec", "request", request,
                            "signerName", v->cfg->csr_signer, "usages", "digital signature",
                            "key encipherment", "server auth");
    free(gen);
    free(request);
    return obj;
}

/* Create the CSR; its generated name, or NULL. */
static char *csr_create(vk *v, const char *csr_pem)
{
    json_t *obj = csr_object(v, csr_pem);
    vk_kube_result res;
    char *name = NULL;
    if (vk_kube_create(v->kube, CSR_PATH, obj, &res) == 0)
        name = il_xstrdup(json_string_value(json_object_get(json_object_get(res.body, "metadata"),
                                                            "name")));
    else
        il_warn("kubelet serving certificate: %s", res.error);
    vk_kube_result_free(&res);
    json_decref(obj);
    return name;
}

/* The reason of a Denied or Failed condition, or NULL. */
static const char *csr_refusal(const json_t *status)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c) {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type && (!strcmp(type, "Denied") || !strcmp(type, "Failed"))) {
            const char *msg = json_string_value(json_object_get(c, "message"));
            return msg ? msg : type;
        }
    }
    return NULL;
}

/* Poll the CSR until it is issued (the PEM), refused, or the VK stops. */
static char *csr_wait(vk *v, const char *name)
{
    char *path = il_xasprintf("%s/%s", CSR_PATH, name), *cert = NULL;
    il_info("kubelet serving certificate: waiting for CSR %s to be approved and signed "
            "(kubectl certificate approve %s)", name, name);
    bool done = false;
    for (int polls = 1; !done && vk_sleep(v, vk_backoff_ms(polls, CSR_POLL_MS, CSR_POLL_MAX_MS));
         polls++) {
        vk_kube_result res;
        if (vk_kube_get(v->kube, path, &res) == 0) {
            json_t *status = json_object_get(res.body, "status");
            const char *b64 = json_string_value(json_object_get(status, "certificate"));
            const char *refused = csr_refusal(status);
            size_t len;
            if (b64 && *b64)
                cert = (char *)il_base64_decode(b64, &len);
            if (refused)
                il_warn("kubelet serving certificate: CSR %s refused: %s", name, refused);
            done = cert || refused;
        } else {
            il_warn("kubelet serving certificate: %s", res.error);
            done = vk_kube_is(&res, 404);   /* deleted under us: start over */
        }
        vk_kube_result_free(&res);
    }
    free(path);
    return cert;
}

/* One round of the CSR flow: a new key, its CSR, the signed certificate. */
static int csr_round(vk *v, char **cert, char **key)
{
    node_names n;
    node_names_init(v, &n);
    char err[512];
    *key = vk_certs_new_key(err, sizeof err);
    char *csr = *key ? vk_certs_csr(*key, &n.names, err, sizeof err) : NULL;
    char *name = csr ? csr_create(v, csr) : NULL;
    *cert = name ? csr_wait(v, name) : NULL;
    if (!csr)
        il_error("kubelet serving certificate: %s", err);
    free(name);
    free(csr);
    if (*cert)
        return 0;
    free(*key);
    *key = NULL;
    return -1;
}

/* ---- the certificate thread --------------------------------------------- */

/* Sleep until the current certificate is due for renewal; false when the
 * VK is stopping. */
static bool sleep_until_renewal(vk *v)
{
    int64_t wait_s = vk_serving_cert_renew_at(v->serving_cert) - il_time_now().sec;
    return wait_s <= 0 || vk_sleep(v, wait_s * 1000);
}

static void renew_loop(vk *v, vk_cert_source source)
{
    int failures = 0;
    /* false while the CSR flow's self-signed stand-in is served */
    bool issued = source == VK_CERT_SELF_SIGNED;
    while (!vk_stopping(v)) {
        if (issued && !sleep_until_renewal(v))
            return;
        char *cert = NULL, *key = NULL, err[512];
        int rc = source == VK_CERT_CSR ? csr_round(v, &cert, &key)
                                       : self_signed(v, &cert, &key, err, sizeof err);
        if (rc == 0) {
            vk_serving_cert_install(v->serving_cert, cert, key, source == VK_CERT_CSR
                               ? "the CSR-issued certificate" : "a new self-signed certificate");
            issued = true;
            failures = 0;
        } else if (!vk_sleep(v, vk_backoff_ms(++failures, CSR_RETRY_MS, 10 * CSR_RETRY_MS))) {
            return;
        }
        free(cert);
        free(key);
    }
}

static void files_loop(vk *v)
{
    while (vk_sleep(v, FILE_CHECK_MS)) {
        char *cert = NULL, *key = NULL, err[512];
        if (read_files(v, &cert, &key, err, sizeof err) != 0)
            il_warn("kubelet serving certificate: %s (still serving the previous one)", err);
        else if (vk_serving_cert_changed(v->serving_cert, cert))
            vk_serving_cert_install(v->serving_cert, cert, key,
                                    "the updated KubeletCertFile certificate");
        free(cert);
        free(key);
    }
}

void *vk_kubelet_cert_loop(void *arg)
{
    vk *v = arg;
    vk_cert_source source = vk_kubelet_cert_source(v);
    if (source == VK_CERT_FILES)
        files_loop(v);
    else
        renew_loop(v, source);
    return NULL;
}
