/* kubeconfig.c -- kubeconfig files and the in-cluster service account.
 *
 * Owns the kubeconfig schema (current-context -> context -> cluster and
 * user), kubectl's merge rule for a KUBECONFIG list, resolving relative
 * credential paths against the file that names them, and turning every
 * credential into an in-memory PEM blob.  Auth plugins (exec,
 * auth-provider) and basic auth are refused with a message rather than
 * ignored: silently connecting anonymously would fail later and obscurely. */
#include "kubeconfig.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "yamljson.h"

#define KC_MAX_FILE (4 * 1024 * 1024)

/* One loaded file of the KUBECONFIG list. */
typedef struct kc_file {
    char *path;
    char *dir;                /* for relative credential paths */
    json_t *doc;
} kc_file;

typedef struct kc_files {
    kc_file *v;
    size_t n;
} kc_files;

static void files_free(kc_files *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->v[i].path);
        free(fs->v[i].dir);
        json_decref(fs->v[i].doc);
    }
    free(fs->v);
}

/* 1 loaded, 0 missing (skipped), -1 error. */
static int file_load(const char *path, kc_file *out, char *err, size_t errlen)
{
    il_buf buf = IL_BUF_INIT;
    if (il_read_file(path, KC_MAX_FILE, &buf) < 0) {
        int e = errno;
        il_buf_free(&buf);
        if (e == ENOENT)
            return 0;
        snprintf(err, errlen, "kubeconfig %s: %s", path, strerror(e));
        return -1;
    }
    char yerr[256];
    json_t *doc = il_yaml_load_one(il_buf_cstr(&buf), buf.len, yerr, sizeof yerr);
    il_buf_free(&buf);
    if (!doc || !json_is_object(doc)) {
        snprintf(err, errlen, "kubeconfig %s: %s", path, doc ? "expected a mapping" : yerr);
        json_decref(doc);
        return -1;
    }
    char *copy = il_xstrdup(path);
    out->dir = il_xstrdup(dirname(copy));
    free(copy);
    out->path = il_xstrdup(path);
    out->doc = doc;
    return 1;
}

static int files_load(const char *list, kc_files *fs, char *err, size_t errlen)
{
    memset(fs, 0, sizeof *fs);
    fs->v = il_xcalloc(strlen(list) + 1, sizeof *fs->v);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ":");
        char *path = il_xstrndup(p, len);
        int rc = len ? file_load(path, &fs->v[fs->n], err, errlen) : 0;
        free(path);
        if (rc < 0)
            return -1;
        fs->n += (size_t)rc;
        p += len + (p[len] == ':');
    }
    if (fs->n == 0) {
        snprintf(err, errlen, "KUBECONFIG=%s: no such file", list);
        return -1;
    }
    return 0;
}

/* files[i].doc[section][] entry named name, and its inner object (e.g.
 * "clusters"[]{name, cluster}); the first file that has it wins. */
static const json_t *find_named(const kc_files *fs, const char *section, const char *inner,
                                const char *name, const kc_file **from)
{
    for (size_t i = 0; i < fs->n; i++) {
        const json_t *list = json_object_get(fs->v[i].doc, section);
        size_t j;
        const json_t *e;
        json_array_foreach(list, j, e) {
            const char *n = json_string_value(json_object_get(e, "name"));
            const json_t *obj = json_object_get(e, inner);
            if (n && !strcmp(n, name) && json_is_object(obj)) {
                *from = &fs->v[i];
                return obj;
            }
        }
    }
    return NULL;
}

static const char *jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

/* Path as written, or relative to the directory of the file naming it. */
static char *resolve_path(const kc_file *f, const char *path)
{
    return path[0] == '/' ? il_xstrdup(path) : il_xasprintf("%s/%s", f->dir, path);
}

/* A credential given inline (KEY-data, base64) or as a file (KEY).  Absent
 * both leaves out empty. */
static int load_pem(const kc_file *f, const json_t *obj, const char *key, il_buf *out,
                    char *err, size_t errlen)
{
    char *data_key = il_xasprintf("%s-data", key);
    const char *data = jstr(obj, data_key);
    const char *path = jstr(obj, key);
    int rc = 0;
    if (data) {
        size_t len;
        unsigned char *bytes = il_base64_decode(data, &len);
        if (bytes) {
            il_buf_append(out, bytes, len);
            free(bytes);
        } else {
            snprintf(err, errlen, "kubeconfig %s: %s is not valid base64", f->path, data_key);
            rc = -1;
        }
    } else if (path) {
        char *full = resolve_path(f, path);
        if (il_read_file(full, KC_MAX_FILE, out) < 0) {
            snprintf(err, errlen, "kubeconfig %s: %s %s: %s", f->path, key, full, strerror(errno));
            rc = -1;
        }
        free(full);
    }
    free(data_key);
    return rc;
}

static int load_cluster(const kc_files *fs, const char *name, vk_kubeconfig *out, char *err,
                        size_t errlen)
{
    const kc_file *f;
    const json_t *c = find_named(fs, "clusters", "cluster", name, &f);
    if (!c) {
        snprintf(err, errlen, "kubeconfig %s: no cluster named \"%s\"", fs->v[0].path, name);
        return -1;
    }
    if (!jstr(c, "server")) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\" has no server", f->path, name);
        return -1;
    }
    out->server = il_xstrdup(jstr(c, "server"));
    out->insecure = json_is_true(json_object_get(c, "insecure-skip-tls-verify"));
    return load_pem(f, c, "certificate-authority", &out->ca, err, errlen);
}

