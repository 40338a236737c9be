/* wire.h -- the interLink 0.6.x wire types, with upstream's exact keys.
 *
 *   PodCreateRequests  VK -> interlink /create   {pod, configmaps, secrets, projectedvolumesmaps, jobscriptURL}
 *   RetrievedPodData   interlink -> plugin       {pod, container[], jobConfig, jobScript?}
 *   CreateStruct       plugin -> VK              {"PodUID","PodJID"}
 *   PodStatus          plugin -> VK              {name, UID, namespace, JID, containers[], initContainers[]}
 *   LogStruct          VK -> plugin              {Namespace, PodUID, PodName, ContainerName, Opts{...}}
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

/* One file to materialize inside a volume. */
typedef struct il_volume_file {
    char *path;               /* relative to the volume root, validated: no "..", not absolute */
    unsigned char *data;
    size_t len;
    int mode;                 /* items[].mode, else defaultMode, else 0644 (Kubernetes' default for every kind) */
} il_volume_file;

/* The files of a configMap, secret, projected or downwardAPI volume, looked
 * up in the request (ConfigMap data/binaryData, Secret data base64-decoded,
 * projected maps' data), with `items` applied.  emptyDir/hostPath give 0
 * files.  A missing object is an error unless the volume is optional.
 * Returns 0 or -1 with err set; free with il_volume_files_free. */
int il_volume_files(const il_create_request *req, const il_volume *vol,
                    il_volume_file **files, size_t *nfiles, char *err, size_t errlen);
void il_volume_files_free(il_volume_file *files, size_t nfiles);

json_t *il_create_response(const char *pod_uid, const char *job_id);  /* {"PodUID","PodJID"} */

/* ---- status ------------------------------------------------------------ */

typedef enum { IL_STATE_WAITING = 0, IL_STATE_RUNNING, IL_STATE_TERMINATED } il_state_kind;

/* A producer that runs no probes or hooks leaves `started` unset: it then
 * means "running", and a parsed status without the key is unset too, so
 * the VK can tell a plugin's verdict from a plugin's silence. */
typedef enum { IL_STARTED_UNSET = 0, IL_STARTED_YES, IL_STARTED_NO } il_started;

typedef struct il_container_status {
    char *name;
    char *image;
    il_state_kind state;
    char *reason;             /* waiting/terminated reason, NULL if none */
    char *message;
    int exit_code;            /* terminated only */
    int signal;               /* terminated only, 0 if none */
    il_time started_at;       /* running/terminated */
    il_time finished_at;      /* terminated */
    bool ready;
    il_started started;       /* k8s `started` (postStart done, startup probe passed) */
    int restart_count;
    char *container_id;       /* NULL if none */
} il_container_status;

typedef struct il_pod_status {
    char *name;
    char *ns;
    char *uid;
    char *job_id;
    il_container_status *containers;
    size_t n_containers;
    il_container_status *init_containers;
    size_t n_init_containers;
} il_pod_status;

json_t *il_pod_status_to_json(const il_pod_status *st);
/* metav1.Time: RFC 3339 seconds, or null when unset. */
json_t *il_time_json(il_time t);
int il_pod_status_from_json(json_t *json, il_pod_status *out, char *err, size_t errlen);
void il_pod_status_free(il_pod_status *st);
void il_container_status_free(il_container_status *cs);

/* The pod phase Kubernetes would derive: "Pending", "Running",
 * "Succeeded" or "Failed" (restartPolicy decides whether a failed container
 * fails the pod; NULL means "Always").  Works on JSON PodStatus too; a
 * PodStatus that does not parse gives "Pending".  Backends never restart
 * containers, so today the policy does not change the result (see wire.c). */
const char *il_pod_phase(const il_pod_status *st, const char *restart_policy);
const char *il_pod_phase_json(json_t *pod_status, const char *restart_policy);
bool il_phase_is_terminal(const char *phase);

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
