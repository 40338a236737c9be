/* resolve.c -- PodCreateRequests from a pod and what it refers to.
 *
 * Owns the shape interlink and its plugins expect (interlink-core.md
 * §5.7): which object goes in which list, the synthetic ConfigMap of a
 * projected or downwardAPI volume (named after the volume; a downwardAPI
 * volume is rewritten into the equivalent projected one, since plugins
 * look projected maps up by volume name), and env resolution.  Unlike
 * upstream: optional references are honoured, service-account tokens keep
 * the source's audience and lifetime, resourceFieldRef works, and the
 * order of env is the kubelet's (envFrom, then env; later names win). */
#include "resolve.h"

#include <stdlib.h>
#include <string.h>

#include "pods.h"
#include "util.h"

typedef struct parts {
    json_t *configmaps, *secrets, *projected;
} parts;

/* ---- synthetic maps ---------------------------------------------------- */

/* One file of a synthetic ConfigMap; takes value.  ConfigMap data is
 * text, so binary content cannot travel this way. */
static int put_file(vk_refs *r, json_t *files, const char *path, char *value, size_t len)
{
    json_t *text = value ? json_stringn(value, len) : NULL;
    free(value);
    if (!text)
        return vk_refs_fail(r, "FailedMount", "%s is not UTF-8 text and cannot be projected",
                            path ? path : "?");
    json_object_set_new(files, path, text);
    return 0;
}

static int project_all_keys(vk_refs *r, json_t *files, const char *kind, const json_t *obj)
{
    static const char *const fields[] = {"data", "binaryData"};
    for (size_t f = 0; f < 2; f++) {
        const char *key;
        json_t *ignored;
        json_object_foreach(json_object_get(obj, fields[f]), key, ignored) {
            char *value = NULL;
            size_t len = 0;
            if (vk_ref_object_value(obj, kind, key, &value, &len) &&
                put_file(r, files, key, value, len) < 0)
                return -1;
        }
    }
    return 0;
}

/* kube-root-ca.crt served from KubernetesApiCaCrt when configured, as
 * upstream does for clusters whose CA the backend must see differently. */
static bool project_root_ca(vk_refs *r, json_t *files, const json_t *src)
{
    const char *name = json_string_value(json_object_get(src, "name"));
    const char *ca = r->cfg->k8s_api_ca;
    if (!ca || !*ca || !name || strcmp(name, "kube-root-ca.crt") != 0)
        return false;
    const json_t *items = json_object_get(src, "items");
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
        json_object_set_new(files, json_string_value(json_object_get(item, "path")),
                            json_string(ca));
    if (json_array_size(items) == 0)
        json_object_set_new(files, "ca.crt", json_string(ca));
    return true;
}

/* A projected configMap or secret source: its items, or every key. */
static int project_object(vk_refs *r, json_t *files, const char *kind, const json_t *src)
{
    if (!strcmp(kind, "ConfigMap") && project_root_ca(r, files, src))
        return 0;
    const char *name = json_string_value(json_object_get(src, "name"));
    bool optional = json_is_true(json_object_get(src, "optional"));
    const json_t *obj, *items = json_object_get(src, "items"), *item;
    int rc = vk_ref_object(r, kind, name, optional, &obj);
    if (rc != VK_REF_FOUND)
        return rc == VK_REF_SKIP ? 0 : -1;
    if (json_array_size(items) == 0)
        return project_all_keys(r, files, kind, obj);
    size_t i;
    json_array_foreach(items, i, item) {
        const char *key = json_string_value(json_object_get(item, "key"));
        const char *path = json_string_value(json_object_get(item, "path"));
        char *value = NULL;
        size_t len = 0;
        rc = vk_ref_value(r, kind, name, key, optional, &value, &len);
        if (rc == VK_REF_ERR || (rc == VK_REF_FOUND &&
                                 put_file(r, files, path ? path : key, value, len) < 0))
            return -1;
    }
    return 0;
}

