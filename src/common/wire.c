/* wire.c -- interLink's JSON wire types: create, status and log requests.
 *
 * Owns the exact upstream key spellings (see wire.h), the RetrievedPodData
 * reshaping interlink does between the VK and a plugin, the materialization
 * of ConfigMap/Secret/projected volume files from a create request, the
 * PodStatus <-> C conversion with Kubernetes phase derivation, and LogStruct
 * validation with upstream's messages. */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define DEFAULT_FILE_MODE 0644

/* The zero-valued ScriptBuildConfig upstream always sends (docs/upstream.md). */
static const char job_config_zero[] =
    "{\"SingularityHubProxy\":{\"server\":\"\",\"master_token\":\"\",\"cache_validity_seconds\":0},"
    "\"ApptainerOptions\":{\"executable\":\"\",\"fakeroot\":false,\"containall\":false,"
    "\"fuseMode\":\"\",\"noInit\":false,\"noHome\":false,\"noPrivs\":false,"
    "\"nvidiaSupport\":false,\"cleanenv\":false,\"unsquash\":false},"
    "\"Volumes\":{\"scratch_area\":\"\",\"apptainer_cachedir\":\"\",\"image_dir\":\"\","
    "\"additional_directories_in_path\":null,\"fuse_sleep_seconds\":0}}";

/* ---- shared helpers ---------------------------------------------------- */

/* obj[key] must be null/absent or an array of objects. */
static int check_object_list(const json_t *obj, const char *parent, const char *key,
                             json_t **out, char *err, size_t errlen)
{
    if (il_jarray(obj, parent, key, out, err, errlen) < 0)
        return -1;
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    size_t i;
    json_t *item;
    json_array_foreach(*out, i, item) {
        if (!json_is_object(item)) {
            char ipath[IL_JPATH_MAX];
            il_jpath_idx(ipath, path, i);
            return il_jfail(err, errlen, ipath, "expected an object");
        }
    }
    return 0;
}

/* metadata.name of a Kubernetes object, or NULL. */
static const char *object_name(const json_t *o)
{
    return json_string_value(il_jget(il_jget(o, "metadata"), "name"));
}

/* The first object of list (an array or NULL) named name. */
static json_t *find_named(const json_t *list, const char *name)
{
    size_t i;
    json_t *item;
    if (!name)
        return NULL;
    json_array_foreach(list, i, item) {
        const char *n = object_name(item);
        if (n && !strcmp(n, name))
            return item;
    }
    return NULL;
}

/* Append v (a new reference taken) to *list, creating the array on first
 * use so that an empty list stays JSON null, as Go emits nil slices. */
static void append_lazy(json_t **list, json_t *v)
{
    if (!*list)
        *list = json_array();
    json_array_append(*list, v);
}

/* ---- RetrievedPodData -------------------------------------------------- */

typedef struct {
    const json_t *volumes;       /* pod.spec.volumes */
    const json_t *configmaps;    /* request lists, arrays or NULL */
    const json_t *secrets;
    const json_t *projected;
    const char *pod_uid;
} create_inputs;

/* Which request object a pod volume refers to: list and name, or NULL. */
static json_t *volume_object(const create_inputs *in, const json_t *vol, const char **list_key)
{
    const char *vol_name = json_string_value(il_jget(vol, "name"));
    json_t *src;
    if ((src = il_jget(vol, "configMap"))) {
        *list_key = "configMaps";
        return find_named(in->configmaps, json_string_value(il_jget(src, "name")));
    }
    if ((src = il_jget(vol, "secret"))) {
        *list_key = "secrets";
        return find_named(in->secrets, json_string_value(il_jget(src, "secretName")));
    }
    if (il_jget(vol, "projected") || il_jget(vol, "downwardAPI")) {
        *list_key = "projectedvolumemaps";
        return find_named(in->projected, vol_name);
    }
    *list_key = NULL;
    if (!il_jget(vol, "emptyDir"))
        il_debug("pod %s: volume %s: type not handled by interlink, passed through",
                 in->pod_uid, vol_name ? vol_name : "?");
    return NULL;
}

static const json_t *find_volume(const json_t *volumes, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(volumes, i, v) {
        const char *n = json_string_value(il_jget(v, "name"));
        if (n && name && !strcmp(n, name))
            return v;
    }
    return NULL;
}

