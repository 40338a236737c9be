/* pod.c -- validate a Kubernetes v1.Pod (JSON) and copy out what backends use.
 *
 * Owns the il_pod model: every string in an il_pod is a heap copy made here
 * and released by il_pod_free(), so a backend may keep a pod after the JSON
 * is gone.  Parsing is strict about types (every error names the field
 * path) and checks the invariants backends rely on: names they may use in
 * file paths (containers, volumes, the uid) cannot escape a directory,
 * container names are unique, every volumeMount names a volume and mounts
 * at an absolute path.
 *
 * Error handling: parsers fill the il_pod in place and count an element
 * before filling it, so on any error il_pod_free() releases exactly what
 * was built. */
#include "pod.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "quantity.h"
#include "util.h"

#define DNS_LABEL_MAX 63
#define DNS_SUBDOMAIN_MAX 253
#define MODE_MAX 0777

bool il_is_dns_label(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > DNS_LABEL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i < len - 1))
            return false;
    }
    return true;
}

static int check_dns_label(const char *s, const char *path, char *err, size_t errlen)
{
    if (!il_is_dns_label(s))
        return il_jfail(err, errlen, path,
                        "must be a DNS label (at most 63 lowercase letters, digits or '-')");
    return 0;
}

/* A pod name as Kubernetes validates it (IsDNS1123Subdomain): at most 253
 * bytes of lowercase alphanumerics, '-' and '.', each '.'-separated part
 * starting and ending alphanumeric (a part may exceed 63 bytes).  So never
 * an option, a control character or a path; it becomes the hostname. */
static bool is_dns_subdomain(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > DNS_SUBDOMAIN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        bool edge = i == 0 || i == len - 1 || s[i - 1] == '.' || s[i + 1] == '.';
        if (!alnum && (c != '-' && c != '.'))
            return false;
        if (!alnum && edge)
            return false;   /* a part starts or ends with '-' or '.' (or is empty) */
    }
    return true;
}

