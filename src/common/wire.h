/* wire.h -- the interLink 0.6.x wire types, with upstream's exact keys.
 *
 *   PodCreateRequests  VK -> interlink /create   {pod, configmaps, secrets,
 *                                                projectedvolumesmaps, jobscriptURL}
 *   RetrievedPodData   interlink -> plugin       {pod, container[], jobConfig, jobScript?}
 *   CreateStruct       plugin -> VK              {"PodUID","PodJID"}
 *   PodStatus          plugin -> VK              {name, UID, namespace, JID, containers[],
 *                                                initContainers[]}
 *                                                (podstatus.h)
 *   LogStruct          VK -> plugin              {Namespace, PodUID, PodName, ContainerName,
 *                                                Opts{...}}
 *
 * Key casing is inconsistent upstream on purpose of history ("configMaps" vs
 * "configmaps", "projectedvolumemaps" vs "projectedvolumesmaps"); it is
 * reproduced byte for byte here and nowhere else. */
#ifndef IL_WIRE_H
#define IL_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pod.h"
#include "podstatus.h"
#include "timeutil.h"

/* ---- create ------------------------------------------------------------ */

/* Who a request is made for, as interlink authenticated its caller (its
 * X-Interlink-User, -Groups and -Tenant headers); NULL fields: not told. */
typedef struct il_caller {
    const char *user;
    const char *groups;       /* comma-separated */
    const char *tenant;       /* the pod's namespace */
} il_caller;

/* A RetrievedPodData as a plugin receives it. */
typedef struct il_create_request {
    il_pod pod;
    json_t *raw;              /* the whole body (a reference) */
    json_t *containers;       /* borrowed: raw["container"], array or NULL */
    const char *job_script;   /* borrowed: raw["jobScript"] or NULL */
    const il_caller *caller;  /* borrowed: set by plugin.c for the create callback */
} il_create_request;

int il_create_request_parse(json_t *body, il_create_request *out, char *err, size_t errlen);
void il_create_request_free(il_create_request *req);

/* Build RetrievedPodData from PodCreateRequests, as interlink does: one
 * "container" entry per init container then per container, each carrying
 * the ConfigMaps / Secrets / projected maps its volumeMounts reference.
 * Returns a new object, or NULL with err set. */
json_t *il_retrieved_pod_data(json_t *create_requests, char *err, size_t errlen);

json_t *il_create_response(const char *pod_uid, const char *job_id);  /* {"PodUID","PodJID"} */

/* ---- logs -------------------------------------------------------------- */

typedef struct il_log_request {
    char *ns;
    char *pod_uid;
    char *pod_name;
    char *container;
    int64_t tail;             /* 0 = all */
    int64_t limit_bytes;      /* Opts.Bytes, 0 = unlimited */
    bool timestamps;
    bool follow;
    bool previous;
    int64_t since_seconds;    /* 0 = unset */
    il_time since_time;       /* zero = unset */
} il_log_request;

/* Parse and validate as upstream does (DNS-label namespace and container,
 * UUID pod UID, Tail xor Bytes, SinceSeconds xor SinceTime), with upstream's
 * messages.  Returns 0 or -1 with the message in err. */
int il_log_request_parse(json_t *json, il_log_request *out, char *err, size_t errlen);
/* The same from a request body; malformed JSON gets upstream's
 * "invalid request body" with the parser's reason. */
int il_log_request_parse_body(const char *body, size_t len, il_log_request *out, char *err,
                              size_t errlen);
json_t *il_log_request_to_json(const il_log_request *req);
void il_log_request_free(il_log_request *req);

#endif
