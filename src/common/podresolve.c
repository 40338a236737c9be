/* podresolve.c -- PodCreateRequests from a pod and what it refers to
 * (podresolve.h).
 *
 * The values follow the kubelet's rules (pkg/fieldpath, pkg/kubelet
 * makeEnvironmentVariables, pkg/volume/util MakePayload): labels and
 * annotations render as sorted key="value" lines quoted as Go quotes them,
 * a missing key of an optional object is skipped, envFrom names that no
 * process could receive are left out. */
#include "podresolve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "util.h"

#define REASON_MOUNT "FailedMount"
#define REASON_ENV "CreateContainerConfigError"

typedef struct parts {
    json_t *configmaps, *secrets, *projected;
} parts;

static const char *str_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

static const char *get_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ---- errors and warnings ----------------------------------------------- */

int il_podres_fail(il_podres *r, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->reason = reason;
    return IL_PODRES_ERR;
}

/* Say where a failure happened ("volume \"v\": " before the message), and
 * give it the step's reason unless whoever failed named a precise one. */
static int add_context(il_podres *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int add_context(il_podres *r, const char *reason, const char *fmt, ...)
{
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char *why = il_xstrdup(r->message);
    snprintf(r->message, sizeof r->message, "%s%s", prefix, why);
    free(why);
    if (!r->reason)
        r->reason = reason;
    return IL_PODRES_ERR;
}

static void warn(il_podres *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(il_podres *r, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    if (!r->ops->warn)
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    r->ops->warn(r, message);
}

/* ---- ConfigMaps and Secrets -------------------------------------------- */

bool il_podres_data(const json_t *obj, const char *kind, const char *key, char **value,
                    size_t *len)
{
    bool secret = strcmp(kind, "Secret") == 0;
    const char *text = get_str(json_object_get(obj, "data"), key);
    if (text && !secret) {
        *len = strlen(text);
        *value = il_xstrdup(text);
        return true;
    }
    if (!secret)
        text = get_str(json_object_get(obj, "binaryData"), key);
    if (!text)
        return false;
    *value = (char *)il_base64_decode(text, len);
    return *value != NULL;
}

/* The object a reference names: FOUND, MISSING when it is absent and the
 * reference optional, ERR otherwise (the lookup said what is missing). */
static int ref_object(il_podres *r, const char *kind, const char *name, bool optional,
                      const json_t **obj)
{
    *obj = NULL;
    int rc = r->ops->lookup(r, kind, str_or(name, ""), obj);
    return rc == IL_PODRES_MISSING && !optional ? IL_PODRES_ERR : rc;
}

static int no_key(il_podres *r, const char *kind, const char *name, const char *key)
{
    return il_podres_fail(r, NULL, "couldn't find key %s in %s %s/%s", str_or(key, ""), kind,
                          r->ns, str_or(name, ""));
}

/* ---- downward API ------------------------------------------------------ */

/* Go's strconv.Quote, which fieldpath.FormatMap uses, for ASCII; other
 * bytes pass as they are. */
static void go_quote(il_buf *out, const char *s)
{
    static const char named[] = "\a\b\f\n\r\t\v", letters[] = "abfnrtv";
    il_buf_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = strchr(named, *p);
        if (*p == '"' || *p == '\\')
            il_buf_printf(out, "\\%c", *p);
        else if (esc)
            il_buf_printf(out, "\\%c", letters[esc - named]);
        else if (*p < 0x20 || *p == 0x7f)
            il_buf_printf(out, "\\x%02x", *p);
        else
            il_buf_append(out, p, 1);
    }
    il_buf_puts(out, "\"");
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Kubernetes' fieldpath.FormatMap: sorted key="value" lines. */
static char *format_map(const json_t *map)
{
    size_t n = json_object_size(map), i = 0;
    const char **keys = il_xcalloc(n + 1, sizeof *keys);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)map, key, value)
        keys[i++] = key;
    qsort(keys, n, sizeof *keys, by_string);
    il_buf out = IL_BUF_INIT;
    il_buf_puts(&out, "");
    for (i = 0; i < n; i++) {
        il_buf_printf(&out, "%s%s=", i ? "\n" : "", keys[i]);
        go_quote(&out, str_or(get_str(map, keys[i]), ""));
    }
    free(keys);
    return il_buf_steal(&out);
}

/* metadata.labels / metadata.annotations, whole or ['key'] ("" when the
 * key is absent).  NULL with *matched set: a malformed subscript. */