static int project_downward(vk_refs *r, json_t *files, const json_t *items)
{
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item) {
        const char *path = json_string_value(json_object_get(item, "path"));
        const json_t *field = json_object_get(item, "fieldRef");
        const json_t *res = json_object_get(item, "resourceFieldRef");
        if (!path)
            return vk_refs_fail(r, "FailedMount", "downwardAPI item %zu has no path", i);
        char *value = field ? vk_ref_field(r, json_string_value(
                                                  json_object_get(field, "fieldPath")) ?: "")
                    : res   ? vk_ref_resource(r, res, NULL)
                            : NULL;
        if (!value && !field && !res)
            return vk_refs_fail(r, "FailedMount", "downwardAPI item %s: no fieldRef or "
                                "resourceFieldRef", path);
        if (!value || put_file(r, files, path, value, strlen(value)) < 0)
            return -1;
    }
    return 0;
}

static int project_source(vk_refs *r, json_t *files, const json_t *src)
{
    const json_t *part;
    if ((part = json_object_get(src, "configMap")))
        return project_object(r, files, "ConfigMap", part);
    if ((part = json_object_get(src, "secret")))
        return project_object(r, files, "Secret", part);
    if ((part = json_object_get(src, "downwardAPI")))
        return project_downward(r, files, json_object_get(part, "items"));
    if ((part = json_object_get(src, "serviceAccountToken"))) {
        const char *path = json_string_value(json_object_get(part, "path"));
        char *token = path ? vk_ref_token(r, part) : NULL;
        if (!path)
            vk_refs_fail(r, "FailedMount", "serviceAccountToken projection has no path");
        return token ? put_file(r, files, path, token, strlen(token)) : -1;
    }
    return vk_refs_fail(r, "FailedMount", "projected source %s is not supported",
                        json_object_iter_key(json_object_iter((json_t *)src)) ?: "(empty)");
}

/* The synthetic ConfigMap of a projected volume (sources) into parts. */
static int synthetic_map(vk_refs *r, const char *vol, const json_t *sources, parts *p)
{
    json_t *files = json_object();
    size_t i;
    const json_t *src;
    json_array_foreach(sources, i, src) {
        if (project_source(r, files, src) < 0) {
            json_decref(files);
            return -1;
        }
    }
    json_array_append_new(p->projected,
                          json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "v1", "kind",
                                    "ConfigMap", "metadata", "name", vol, "namespace",
                                    vk_pod_ns(r->pod), "data", files));
    return 0;
}

/* ---- volumes ----------------------------------------------------------- */

/* A whole ConfigMap or Secret into list, once; items must name keys it
 * has (the kubelet refuses to mount otherwise). */
static int include_whole(vk_refs *r, const char *kind, const json_t *src, const char *name_key,
                         json_t *list)
{
    const char *name = json_string_value(json_object_get(src, name_key));
    bool optional = json_is_true(json_object_get(src, "optional"));
    const json_t *obj, *item;
    int rc = vk_ref_object(r, kind, name, optional, &obj);
    if (rc != VK_REF_FOUND)
        return rc == VK_REF_SKIP ? 0 : -1;
    size_t i;
    json_array_foreach(json_object_get(src, "items"), i, item) {
        const char *key = json_string_value(json_object_get(item, "key"));
        char *value = NULL;
        size_t len;
        if (!key || !vk_ref_object_value(obj, kind, key, &value, &len))
            return vk_refs_fail(r, "FailedMount", "%s \"%s\" has no key \"%s\"", kind, name,
                                key ? key : "");
        free(value);
    }
    json_t *have;
    json_array_foreach(list, i, have)
        if (json_equal(json_object_get(json_object_get(have, "metadata"), "name"),
                       json_object_get(json_object_get(obj, "metadata"), "name")))
            return 0;
    json_array_append_new(list, json_deep_copy(obj));
    return 0;
}

