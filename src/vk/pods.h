/* pods.h -- the pods of this node as the VK knows them, keyed by UID.
 *
 * The watch fills the table with the latest object from the API server;
 * workers and the status loop read snapshots and record what they did
 * (the interlink job id, a confirmed backend delete, failures for the
 * backoff).  A pod is kept as a record (vk_podrec): its compact JSON text
 * and the few fields the hot paths read, not as a parsed tree (jansson
 * takes about 13 bytes of heap per byte of JSON: 300 MB at 10,000 pods).
 * Records are never modified once stored; a snapshot is a reference, and
 * a whole object is parsed only for the caller that needs one.
 * Thread-safe. */
#ifndef VK_PODS_H
#define VK_PODS_H

#include <jansson.h>
#include <stdbool.h>

#include "util.h"

typedef struct vk_pods vk_pods;

/* One stored pod object.  Immutable; shared by reference (vk_podrec_ref,
 * vk_podrec_unref).  The strings live as long as the record.  The pod's
 * text is kept deflated against a dictionary (the first pod stored: the
 * pods of one node differ in a few names, UIDs and times), about 20 times
 * smaller; vk_podrec_text and vk_podrec_pod inflate it. */
typedef struct vk_podrec {
    int refs;                 /* atomic */
    bool deleting;            /* metadata.deletionTimestamp is set */
    const char *uid, *ns, *name;
    const char *rv;           /* metadata.resourceVersion, or NULL */
    const char *phase;        /* status.phase, "Pending" when none */
    const char *job;          /* the JobID annotation, or NULL */
    size_t text_len;          /* vk_pod_for_status of the pod, compact JSON: its length */
    size_t status_len;        /* the status's, compact JSON; 0 when none */
    const unsigned char *ztext, *zstatus;   /* the two, deflated (pods.c's) */
    size_t ztext_len, zstatus_len;
    void *slab;               /* where the record is stored (pods.c's) */
} vk_podrec;

/* A record of pod (NULL when it has no UID). */
vk_podrec *vk_podrec_new(const json_t *pod);
vk_podrec *vk_podrec_ref(vk_podrec *r);
void vk_podrec_unref(vk_podrec *r);
/* Append the record's text (what the status cycle sends: text_len bytes)
 * to out. */
void vk_podrec_text(const vk_podrec *r, il_buf *out);
/* The pod object again (new reference): the text with the status;
 * metadata.managedFields is not kept. */
json_t *vk_podrec_pod(const vk_podrec *r);
/* What the status cycle sends of a pod (a new object): all but its status
 * and metadata.managedFields. */
json_t *vk_pod_for_status(const json_t *pod);

/* A snapshot of one entry; the caller owns it (vk_pod_view_free). */
typedef struct vk_pod_view {
    json_t *pod;              /* latest object from the API server (parsed for the view) */
    char *job_id;             /* NULL until interlink accepted the pod */
    bool gone;                /* the API object no longer exists */
    bool backend_deleted;     /* interlink confirmed the delete */
    int failures;             /* consecutive failed attempts, for backoff */
} vk_pod_view;

vk_pods *vk_pods_new(void);
void vk_pods_free(vk_pods *t);

/* Store pod (as a record; pod is not kept) unless the table has a newer
 * resourceVersion.  A JobID annotation is adopted as the job id (a pod
 * created before a VK restart is never submitted again).  Returns true
 * when a worker must look at the pod: it is new, or its deletion was just
 * requested. */
bool vk_pods_put(vk_pods *t, const json_t *pod);
/* The same for the answer to one of our writes: only a pod still in the
 * table is updated (a write racing with the pod's removal must not bring
 * it back).  True when the reply implies work, as for vk_pods_put: it may
 * already carry the deletionTimestamp, and then the watch event that
 * follows is no news and queues nothing. */
bool vk_pods_refresh(vk_pods *t, const json_t *pod);
/* The API object is gone; true when the pod was known. */
bool vk_pods_mark_gone(vk_pods *t, const char *uid);
/* Every known pod whose UID is not a key of present (after a relist) is
 * marked gone; returns their UIDs (new array). */
json_t *vk_pods_mark_missing(vk_pods *t, const json_t *present);
/* A pod only interlink knows (deleted from the API while the VK was down):
 * entered as gone, with its job id, so a worker deletes it remotely. */
void vk_pods_add_orphan(vk_pods *t, const json_t *pod, const char *job_id);

/* Whether uid is known (no copy made). */
bool vk_pods_has(vk_pods *t, const char *uid);
/* Its job id (caller frees), or NULL. */
char *vk_pods_job_id(vk_pods *t, const char *uid);
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
 * the API, not being deleted, not terminal.  A new array of *n records;
 * free it with vk_podrecs_free. */
vk_podrec **vk_pods_active(vk_pods *t, size_t *n);
void vk_podrecs_free(vk_podrec **recs, size_t n);
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