/* One RetrievedContainer: the objects its volumeMounts reference, with
 * duplicates when several mounts reference the same object. */
static json_t *retrieved_container(const create_inputs *in, const json_t *c, const char *path,
                                   char *err, size_t errlen)
{
    const char *name;
    json_t *mounts;
    char mpath[IL_JPATH_MAX];
    il_jpath_key(mpath, path, "volumeMounts");
    if (il_jstring(c, path, "name", &name, err, errlen) < 0 ||
        check_object_list(c, path, "volumeMounts", &mounts, err, errlen) < 0)
        return NULL;
    json_t *lists[3] = {NULL, NULL, NULL};   /* configMaps, projectedvolumemaps, secrets */
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m) {
        const char *vname = json_string_value(il_jget(m, "name"));
        const json_t *vol = find_volume(in->volumes, vname);
        const char *list_key = NULL;
        json_t *obj = vol ? volume_object(in, vol, &list_key) : NULL;
        if (!obj) {
            if (list_key)
                il_warn("pod %s: %s[%zu]: %s object for volume %s not found", in->pod_uid,
                        mpath, i, list_key, vname ? vname : "?");
            continue;
        }
        int slot = !strcmp(list_key, "configMaps") ? 0 : !strcmp(list_key, "secrets") ? 2 : 1;
        append_lazy(&lists[slot], obj);
    }
    return json_pack("{s:s, s:o, s:o, s:o, s:n}", "name", name ? name : "",
                     "configMaps", lists[0] ? lists[0] : json_null(),
                     "projectedvolumemaps", lists[1] ? lists[1] : json_null(),
                     "secrets", lists[2] ? lists[2] : json_null(), "emptyDirs");
}

/* Append one RetrievedContainer per element of spec[key] to *out. */
static int retrieved_containers(const create_inputs *in, const json_t *spec, const char *key,
                                json_t **out, char *err, size_t errlen)
{
    json_t *arr;
    if (check_object_list(spec, "pod.spec", key, &arr, err, errlen) < 0)
        return -1;
    char path[IL_JPATH_MAX];
    il_jpath_key(path, "pod.spec", key);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c) {
        char cpath[IL_JPATH_MAX];
        il_jpath_idx(cpath, path, i);
        json_t *entry = retrieved_container(in, c, cpath, err, errlen);
        if (!entry)
            return -1;
        append_lazy(out, entry);
        json_decref(entry);
    }
    return 0;
}

static int create_inputs_init(json_t *cr, create_inputs *in, json_t **pod, json_t **spec,
                              char *err, size_t errlen)
{
    json_t *configmaps, *secrets, *projected, *volumes, *meta;
    if (!json_is_object(cr))
        return il_jfail(err, errlen, "request", "expected an object");
    if (il_jobject(cr, "", "pod", pod, err, errlen) < 0)
        return -1;
    if (!*pod)
        return il_jfail(err, errlen, "pod", "required");
    if (il_jobject(*pod, "pod", "metadata", &meta, err, errlen) < 0 ||
        il_jstring_req(meta, "pod.metadata", "uid", &in->pod_uid, err, errlen) < 0 ||
        il_jobject(*pod, "pod", "spec", spec, err, errlen) < 0 ||
        check_object_list(*spec, "pod.spec", "volumes", &volumes, err, errlen) < 0 ||
        check_object_list(cr, "", "configmaps", &configmaps, err, errlen) < 0 ||
        check_object_list(cr, "", "secrets", &secrets, err, errlen) < 0 ||
        check_object_list(cr, "", "projectedvolumesmaps", &projected, err, errlen) < 0)
        return -1;
    in->volumes = volumes;
    in->configmaps = configmaps;
    in->secrets = secrets;
    in->projected = projected;
    return 0;
}

json_t *il_retrieved_pod_data(json_t *create_requests, char *err, size_t errlen)
{
    create_inputs in = {0};
    json_t *pod, *spec, *containers = NULL;
    if (create_inputs_init(create_requests, &in, &pod, &spec, err, errlen) < 0)
        return NULL;
    if (retrieved_containers(&in, spec, "initContainers", &containers, err, errlen) < 0 ||
        retrieved_containers(&in, spec, "containers", &containers, err, errlen) < 0) {
        json_decref(containers);
        return NULL;
    }
    json_t *job_config = json_loads(job_config_zero, 0, NULL);
    return json_pack("{s:O, s:o, s:o}", "pod", pod, "container",
                     containers ? containers : json_null(), "jobConfig", job_config);
}

