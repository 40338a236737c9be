/* refs.c -- looking up what a pod refers to: ConfigMaps, Secrets, its own
 * fields and resources (the downward API), service-account tokens.
 *
 * The values follow the kubelet's rules (pkg/fieldpath, pkg/api/v1/
 * resource): labels and annotations render as sorted key="value" lines,
 * resources divide by the divisor rounding up, and an unset limit is the
 * node's allocatable amount. */
#include "refs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "pods.h"
#include "quantity.h"
#include "util.h"

#define DEFAULT_TOKEN_SECONDS 3600

void vk_refs_init(vk_refs *r, vk_kube *kube, const vk_config *cfg, const json_t *pod)
{
    memset(r, 0, sizeof *r);
    r->kube = kube;
    r->cfg = cfg;
    r->pod = pod;
    r->cache = json_object();
}

void vk_refs_free(vk_refs *r)
{
    json_decref(r->cache);
    r->cache = NULL;
}

int vk_refs_fail(vk_refs *r, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->reason = reason;
    return VK_REF_ERR;
}

/* ---- ConfigMaps and Secrets -------------------------------------------- */

/* GET the object into the cache: 1 found, 0 absent, -1 the API failed. */
static int fetch(vk_refs *r, const char *kind, const char *name, json_t **out)
{
    char *ck = il_xasprintf("%s/%s", kind, name);
    *out = json_object_get(r->cache, ck);
    if (*out) {
        free(ck);
        return json_is_null(*out) ? 0 : 1;
    }
    char *path = il_xasprintf("/api/v1/namespaces/%s/%s/%s", vk_pod_ns(r->pod),
                              strcmp(kind, "Secret") ? "configmaps" : "secrets", name);
    vk_kube_result res;
    int rc = vk_kube_get(r->kube, path, &res) == 0 && res.body ? 1 : 0;
    if (rc == 1 || vk_kube_is(&res, 404)) {
        *out = rc ? res.body : json_null();
        json_object_set(r->cache, ck, *out);
    } else {
        vk_refs_fail(r, "FailedToRetrieve", "%s", res.error);
        rc = -1;
    }
    vk_kube_result_free(&res);   /* the cache holds its own reference */
    free(path);
    free(ck);
    return rc;
}

int vk_ref_object(vk_refs *r, const char *kind, const char *name, bool optional,
                  const json_t **out)
{
    json_t *obj = NULL;
    *out = NULL;
    int rc = name && *name ? fetch(r, kind, name, &obj) : 0;
    if (rc < 0)
        return VK_REF_ERR;
    if (rc == 1) {
        *out = obj;
        return VK_REF_FOUND;
    }
    if (optional)
        return VK_REF_SKIP;
    return vk_refs_fail(r, "FailedMount", "%s \"%s\" not found in namespace %s",
                        strcmp(kind, "Secret") ? "configmap" : "secret", name ? name : "",
                        vk_pod_ns(r->pod));
}

bool vk_ref_object_value(const json_t *obj, const char *kind, const char *key, char **value,
                         size_t *len)
{
    bool secret = strcmp(kind, "Secret") == 0;
    const char *text = json_string_value(json_object_get(json_object_get(obj, "data"), key));
    if (text && !secret) {
        *len = strlen(text);
        *value = il_xstrdup(text);
        return true;
    }
    if (!secret)
        text = json_string_value(json_object_get(json_object_get(obj, "binaryData"), key));
    if (!text)
        return false;
    *value = (char *)il_base64_decode(text, len);
    return *value != NULL;
}

int vk_ref_value(vk_refs *r, const char *kind, const char *name, const char *key,
                 bool optional, char **value, size_t *len)
{
    const json_t *obj;
    int rc = vk_ref_object(r, kind, name, optional, &obj);
    if (rc != VK_REF_FOUND)
        return rc;
    if (key && vk_ref_object_value(obj, kind, key, value, len))
        return VK_REF_FOUND;
    if (optional)
        return VK_REF_SKIP;
    return vk_refs_fail(r, "CreateContainerConfigError", "couldn't find key %s in %s %s/%s",
                        key ? key : "", kind, vk_pod_ns(r->pod), name);
}

