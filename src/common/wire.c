/* wire.c -- interLink's JSON wire types: create, status and log requests.
 *
 * Owns the exact upstream key spellings (see wire.h), the RetrievedPodData
 * reshaping interlink does between the VK and a plugin, the create request
 * a plugin parses, and LogStruct validation with upstream's messages.
 * PodStatus is podstatus.c's; volume files are the runner's (volumefiles.c). */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "log.h"
#include "util.h"

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
        return il_jfind_named(in->configmaps, json_string_value(il_jget(src, "name")));
    }
    if ((src = il_jget(vol, "secret"))) {
        *list_key = "secrets";
        return il_jfind_named(in->secrets, json_string_value(il_jget(src, "secretName")));
    }
    if (il_jget(vol, "projected") || il_jget(vol, "downwardAPI")) {
        *list_key = "projectedvolumemaps";
        return il_jfind_named(in->projected, vol_name);
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
    /* Our extension: the pod's tunnel (the VK's, docs/interactive.md),
     * for the plugin only; interlink's state never stores it. */
    json_t *tunnel, *tk;
    const char *key;
    if (il_jobject(create_requests, "", "tunnel", &tunnel, err, errlen) < 0) {
        json_decref(containers);
        return NULL;
    }
    json_object_foreach(tunnel, key, tk) {
        if (!json_is_string(tk)) {
            json_decref(containers);
            il_jfail(err, errlen, "tunnel", "expected an object of strings");
            return NULL;
        }
    }
    json_t *job_config = json_loads(job_config_zero, 0, NULL);
    json_t *out = json_pack("{s:O, s:o, s:o}", "pod", pod, "container",
                            containers ? containers : json_null(), "jobConfig", job_config);
    if (tunnel)
        json_object_set(out, "tunnel", tunnel);
    return out;
}

/* ---- create request (plugin side) -------------------------------------- */

/* Each RetrievedContainer's lists must be null or arrays of objects, so
 * rn_volume_files can trust their shape. */
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
        il_jtime(opts, "Opts", "SinceTime", &out->since_time, err, errlen) < 0)
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
