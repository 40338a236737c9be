/* pods.h -- the pods of this node as the VK knows them, keyed by UID.
 *
 * The watch fills the table with the latest object from the API server;
 * workers and the status loop read snapshots and record what they did
 * (the interlink job id, a confirmed backend delete, failures for the
 * backoff).  Pod objects in the table are never modified once stored
 * (jansson's reference counts are atomic), so a snapshot is a reference,
 * not a copy.  Thread-safe. */
#ifndef VK_PODS_H
#define VK_PODS_H

#include <jansson.h>
#include <stdbool.h>

typedef struct vk_pods vk_pods;

/* A snapshot of one entry; the caller owns it (vk_pod_view_free). */
typedef struct vk_pod_view {
    json_t *pod;              /* latest object from the API server */
    char *job_id;             /* NULL until interlink accepted the pod */
    bool gone;                /* the API object no longer exists */
    bool backend_deleted;     /* interlink confirmed the delete */
    int failures;             /* consecutive failed attempts, for backoff */
} vk_pod_view;

vk_pods *vk_pods_new(void);
void vk_pods_free(vk_pods *t);

/* Store pod (takes a new reference) unless the table has a newer
 * resourceVersion.  A JobID annotation is adopted as the job id (a pod
 * created before a VK restart is never submitted again).  Returns true
 * when a worker must look at the pod: it is new, or its deletion was just
 * requested. */
bool vk_pods_put(vk_pods *t, json_t *pod);
/* The same for the answer to one of our writes: only a pod still in the
 * table is updated (a write racing with the pod's removal must not bring
 * it back).  True when the reply implies work, as for vk_pods_put: it may
 * already carry the deletionTimestamp, and then the watch event that
 * follows is no news and queues nothing. */
bool vk_pods_refresh(vk_pods *t, json_t *pod);
/* The API object is gone; true when the pod was known. */
bool vk_pods_mark_gone(vk_pods *t, const char *uid);
/* Every known pod whose UID is not a key of present (after a relist) is
 * marked gone; returns their UIDs (new array). */
json_t *vk_pods_mark_missing(vk_pods *t, const json_t *present);
/* A pod only interlink knows (deleted from the API while the VK was down):
 * entered as gone, with its job id, so a worker deletes it remotely. */
void vk_pods_add_orphan(vk_pods *t, json_t *pod, const char *job_id);

/* false when uid is unknown. */
bool vk_pods_get(vk_pods *t, const char *uid, vk_pod_view *out);
void vk_pod_view_free(vk_pod_view *v);
/* The same by namespace and name, among the pods still in the API. */
bool vk_pods_find(vk_pods *t, const char *ns, const char *name, vk_pod_view *out);

void vk_pods_set_job(vk_pods *t, const char *uid, const char *job_id);
void vk_pods_set_backend_deleted(vk_pods *t, const char *uid);
/* Count one failure; returns the count so far. */
int vk_pods_failed(vk_pods *t, const char *uid);
void vk_pods_succeeded(vk_pods *t, const char *uid);
void vk_pods_forget(vk_pods *t, const char *uid);

/* References to the pods the status cycle asks about: submitted, still in
 * the API, not being deleted, not terminal.  New array. */
json_t *vk_pods_active(vk_pods *t);
/* How many pods still in the API are in each of phases[0..n) (a pod
 * without a status counts as "Pending"). */
void vk_pods_count_phases(vk_pods *t, const char *const *phases, size_t n, size_t *counts);
/* Whether the first full list has been stored (so a UID missing from the
 * table is really not on the node). */
void vk_pods_set_synced(vk_pods *t);
bool vk_pods_synced(vk_pods *t);

/* Small accessors for pod objects. */
const char *vk_pod_uid(const json_t *pod);
const char *vk_pod_name(const json_t *pod);
const char *vk_pod_ns(const json_t *pod);
const char *vk_pod_phase(const json_t *pod);
bool vk_pod_deleting(const json_t *pod);

/* Whether the pod's spec has a container (or init container) so named. */
bool vk_pod_has_container(const json_t *pod, const char *name);

#endif