/* ---- create request (plugin side) -------------------------------------- */

/* Each RetrievedContainer's lists must be null or arrays of objects, so
 * il_volume_files can trust their shape. */
static int check_retrieved_container(const json_t *c, const char *path, char *err,
                                     size_t errlen)
{
    static const char *const keys[] = {"configMaps", "projectedvolumemaps", "secrets"};
    json_t *list;
    if (!json_is_object(c))
        return il_jfail(err, errlen, path, "expected an object");
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (check_object_list(c, path, keys[k], &list, err, errlen) < 0)
            return -1;
    return 0;
}

int il_create_request_parse(json_t *body, il_create_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_t *pod, *containers;
    const char *script;
    if (!json_is_object(body))
        return il_jfail(err, errlen, "request", "expected an object");
    if (il_jobject(body, "", "pod", &pod, err, errlen) < 0 ||
        il_jarray(body, "", "container", &containers, err, errlen) < 0 ||
        il_jstring(body, "", "jobScript", &script, err, errlen) < 0)
        return -1;
    if (!pod)
        return il_jfail(err, errlen, "pod", "required");
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c) {
        char path[IL_JPATH_MAX];
        il_jpath_idx(path, "container", i);
        if (check_retrieved_container(c, path, err, errlen) < 0)
            return -1;
    }
    char perr[512];
    if (il_pod_parse(pod, &out->pod, perr, sizeof perr) < 0) {
        snprintf(err, errlen, "pod.%s", perr);
        return -1;
    }
    out->raw = json_incref(body);
    out->containers = containers;
    out->job_script = script && *script ? script : NULL;
    return 0;
}

void il_create_request_free(il_create_request *req)
{
    if (!req)
        return;
    il_pod_free(&req->pod);
    json_decref(req->raw);
    memset(req, 0, sizeof *req);
}

json_t *il_create_response(const char *pod_uid, const char *job_id)
{
    return json_pack("{s:s, s:s}", "PodUID", pod_uid ? pod_uid : "", "PodJID",
                     job_id ? job_id : "");
}

/* ---- volume files ------------------------------------------------------ */

/* Where a volume's content lives: `plain` values are used as they are,
 * `encoded` values are base64 (a key in both: plain wins, as Secret
 * stringData overrides data). */
typedef struct {
    const char *what;            /* "configMap", "secret", "projected map" */
    const char *name;
    const json_t *plain;
    const json_t *encoded;
} volume_source;

/* Union of every container's list_key, searched for name. */
static json_t *find_in_request(const il_create_request *req, const char *list_key,
                               const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(req->containers, i, c) {
        json_t *found = find_named(il_jget(c, list_key), name);
        if (found)
            return found;
    }
    return NULL;
}

/* Returns 1 when the volume has no content here (emptyDir, missing but
 * optional...), 0 with *src filled, -1 on error. */
static int volume_source_find(const il_create_request *req, const il_volume *vol,
                              volume_source *src, char *err, size_t errlen)
{
    const char *list_key, *plain_key, *encoded_key;
    memset(src, 0, sizeof *src);
    switch (vol->kind) {
    case IL_VOL_CONFIGMAP:
        src->what = "configMap", list_key = "configMaps", src->name = vol->source_name;
        plain_key = "data", encoded_key = "binaryData";
        break;
    case IL_VOL_SECRET:
        src->what = "secret", list_key = "secrets", src->name = vol->source_name;
        plain_key = "stringData", encoded_key = "data";
        break;
    case IL_VOL_PROJECTED:
    case IL_VOL_DOWNWARDAPI:
        src->what = "projected map", list_key = "projectedvolumemaps", src->name = vol->name;
        plain_key = "data", encoded_key = NULL;
        break;
    default:
        return 1;
    }
    json_t *obj = find_in_request(req, list_key, src->name);
    if (!obj) {
        if (vol->optional)
            return 1;
        snprintf(err, errlen, "volume %s: %s \"%s\" not found in the request", vol->name,
                 src->what, src->name);
        return -1;
    }
    src->plain = il_jget(obj, plain_key);
    src->encoded = encoded_key ? il_jget(obj, encoded_key) : NULL;
    if ((src->plain && !json_is_object(src->plain)) ||
        (src->encoded && !json_is_object(src->encoded))) {
        snprintf(err, errlen, "volume %s: %s \"%s\": %s/%s must be objects", vol->name,
                 src->what, src->name, plain_key, encoded_key ? encoded_key : plain_key);
        return -1;
    }
    return 0;
}