static char *meta_map(const il_podres *r, const char *path, bool *matched)
{
    static const char *const maps[] = {"labels", "annotations"};
    for (size_t i = 0; i < 2; i++) {
        char prefix[32];
        size_t n = (size_t)snprintf(prefix, sizeof prefix, "metadata.%s", maps[i]);
        if (strncmp(path, prefix, n) != 0)
            continue;
        const json_t *map = json_object_get(json_object_get(r->pod, "metadata"), maps[i]);
        const char *rest = path + n;
        size_t len = strlen(rest);
        *matched = true;
        if (!*rest)
            return format_map(map);
        if (len < 5 || strncmp(rest, "['", 2) != 0 || strcmp(rest + len - 2, "']") != 0)
            return NULL;
        char *key = il_xstrndup(rest + 2, len - 4);
        const char *v = get_str(map, key);
        free(key);
        return il_xstrdup(str_or(v, ""));
    }
    return NULL;
}

/* The fields every pod has in itself, whoever resolves it. */
static bool own_field(const il_podres *r, const char *path, const char **value)
{
    if (!strcmp(path, "metadata.name") || !strcmp(path, "metadata.uid"))
        *value = get_str(json_object_get(r->pod, "metadata"), path + strlen("metadata."));
    else if (!strcmp(path, "metadata.namespace"))
        *value = r->ns;
    else if (!strcmp(path, "spec.nodeName") || !strcmp(path, "spec.serviceAccountName"))
        *value = get_str(json_object_get(r->pod, "spec"), path + strlen("spec."));
    else
        return false;
    return true;
}

/* A fieldRef's value (malloc'd), or NULL after il_podres_fail. */
static char *field_value(il_podres *r, const char *path)
{
    bool matched = false;
    const char *own;
    char *map = meta_map(r, path, &matched);
    if (matched && !map)
        il_podres_fail(r, NULL, "fieldRef \"%s\" is malformed", path);
    if (matched)
        return map;
    if (own_field(r, path, &own))
        return il_xstrdup(str_or(own, ""));
    if (r->ops->field)
        return r->ops->field(r, path);
    il_podres_fail(r, NULL, "fieldRef \"%s\" is not supported", path);
    return NULL;
}

/* ---- synthetic ConfigMaps ---------------------------------------------- */

/* One file of a synthetic ConfigMap; takes value.  ConfigMap data is
 * text, so binary content cannot travel this way. */
static int put_file(il_podres *r, json_t *files, const char *path, char *value, size_t len)
{
    json_t *text = json_stringn(value, len);
    free(value);
    if (!text)
        return il_podres_fail(r, NULL, "%s is not UTF-8 text and cannot be projected", path);
    json_object_set_new(files, path, text);
    return 0;
}

static int project_all_keys(il_podres *r, json_t *files, const char *kind, const json_t *obj)
{
    static const char *const fields[] = {"data", "binaryData"};
    for (size_t f = 0; f < 2; f++) {
        const char *key;
        json_t *ignored;
        json_object_foreach(json_object_get(obj, fields[f]), key, ignored) {
            char *value = NULL;
            size_t len = 0;
            if (il_podres_data(obj, kind, key, &value, &len) &&
                put_file(r, files, key, value, len) < 0)
                return -1;
        }
    }
    return 0;
}

/* A projected configMap or secret source: its items, or every key. */
static int project_object(il_podres *r, json_t *files, const char *kind, const json_t *src)
{
    const char *name = get_str(src, "name");
    bool optional = json_is_true(json_object_get(src, "optional"));
    const json_t *obj, *items = json_object_get(src, "items"), *item;
    int rc = ref_object(r, kind, name, optional, &obj);
    if (rc != IL_PODRES_FOUND)
        return rc == IL_PODRES_MISSING ? 0 : -1;
    if (json_array_size(items) == 0)
        return project_all_keys(r, files, kind, obj);
    size_t i;
    json_array_foreach(items, i, item) {
        const char *key = get_str(item, "key");
        char *value = NULL;
        size_t len = 0;
        if (key && il_podres_data(obj, kind, key, &value, &len)) {
            if (put_file(r, files, str_or(get_str(item, "path"), key), value, len) < 0)
                return -1;
        } else if (!optional) {
            return no_key(r, kind, name, key);
        }
    }
    return 0;
}

