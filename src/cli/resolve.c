/* resolve.c -- build the PodCreateRequests body as the virtual kubelet
 * does (interlink-core.md §5.7): ConfigMaps and Secrets referenced by
 * volumes travel whole, projected and downwardAPI volumes become one
 * synthetic ConfigMap each (path -> content), and the pod's env is resolved
 * (env.c).  Objects come from the manifest, not from a Kubernetes API. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "cli.h"
#include "pod.h"
#include "timeutil.h"

static void set_err(cli_resolver *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(cli_resolver *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
}

const cli_object *cli_ref_object(cli_resolver *r, const char *kind, const char *name,
                                 bool optional, int *rc) {
    const cli_object *o = name ? cli_manifest_find(r->m, kind, r->ns, name) : NULL;
    *rc = CLI_REF_FOUND;
    if (o)
        return o;
    *rc = optional ? CLI_REF_SKIP : CLI_REF_ERR;
    if (!optional)
        set_err(r, "%s \"%s\" not found in %s (define it there in namespace %s, or mark the reference optional: true)",
                kind, name ? name : "", cli_manifest_source(r->m), r->ns);
    return NULL;
}

/* Data of a key: ConfigMap data (text) or binaryData, Secret data (base64). */
static bool object_data(const cli_object *o, const char *key, char **value, size_t *len)
{
    bool is_secret = strcmp(o->kind, "Secret") == 0;
    const char *text = json_string_value(json_object_get(json_object_get(o->obj, "data"), key));
    if (text && !is_secret) {
        *len = strlen(text);
        *value = il_xstrdup(text);
        return true;
    }
    if (!text && !is_secret)
        text = json_string_value(json_object_get(json_object_get(o->obj, "binaryData"), key));
    if (!text)
        return false;
    /* Validity was checked when the manifest was loaded. */
    *value = (char *)il_base64_decode(text, len);
    return *value != NULL;
}

int cli_ref_value(cli_resolver *r, const char *kind, const char *name, const char *key,
                  bool optional, char **value, size_t *len) {
    int rc;
    const cli_object *o = cli_ref_object(r, kind, name, optional, &rc);
    if (!o)
        return rc;
    if (key && object_data(o, key, value, len))
        return CLI_REF_FOUND;
    if (optional)
        return CLI_REF_SKIP;
    set_err(r, "%s \"%s\" has no key \"%s\"", kind, name, key ? key : "");
    return CLI_REF_ERR;
}

/* Go's %q for the characters label and annotation values hold. */
static void go_quote(il_buf *out, const char *s)
{
    il_buf_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': il_buf_puts(out, "\\\""); break;
        case '\\': il_buf_puts(out, "\\\\"); break;
        case '\n': il_buf_puts(out, "\\n"); break;
        case '\t': il_buf_puts(out, "\\t"); break;
        case '\r': il_buf_puts(out, "\\r"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                il_buf_printf(out, "\\x%02x", *p);
            else
                il_buf_append(out, p, 1);
        }
    }
    il_buf_puts(out, "\"");
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Kubernetes' fieldpath.FormatMap: sorted `key="value"` lines. */
static char *format_map(json_t *map)
{
    size_t n = json_object_size(map), i = 0;
    const char **keys = il_xcalloc(n + 1, sizeof(char *));
    const char *key;
    json_t *value;
    json_object_foreach(map, key, value) keys[i++] = key;
    qsort(keys, n, sizeof(char *), compare_strings);
    il_buf out = IL_BUF_INIT;
    for (i = 0; i < n; i++) {
        const char *text = json_string_value(json_object_get(map, keys[i]));
        il_buf_printf(&out, "%s%s=", i ? "\n" : "", keys[i]);
        go_quote(&out, text ? text : "");
    }
    free(keys);
    il_buf_puts(&out, "");
    return il_buf_steal(&out);
}

