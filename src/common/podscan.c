/* podscan.c -- a pod's UID, names and restart policy from its text (see
 * podscan.h). */
#include "podscan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "pod.h"
#include "util.h"

enum { META, UID, NAME, NS, ANNOTATIONS, LABELS, SPEC, POLICY, N_MEMBERS };

/* A string il_pod_parse_meta takes as it is: absent, null or unescaped
 * (jansson's string is then exactly its bytes; no NUL can be in them). */
static bool plain_or_absent(const il_jscan_member *m)
{
    return m->kind == IL_JSCAN_ABSENT || m->kind == IL_JSCAN_NULL ||
           (m->kind == IL_JSCAN_STRING && !m->escaped);
}

/* A map il_pod_parse_meta takes: absent, null, or strings and nulls only. */
static bool string_map_or_absent(const il_jscan_member *m)
{
    return m->kind == IL_JSCAN_ABSENT || m->kind == IL_JSCAN_NULL ||
           (m->kind == IL_JSCAN_OBJECT && m->strings_only);
}

int il_pod_scan_ref(const char *text, size_t len, il_pod_ref *out)
{
    *out = (il_pod_ref){0};
    il_jscan_member m[N_MEMBERS] = {
        [META] = {.path = "metadata"},
        [UID] = {.path = "metadata.uid"},
        [NAME] = {.path = "metadata.name"},
        [NS] = {.path = "metadata.namespace"},
        [ANNOTATIONS] = {.path = "metadata.annotations"},
        [LABELS] = {.path = "metadata.labels"},
        [SPEC] = {.path = "spec"},
        [POLICY] = {.path = "spec.restartPolicy"},
    };
    if (il_json_scan(text, len, m, N_MEMBERS) != 0 || m[META].kind != IL_JSCAN_OBJECT ||
        m[UID].kind != IL_JSCAN_STRING || m[UID].escaped || !plain_or_absent(&m[NAME]) ||
        !plain_or_absent(&m[NS]) || !string_map_or_absent(&m[ANNOTATIONS]) ||
        !string_map_or_absent(&m[LABELS]) ||
        (m[POLICY].kind == IL_JSCAN_STRING && m[POLICY].escaped))
        return -1;
    char *uid = il_jscan_strdup(&m[UID]);
    if (!il_pod_uid_ok(uid)) {
        free(uid);
        return -1;
    }
    /* A restart policy that is no string reads as none, as json_string_value does. */
    *out = (il_pod_ref){.uid = uid, .ns = il_jscan_strdup(&m[NS]),
                        .name = il_jscan_strdup(&m[NAME]),
                        .restart_policy = il_jscan_strdup(&m[POLICY])};
    return 0;
}

void il_pod_ref_from_json(const json_t *pod, il_pod_ref *out)
{
    const json_t *meta = json_object_get(pod, "metadata");
    *out = (il_pod_ref){
        .uid = il_xstrdup(json_string_value(json_object_get(meta, "uid"))),
        .ns = il_xstrdup(json_string_value(json_object_get(meta, "namespace"))),
        .name = il_xstrdup(json_string_value(json_object_get(meta, "name"))),
        .restart_policy = il_xstrdup(json_string_value(
            json_object_get(json_object_get(pod, "spec"), "restartPolicy"))),
    };
}

void il_pod_ref_free(il_pod_ref *ref)
{
    free(ref->uid);
    free(ref->ns);
    free(ref->name);
    free(ref->restart_policy);
    *ref = (il_pod_ref){0};
}
