/* setup.c -- `interlinkctl setup`: what a site needs to connect a cluster's
 * virtual kubelet to an interlink on an edge node, in one directory:
 *
 *   OUT/edge/       for the edge node's /etc/interlink: InterLinkConfig.yaml,
 *                   the plugin's config, tls/ (CA, interlink's serving
 *                   certificate; tokens with --auth token)
 *   OUT/cluster/    a kustomization over deploy/kubernetes/overlays/edge with
 *                   the VK's config and a Secret of its credentials (CA, and
 *                   its client certificate or its token): `kubectl apply -k`
 *
 * Idempotent: keys, certificates and tokens already there are kept (new
 * ones would cut off the peer holding the old), the configurations are
 * rewritten from the flags, so a second run with the same flags changes
 * nothing.  Keys are ECDSA P-256, certificates signed by the generated CA. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define CERT_DAYS 825

static const char setup_usage[] =
    "Usage: interlinkctl setup --backend local|slurm --interlink-host HOST [flags]\n"
    "\n"
    "Generate a CA, interlink's certificate, the virtual kubelet's credentials,\n"
    "the interlink and plugin configs and the cluster's kustomization.\n"
    "\n"
    "  --backend local|slurm   the plugin interlink relays to\n"
    "  --interlink-host HOST   name or address the VK reaches interlink at\n"
    "  --port N                interlink's HTTPS port (default 3000)\n"
    "  --auth mtls|token       how the VK authenticates (default mtls)\n"
    "  --node NAME             the virtual node's name (default interlink-vk)\n"
    "  --out DIR               where to write (default ./interlink-setup)\n"
    "  --etc-dir DIR           where the edge files will live (default /etc/interlink)\n"
    "  --run-dir DIR           where the plugin's socket lives (default /run)\n"
    "  --state-dir DIR         where interlink* keep state (default /var/lib)\n"
    "  --manifests DIR         the installed deploy/kubernetes\n"
    "                          (default /usr/share/interlink/kubernetes)\n";

typedef struct setup_opts {
    const char *backend, *host, *auth, *node, *out, *etc, *run, *state, *manifests;
    long port;
} setup_opts;

enum { OPT_BACKEND = 1000, OPT_HOST, OPT_PORT, OPT_AUTH, OPT_NODE, OPT_OUT, OPT_ETC, OPT_RUN,
       OPT_STATE, OPT_MANIFESTS };

static int on_opt(int opt, const char *arg, void *state)
{
    setup_opts *o = state;
    switch (opt) {
    case OPT_BACKEND: o->backend = arg; return 0;
    case OPT_HOST: o->host = arg; return 0;
    case OPT_PORT: return cli_parse_long("--port", arg, 1, &o->port);
    case OPT_AUTH: o->auth = arg; return 0;
    case OPT_NODE: o->node = arg; return 0;
    case OPT_OUT: o->out = arg; return 0;
    case OPT_ETC: o->etc = arg; return 0;
    case OPT_RUN: o->run = arg; return 0;
    case OPT_STATE: o->state = arg; return 0;
    case OPT_MANIFESTS: o->manifests = arg; return 0;
    }
    return -1;
}

/* Values that end up in YAML and in certificate names: an allow-list, so
 * nothing needs quoting anywhere.  Paths may also hold '/'. */
static int check_value(const char *flag, const char *v, const char *extra)
{
    if (!v || !*v || strlen(v) > 253 || v[0] == '-') {
        cli_err("setup: %s must be given, at most 253 characters, not starting with '-'", flag);
        return -1;
    }
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-._", *p) || (extra && strchr(extra, *p)))) {
            cli_err("setup: %s: byte 0x%02x not allowed (letters, digits, '-', '.', '_'%s%s)",
                    flag, (unsigned char)*p, extra ? ", " : "", extra ? extra : "");
            return -1;
        }
    if (strstr(v, "..")) {
        cli_err("setup: %s: \"..\" not allowed", flag);
        return -1;
    }
    return 0;
}

/* ---- files ---------------------------------------------------------------- */