/* "metadata.labels['app']" -> the label's value, "" when absent. */
static char *map_entry(json_t *map, const char *subscript)
{
    size_t len = strlen(subscript);
    if (len < 4 || subscript[0] != '[' || subscript[1] != '\'' || strcmp(subscript + len - 2, "']") != 0)
        return NULL;
    char *key = il_xstrndup(subscript + 2, len - 4);
    const char *value = json_string_value(json_object_get(map, key));
    free(key);
    return il_xstrdup(value ? value : "");
}

static const char *after_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* metadata.labels, metadata.annotations, and their ['key'] forms. */
static char *metadata_map_ref(json_t *meta, const char *path)
{
    const char *rest;
    json_t *map;
    if ((rest = after_prefix(path, "metadata.labels")) != NULL)
        map = json_object_get(meta, "labels");
    else if ((rest = after_prefix(path, "metadata.annotations")) != NULL)
        map = json_object_get(meta, "annotations");
    else
        return NULL;
    return *rest == '\0' ? format_map(map) : map_entry(map, rest);
}

char *cli_field_ref_value(cli_resolver *r, const char *path)
{
    json_t *meta = json_object_get(r->pod, "metadata");
    const char *field;
    if ((field = after_prefix(path, "metadata.")) != NULL &&
        (!strcmp(field, "name") || !strcmp(field, "namespace") || !strcmp(field, "uid")))
        return il_xstrdup(json_string_value(json_object_get(meta, field)));
    char *value = metadata_map_ref(meta, path);
    if (value)
        return value;
    if ((field = after_prefix(path, "spec.")) != NULL &&
        (!strcmp(field, "serviceAccountName") || !strcmp(field, "nodeName"))) {
        const char *v = json_string_value(json_object_get(json_object_get(r->pod, "spec"), field));
        return il_xstrdup(v ? v : "");
    }
    /* Without a tunnel the virtual kubelet reports 127.0.0.1 for both. */
    if (strcmp(path, "status.podIP") == 0 || strcmp(path, "status.hostIP") == 0)
        return il_xstrdup("127.0.0.1");
    set_err(r, "fieldRef \"%s\" is not supported (use metadata.name, metadata.namespace, "
               "metadata.uid, metadata.labels, metadata.annotations, spec.serviceAccountName, "
               "spec.nodeName, status.podIP or status.hostIP)", path);
    return NULL;
}

/* Prepend context ("volume \"v\": ") to the message already in r->err. */
static void prefix_err(cli_resolver *r, const char *prefix)
{
    char *old = il_xstrdup(r->err);
    snprintf(r->err, r->errlen, "%s%s", prefix, old);
    free(old);
}

/* One file of a synthetic ConfigMap.  Takes ownership of value; ConfigMap
 * data is JSON strings, so the content must be text. */
static int put_file(cli_resolver *r, json_t *files, const char *path, char *value, size_t len)
{
    json_t *text = json_stringn(value, len);
    free(value);
    if (!text) {
        set_err(r, "%s is not UTF-8 text and cannot be projected", path);
        return -1;
    }
    json_object_set_new(files, path, text);
    return 0;
}

static int project_all_keys(cli_resolver *r, json_t *files, const cli_object *o)
{
    static const char *const fields[] = {"data", "binaryData"};
    for (size_t f = 0; f < 2; f++) {
        const char *key;
        json_t *ignored;
        json_object_foreach(json_object_get(o->obj, fields[f]), key, ignored) {
            char *value = NULL;
            size_t len = 0;
            if (object_data(o, key, &value, &len) && put_file(r, files, key, value, len) != 0)
                return -1;
        }
    }
    return 0;
}