/* Relative, no empty, "." or ".." components, no NUL (json strings are
 * checked by the caller): the path cannot leave the volume directory. */
static bool volume_path_ok(const char *path)
{
    if (!*path || *path == '/')
        return false;
    for (const char *p = path;;) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!p[len])
            return true;
        p += len + 1;
    }
}

/* Value of key in src: 0 with a heap copy, 1 if absent, -1 on error. */
static int source_value(const il_volume *vol, const volume_source *src, const char *key,
                        unsigned char **data, size_t *len, char *err, size_t errlen)
{
    json_t *v = il_jget(src->plain, key);
    bool encoded = false;
    if (!v && src->encoded) {
        v = il_jget(src->encoded, key);
        encoded = true;
    }
    if (!v)
        return 1;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "volume %s: %s \"%s\": key %s: expected a string", vol->name,
                 src->what, src->name, key);
        return -1;
    }
    if (encoded) {
        if (!(*data = il_base64_decode(json_string_value(v), len))) {
            snprintf(err, errlen, "volume %s: %s \"%s\": key %s: invalid base64", vol->name,
                     src->what, src->name, key);
            return -1;
        }
        return 0;
    }
    *len = json_string_length(v);
    *data = il_xmalloc(*len + 1);
    memcpy(*data, json_string_value(v), *len + 1);
    return 0;
}

typedef struct {
    il_volume_file *files;
    size_t n;
    size_t cap;
} file_list;

static int add_file(file_list *fl, const il_volume *vol, const volume_source *src,
                    const char *key, const char *path, int mode, char *err, size_t errlen)
{
    if (!volume_path_ok(path)) {
        snprintf(err, errlen, "volume %s: %s \"%s\": invalid file path \"%s\"", vol->name,
                 src->what, src->name, path);
        return -1;
    }
    for (size_t i = 0; i < fl->n; i++) {
        if (!strcmp(fl->files[i].path, path)) {
            snprintf(err, errlen, "volume %s: duplicate file path \"%s\"", vol->name, path);
            return -1;
        }
    }
    unsigned char *data;
    size_t len;
    int rc = source_value(vol, src, key, &data, &len, err, errlen);
    if (rc != 0)
        return rc;
    if (fl->n == fl->cap) {
        fl->cap = fl->cap ? fl->cap * 2 : 8;
        fl->files = il_xrealloc(fl->files, fl->cap * sizeof *fl->files);
    }
    int file_mode = mode >= 0 ? mode : vol->default_mode >= 0 ? vol->default_mode
                                                              : DEFAULT_FILE_MODE;
    fl->files[fl->n++] = (il_volume_file){il_xstrdup(path), data, len, file_mode};
    return 0;
}

/* Every key of map (plain or encoded), skipping encoded keys shadowed by
 * plain ones. */