static char *path_of(const char *dir, const char *name)
{
    return il_xasprintf("%s/%s", dir, name);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int write_text(const char *dir, const char *name, const char *text, mode_t mode)
{
    char *p = path_of(dir, name);
    int rc = il_write_file_atomic(p, text, strlen(text), mode);
    if (rc != 0)
        cli_err("setup: writing %s: %s", p, strerror(errno));
    free(p);
    return rc;
}

static char *read_text(const char *path)
{
    il_buf b = IL_BUF_INIT;
    char *text = NULL;
    if (il_read_file(path, 1024 * 1024, &b) == 0)
        text = il_xstrdup(il_buf_cstr(&b));
    il_buf_free(&b);
    return text;
}

/* target relative to directory from (kustomize takes no absolute paths);
 * NULL when either does not resolve.  Caller frees. */
static char *relative_path(const char *from, const char *target)
{
    char *a = realpath(from, NULL), *b = realpath(target, NULL);
    char *out = NULL;
    if (a && b) {
        size_t common = 0;   /* length of the shared leading components */
        for (size_t i = 0;; i++) {
            int end_a = a[i] == '\0' || a[i] == '/', end_b = b[i] == '\0' || b[i] == '/';
            if (end_a && end_b)
                common = i;
            if (a[i] != b[i] || a[i] == '\0')
                break;
        }
        il_buf r = IL_BUF_INIT;
        for (const char *p = a + common; *p; p++)
            if (*p == '/')
                il_buf_append(&r, "../", 3);
        const char *rest = b[common] == '/' ? b + common + 1 : b + common;
        il_buf_append(&r, rest, strlen(rest));
        out = il_xstrdup(r.len ? il_buf_cstr(&r) : ".");
        il_buf_free(&r);
    }
    free(a);
    free(b);
    return out;
}

/* ---- keys and certificates ----------------------------------------------- */

static char *pem_of_key(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        out = il_xasprintf("%.*s", (int)len, data);
    }
    BIO_free(bio);
    return out;
}

static char *pem_of_cert(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (PEM_write_bio_X509(bio, cert) == 1) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        out = il_xasprintf("%.*s", (int)len, data);
    }
    BIO_free(bio);
    return out;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

/* A certificate for key with common name cn, signed by (issuer, issuer_key),
 * or self-signed when issuer is NULL (the CA).  kind: "ca", "server" or
 * "client"; san: "DNS:x" or "IP:x" for a server. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *kind, const char *san,
                       X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *cert = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (RAND_bytes(serial, sizeof serial) != 1)
        goto fail;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    X509_set_version(cert, 2);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), (long)CERT_DAYS * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509 *signer = issuer ? issuer : cert;
    int bad = add_ext(cert, signer, NID_subject_key_identifier, "hash");
    if (strcmp(kind, "ca") == 0) {
        bad |= add_ext(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
        bad |=
            add_ext(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    } else {
        bad |= add_ext(cert, signer, NID_authority_key_identifier, "keyid");
        bad |= add_ext(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
        bad |= add_ext(cert, signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        bad |= add_ext(cert, signer, NID_ext_key_usage,
                       strcmp(kind, "server") == 0 ? "serverAuth" : "clientAuth");
        if (san)
            bad |= add_ext(cert, signer, NID_subject_alt_name, san);
    }
    if (bad || X509_sign(cert, issuer ? issuer_key : key, EVP_sha256()) == 0)
        goto fail;
    BN_free(bn);
    return cert;
fail:
    BN_free(bn);
    X509_free(cert);
    return NULL;
}

static EVP_PKEY *load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return c;
}

/* DIR/NAME.key and DIR/NAME.crt: kept when both are there, else made. */
static int ensure_pair(const char *dir, const char *name, const char *cn, const char *kind,
                       const char *san, X509 *ca, EVP_PKEY *ca_key)
{
    char *keyp = il_xasprintf("%s/%s.key", dir, name), *crtp = il_xasprintf("%s/%s.crt", dir, name);
    int rc = 0;
    if (!(exists(keyp) && exists(crtp))) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *cert = key ? make_cert(key, cn, kind, san, ca, ca_key) : NULL;
        char *kpem = cert ? pem_of_key(key) : NULL, *cpem = kpem ? pem_of_cert(cert) : NULL;
        /* The CA key is for the admin alone; a daemon's key is readable by
         * its group (the interlink user, once the admin chgrps it). */
        mode_t key_mode = strcmp(kind, "ca") == 0 ? 0600 : 0640;
        rc = cpem && il_write_file_atomic(keyp, kpem, strlen(kpem), key_mode) == 0 &&
                     il_write_file_atomic(crtp, cpem, strlen(cpem), 0644) == 0 ? 0 : -1;
        if (rc)
            cli_err("setup: cannot make %s", crtp);
        else
            printf("created %s\n", crtp);
        free(kpem);
        free(cpem);
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    free(keyp);
    free(crtp);
    return rc;
}