static int downward_item(il_podres *r, json_t *files, const json_t *item, size_t i)
{
    const char *path = get_str(item, "path");
    const json_t *field = json_object_get(item, "fieldRef");
    const json_t *res = json_object_get(item, "resourceFieldRef");
    if (!path)
        return il_podres_fail(r, NULL, "downwardAPI item %zu has no path", i);
    if (!field && !res)
        return il_podres_fail(r, NULL, "downwardAPI item %s: no fieldRef or resourceFieldRef",
                              path);
    if (!field && !r->ops->resource) {
        warn(r, "downwardAPI item %s: only fieldRef is supported; skipped", path);
        return 0;
    }
    char *value = field ? field_value(r, str_or(get_str(field, "fieldPath"), ""))
                        : r->ops->resource(r, res, NULL);
    return value ? put_file(r, files, path, value, strlen(value)) : -1;
}

static int project_downward(il_podres *r, json_t *files, const json_t *items)
{
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item) {
        if (downward_item(r, files, item, i) < 0)
            return -1;
    }
    return 0;
}

static int project_token(il_podres *r, json_t *files, const json_t *src)
{
    const char *path = get_str(src, "path");
    if (!r->ops->token) {
        warn(r, "projected serviceAccountToken: there is no Kubernetes API here to issue one; "
                "skipped");
        return 0;
    }
    if (!path)
        return il_podres_fail(r, NULL, "serviceAccountToken projection has no path");
    char *token = r->ops->token(r, src);
    return token ? put_file(r, files, path, token, strlen(token)) : -1;
}

static int project_source(il_podres *r, json_t *files, const json_t *src)
{
    const json_t *part;
    if ((part = json_object_get(src, "configMap")))
        return project_object(r, files, "ConfigMap", part);
    if ((part = json_object_get(src, "secret")))
        return project_object(r, files, "Secret", part);
    if ((part = json_object_get(src, "downwardAPI")))
        return project_downward(r, files, json_object_get(part, "items"));
    if ((part = json_object_get(src, "serviceAccountToken")))
        return project_token(r, files, part);
    return il_podres_fail(r, NULL, "projected source %s is not supported",
                          str_or(json_object_iter_key(json_object_iter((json_t *)src)),
                                 "(empty)"));
}

/* The synthetic ConfigMap of a projected volume's sources, into parts. */
static int synthetic_map(il_podres *r, const char *vol, const json_t *sources, parts *p)
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
                                    "ConfigMap", "metadata", "name", vol, "namespace", r->ns,
                                    "data", files));
    return 0;
}

/* ---- volumes ----------------------------------------------------------- */

/* The kubelet refuses to mount an object whose items name keys it lacks,
 * unless the object is optional. */
static int check_items(il_podres *r, const char *kind, const char *name, const json_t *obj,
                       const json_t *items)
{
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item) {
        const char *key = get_str(item, "key");
        char *value = NULL;
        size_t len;
        if (!key || !il_podres_data(obj, kind, key, &value, &len))
            return no_key(r, kind, name, key);
        free(value);
    }
    return 0;
}

static bool listed(const json_t *list, const json_t *obj)
{
    size_t i;
    const json_t *have;
    const json_t *name = json_object_get(json_object_get(obj, "metadata"), "name");
    json_array_foreach(list, i, have) {
        if (json_equal(json_object_get(json_object_get(have, "metadata"), "name"), name))
            return true;
    }
    return false;
}

/* A whole ConfigMap or Secret into list, once, in the pod's namespace
 * (a manifest's object may not say it). */
static int include_whole(il_podres *r, const char *kind, const json_t *src, const char *name_key,
                         json_t *list)
{
    const char *name = get_str(src, name_key);
    bool optional = json_is_true(json_object_get(src, "optional"));
    const json_t *obj;
    int rc = ref_object(r, kind, name, optional, &obj);
    if (rc != IL_PODRES_FOUND)
        return rc == IL_PODRES_MISSING ? 0 : -1;
    if (!optional && check_items(r, kind, name, obj, json_object_get(src, "items")) < 0)
        return -1;
    if (listed(list, obj))
        return 0;
    json_t *copy = json_deep_copy(obj);
    json_object_set_new(json_object_get(copy, "metadata"), "namespace", json_string(r->ns));
    json_array_append_new(list, copy);
    return 0;
}

/* Plugins look projected maps up by volume name, so a downwardAPI volume
 * becomes the equivalent projected one, as upstream's virtual kubelet
 * rewrites it. */
static void downward_to_projected(json_t *vol, json_t *downward)
{
    json_t *projected = json_pack("{s:[{s:O}]}", "sources", "downwardAPI", downward);
    json_t *mode = json_object_get(downward, "defaultMode");
    if (mode)
        json_object_set(projected, "defaultMode", mode);
    json_object_set_new(vol, "projected", projected);
    json_object_del(vol, "downwardAPI");
}