static int add_all_keys(file_list *fl, const il_volume *vol, const volume_source *src,
                        const json_t *map, bool is_encoded, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)map, key, v) {
        (void)v;
        if (is_encoded && il_jget(src->plain, key))
            continue;
        if (add_file(fl, vol, src, key, key, -1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int add_items(file_list *fl, const il_volume *vol, const volume_source *src, char *err,
                     size_t errlen)
{
    for (size_t i = 0; i < vol->n_items; i++) {
        const il_key_to_path *it = &vol->items[i];
        int rc = add_file(fl, vol, src, it->key, it->path, it->mode, err, errlen);
        if (rc < 0)
            return -1;
        if (rc == 1 && !vol->optional) {
            snprintf(err, errlen, "volume %s: %s \"%s\" has no key \"%s\"", vol->name, src->what,
                     src->name, it->key);
            return -1;
        }
    }
    return 0;
}

int il_volume_files(const il_create_request *req, const il_volume *vol, il_volume_file **files,
                    size_t *nfiles, char *err, size_t errlen)
{
    *files = NULL;
    *nfiles = 0;
    volume_source src;
    int rc = volume_source_find(req, vol, &src, err, errlen);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    file_list fl = {0};
    if (vol->n_items > 0)
        rc = add_items(&fl, vol, &src, err, errlen);
    else if ((rc = add_all_keys(&fl, vol, &src, src.plain, false, err, errlen)) == 0)
        rc = add_all_keys(&fl, vol, &src, src.encoded, true, err, errlen);
    if (rc < 0) {
        il_volume_files_free(fl.files, fl.n);
        return -1;
    }
    *files = fl.files;
    *nfiles = fl.n;
    return 0;
}

void il_volume_files_free(il_volume_file *files, size_t nfiles)
{
    for (size_t i = 0; i < nfiles; i++) {
        free(files[i].path);
        free(files[i].data);
    }
    free(files);
}

/* ---- PodStatus --------------------------------------------------------- */

json_t *il_time_json(il_time t)
{
    if (il_time_is_zero(t))
        return json_null();
    char buf[IL_RFC3339_MAX];
    il_time_format(t, false, buf);
    return json_string(buf);
}

/* Set key to s only when s is non-NULL (Go's omitempty on strings). */
static void set_opt_string(json_t *obj, const char *key, const char *s)
{
    if (s && *s)
        json_object_set_new(obj, key, json_string(s));
}

static json_t *state_json(const il_container_status *cs)
{
    json_t *inner = json_object();
    const char *kind;
    switch (cs->state) {
    case IL_STATE_RUNNING:
        kind = "running";
        json_object_set_new(inner, "startedAt", il_time_json(cs->started_at));
        break;
    case IL_STATE_TERMINATED:
        kind = "terminated";
        json_object_set_new(inner, "exitCode", json_integer(cs->exit_code));
        if (cs->signal)
            json_object_set_new(inner, "signal", json_integer(cs->signal));
        set_opt_string(inner, "reason", cs->reason);
        set_opt_string(inner, "message", cs->message);
        json_object_set_new(inner, "startedAt", il_time_json(cs->started_at));
        json_object_set_new(inner, "finishedAt", il_time_json(cs->finished_at));
        set_opt_string(inner, "containerID", cs->container_id);
        break;
    case IL_STATE_WAITING:
    default:
        kind = "waiting";
        set_opt_string(inner, "reason", cs->reason);
        set_opt_string(inner, "message", cs->message);
        break;
    }
    return json_pack("{s:o}", kind, inner);
}

static json_t *container_status_json(const il_container_status *cs)
{
    json_t *o = json_pack("{s:s, s:o, s:{}, s:b, s:i, s:s, s:s}", "name", cs->name ? cs->name : "",
                          "state", state_json(cs), "lastState", "ready", cs->ready,
                          "restartCount", cs->restart_count, "image", cs->image ? cs->image : "",
                          "imageID", "");
    set_opt_string(o, "containerID", cs->container_id);
    bool started = cs->started == IL_STARTED_UNSET ? cs->state == IL_STATE_RUNNING
                                                   : cs->started == IL_STARTED_YES;
    json_object_set_new(o, "started", json_boolean(started));
    return o;
}

static json_t *container_statuses_json(const il_container_status *cs, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, container_status_json(&cs[i]));
    return arr;
}

json_t *il_pod_status_to_json(const il_pod_status *st)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "name", st->name ? st->name : "", "UID",
                     st->uid ? st->uid : "", "namespace", st->ns ? st->ns : "", "JID",
                     st->job_id ? st->job_id : "", "containers",
                     container_statuses_json(st->containers, st->n_containers), "initContainers",
                     container_statuses_json(st->init_containers, st->n_init_containers));
}

static int time_field(const json_t *obj, const char *parent, const char *key, il_time *out,
                      char *err, size_t errlen)
{
    const char *s;
    if (il_jstring(obj, parent, key, &s, err, errlen) < 0)
        return -1;
    if (il_time_parse(s, out) < 0) {
        char path[IL_JPATH_MAX];
        il_jpath_key(path, parent, key);
        return il_jfail(err, errlen, path, "invalid RFC 3339 time \"%s\"", s);
    }
    return 0;
}