static int ensure_token(const char *path)
{
    if (exists(path))
        return 0;
    unsigned char raw[32];
    char hex[2 * sizeof raw + 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    strcat(hex, "\n");
    if (il_write_file_atomic(path, hex, strlen(hex), 0600) != 0)
        return -1;
    printf("created %s\n", path);
    return 0;
}

/* ---- configurations --------------------------------------------------------- */

static int write_configs(const setup_opts *o, const char *edge, const char *cluster, int mtls)
{
    char *manifests = relative_path(cluster, o->manifests);
    if (!manifests) {
        cli_err("setup: --manifests %s: %s", o->manifests, strerror(errno));
        return -1;
    }
    char *plugin_sock = il_xasprintf("unix://%s/interlink-%s/plugin.sock", o->run, o->backend);
    char *api = il_xasprintf(
        "# interlink (interlinkctl setup --backend %s --auth %s)\n"
        "InterlinkAddress: https://0.0.0.0\n"
        "InterlinkPort: \"%ld\"\n"
        "SidecarURL: %s\n"
        "DataRootFolder: %s/interlink\n"
        "TLS:\n"
        "  Enabled: true\n"
        "  CertFile: %s/tls/interlink.crt\n"
        "  KeyFile: %s/tls/interlink.key\n"
        "%s%s%s",
        o->backend, o->auth, o->port, plugin_sock, o->state, o->etc, o->etc,
        mtls ? "  CACertFile: " : "", mtls ? o->etc : "", mtls ? "/tls/ca.crt\n" : "");
    if (!mtls) {
        char *with_tokens = il_xasprintf("%sAuthTokenFile: %s/tls/tokens\n", api, o->etc);
        free(api);
        api = with_tokens;
    }
    char *plugin = il_xasprintf("# interlink-%s (interlinkctl setup)\n"
                                "Socket: %s\n"
                                "DataRootFolder: %s/interlink-%s\n",
                                o->backend, plugin_sock, o->state, o->backend);
    char *vk = il_xasprintf(
        "# interlink-vk (interlinkctl setup); credentials from the Secret at /etc/interlink/tls\n"
        "InterlinkURL: https://%s\n"
        "InterlinkPort: \"%ld\"\n"
        "TLS:\n"
        "  Enabled: %s\n"
        "  CACertFile: /etc/interlink/tls/ca.crt\n"
        "%s"
        "Resources:\n"
        "  CPU: \"100\"\n"
        "  Memory: 256Gi\n"
        "  Pods: \"100\"\n"
        "KubeletPort: 10250\n",
        o->host, o->port, mtls ? "true" : "false",
        mtls ? "  CertFile: /etc/interlink/tls/vk.crt\n  KeyFile: /etc/interlink/tls/vk.key\n"
             : "HTTP:\n  CaCert: /etc/interlink/tls/ca.crt\nVKTokenFile: "
               "/etc/interlink/tls/token\n");
    char *kust = il_xasprintf(
        "# The cluster side (interlinkctl setup): kubectl apply -k .\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources:\n"
        "- %s/overlays/edge\n"
        "configMapGenerator:\n"
        "- name: interlink-vk-config\n"
        "  namespace: interlink\n"
        "  behavior: replace\n"
        "  files:\n"
        "  - vk.yaml\n"
        "secretGenerator:\n"
        "- name: interlink-vk-tls\n"
        "  namespace: interlink\n"
        "  files:\n"
        "  - ca.crt\n"
        "%s"
        "generatorOptions:\n"
        "  disableNameSuffixHash: true\n"
        "patches:\n"
        "- target: {kind: Deployment, name: interlink-vk}\n"
        "  patch: |-\n"
        "    - {op: replace, path: /spec/template/spec/containers/0/env/0/value, value: %s}\n",
        manifests, mtls ? "  - vk.crt\n  - vk.key\n" : "  - token\n", o->node);
    char *cfgname = il_xasprintf("interlink-%s.yaml", o->backend);
    int rc = write_text(edge, "InterLinkConfig.yaml", api, 0640) ||
             write_text(edge, cfgname, plugin, 0640) || write_text(cluster, "vk.yaml", vk, 0644) ||
             write_text(cluster, "kustomization.yaml", kust, 0644) ? -1 : 0;
    free(plugin_sock);
    free(api);
    free(plugin);
    free(vk);
    free(kust);
    free(cfgname);
    free(manifests);
    return rc;
}

/* Copies src to dst unless dst has the same content. */
static int copy_file(const char *src, const char *dst, mode_t mode)
{
    char *a = read_text(src), *b = read_text(dst);
    int rc = 0;
    if (!a)
        rc = -1;
    else if (!b || strcmp(a, b) != 0)
        rc = il_write_file_atomic(dst, a, strlen(a), mode);
    free(a);
    free(b);
    return rc;
}

int cmd_setup(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS,
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"interlink-host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"auth", required_argument, NULL, OPT_AUTH},
        {"node", required_argument, NULL, OPT_NODE},
        {"out", required_argument, NULL, OPT_OUT},
        {"etc-dir", required_argument, NULL, OPT_ETC},
        {"run-dir", required_argument, NULL, OPT_RUN},
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"manifests", required_argument, NULL, OPT_MANIFESTS},
        {NULL, 0, NULL, 0}};
    setup_opts o = {.auth = "mtls", .node = "interlink-vk", .out = "interlink-setup",
                    .etc = "/etc/interlink", .run = "/run", .state = "/var/lib",
                    .manifests = "/usr/share/interlink/kubernetes", .port = 3000};
    int prc = cli_parse(ctx, argc, argv, CLI_GLOBAL_SHORTOPTS, longopts, on_opt, &o, setup_usage);
    if (prc != CLI_PARSE_OK)
        return CLI_PARSE_EXIT(prc);
    if (optind < argc) {
        cli_err("setup: takes no arguments (see interlinkctl setup --help)");
        return 1;
    }
    if (!o.backend || (strcmp(o.backend, "local") != 0 && strcmp(o.backend, "slurm") != 0)) {
        cli_err("setup: --backend must be local or slurm");
        return 1;
    }
    if (strcmp(o.auth, "mtls") != 0 && strcmp(o.auth, "token") != 0) {
        cli_err("setup: --auth must be mtls or token");
        return 1;
    }
    if (o.port > 65535) {
        cli_err("setup: --port must be at most 65535");
        return 1;
    }
    if (check_value("--interlink-host", o.host, ":") || check_value("--node", o.node, NULL) ||
        check_value("--out", o.out, "/") || check_value("--etc-dir", o.etc, "/") ||
        check_value("--run-dir", o.run, "/") || check_value("--state-dir", o.state, "/") ||
        check_value("--manifests", o.manifests, "/"))
        return 1;
    int mtls = strcmp(o.auth, "mtls") == 0;

    char *edge = path_of(o.out, "edge"), *tls = path_of(edge, "tls");
    char *cluster = path_of(o.out, "cluster");
    int rc = 1;
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL;
    if (il_mkdir_p(tls, 0750) != 0 || il_mkdir_p(cluster, 0750) != 0) {
        cli_err("setup: cannot create %s: %s", o.out, strerror(errno));
        goto out;
    }
    /* A host that parses as an address gets an IP SAN, a name a DNS SAN. */
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, o.host, addr) == 1 || inet_pton(AF_INET6, o.host, addr) == 1;
    char *san = il_xasprintf("%s:%s", is_ip ? "IP" : "DNS", o.host);
    char *ca_crt = path_of(tls, "ca.crt"), *ca_keyp = path_of(tls, "ca.key");
    int ok = ensure_pair(tls, "ca", "interlink-ca", "ca", NULL, NULL, NULL) == 0 &&
             (ca = load_cert(ca_crt)) && (ca_key = load_key(ca_keyp)) &&
             ensure_pair(tls, "interlink", o.host, "server", san, ca, ca_key) == 0;
    if (ok && mtls) {
        char *vk_dir = path_of(o.out, "vk-credentials");
        ok = il_mkdir_p(vk_dir, 0700) == 0 &&
             ensure_pair(vk_dir, "vk", o.node, "client", NULL, ca, ca_key) == 0;
        char *kc = path_of(vk_dir, "vk.crt"), *kk = path_of(vk_dir, "vk.key");
        char *dc = path_of(cluster, "vk.crt"), *dk = path_of(cluster, "vk.key");
        ok = ok && copy_file(kc, dc, 0644) == 0 && copy_file(kk, dk, 0600) == 0;
        free(kc), free(kk), free(dc), free(dk), free(vk_dir);
    } else if (ok) {
        char *tok = path_of(cluster, "token"), *tokens = path_of(tls, "tokens");
        ok = ensure_token(tok) == 0 && copy_file(tok, tokens, 0640) == 0;
        free(tok), free(tokens);
    }
    char *cluster_ca = path_of(cluster, "ca.crt");
    ok = ok && copy_file(ca_crt, cluster_ca, 0644) == 0 &&
         write_configs(&o, edge, cluster, mtls) == 0;
    free(cluster_ca);
    free(san);
    free(ca_crt);
    free(ca_keyp);
    if (!ok) {
        cli_err("setup: failed (see above); nothing already there was changed");
        goto out;
    }
    printf("\nNext steps:\n"
           "  1. On the edge node (as root): copy %s/* to %s/ (keep tls/ca.key off\n"
           "     the node if you like: only new certificates need it), then\n"
           "       chgrp -R interlink %s && systemctl enable --now interlink-%s interlink\n"
           "  2. In the cluster: kubectl apply -k %s\n"
           "  3. Approve the node's serving certificate once it asks for it:\n"
           "       kubectl get csr; kubectl certificate approve <csr-%s-...>\n"
           "  4. Check: kubectl get node %s   (Ready once interlink answers)\n",
           edge, o.etc, o.etc, o.backend, cluster, o.node, o.node);
    rc = 0;
out:
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    free(edge);
    free(tls);
    free(cluster);
    return rc;
}