static int resolve_volume(il_podres *r, json_t *vol, const char *name, parts *p)
{
    json_t *src;
    if ((src = json_object_get(vol, "configMap")))
        return include_whole(r, "ConfigMap", src, "name", p->configmaps);
    if ((src = json_object_get(vol, "secret")))
        return include_whole(r, "Secret", src, "secretName", p->secrets);
    if (r->skip_projected)
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

static int resolve_volumes(il_podres *r, json_t *volumes, parts *p)
{
    size_t i;
    json_t *vol;
    json_array_foreach(volumes, i, vol) {
        const char *name = get_str(vol, "name");
        if (!name)
            continue;   /* invalid; the plugin's own validation names it */
        if (resolve_volume(r, vol, name, p) < 0)
            return add_context(r, REASON_MOUNT, "volume \"%s\": ", name);
    }
    return 0;
}

/* ---- env --------------------------------------------------------------- */

/* name=value (value taken) into env, an array of {name, value}: a later
 * definition replaces an earlier one in place. */
static void env_put(json_t *env, const char *name, json_t *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e) {
        const char *n = get_str(e, "name");
        if (n && !strcmp(n, name)) {
            json_object_set_new(e, "value", value);
            return;
        }
    }
    e = json_object();
    json_object_set_new(e, "name", json_string(name));
    json_object_set_new(e, "value", value);
    json_array_append_new(env, e);
}

void il_podres_setenv(json_t *container, const char *name, const char *value)
{
    json_t *env = json_object_get(container, "env");
    if (!json_is_array(env)) {
        env = json_array();
        json_object_set_new(container, "env", env);
    }
    env_put(env, name, json_string(value));
}

/* Every data key of obj as prefix+key.  A name with '=' could never reach
 * a process, and a value must be text (it ends at its first NUL anyway). */
static void env_from_object(json_t *env, const json_t *obj, const char *kind,
                            const char *prefix)
{
    const char *key;
    json_t *ignored;
    json_object_foreach(json_object_get(obj, "data"), key, ignored) {
        char *name = il_xasprintf("%s%s", prefix, key), *value = NULL;
        size_t len;
        json_t *text = !strchr(name, '=') && il_podres_data(obj, kind, key, &value, &len)
                           ? json_string(value)
                           : NULL;
        if (text)
            env_put(env, name, text);
        free(value);
        free(name);
    }
}

static int env_from(il_podres *r, const json_t *sources, json_t *env)
{
    size_t i;
    const json_t *src;
    json_array_foreach(sources, i, src) {
        const char *kind = "ConfigMap";
        const json_t *ref = json_object_get(src, "configMapRef"), *obj;
        if (!ref) {
            kind = "Secret";
            ref = json_object_get(src, "secretRef");
        }
        if (!ref)
            continue;   /* invalid; the plugin's own validation names it */
        int rc = ref_object(r, kind, get_str(ref, "name"),
                            json_is_true(json_object_get(ref, "optional")), &obj);
        if (rc == IL_PODRES_ERR)
            return add_context(r, NULL, "envFrom: ");
        if (rc == IL_PODRES_FOUND)
            env_from_object(env, obj, kind, str_or(get_str(src, "prefix"), ""));
    }
    return 0;
}

/* configMapKeyRef / secretKeyRef: FOUND, MISSING (optional), ERR. */
static int key_ref(il_podres *r, const json_t *ref, const char *kind, json_t **out)
{
    const char *name = get_str(ref, "name"), *key = get_str(ref, "key");
    bool optional = json_is_true(json_object_get(ref, "optional"));
    const json_t *obj;
    char *value = NULL;
    size_t len;
    int rc = ref_object(r, kind, name, optional, &obj);
    if (rc != IL_PODRES_FOUND)
        return rc;
    if (!key || !il_podres_data(obj, kind, key, &value, &len))
        return optional ? IL_PODRES_MISSING : no_key(r, kind, name, key);
    *out = json_string(value);
    free(value);
    return *out ? IL_PODRES_FOUND
                : il_podres_fail(r, NULL, "%s value is not UTF-8 text", kind);
}

/* One valueFrom of container cname: FOUND, MISSING (the variable is left
 * out, as the kubelet does) or ERR. */