/* Copy obj[key] (an optional string) into *out. */
static int dup_field(const json_t *obj, const char *parent, const char *key, char **out,
                     char *err, size_t errlen)
{
    const char *s;
    if (il_jstring(obj, parent, key, &s, err, errlen) < 0)
        return -1;
    if (s && !*out)
        *out = il_xstrdup(s);
    return 0;
}

static int int_field(const json_t *obj, const char *parent, const char *key, int *out,
                     char *err, size_t errlen)
{
    int64_t v;
    if (il_jint(obj, parent, key, 0, &v, err, errlen) < 0)
        return -1;
    if (v < INT32_MIN || v > INT32_MAX) {
        char path[IL_JPATH_MAX];
        il_jpath_key(path, parent, key);
        return il_jfail(err, errlen, path, "out of range");
    }
    *out = (int)v;
    return 0;
}

/* state: {terminated} wins over {running} over {waiting}; missing = waiting. */
static int state_from_json(const json_t *c, const char *path, il_container_status *cs,
                           char *err, size_t errlen)
{
    json_t *state, *inner;
    char spath[IL_JPATH_MAX], ipath[IL_JPATH_MAX];
    il_jpath_key(spath, path, "state");
    if (il_jobject(c, path, "state", &state, err, errlen) < 0)
        return -1;
    static const struct { const char *key; il_state_kind kind; } kinds[] = {
        {"terminated", IL_STATE_TERMINATED}, {"running", IL_STATE_RUNNING},
        {"waiting", IL_STATE_WAITING}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (il_jobject(state, spath, kinds[i].key, &inner, err, errlen) < 0)
            return -1;
        if (!inner)
            continue;
        il_jpath_key(ipath, spath, kinds[i].key);
        cs->state = kinds[i].kind;
        if (dup_field(inner, ipath, "reason", &cs->reason, err, errlen) < 0 ||
            dup_field(inner, ipath, "message", &cs->message, err, errlen) < 0 ||
            dup_field(inner, ipath, "containerID", &cs->container_id, err, errlen) < 0 ||
            int_field(inner, ipath, "exitCode", &cs->exit_code, err, errlen) < 0 ||
            int_field(inner, ipath, "signal", &cs->signal, err, errlen) < 0 ||
            time_field(inner, ipath, "startedAt", &cs->started_at, err, errlen) < 0 ||
            time_field(inner, ipath, "finishedAt", &cs->finished_at, err, errlen) < 0)
            return -1;
        return 0;
    }
    cs->state = IL_STATE_WAITING;
    return 0;
}

static int container_status_from_json(const json_t *c, const char *path, il_container_status *cs,
                                      char *err, size_t errlen)
{
    if (!json_is_object(c))
        return il_jfail(err, errlen, path, "expected an object");
    if (dup_field(c, path, "name", &cs->name, err, errlen) < 0 ||
        dup_field(c, path, "image", &cs->image, err, errlen) < 0 ||
        dup_field(c, path, "containerID", &cs->container_id, err, errlen) < 0 ||
        il_jbool(c, path, "ready", false, &cs->ready, err, errlen) < 0 ||
        int_field(c, path, "restartCount", &cs->restart_count, err, errlen) < 0)
        return -1;
    json_t *started = il_jget(c, "started");
    if (started && !json_is_boolean(started)) {
        char spath[IL_JPATH_MAX];
        il_jpath_key(spath, path, "started");
        return il_jfail(err, errlen, spath, "expected a boolean");
    }
    if (started)
        cs->started = json_is_true(started) ? IL_STARTED_YES : IL_STARTED_NO;
    return state_from_json(c, path, cs, err, errlen);
}