/* ---- downward API ------------------------------------------------------ */

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Kubernetes' fieldpath.FormatMap: sorted key="value" lines, values
 * quoted as Go's %q quotes them (strconv.Quote). */
static char *format_map(const json_t *map)
{
    size_t n = json_object_size(map), i = 0;
    const char **keys = il_xcalloc(n + 1, sizeof *keys);
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)map, k, val)
        keys[i++] = k;
    qsort(keys, n, sizeof *keys, by_string);
    il_buf out = IL_BUF_INIT;
    il_buf_puts(&out, "");
    for (i = 0; i < n; i++) {
        const char *s = json_string_value(json_object_get(map, keys[i]));
        il_buf_printf(&out, "%s%s=\"", i ? "\n" : "", keys[i]);
        for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
            if (*p == '"' || *p == '\\')
                il_buf_printf(&out, "\\%c", *p);
            else if (*p == '\n')
                il_buf_puts(&out, "\\n");
            else if (*p < 0x20 || *p == 0x7f)
                il_buf_printf(&out, "\\x%02x", *p);
            else
                il_buf_append(&out, p, 1);
        }
        il_buf_puts(&out, "\"");
    }
    free(keys);
    return il_buf_steal(&out);
}

/* metadata.labels / metadata.annotations, whole or ['key']. */
static char *meta_map(const json_t *meta, const char *path, bool *matched)
{
    static const char *const maps[] = {"labels", "annotations"};
    for (size_t i = 0; i < 2; i++) {
        char prefix[32];
        size_t n = (size_t)snprintf(prefix, sizeof prefix, "metadata.%s", maps[i]);
        if (strncmp(path, prefix, n) != 0)
            continue;
        const json_t *map = json_object_get(meta, maps[i]);
        const char *rest = path + n;
        size_t len = strlen(rest);
        *matched = true;
        if (!*rest)
            return format_map(map);
        if (len < 5 || strncmp(rest, "['", 2) != 0 || strcmp(rest + len - 2, "']") != 0)
            return NULL;
        char *key = il_xstrndup(rest + 2, len - 4);
        const char *v = json_string_value(json_object_get(map, key));
        free(key);
        return il_xstrdup(v ? v : "");
    }
    return NULL;
}

/* Plain (non-map) fields; NULL when path is not one of them. */
static const char *plain_field(const vk_refs *r, const char *path)
{
    const json_t *meta = json_object_get(r->pod, "metadata");
    const json_t *spec = json_object_get(r->pod, "spec");
    const char *v;
    if (!strcmp(path, "metadata.name") || !strcmp(path, "metadata.uid"))
        v = json_string_value(json_object_get(meta, path + 9));
    else if (!strcmp(path, "metadata.namespace"))
        v = vk_pod_ns(r->pod);
    else if (!strcmp(path, "spec.nodeName") || !strcmp(path, "spec.serviceAccountName"))
        v = json_string_value(json_object_get(spec, path + 5));
    else if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.hostIPs"))
        v = r->cfg->pod_ip && *r->cfg->pod_ip ? r->cfg->pod_ip : "127.0.0.1";
    else if (!strcmp(path, "status.podIP") || !strcmp(path, "status.podIPs"))
        v = json_string_value(json_object_get(json_object_get(r->pod, "status"), "podIP"));
    else
        return NULL;
    if (!v && !strncmp(path, "status.podIP", 12))
        v = "127.0.0.1";   /* no pod network without a tunnel, as upstream */
    return v ? v : "";
}

char *vk_ref_field(vk_refs *r, const char *path)
{
    bool matched = false;
    char *map = meta_map(json_object_get(r->pod, "metadata"), path, &matched);
    if (matched && !map)
        vk_refs_fail(r, "CreateContainerConfigError", "fieldRef \"%s\" is malformed", path);
    if (matched)
        return map;
    const char *v = plain_field(r, path);
    if (!v)
        vk_refs_fail(r, "CreateContainerConfigError", "fieldRef \"%s\" is not supported", path);
    return il_xstrdup(v);
}