static void downward_to_projected(json_t *vol, json_t *downward)
{
    json_t *projected = json_pack("{s:[{s:O}]}", "sources", "downwardAPI", downward);
    json_t *mode = json_object_get(downward, "defaultMode");
    if (mode)
        json_object_set(projected, "defaultMode", mode);
    json_object_set_new(vol, "projected", projected);
    json_object_del(vol, "downwardAPI");
}

static int resolve_volume(vk_refs *r, json_t *vol, parts *p)
{
    const char *name = json_string_value(json_object_get(vol, "name"));
    json_t *src;
    if ((src = json_object_get(vol, "configMap")))
        return include_whole(r, "ConfigMap", src, "name", p->configmaps);
    if ((src = json_object_get(vol, "secret")))
        return include_whole(r, "Secret", src, "secretName", p->secrets);
    if (r->cfg->disable_projected_volumes)
        return 0;
    if ((src = json_object_get(vol, "projected")))
        return synthetic_map(r, name, json_object_get(src, "sources"), p);
    if (!(src = json_object_get(vol, "downwardAPI")))
        return 0;   /* emptyDir, hostPath, PVC...: the backend's business */
    json_t *sources = json_pack("[{s:O}]", "downwardAPI", src);
    int rc = synthetic_map(r, name, sources, p);
    json_decref(sources);
    if (rc == 0)
        downward_to_projected(vol, src);
    return rc;
}

/* ---- env --------------------------------------------------------------- */

/* Set name=value in env (an array of {name, value}): a later definition
 * replaces an earlier one in place, as the kubelet's map does. */
static void env_set(json_t *env, const char *name, char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && !strcmp(n, name)) {
            json_object_set_new(e, "value", json_string(value));
            free(value);
            return;
        }
    }
    json_array_append_new(env, json_pack("{s:s, s:s}", "name", name, "value", value));
    free(value);
}

static int env_from(vk_refs *r, const json_t *sources, json_t *env)
{
    size_t i;
    const json_t *src;
    json_array_foreach(sources, i, src) {
        const json_t *ref = json_object_get(src, "configMapRef");
        const char *kind = ref ? "ConfigMap" : "Secret";
        const char *prefix = json_string_value(json_object_get(src, "prefix"));
        const json_t *obj;
        if (!ref)
            ref = json_object_get(src, "secretRef");
        int rc = vk_ref_object(r, kind, json_string_value(json_object_get(ref, "name")),
                               json_is_true(json_object_get(ref, "optional")), &obj);
        if (rc == VK_REF_ERR)
            return -1;
        const char *key;
        json_t *ignored;
        json_object_foreach(json_object_get(obj, "data"), key, ignored) {
            char *value = NULL, *name = il_xasprintf("%s%s", prefix ? prefix : "", key);
            size_t len;
            if (vk_ref_object_value(obj, kind, key, &value, &len) && !strchr(name, '='))
                env_set(env, name, value);
            else
                free(value);
            free(name);
        }
    }
    return 0;
}

/* The value of one valueFrom: FOUND, SKIP (optional and absent) or ERR. */
static int value_from(vk_refs *r, const json_t *from, const char *cname, char **value)
{
    static const char *const kinds[][2] = {{"configMapKeyRef", "ConfigMap"},
                                           {"secretKeyRef", "Secret"}};
    const json_t *ref;
    size_t len;
    for (size_t k = 0; k < 2; k++) {
        if ((ref = json_object_get(from, kinds[k][0])))
            return vk_ref_value(r, kinds[k][1], json_string_value(json_object_get(ref, "name")),
                                json_string_value(json_object_get(ref, "key")),
                                json_is_true(json_object_get(ref, "optional")), value, &len);
    }
    if ((ref = json_object_get(from, "fieldRef")))
        *value = vk_ref_field(r, json_string_value(json_object_get(ref, "fieldPath")) ?: "");
    else if ((ref = json_object_get(from, "resourceFieldRef")))
        *value = vk_ref_resource(r, ref, cname);
    else
        vk_refs_fail(r, "CreateContainerConfigError", "env valueFrom has no known source");
    return *value ? VK_REF_FOUND : VK_REF_ERR;
}