static int value_from(il_podres *r, const json_t *from, const char *cname, json_t **out)
{
    const json_t *ref;
    char *value;
    if ((ref = json_object_get(from, "configMapKeyRef")))
        return key_ref(r, ref, "ConfigMap", out);
    if ((ref = json_object_get(from, "secretKeyRef")))
        return key_ref(r, ref, "Secret", out);
    if ((ref = json_object_get(from, "fieldRef")))
        value = field_value(r, str_or(get_str(ref, "fieldPath"), ""));
    else if ((ref = json_object_get(from, "resourceFieldRef")) && r->ops->resource)
        value = r->ops->resource(r, ref, cname);
    else
        return il_podres_fail(r, NULL, "%s",
                              r->ops->resource ? "valueFrom: no configMapKeyRef, secretKeyRef, "
                                                 "fieldRef or resourceFieldRef"
                                               : "valueFrom: only configMapKeyRef, "
                                                 "secretKeyRef and fieldRef are supported");
    if (!value)
        return IL_PODRES_ERR;
    *out = json_string(value);
    free(value);
    return *out ? IL_PODRES_FOUND : il_podres_fail(r, NULL, "fieldRef value is not UTF-8 text");
}

/* One explicit entry's value: FOUND, MISSING or ERR as value_from. */
static int explicit_value(il_podres *r, const json_t *var, const char *cname, json_t **out)
{
    const json_t *from = json_object_get(var, "valueFrom");
    json_t *value = json_object_get(var, "value");
    if (from)
        return value_from(r, from, cname, out);
    /* As it is: a value of the wrong type is the plugin's to refuse. */
    *out = value ? json_incref(value) : json_string("");
    return IL_PODRES_FOUND;
}

/* Explicit env entries, after the envFrom ones, which they override. */
static int env_explicit(il_podres *r, json_t *vars, const char *cname, json_t *env)
{
    size_t i;
    json_t *var;
    json_array_foreach(vars, i, var) {
        const char *name = get_str(var, "name");
        json_t *value = NULL;
        if (!name) {   /* kept for the plugin's own validation to name */
            json_array_append(env, var);
            continue;
        }
        int rc = explicit_value(r, var, cname, &value);
        if (rc == IL_PODRES_ERR)
            return add_context(r, NULL, "env %s: ", name);
        if (rc == IL_PODRES_FOUND)
            env_put(env, name, value);
    }
    return 0;
}

static int resolve_env(il_podres *r, json_t *container)
{
    const char *cname = get_str(container, "name");
    json_t *env = json_array();
    int rc = env_from(r, json_object_get(container, "envFrom"), env);
    if (rc == 0)
        rc = env_explicit(r, json_object_get(container, "env"), cname, env);
    if (rc == 0 && json_array_size(env) > 0)
        json_object_set(container, "env", env);
    else if (rc == 0)
        json_object_del(container, "env");
    if (rc == 0)
        json_object_del(container, "envFrom");
    json_decref(env);
    return rc == 0 ? 0 : add_context(r, REASON_ENV, "container %s: ", str_or(cname, "?"));
}

static int resolve_containers(il_podres *r, json_t *spec)
{
    static const char *const lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c) {
            if (json_is_object(c) && resolve_env(r, c) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- the request ------------------------------------------------------- */

/* Go marshals a slice nothing was appended to as null. */
static json_t *array_or_null(json_t *a)
{
    if (json_array_size(a) > 0)
        return a;
    json_decref(a);
    return json_null();
}

static void parts_free(parts *p)
{
    json_decref(p->configmaps);
    json_decref(p->secrets);
    json_decref(p->projected);
}

json_t *il_podres_request(il_podres *r, json_t *pod, const char *job_script_url)
{
    json_t *spec = json_object_get(pod, "spec"), *request = NULL;
    parts p = {json_array(), json_array(), json_array()};
    r->pod = pod;
    r->ns = str_or(get_str(json_object_get(pod, "metadata"), "namespace"), "default");
    r->reason = NULL;
    r->message[0] = '\0';
    int rc = resolve_volumes(r, json_object_get(spec, "volumes"), &p);
    if (rc == 0)
        rc = resolve_containers(r, spec);
    if (rc == 0)
        request = json_pack("{s:O, s:o, s:o, s:o, s:s}", "pod", pod, "configmaps",
                            array_or_null(p.configmaps), "secrets", array_or_null(p.secrets),
                            "projectedvolumesmaps", array_or_null(p.projected),
                            "jobscriptURL", str_or(job_script_url, ""));
    else
        parts_free(&p);
    if (request) {   /* an optional object's "not found" is no failure */
        r->reason = NULL;
        r->message[0] = '\0';
    }
    json_decref(pod);
    r->pod = NULL;   /* both may be gone with the pod */
    r->ns = NULL;
    return request;
}