static const json_t *container_named(const json_t *pod, const char *name)
{
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), lists[l]), i, c)
        {
            const char *cn = json_string_value(json_object_get(c, "name"));
            if (name && cn && !strcmp(cn, name))
                return c;
        }
    }
    return NULL;
}

/* amount / divisor rounded up, both in the unit the resource counts in
 * (milli-cpus for cpu, bytes otherwise), as the kubelet computes it. */
static char *divide(vk_refs *r, const char *amount, const char *divisor, bool cpu)
{
    int64_t a, d;
    int (*parse)(const char *, int64_t *) = cpu ? il_quantity_milli : il_quantity_value;
    if (parse(amount, &a) < 0 || parse(divisor && *divisor ? divisor : "1", &d) < 0 || d <= 0)
        return vk_refs_fail(r, "CreateContainerConfigError",
                            "resourceFieldRef: \"%s\" / \"%s\" is not computable", amount,
                            divisor ? divisor : "1"), NULL;
    return il_xasprintf("%lld", (long long)((a + d - 1) / d));
}

char *vk_ref_resource(vk_refs *r, const json_t *ref, const char *dflt)
{
    const char *cname = json_string_value(json_object_get(ref, "containerName"));
    const char *res = json_string_value(json_object_get(ref, "resource"));
    const char *divisor = json_string_value(json_object_get(ref, "divisor"));
    const json_t *c = container_named(r->pod, cname && *cname ? cname : dflt);
    const char *dot = res ? strchr(res, '.') : NULL;
    if (!c || !dot || (strncmp(res, "limits.", 7) && strncmp(res, "requests.", 9)))
        return vk_refs_fail(r, "CreateContainerConfigError",
                            "resourceFieldRef %s of container \"%s\" is not supported",
                            res ? res : "", cname ? cname : dflt ? dflt : ""), NULL;
    bool limit = res[0] == 'l', cpu = !strcmp(dot + 1, "cpu");
    const json_t *set = json_object_get(json_object_get(c, "resources"),
                                        limit ? "limits" : "requests");
    const char *amount = json_string_value(json_object_get(set, dot + 1));
    if (!amount && limit && cpu)
        amount = r->cfg->cpu;   /* an unset limit is the node's allocatable */
    else if (!amount && limit && !strcmp(dot + 1, "memory"))
        amount = r->cfg->memory;
    return divide(r, amount ? amount : "0", divisor, cpu);
}

/* ---- service-account tokens ------------------------------------------- */

char *vk_ref_token(vk_refs *r, const json_t *source)
{
    const json_t *spec = json_object_get(r->pod, "spec");
    const char *sa = json_string_value(json_object_get(spec, "serviceAccountName"));
    const char *aud = json_string_value(json_object_get(source, "audience"));
    json_int_t secs = json_integer_value(json_object_get(source, "expirationSeconds"));
    json_t *req = json_pack("{s:s, s:s, s:{s:I, s:{s:s, s:s, s:s, s:s}}}", "apiVersion",
                            "authentication.k8s.io/v1", "kind", "TokenRequest", "spec",
                            "expirationSeconds", secs > 0 ? secs : DEFAULT_TOKEN_SECONDS,
                            "boundObjectRef", "apiVersion", "v1", "kind", "Pod", "name",
                            vk_pod_name(r->pod), "uid", vk_pod_uid(r->pod));
    if (aud && *aud)
        json_object_set_new(json_object_get(req, "spec"), "audiences", json_pack("[s]", aud));
    char *path = il_xasprintf("/api/v1/namespaces/%s/serviceaccounts/%s/token",
                              vk_pod_ns(r->pod), sa && *sa ? sa : "default");
    vk_kube_result res;
    char *token = NULL;
    if (vk_kube_create(r->kube, path, req, &res) == 0)
        token = il_xstrdup(json_string_value(
            json_object_get(json_object_get(res.body, "status"), "token")));
    if (!token)
        vk_refs_fail(r, "FailedMount", "cannot get a service account token for %s: %s",
                     sa && *sa ? sa : "default", res.error[0] ? res.error : "no token in answer");
    vk_kube_result_free(&res);
    free(path);
    json_decref(req);
    return token;
}