static int resolve_env(vk_refs *r, json_t *container)
{
    const char *cname = json_string_value(json_object_get(container, "name"));
    json_t *env = json_array();
    int rc = env_from(r, json_object_get(container, "envFrom"), env);
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(container, "env"), i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const json_t *from = json_object_get(e, "valueFrom");
        char *value = NULL;
        if (rc < 0)
            break;
        if (!name)
            continue;   /* invalid; the plugin's own validation names it */
        if (from)
            rc = value_from(r, from, cname, &value) == VK_REF_ERR ? -1 : 0;
        else
            value = il_xstrdup(json_string_value(json_object_get(e, "value")) ?: "");
        if (value)
            env_set(env, name, value);
    }
    if (rc >= 0) {
        json_object_set(container, "env", env);
        json_object_del(container, "envFrom");
    }
    json_decref(env);
    return rc < 0 ? -1 : 0;
}

/* The KUBERNETES_SERVICE_* variables upstream adds when the API server's
 * address for the backend is configured (unless the pod sets them). */
static void add_api_env(const vk_config *cfg, json_t *container)
{
    const char *a = cfg->k8s_api_addr, *p = cfg->k8s_api_port;
    if (!a || !*a || !p || !*p)
        return;
    json_t *env = json_object_get(container, "env");
    const char *names[] = {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
                           "KUBERNETES_SERVICE_PORT_HTTPS", "KUBERNETES_PORT",
                           "KUBERNETES_PORT_443_TCP", "KUBERNETES_PORT_443_TCP_PROTO",
                           "KUBERNETES_PORT_443_TCP_ADDR", "KUBERNETES_PORT_443_TCP_PORT"};
    char *values[] = {il_xstrdup(a), il_xstrdup(p), il_xstrdup(p),
                      il_xasprintf("tcp://%s:%s", a, p), il_xasprintf("tcp://%s:%s", a, p),
                      il_xstrdup("tcp"), il_xstrdup(a), il_xstrdup(p)};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        env_set(env, names[i], values[i]);
}

/* ---- the request ------------------------------------------------------- */

static int resolve_spec(vk_refs *r, json_t *spec, parts *p)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(spec, "volumes"), i, item) {
        if (resolve_volume(r, item, p) < 0) {
            char *why = il_xstrdup(r->message);
            vk_refs_fail(r, r->reason, "volume \"%s\": %s",
                         json_string_value(json_object_get(item, "name")) ?: "?", why);
            free(why);
            return -1;
        }
    }
    static const char *const lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(spec, lists[l]), i, item) {
            if (resolve_env(r, item) < 0)
                return -1;
            add_api_env(r->cfg, item);
        }
    }
    return 0;
}

/* Go marshals a slice nothing was appended to as null. */
static json_t *array_or_null(json_t *a)
{
    if (json_array_size(a) > 0)
        return a;
    json_decref(a);
    return json_null();
}

json_t *vk_resolve_pod(vk_refs *r)
{
    json_t *pod = json_deep_copy(r->pod);
    parts p = {json_array(), json_array(), json_array()};
    if (resolve_spec(r, json_object_get(pod, "spec"), &p) < 0) {
        json_decref(pod);
        json_decref(p.configmaps);
        json_decref(p.secrets);
        json_decref(p.projected);
        return NULL;
    }
    const char *script = r->cfg->job_script_url;
    return json_pack("{s:o, s:o, s:o, s:o, s:s}", "pod", pod, "configmaps",
                     array_or_null(p.configmaps), "secrets", array_or_null(p.secrets),
                     "projectedvolumesmaps", array_or_null(p.projected), "jobscriptURL",
                     script ? script : "");
}
