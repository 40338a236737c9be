/* statuscache.c -- what one status cycle keeps for the next (see
 * statuscache.h). */
#include "statuscache.h"

#include <string.h>

#include "jsonsplit.h"
#include "pods.h"

struct vk_status_cache {
    json_t *texts;       /* UID -> [resourceVersion, request text] */
    json_t *quiet;       /* answer element text -> [UID, resourceVersion], last cycle */
    json_t *quiet_next;  /* the same, noted during this cycle */
};

vk_status_cache *vk_status_cache_new(void)
{
    vk_status_cache *c = il_xcalloc(1, sizeof *c);
    c->texts = json_object();
    c->quiet = json_object();
    c->quiet_next = json_object();
    return c;
}

void vk_status_cache_free(vk_status_cache *c)
{
    if (!c)
        return;
    json_decref(c->texts);
    json_decref(c->quiet);
    json_decref(c->quiet_next);
    free(c);
}

static const char *resource_version(const json_t *pod)
{
    return json_string_value(
        json_object_get(json_object_get(pod, "metadata"), "resourceVersion"));
}

/* All but the status (plugins need the spec; the status is ours and can be
 * large) and metadata.managedFields (the API server's record of who wrote
 * which field: a third of a pod's JSON on a real server, of use to no
 * backend). */
json_t *vk_status_request_pod(const json_t *pod)
{
    json_t *copy = json_copy((json_t *)pod);   /* shallow: only the top level changes */
    json_object_del(copy, "status");
    json_t *meta = json_object_get(copy, "metadata");
    if (json_object_get(meta, "managedFields")) {
        meta = json_copy(meta);
        json_object_del(meta, "managedFields");
        json_object_set_new(copy, "metadata", meta);
    }
    return copy;
}

void vk_status_cache_request(vk_status_cache *c, const json_t *pods, il_buf *body)
{
    json_t *texts = json_object();
    size_t i;
    const json_t *pod;
    json_array_foreach(pods, i, pod) {
        const char *uid = vk_pod_uid(pod), *rv = resource_version(pod);
        json_t *kept = uid ? json_object_get(c->texts, uid) : NULL;
        if (kept && rv && !strcmp(rv, json_string_value(json_array_get(kept, 0)))) {
            const json_t *text = json_array_get(kept, 1);
            il_json_join_add(body, json_string_value(text), json_string_length(text));
            json_object_set(texts, uid, kept);
            continue;
        }
        json_t *req = vk_status_request_pod(pod);
        char *text = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        il_json_join_add(body, text, strlen(text));
        if (uid && rv)
            json_object_set_new(texts, uid, json_pack("[ss]", rv, text));
        free(text);
    }
    il_json_join_end(body);
    json_decref(c->texts);
    c->texts = texts;
}

bool vk_status_cache_quiet(const vk_status_cache *c, const char *elem, size_t len,
                           const json_t *by_uid, const char **uid)
{
    const json_t *seen = json_object_getn(c->quiet, elem, len);
    if (!seen)
        return false;
    const char *u = json_string_value(json_array_get(seen, 0));
    const char *rv = resource_version(json_object_get(by_uid, u));
    if (!rv || strcmp(rv, json_string_value(json_array_get(seen, 1))) != 0)
        return false;
    *uid = u;
    return true;
}

void vk_status_cache_note_quiet(vk_status_cache *c, const char *elem, size_t len,
                                const json_t *pod)
{
    const char *uid = vk_pod_uid(pod), *rv = resource_version(pod);
    if (uid && rv)
        json_object_setn_new(c->quiet_next, elem, len, json_pack("[ss]", uid, rv));
}

void vk_status_cache_next(vk_status_cache *c)
{
    json_decref(c->quiet);
    c->quiet = c->quiet_next;
    c->quiet_next = json_object();
}