int64_t il_grace_clamp(int64_t seconds)
{
    return seconds < 0 ? 0 : seconds > IL_GRACE_MAX_SECONDS ? IL_GRACE_MAX_SECONDS : seconds;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Backends name directories after the uid: allow only a safe charset. */
bool il_pod_uid_ok(const char *uid)
{
    return uid && *uid && strcmp(uid, ".") && strcmp(uid, "..") &&
           strspn(uid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
               strlen(uid);
}

static int check_uid(const char *uid, char *err, size_t errlen)
{
    if (!il_pod_uid_ok(uid))   /* never empty here: il_jstring_req said "required" */
        return il_jfail(err, errlen, "metadata.uid",
                        "must contain only letters, digits, '-', '_' and '.'");
    return 0;
}

/* ---- generic typed copies ---------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? il_xstrdup(s) : NULL;
}

/* obj[key] as a string->string map (annotations, labels). */
static int parse_kv_map(const json_t *obj, const char *parent, const char *key, il_kv **out,
                        size_t *n, char *err, size_t errlen)
{
    json_t *map;
    if (il_jobject(obj, parent, key, &map, err, errlen) < 0)
        return -1;
    if (!map)
        return 0;
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    *out = il_xcalloc(json_object_size(map), sizeof **out);
    const char *k;
    json_t *v;
    json_object_foreach(map, k, v) {
        char vpath[IL_JPATH_MAX];
        const char *value;
        il_jpath_key(vpath, path, k);
        if (il_jas_string(v, vpath, &value, err, errlen) < 0)
            return -1;
        (*out)[*n].key = il_xstrdup(k);
        (*out)[(*n)++].value = il_xstrdup(value ? value : "");
    }
    return 0;
}

/* obj[key] as an array of strings -> NULL-terminated copy (NULL if absent). */
static int parse_string_array(const json_t *obj, const char *parent, const char *key,
                              char ***out, size_t *n, char *err, size_t errlen)
{
    json_t *arr;
    if (il_jarray(obj, parent, key, &arr, err, errlen) < 0)
        return -1;
    if (!arr)
        return 0;
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    *out = il_xcalloc(json_array_size(arr) + 1, sizeof **out);
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        char ipath[IL_JPATH_MAX];
        const char *s;
        il_jpath_idx(ipath, path, i);
        if (il_jas_string(item, ipath, &s, err, errlen) < 0)
            return -1;
        if (!s)
            return il_jfail(err, errlen, ipath, "expected a string");
        (*out)[(*n)++] = il_xstrdup(s);
    }
    return 0;
}

/* Parses one element (an object) at path into elem (zeroed). */
typedef int (*elem_parse_fn)(const json_t *elem, const char *path, void *elem_out, char *err,
                             size_t errlen);

/* obj[key] as an array of objects, each parsed by fn into an array of
 * elem_size-byte elements.  *n counts an element before it is parsed. */
static int parse_object_array(const json_t *obj, const char *parent, const char *key,
                              size_t elem_size, elem_parse_fn fn, void **out, size_t *n,
                              char *err, size_t errlen)
{
    json_t *arr;
    if (il_jarray(obj, parent, key, &arr, err, errlen) < 0)
        return -1;
    if (!arr || json_array_size(arr) == 0)
        return 0;
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    *out = il_xcalloc(json_array_size(arr), elem_size);
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        char ipath[IL_JPATH_MAX];
        il_jpath_idx(ipath, path, i);
        if (!json_is_object(item))
            return il_jfail(err, errlen, ipath, "expected an object");
        (*n)++;
        if (fn(item, ipath, (char *)*out + i * elem_size, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* A file mode (items[].mode, defaultMode): -1 when absent. */
static int parse_mode(const json_t *obj, const char *parent, const char *key, int *out,
                      char *err, size_t errlen)
{
    int64_t mode;
    if (il_jint(obj, parent, key, -1, &mode, err, errlen) < 0)
        return -1;
    if (mode != -1 && (mode < 0 || mode > MODE_MAX)) {
        char path[IL_JPATH_MAX];
        il_jpath_key(path, parent, key);
        return il_jfail(err, errlen, path, "must be between 0 and 0777 (511)");
    }
    *out = (int)mode;
    return 0;
}

/* A quantity given as a JSON string or number, into its string form. */
static int quantity_text(const json_t *v, const char *path, char buf[64], char *err,
                         size_t errlen)
{
    if (json_is_string(v))
        snprintf(buf, 64, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, 64, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, 64, "%.15g", json_real_value(v));   /* 15 digits: 0.1 stays 0.1 */
    else
        return il_jfail(err, errlen, path, "expected a quantity (string or number)");
    return 0;
}

/* ---- containers -------------------------------------------------------- */

static int parse_env_var(const json_t *elem, const char *path, void *out, char *err,
                         size_t errlen)
{
    il_env_var *ev = out;
    const char *name, *value;
    json_t *value_from;
    if (il_jstring_req(elem, path, "name", &name, err, errlen) < 0 ||
        il_jstring(elem, path, "value", &value, err, errlen) < 0 ||
        il_jobject(elem, path, "valueFrom", &value_from, err, errlen) < 0)
        return -1;
    ev->name = il_xstrdup(name);
    ev->value = il_xstrdup(value ? value : "");
    ev->has_value_from = value_from != NULL;
    return 0;
}

static int parse_mount(const json_t *elem, const char *path, void *out, char *err,
                       size_t errlen)
{
    il_volume_mount *m = out;
    const char *name, *mount_path, *sub_path;
    if (il_jstring_req(elem, path, "name", &name, err, errlen) < 0 ||
        il_jstring_req(elem, path, "mountPath", &mount_path, err, errlen) < 0 ||
        il_jstring(elem, path, "subPath", &sub_path, err, errlen) < 0 ||
        il_jbool(elem, path, "readOnly", false, &m->read_only, err, errlen) < 0)
        return -1;
    m->name = il_xstrdup(name);
    m->mount_path = il_xstrdup(mount_path);
    m->sub_path = sub_path && *sub_path ? il_xstrdup(sub_path) : NULL;
    char mpath[IL_JPATH_MAX];
    il_jpath_key(mpath, path, "mountPath");
    if (mount_path[0] != '/')
        return il_jfail(err, errlen, mpath, "must be an absolute path");
    if (has_control(mount_path))
        return il_jfail(err, errlen, mpath, "must not contain control characters");
    if (m->sub_path && has_control(m->sub_path)) {
        il_jpath_key(mpath, path, "subPath");
        return il_jfail(err, errlen, mpath, "must not contain control characters");
    }
    return 0;
}

static void resource_list_init(il_resource_list *rl)
{
    rl->cpu_milli = rl->memory_bytes = rl->ephemeral_bytes = -1;
}

/* One resource: cpu in millicores, the rest rounded up to whole units. */
static int parse_resource(il_resource_list *rl, const char *name, const json_t *v,
                          const char *path, char *err, size_t errlen)
{
    char text[64];
    int64_t amount;
    if (quantity_text(v, path, text, err, errlen) < 0)
        return -1;
    bool is_cpu = !strcmp(name, "cpu");
    int rc = is_cpu ? il_quantity_milli(text, &amount) : il_quantity_value(text, &amount);
    if (rc < 0)
        return il_jfail(err, errlen, path, "invalid quantity \"%s\"", text);
    if (is_cpu) {
        rl->cpu_milli = amount;
    } else if (!strcmp(name, "memory")) {
        rl->memory_bytes = amount;
    } else if (!strcmp(name, "ephemeral-storage")) {
        rl->ephemeral_bytes = amount;
    } else {
        il_kv *kv = &rl->extended[rl->n_extended++];
        kv->key = il_xstrdup(name);
        kv->value = il_xasprintf("%lld", (long long)amount);
    }
    return 0;
}

static int parse_resource_list(const json_t *res, const char *parent, const char *key,
                               il_resource_list *rl, char *err, size_t errlen)
{
    json_t *map;
    resource_list_init(rl);
    if (il_jobject(res, parent, key, &map, err, errlen) < 0)
        return -1;
    if (!map)
        return 0;
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    rl->extended = il_xcalloc(json_object_size(map), sizeof *rl->extended);
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v) {
        char rpath[IL_JPATH_MAX];
        il_jpath_key(rpath, path, name);
        if (parse_resource(rl, name, v, rpath, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int parse_resources(const json_t *elem, const char *path, il_resources *r, char *err,
                           size_t errlen)
{
    json_t *res;
    char rpath[IL_JPATH_MAX];
    resource_list_init(&r->requests);
    resource_list_init(&r->limits);
    if (il_jobject(elem, path, "resources", &res, err, errlen) < 0)
        return -1;
    il_jpath_key(rpath, path, "resources");
    if (parse_resource_list(res, rpath, "requests", &r->requests, err, errlen) < 0 ||
        parse_resource_list(res, rpath, "limits", &r->limits, err, errlen) < 0)
        return -1;
    return 0;
}

static int parse_container(const json_t *elem, const char *path, void *out, char *err,
                           size_t errlen)
{
    il_container *c = out;
    const char *name, *image, *working_dir, *pull_policy;
    char npath[IL_JPATH_MAX], ipath[IL_JPATH_MAX];
    il_jpath_key(npath, path, "name");
    il_jpath_key(ipath, path, "image");
    resource_list_init(&c->resources.requests);
    resource_list_init(&c->resources.limits);
    if (il_jstring_req(elem, path, "name", &name, err, errlen) < 0 ||
        check_dns_label(name, npath, err, errlen) < 0 ||
        il_jstring(elem, path, "image", &image, err, errlen) < 0)
        return -1;
    if (!image)
        return il_jfail(err, errlen, ipath, "required");
    c->name = il_xstrdup(name);
    c->image = il_xstrdup(image);
    if (il_jstring(elem, path, "workingDir", &working_dir, err, errlen) < 0 ||
        il_jstring(elem, path, "imagePullPolicy", &pull_policy, err, errlen) < 0)
        return -1;
    c->working_dir = dup_or_null(working_dir);
    c->image_pull_policy = dup_or_null(pull_policy);
    if (parse_string_array(elem, path, "command", &c->command, &c->n_command, err, errlen) < 0 ||
        parse_string_array(elem, path, "args", &c->args, &c->n_args, err, errlen) < 0 ||
        parse_object_array(elem, path, "env", sizeof *c->env, parse_env_var, (void **)&c->env,
                           &c->n_env, err, errlen) < 0 ||
        parse_object_array(elem, path, "volumeMounts", sizeof *c->mounts, parse_mount,
                           (void **)&c->mounts, &c->n_mounts, err, errlen) < 0)
        return -1;
    return parse_resources(elem, path, &c->resources, err, errlen);
}

/* ---- volumes ----------------------------------------------------------- */

static int parse_key_to_path(const json_t *elem, const char *path, void *out, char *err,
                             size_t errlen)
{
    il_key_to_path *kp = out;
    const char *key, *file_path;
    if (il_jstring_req(elem, path, "key", &key, err, errlen) < 0 ||
        il_jstring_req(elem, path, "path", &file_path, err, errlen) < 0 ||
        parse_mode(elem, path, "mode", &kp->mode, err, errlen) < 0)
        return -1;
    kp->key = il_xstrdup(key);
    kp->path = il_xstrdup(file_path);
    return 0;
}

/* configMap / secret volume sources share items, defaultMode, optional. */
static int parse_object_source(const json_t *src, const char *path, const char *name_key,
                               il_volume *vol, char *err, size_t errlen)
{
    const char *name;
    if (il_jstring_req(src, path, name_key, &name, err, errlen) < 0)
        return -1;
    vol->source_name = il_xstrdup(name);
    if (parse_object_array(src, path, "items", sizeof *vol->items, parse_key_to_path,
                           (void **)&vol->items, &vol->n_items, err, errlen) < 0 ||
        parse_mode(src, path, "defaultMode", &vol->default_mode, err, errlen) < 0 ||
        il_jbool(src, path, "optional", false, &vol->optional, err, errlen) < 0)
        return -1;
    return 0;
}

static int parse_empty_dir(const json_t *src, const char *path, il_volume *vol, char *err,
                           size_t errlen)
{
    const char *medium;
    if (il_jstring(src, path, "medium", &medium, err, errlen) < 0)
        return -1;
    vol->medium = medium && *medium ? il_xstrdup(medium) : NULL;
    json_t *limit = il_jget(src, "sizeLimit");
    if (!limit)
        return 0;
    char lpath[IL_JPATH_MAX], text[64];
    il_jpath_key(lpath, path, "sizeLimit");
    if (quantity_text(limit, lpath, text, err, errlen) < 0)
        return -1;
    if (il_quantity_value(text, &vol->size_limit) < 0)
        return il_jfail(err, errlen, lpath, "invalid quantity \"%s\"", text);
    return 0;
}

/* The volume source kinds we act on; the first key present wins. */
static const struct {
    const char *key;
    il_volume_kind kind;
} volume_kinds[] = {
    {"emptyDir", IL_VOL_EMPTYDIR},   {"configMap", IL_VOL_CONFIGMAP},
    {"secret", IL_VOL_SECRET},       {"projected", IL_VOL_PROJECTED},
    {"downwardAPI", IL_VOL_DOWNWARDAPI}, {"hostPath", IL_VOL_HOSTPATH},
};

static int parse_volume_source(const json_t *src, const char *path, il_volume *vol,
                               char *err, size_t errlen)
{
    const char *host_path;
    switch (vol->kind) {
    case IL_VOL_EMPTYDIR:
        return parse_empty_dir(src, path, vol, err, errlen);
    case IL_VOL_CONFIGMAP:
        return parse_object_source(src, path, "name", vol, err, errlen);
    case IL_VOL_SECRET:
        return parse_object_source(src, path, "secretName", vol, err, errlen);
    case IL_VOL_PROJECTED:
    case IL_VOL_DOWNWARDAPI:
        /* The VK resolved the sources into a projected map; only the mode
         * matters here. */
        return parse_mode(src, path, "defaultMode", &vol->default_mode, err, errlen);
    case IL_VOL_HOSTPATH:
        if (il_jstring_req(src, path, "path", &host_path, err, errlen) < 0)
            return -1;
        vol->source_name = il_xstrdup(host_path);
        return 0;
    case IL_VOL_OTHER:
        break;
    }
    return 0;
}

static int parse_volume(const json_t *elem, const char *path, void *out, char *err,
                        size_t errlen)
{
    il_volume *vol = out;
    const char *name;
    char npath[IL_JPATH_MAX];
    il_jpath_key(npath, path, "name");
    vol->default_mode = -1;
    vol->size_limit = -1;
    vol->kind = IL_VOL_OTHER;
    if (il_jstring_req(elem, path, "name", &name, err, errlen) < 0 ||
        check_dns_label(name, npath, err, errlen) < 0)
        return -1;
    vol->name = il_xstrdup(name);
    for (size_t i = 0; i < sizeof volume_kinds / sizeof volume_kinds[0]; i++) {
        json_t *src;
        if (il_jobject(elem, path, volume_kinds[i].key, &src, err, errlen) < 0)
            return -1;
        if (src) {
            char spath[IL_JPATH_MAX];
            il_jpath_key(spath, path, volume_kinds[i].key);
            vol->kind = volume_kinds[i].kind;
            return parse_volume_source(src, spath, vol, err, errlen);
        }
    }
    return 0;
}

/* ---- whole-pod checks -------------------------------------------------- */

/* Container names are unique across init containers and containers. */
static int check_container_names(const il_pod *pod, char *err, size_t errlen)
{
    size_t total = pod->n_init_containers + pod->n_containers;
    for (size_t i = 0; i < total; i++) {
        bool init_i = i < pod->n_init_containers;
        const il_container *a = init_i ? &pod->init_containers[i]
                                       : &pod->containers[i - pod->n_init_containers];
        for (size_t j = 0; j < i; j++) {
            const il_container *b = j < pod->n_init_containers
                                        ? &pod->init_containers[j]
                                        : &pod->containers[j - pod->n_init_containers];
            if (strcmp(a->name, b->name) != 0)
                continue;
            char path[IL_JPATH_MAX];
            snprintf(path, sizeof path, "spec.%s[%zu].name",
                     init_i ? "initContainers" : "containers",
                     init_i ? i : i - pod->n_init_containers);
            return il_jfail(err, errlen, path, "duplicate container name \"%s\"", a->name);
        }
    }
    return 0;
}

static int check_volume_names(const il_pod *pod, char *err, size_t errlen)
{
    for (size_t i = 0; i < pod->n_volumes; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(pod->volumes[i].name, pod->volumes[j].name) != 0)
                continue;
            char path[IL_JPATH_MAX];
            snprintf(path, sizeof path, "spec.volumes[%zu].name", i);
            return il_jfail(err, errlen, path, "duplicate volume name \"%s\"",
                            pod->volumes[i].name);
        }
    }
    return 0;
}

static int check_mounts(const il_pod *pod, const il_container *cs, size_t n, const char *key,
                        char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t m = 0; m < cs[i].n_mounts; m++) {
            if (il_pod_volume(pod, cs[i].mounts[m].name))
                continue;
            char path[IL_JPATH_MAX];
            snprintf(path, sizeof path, "spec.%s[%zu].volumeMounts[%zu].name", key, i, m);
            return il_jfail(err, errlen, path, "no volume named \"%s\"", cs[i].mounts[m].name);
        }
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------ */

#define DEFAULT_RESTART_POLICY "Always"
#define DEFAULT_GRACE_SECONDS 30

static void fill_meta_defaults(il_pod *pod)
{
    if (pod->ns && !*pod->ns) {
        free(pod->ns);
        pod->ns = NULL;
    }
    if (!pod->ns)
        pod->ns = il_xstrdup("default");
    if (!pod->name)
        pod->name = il_xstrdup("");
}

void il_pod_ref_defaults(il_pod *pod)
{
    fill_meta_defaults(pod);
    if (!pod->restart_policy) {
        pod->restart_policy = il_xstrdup(DEFAULT_RESTART_POLICY);
        pod->grace_seconds = DEFAULT_GRACE_SECONDS;
    }
}

static int parse_metadata(json_t *json, il_pod *out, bool require_name, char *err,
                          size_t errlen)
{
    json_t *meta;
    const char *uid, *name, *ns;
    if (!json_is_object(json))
        return il_jfail(err, errlen, "pod", "expected an object");
    if (il_jobject(json, "", "metadata", &meta, err, errlen) < 0)
        return -1;
    if (il_jstring_req(meta, "metadata", "uid", &uid, err, errlen) < 0 ||
        check_uid(uid, err, errlen) < 0)
        return -1;
    if (require_name ? il_jstring_req(meta, "metadata", "name", &name, err, errlen) < 0
                     : il_jstring(meta, "metadata", "name", &name, err, errlen) < 0)
        return -1;
    if (il_jstring(meta, "metadata", "namespace", &ns, err, errlen) < 0)
        return -1;
    /* A full pod (a /create) has a Kubernetes name and namespace; a
     * reference to one (status, delete) is looked up by uid only. */
    if (require_name && !is_dns_subdomain(name))
        return il_jfail(err, errlen, "metadata.name", "must be a DNS subdomain (lowercase "
                        "letters, digits, '-' and '.', at most 253)");
    if (require_name && ns && *ns && !il_is_dns_label(ns))
        return il_jfail(err, errlen, "metadata.namespace",
                        "must be a DNS label (at most 63 lowercase letters, digits or '-')");
    out->uid = il_xstrdup(uid);
    out->name = name ? il_xstrdup(name) : NULL;
    out->ns = ns ? il_xstrdup(ns) : NULL;
    fill_meta_defaults(out);
    out->raw = json_incref(json);
    if (parse_kv_map(meta, "metadata", "annotations", &out->annotations, &out->n_annotations,
                     err, errlen) < 0 ||
        parse_kv_map(meta, "metadata", "labels", &out->labels, &out->n_labels, err, errlen) < 0)
        return -1;
    return 0;
}

static int parse_spec_scalars(const json_t *spec, il_pod *out, char *err, size_t errlen)
{
    const char *policy;
    if (il_jstring(spec, "spec", "restartPolicy", &policy, err, errlen) < 0 ||
        il_jint(spec, "spec", "terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS,
                &out->grace_seconds, err, errlen) < 0)
        return -1;
    if (out->grace_seconds < 0 || out->grace_seconds > IL_GRACE_MAX_SECONDS)
        return il_jfail(err, errlen, "spec.terminationGracePeriodSeconds",
                        "must be between 0 and %lld (a year)", (long long)IL_GRACE_MAX_SECONDS);
    if (policy && *policy && strcmp(policy, "Always") && strcmp(policy, "OnFailure") &&
        strcmp(policy, "Never"))
        return il_jfail(err, errlen, "spec.restartPolicy",
                        "must be Always, OnFailure or Never, not \"%s\"", policy);
    out->restart_policy = il_xstrdup(policy && *policy ? policy : DEFAULT_RESTART_POLICY);
    return 0;
}

static int parse_spec(json_t *json, il_pod *out, char *err, size_t errlen)
{
    json_t *spec;
    if (il_jobject(json, "", "spec", &spec, err, errlen) < 0)
        return -1;
    if (!spec)
        return il_jfail(err, errlen, "spec", "required");
    if (parse_spec_scalars(spec, out, err, errlen) < 0 ||
        parse_object_array(spec, "spec", "initContainers", sizeof(il_container), parse_container,
                           (void **)&out->init_containers, &out->n_init_containers, err,
                           errlen) < 0 ||
        parse_object_array(spec, "spec", "containers", sizeof(il_container), parse_container,
                           (void **)&out->containers, &out->n_containers, err, errlen) < 0 ||
        parse_object_array(spec, "spec", "volumes", sizeof(il_volume), parse_volume,
                           (void **)&out->volumes, &out->n_volumes, err, errlen) < 0)
        return -1;
    if (out->n_containers == 0)
        return il_jfail(err, errlen, "spec.containers", "at least one container is required");
    if (check_container_names(out, err, errlen) < 0 || check_volume_names(out, err, errlen) < 0 ||
        check_mounts(out, out->init_containers, out->n_init_containers, "initContainers", err,
                     errlen) < 0 ||
        check_mounts(out, out->containers, out->n_containers, "containers", err, errlen) < 0)
        return -1;
    return 0;
}

int il_pod_parse(json_t *json, il_pod *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (parse_metadata(json, out, true, err, errlen) < 0 ||
        parse_spec(json, out, err, errlen) < 0) {
        il_pod_free(out);
        return -1;
    }
    return 0;
}

int il_pod_parse_meta(json_t *json, il_pod *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (parse_metadata(json, out, false, err, errlen) < 0) {
        il_pod_free(out);
        return -1;
    }
    il_pod_ref_defaults(out);
    return 0;
}

/* ---- release ----------------------------------------------------------- */

static void kv_free(il_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void container_free(il_container *c)
{
    free(c->name);
    free(c->image);
    free(c->working_dir);
    free(c->image_pull_policy);
    strv_free(c->command, c->n_command);
    strv_free(c->args, c->n_args);
    for (size_t i = 0; i < c->n_env; i++) {
        free(c->env[i].name);
        free(c->env[i].value);
    }
    free(c->env);
    for (size_t i = 0; i < c->n_mounts; i++) {
        free(c->mounts[i].name);
        free(c->mounts[i].mount_path);
        free(c->mounts[i].sub_path);
    }
    free(c->mounts);
    kv_free(c->resources.requests.extended, c->resources.requests.n_extended);
    kv_free(c->resources.limits.extended, c->resources.limits.n_extended);
}

static void volume_free(il_volume *v)
{
    free(v->name);
    free(v->source_name);
    for (size_t i = 0; i < v->n_items; i++) {
        free(v->items[i].key);
        free(v->items[i].path);
    }
    free(v->items);
    free(v->medium);
}

void il_pod_free(il_pod *pod)
{
    if (!pod)
        return;
    free(pod->name);
    free(pod->ns);
    free(pod->uid);
    kv_free(pod->annotations, pod->n_annotations);
    kv_free(pod->labels, pod->n_labels);
    for (size_t i = 0; i < pod->n_init_containers; i++)
        container_free(&pod->init_containers[i]);
    free(pod->init_containers);
    for (size_t i = 0; i < pod->n_containers; i++)
        container_free(&pod->containers[i]);
    free(pod->containers);
    for (size_t i = 0; i < pod->n_volumes; i++)
        volume_free(&pod->volumes[i]);
    free(pod->volumes);
    free(pod->restart_policy);
    json_decref(pod->raw);
    memset(pod, 0, sizeof *pod);
}

/* ---- lookups ----------------------------------------------------------- */

const char *il_pod_annotation(const il_pod *pod, const char *key)
{
    for (size_t i = 0; i < pod->n_annotations; i++)
        if (!strcmp(pod->annotations[i].key, key))
            return pod->annotations[i].value;
    return NULL;
}

const il_volume *il_pod_volume(const il_pod *pod, const char *name)
{
    for (size_t i = 0; i < pod->n_volumes; i++)
        if (!strcmp(pod->volumes[i].name, name))
            return &pod->volumes[i];
    return NULL;
}

const il_container *il_pod_container(const il_pod *pod, const char *name)
{
    for (size_t i = 0; i < pod->n_init_containers; i++)
        if (!strcmp(pod->init_containers[i].name, name))
            return &pod->init_containers[i];
    for (size_t i = 0; i < pod->n_containers; i++)
        if (!strcmp(pod->containers[i].name, name))
            return &pod->containers[i];
    return NULL;
}

const char *il_pod_job_id(const il_pod *pod)
{
    return il_pod_annotation(pod, "JobID");
}