/* A projected configMap/secret source: its items, or every key. */
static int project_object(cli_resolver *r, json_t *files, const char *kind, json_t *src)
{
    const char *name = json_string_value(json_object_get(src, "name"));
    bool optional = json_is_true(json_object_get(src, "optional"));
    int rc;
    const cli_object *o = cli_ref_object(r, kind, name, optional, &rc);
    json_t *items = json_object_get(src, "items");
    if (!o || json_array_size(items) == 0)
        return o ? project_all_keys(r, files, o) : (rc == CLI_REF_SKIP ? 0 : -1);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        const char *key = json_string_value(json_object_get(item, "key"));
        const char *path = json_string_value(json_object_get(item, "path"));
        char *value = NULL;
        size_t len = 0;
        rc = cli_ref_value(r, kind, name, key, optional, &value, &len);
        if (rc == CLI_REF_ERR)
            return -1;
        if (rc == CLI_REF_FOUND && put_file(r, files, path ? path : key, value, len) != 0)
            return -1;
    }
    return 0;
}

static int project_downward(cli_resolver *r, json_t *files, json_t *items)
{
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        const char *path = json_string_value(json_object_get(item, "path"));
        const char *field = json_string_value(
            json_object_get(json_object_get(item, "fieldRef"), "fieldPath"));
        if (!field) {   /* resourceFieldRef: the virtual kubelet skips it too */
            cli_warn("downwardAPI item %s: only fieldRef is supported; skipped", path ? path : "?");
            continue;
        }
        char *value = path ? cli_field_ref_value(r, field) : NULL;
        if (!path && !value)
            set_err(r, "downwardAPI item %zu: path: required", i);
        if (!value || put_file(r, files, path, value, strlen(value)) != 0)
            return -1;
    }
    return 0;
}

static int project_source(cli_resolver *r, json_t *files, json_t *src)
{
    json_t *part;
    if ((part = json_object_get(src, "configMap")) != NULL)
        return project_object(r, files, "ConfigMap", part);
    if ((part = json_object_get(src, "secret")) != NULL)
        return project_object(r, files, "Secret", part);
    if ((part = json_object_get(src, "downwardAPI")) != NULL)
        return project_downward(r, files, json_object_get(part, "items"));
    if (json_object_get(src, "serviceAccountToken"))
        cli_warn("projected serviceAccountToken: there is no Kubernetes API here to issue one; skipped");
    return 0;
}

/* The synthetic ConfigMap the virtual kubelet sends for a projected or
 * downwardAPI volume: named after the volume, data = path -> content. */
static json_t *synthetic_map(cli_resolver *r, const char *vol_name, json_t *sources)
{
    json_t *files = json_object();
    size_t i;
    json_t *src;
    json_array_foreach(sources, i, src) {
        if (project_source(r, files, src) != 0) {
            json_decref(files);
            return NULL;
        }
    }
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "v1", "kind", "ConfigMap",
                     "metadata", "name", vol_name, "namespace", r->ns, "data", files);
}

/* Add a whole ConfigMap or Secret to the request, once. */
static int include_object(cli_resolver *r, const char *kind, json_t *src, const char *name_key,
                          json_t *list) {
    const char *name = json_string_value(json_object_get(src, name_key));
    int rc;
    const cli_object *o =
        cli_ref_object(r, kind, name, json_is_true(json_object_get(src, "optional")), &rc);
    if (!o)
        return rc == CLI_REF_SKIP ? 0 : -1;
    size_t i;
    json_t *have;
    json_array_foreach(list, i, have) {
        if (strcmp(json_string_value(json_object_get(json_object_get(have, "metadata"), "name")),
                   name) == 0)
            return 0;
    }
    json_t *copy = json_deep_copy(o->obj);
    json_object_set_new(json_object_get(copy, "metadata"), "namespace", json_string(r->ns));
    json_array_append_new(list, copy);
    return 0;
}

/* The virtual kubelet rewrites a downwardAPI volume into the equivalent
 * projected one, since interlink only looks projected maps up by name. */
static void downward_to_projected(json_t *vol, json_t *downward)
{
    json_t *projected = json_pack("{s:[{s:O}]}", "sources", "downwardAPI", downward);
    json_t *mode = json_object_get(downward, "defaultMode");
    if (mode)
        json_object_set(projected, "defaultMode", mode);
    json_object_set_new(vol, "projected", projected);
    json_object_del(vol, "downwardAPI");
}