static int load_user(const kc_files *fs, const char *name, vk_kubeconfig *out, char *err,
                     size_t errlen)
{
    const kc_file *f;
    const json_t *u = find_named(fs, "users", "user", name, &f);
    if (!u)
        return 0;   /* kubectl allows a context without a user: anonymous */
    static const char *const unsupported[] = {"exec", "auth-provider", "username"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        if (json_object_get(u, unsupported[i])) {
            snprintf(err, errlen, "kubeconfig %s: user \"%s\": %s authentication is not supported "
                     "(use a token, a token file or a client certificate)", f->path, name,
                     unsupported[i]);
            return -1;
        }
    }
    out->token = il_xstrdup(jstr(u, "token"));
    if (!out->token && jstr(u, "tokenFile"))
        out->token_file = resolve_path(f, jstr(u, "tokenFile"));
    if (load_pem(f, u, "client-certificate", &out->cert, err, errlen) < 0 ||
        load_pem(f, u, "client-key", &out->key, err, errlen) < 0)
        return -1;
    if ((out->cert.len == 0) != (out->key.len == 0)) {
        snprintf(err, errlen, "kubeconfig %s: user \"%s\": a client certificate needs its key",
                 f->path, name);
        return -1;
    }
    return 0;
}

static const char *current_context(const kc_files *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        const char *s = jstr(fs->v[i].doc, "current-context");
        if (s)
            return s;
    }
    return NULL;
}

static int load_context(const kc_files *fs, vk_kubeconfig *out, char *err, size_t errlen)
{
    const char *name = current_context(fs);
    if (!name) {
        snprintf(err, errlen, "kubeconfig %s: no current-context", fs->v[0].path);
        return -1;
    }
    const kc_file *f;
    const json_t *ctx = find_named(fs, "contexts", "context", name, &f);
    if (!ctx || !jstr(ctx, "cluster")) {
        snprintf(err, errlen, "kubeconfig %s: context \"%s\" %s", fs->v[0].path, name,
                 ctx ? "names no cluster" : "not found");
        return -1;
    }
    out->source = il_xasprintf("%s, context %s", f->path, name);
    out->ns = il_xstrdup(jstr(ctx, "namespace"));
    if (load_cluster(fs, jstr(ctx, "cluster"), out, err, errlen) < 0)
        return -1;
    return jstr(ctx, "user") ? load_user(fs, jstr(ctx, "user"), out, err, errlen) : 0;
}

int vk_kubeconfig_load_files(const char *list, vk_kubeconfig *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    kc_files fs;
    int rc = files_load(list, &fs, err, errlen);
    if (rc == 0)
        rc = load_context(&fs, out, err, errlen);
    files_free(&fs);
    if (rc < 0)
        vk_kubeconfig_free(out);
    return rc;
}

int vk_kubeconfig_in_cluster(const char *sa_dir, vk_kubeconfig *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port) {
        snprintf(err, errlen, "KUBECONFIG is not set and this is not a pod "
                 "(KUBERNETES_SERVICE_HOST/PORT are not set)");
        return -1;
    }
    bool ipv6 = strchr(host, ':') != NULL;
    out->server = il_xasprintf("https://%s%s%s:%s", ipv6 ? "[" : "", host, ipv6 ? "]" : "", port);
    out->token_file = il_xasprintf("%s/token", sa_dir);
    out->source = il_xstrdup("in-cluster service account");
    char *ca = il_xasprintf("%s/ca.crt", sa_dir);
    int rc = il_read_file(ca, KC_MAX_FILE, &out->ca);
    if (rc < 0)
        snprintf(err, errlen, "in-cluster configuration: %s: %s", ca, strerror(errno));
    free(ca);
    il_buf nsbuf = IL_BUF_INIT;
    char *nsfile = il_xasprintf("%s/namespace", sa_dir);
    if (rc == 0 && il_read_file(nsfile, 256, &nsbuf) == 0 && nsbuf.len)
        out->ns = il_xstrndup(nsbuf.data, strcspn(nsbuf.data, " \t\r\n"));
    free(nsfile);
    il_buf_free(&nsbuf);
    char *token = NULL;
    if (rc == 0)   /* fail now, not at the first request, if there is no token */
        rc = vk_kubeconfig_token(out, &token, err, errlen);
    free(token);
    if (rc < 0)
        vk_kubeconfig_free(out);
    return rc;
}

int vk_kubeconfig_load(vk_kubeconfig *out, char *err, size_t errlen)
{
    const char *list = getenv("KUBECONFIG");
    if (list && *list)
        return vk_kubeconfig_load_files(list, out, err, errlen);
    return vk_kubeconfig_in_cluster(VK_SA_DIR, out, err, errlen);
}

int vk_kubeconfig_token(const vk_kubeconfig *kc, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (kc->token) {
        *out = il_xstrdup(kc->token);
        return 0;
    }
    if (!kc->token_file)
        return 0;
    il_buf buf = IL_BUF_INIT;
    if (il_read_file(kc->token_file, 64 * 1024, &buf) < 0) {
        snprintf(err, errlen, "token file %s: %s", kc->token_file, strerror(errno));
        il_buf_free(&buf);
        return -1;
    }
    const char *s = il_buf_cstr(&buf);
    s += strspn(s, " \t\r\n");
    size_t len = strlen(s);
    while (len > 0 && strchr(" \t\r\n", s[len - 1]))
        len--;
    if (len == 0)
        snprintf(err, errlen, "token file %s is empty", kc->token_file);
    else
        *out = il_xstrndup(s, len);
    il_buf_free(&buf);
    return len ? 0 : -1;
}

void vk_kubeconfig_free(vk_kubeconfig *kc)
{
    if (!kc)
        return;
    free(kc->server);
    il_buf_free(&kc->ca);
    il_buf_free(&kc->cert);
    il_buf_free(&kc->key);
    free(kc->token);
    free(kc->token_file);
    free(kc->ns);
    free(kc->source);
    memset(kc, 0, sizeof *kc);
}