static int statuses_from_json(const json_t *obj, const char *key, il_container_status **out,
                              size_t *n, char *err, size_t errlen)
{
    json_t *arr;
    if (il_jarray(obj, "", key, &arr, err, errlen) < 0)
        return -1;
    if (!arr || json_array_size(arr) == 0)
        return 0;
    *out = il_xcalloc(json_array_size(arr), sizeof **out);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c) {
        char path[IL_JPATH_MAX];
        il_jpath_idx(path, key, i);
        (*n)++;
        if (container_status_from_json(c, path, &(*out)[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

int il_pod_status_from_json(json_t *json, il_pod_status *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(json))
        return il_jfail(err, errlen, "PodStatus", "expected an object");
    if (dup_field(json, "", "name", &out->name, err, errlen) < 0 ||
        dup_field(json, "", "UID", &out->uid, err, errlen) < 0 ||
        dup_field(json, "", "namespace", &out->ns, err, errlen) < 0 ||
        dup_field(json, "", "JID", &out->job_id, err, errlen) < 0 ||
        statuses_from_json(json, "containers", &out->containers, &out->n_containers, err,
                           errlen) < 0 ||
        statuses_from_json(json, "initContainers", &out->init_containers,
                           &out->n_init_containers, err, errlen) < 0) {
        il_pod_status_free(out);
        return -1;
    }
    return 0;
}

void il_container_status_free(il_container_status *cs)
{
    if (!cs)
        return;
    free(cs->name);
    free(cs->image);
    free(cs->reason);
    free(cs->message);
    free(cs->container_id);
    memset(cs, 0, sizeof *cs);
}

void il_pod_status_free(il_pod_status *st)
{
    if (!st)
        return;
    free(st->name);
    free(st->ns);
    free(st->uid);
    free(st->job_id);
    for (size_t i = 0; i < st->n_containers; i++)
        il_container_status_free(&st->containers[i]);
    free(st->containers);
    for (size_t i = 0; i < st->n_init_containers; i++)
        il_container_status_free(&st->init_containers[i]);
    free(st->init_containers);
    memset(st, 0, sizeof *st);
}

/* ---- phase ------------------------------------------------------------- */

/* Kubernetes' phase rules, specialised to backends that never restart a
 * container: a failed init container fails the pod whatever the
 * restartPolicy (a kubelet would retry it under OnFailure/Always, but
 * nothing here will), and with every container terminated the pod is
 * Succeeded or Failed by exit codes even under restartPolicy Always.  The
 * policy is therefore accepted for API symmetry but does not change the
 * result today. */
const char *il_pod_phase(const il_pod_status *st, const char *restart_policy)
{
    (void)restart_policy;
    for (size_t i = 0; i < st->n_init_containers; i++) {
        const il_container_status *cs = &st->init_containers[i];
        if (cs->state == IL_STATE_TERMINATED && cs->exit_code != 0)
            return "Failed";
    }
    for (size_t i = 0; i < st->n_init_containers; i++)
        if (st->init_containers[i].state != IL_STATE_TERMINATED)
            return "Pending";
    size_t terminated = 0, running = 0, failed = 0;
    for (size_t i = 0; i < st->n_containers; i++) {
        const il_container_status *cs = &st->containers[i];
        running += cs->state == IL_STATE_RUNNING;
        terminated += cs->state == IL_STATE_TERMINATED;
        failed += cs->state == IL_STATE_TERMINATED && cs->exit_code != 0;
    }
    if (st->n_containers > 0 && terminated == st->n_containers)
        return failed ? "Failed" : "Succeeded";
    if (running > 0 || terminated > 0)
        return "Running";
    return "Pending";
}

/* A PodStatus that does not parse yields "Pending": it says nothing. */
const char *il_pod_phase_json(json_t *pod_status, const char *restart_policy)
{
    il_pod_status st;
    char err[256];
    if (il_pod_status_from_json(pod_status, &st, err, sizeof err) < 0)
        return "Pending";
    const char *phase = il_pod_phase(&st, restart_policy);
    il_pod_status_free(&st);
    return phase;
}

bool il_phase_is_terminal(const char *phase)
{
    return phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
}

/* ---- LogStruct --------------------------------------------------------- */

static int nonneg_int(const json_t *opts, const char *key, int64_t *out, char *err,
                      size_t errlen)
{
    if (il_jint(opts, "Opts", key, 0, out, err, errlen) < 0)
        return -1;
    if (*out < 0) {
        char path[IL_JPATH_MAX];
        il_jpath_key(path, "Opts", key);
        return il_jfail(err, errlen, path, "must not be negative");
    }
    return 0;
}

static int log_opts_parse(const json_t *opts, il_log_request *out, char *err, size_t errlen)
{
    if (nonneg_int(opts, "Tail", &out->tail, err, errlen) < 0 ||
        nonneg_int(opts, "Bytes", &out->limit_bytes, err, errlen) < 0 ||
        nonneg_int(opts, "SinceSeconds", &out->since_seconds, err, errlen) < 0 ||
        il_jbool(opts, "Opts", "Timestamps", false, &out->timestamps, err, errlen) < 0 ||
        il_jbool(opts, "Opts", "Follow", false, &out->follow, err, errlen) < 0 ||
        il_jbool(opts, "Opts", "Previous", false, &out->previous, err, errlen) < 0 ||
        time_field(opts, "Opts", "SinceTime", &out->since_time, err, errlen) < 0)
        return -1;
    return 0;
}

static int log_request_fields(const json_t *json, il_log_request *out, char *err, size_t errlen)
{
    const char *ns, *uid, *name, *container;
    json_t *opts;
    if (il_jstring(json, "", "Namespace", &ns, err, errlen) < 0 ||
        il_jstring(json, "", "PodUID", &uid, err, errlen) < 0 ||
        il_jstring(json, "", "PodName", &name, err, errlen) < 0 ||
        il_jstring(json, "", "ContainerName", &container, err, errlen) < 0 ||
        il_jobject(json, "", "Opts", &opts, err, errlen) < 0)
        return -1;
    out->ns = il_xstrdup(ns ? ns : "");
    out->pod_uid = il_xstrdup(uid ? uid : "");
    out->pod_name = il_xstrdup(name ? name : "");
    out->container = il_xstrdup(container ? container : "");
    return log_opts_parse(opts, out, err, errlen);
}

/* Upstream's checks (pkg/interlink/api/logs.go), in its order and words. */
static int log_request_validate(const il_log_request *r, char *err, size_t errlen)
{
    const char *msg = NULL;
    if (!il_is_dns_label(r->ns))
        msg = "invalid namespace: must be a valid DNS label";
    else if (!il_is_uuid(r->pod_uid))
        msg = "invalid pod UID: must be a valid UUID";
    else if (*r->container && !il_is_dns_label(r->container))
        msg = "invalid container name: must be a valid DNS label";
    else if (r->tail != 0 && r->limit_bytes != 0)
        msg = "Both Tail and LimitBytes set. Set only one of them";
    else if (r->since_seconds != 0 && !il_time_is_zero(r->since_time))
        msg = "Both SinceSeconds and SinceTime set. Set only one of them";
    if (!msg)
        return 0;
    snprintf(err, errlen, "%s", msg);
    return -1;
}

int il_log_request_parse(json_t *json, il_log_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(json)) {
        snprintf(err, errlen, "invalid request body");
        return -1;
    }
    if (log_request_fields(json, out, err, errlen) < 0 ||
        log_request_validate(out, err, errlen) < 0) {
        il_log_request_free(out);
        return -1;
    }
    return 0;
}

int il_log_request_parse_body(const char *body, size_t len, il_log_request *out, char *err,
                              size_t errlen)
{
    json_error_t jerr;
    json_t *json = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (!json) {
        memset(out, 0, sizeof(*out));
        snprintf(err, errlen, "invalid request body: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return -1;
    }
    int rc = il_log_request_parse(json, out, err, errlen);
    json_decref(json);
    return rc;
}

json_t *il_log_request_to_json(const il_log_request *r)
{
    char since[IL_RFC3339_MAX];
    il_time_format(r->since_time, true, since);
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:I, s:I, s:b, s:b, s:b, s:I, s:s}}",
                     "Namespace", r->ns ? r->ns : "", "PodUID", r->pod_uid ? r->pod_uid : "",
                     "PodName", r->pod_name ? r->pod_name : "", "ContainerName",
                     r->container ? r->container : "", "Opts", "Tail", (json_int_t)r->tail,
                     "Bytes", (json_int_t)r->limit_bytes, "Timestamps", r->timestamps,
                     "Follow", r->follow, "Previous", r->previous, "SinceSeconds",
                     (json_int_t)r->since_seconds, "SinceTime", since);
}

void il_log_request_free(il_log_request *req)
{
    if (!req)
        return;
    free(req->ns);
    free(req->pod_uid);
    free(req->pod_name);
    free(req->container);
    memset(req, 0, sizeof *req);
}