typedef struct request_parts {
    json_t *configmaps, *secrets, *projected;
} request_parts;

static int resolve_volume(cli_resolver *r, json_t *vol, request_parts *parts)
{
    const char *name = json_string_value(json_object_get(vol, "name"));
    json_t *src;
    if ((src = json_object_get(vol, "configMap")) != NULL)
        return include_object(r, "ConfigMap", src, "name", parts->configmaps);
    if ((src = json_object_get(vol, "secret")) != NULL)
        return include_object(r, "Secret", src, "secretName", parts->secrets);
    json_t *map = NULL;
    if ((src = json_object_get(vol, "projected")) != NULL) {
        map = synthetic_map(r, name, json_object_get(src, "sources"));
    } else if ((src = json_object_get(vol, "downwardAPI")) != NULL) {
        json_t *sources = json_pack("[{s:O}]", "downwardAPI", src);
        map = synthetic_map(r, name, sources);
        json_decref(sources);
        if (map)
            downward_to_projected(vol, src);
    } else {
        return 0;   /* emptyDir, hostPath, ...: the backend's business */
    }
    if (!map)
        return -1;
    json_array_append_new(parts->projected, map);
    return 0;
}

static int resolve_pod(cli_resolver *r, request_parts *parts)
{
    json_t *spec = json_object_get(r->pod, "spec");
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(spec, "volumes"), i, item) {
        if (!json_is_object(item) || !json_is_string(json_object_get(item, "name")))
            continue;   /* il_pod_parse names the field */
        if (resolve_volume(r, item, parts) != 0) {
            char *prefix = il_xasprintf("volume \"%s\": ",
                                        json_string_value(json_object_get(item, "name")));
            prefix_err(r, prefix);
            free(prefix);
            return -1;
        }
    }
    static const char *const lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < 2; l++) {
        json_array_foreach(json_object_get(spec, lists[l]), i, item) {
            if (json_is_object(item) && cli_resolve_env(r, item) != 0)
                return -1;
        }
    }
    return 0;
}

/* uid, namespace and the bookkeeping the API server would add on create. */
static json_t *pod_copy(const cli_object *o, const char *uid)
{
    json_t *pod = json_deep_copy(o->obj);
    json_t *meta = json_object_get(pod, "metadata");
    json_object_set_new(meta, "namespace", json_string(o->ns));
    json_object_set_new(meta, "uid", json_string(uid));
    if (!json_object_get(meta, "creationTimestamp")) {
        char now[IL_RFC3339_MAX];
        il_time_format(il_time_now(), false, now);
        json_object_set_new(meta, "creationTimestamp", json_string(now));
    }
    if (!json_object_get(pod, "status"))
        json_object_set_new(pod, "status", json_pack("{s:s}", "phase", "Pending"));
    return pod;
}

/* Go marshals an empty slice the VK never appended to as null. */
static json_t *array_or_null(json_t *array)
{
    if (json_array_size(array) > 0)
        return array;
    json_decref(array);
    return json_null();
}

json_t *cli_build_create_request(const cli_manifest *m, const cli_object *o, const char *uid,
                                 char *err, size_t errlen) {
    cli_resolver r = {.m = m, .ns = o->ns, .pod = pod_copy(o, uid), .err = err, .errlen = errlen};
    request_parts parts = {json_array(), json_array(), json_array()};
    il_pod parsed;
    int rc = resolve_pod(&r, &parts);
    if (rc == 0 && (rc = il_pod_parse(r.pod, &parsed, err, errlen)) == 0)
        il_pod_free(&parsed);   /* parsed only to validate what the plugin will parse */
    if (rc != 0) {
        json_decref(r.pod);
        json_decref(parts.configmaps);
        json_decref(parts.secrets);
        json_decref(parts.projected);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:s}", "pod", r.pod, "configmaps",
                     array_or_null(parts.configmaps), "secrets", array_or_null(parts.secrets),
                     "projectedvolumesmaps", array_or_null(parts.projected), "jobscriptURL", "");
}
