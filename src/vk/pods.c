/* pods.c -- the node's pod table: UID -> latest object and VK bookkeeping.
 *
 * Owns the entries and their lock.  Chained hashing on the UID; a node
 * holds thousands of pods at most, so the bucket count is fixed. */
#include "pods.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "wire.h"

#define BUCKETS 1024

typedef struct entry {
    char *uid;
    json_t *pod;
    char *job_id;
    bool gone;
    bool backend_deleted;
    int failures;
    struct entry *next;
} entry;

struct vk_pods {
    pthread_mutex_t lock;
    entry *buckets[BUCKETS];
    size_t n;
    bool synced;
};

/* ---- pod accessors ----------------------------------------------------- */

static const char *meta_str(const json_t *pod, const char *key)
{
    return json_string_value(json_object_get(json_object_get(pod, "metadata"), key));
}

const char *vk_pod_uid(const json_t *pod) { return meta_str(pod, "uid"); }
const char *vk_pod_name(const json_t *pod) { return meta_str(pod, "name"); }

const char *vk_pod_ns(const json_t *pod)
{
    const char *ns = meta_str(pod, "namespace");
    return ns ? ns : "default";
}

const char *vk_pod_phase(const json_t *pod)
{
    const char *p = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    return p ? p : "Pending";
}

bool vk_pod_deleting(const json_t *pod)
{
    return json_is_string(json_object_get(json_object_get(pod, "metadata"),
                                          "deletionTimestamp"));
}

static const char *job_annotation(const json_t *pod)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(pod, "metadata"), "annotations"), "JobID"));
}

/* ---- table ------------------------------------------------------------- */

vk_pods *vk_pods_new(void)
{
    vk_pods *t = il_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

static void entry_free(entry *e)
{
    free(e->uid);
    json_decref(e->pod);
    free(e->job_id);
    free(e);
}

void vk_pods_free(vk_pods *t)
{
    if (!t)
        return;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (entry *e = t->buckets[b], *next; e; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static entry **slot(vk_pods *t, const char *uid)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)uid; *p; p++)
        h = (h ^ *p) * 16777619u;
    entry **s = &t->buckets[h % BUCKETS];
    while (*s && strcmp((*s)->uid, uid) != 0)
        s = &(*s)->next;
    return s;   /* *s is the entry, or NULL where it would go */
}

static entry *lookup(vk_pods *t, const char *uid)
{
    return uid ? *slot(t, uid) : NULL;
}

static entry *insert(vk_pods *t, const char *uid)
{
    entry **s = slot(t, uid);
    if (!*s) {
        *s = il_xcalloc(1, sizeof **s);
        (*s)->uid = il_xstrdup(uid);
        t->n++;
    }
    return *s;
}

/* resourceVersions are opaque to clients, but every API server in use
 * (etcd's revision) gives integers; only then can "older" be decided. */
static bool older(const json_t *a, const json_t *b)
{
    const char *ra = meta_str(a, "resourceVersion"), *rb = meta_str(b, "resourceVersion");
    char *ea, *eb;
    if (!ra || !rb)
        return false;
    unsigned long long va = strtoull(ra, &ea, 10), vb = strtoull(rb, &eb, 10);
    return !*ea && !*eb && va < vb;
}

/* The common part of put and refresh: store pod into a known or (when
 * create) new entry.  Returns whether a worker must look at the pod. */
static bool store(vk_pods *t, json_t *pod, bool create)
{
    const char *uid = vk_pod_uid(pod);
    if (!uid)
        return false;
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, uid);
    bool fresh = !e, work = false;
    if (!e && create)
        e = insert(t, uid);
    if (e && !e->gone && (!e->pod || !older(pod, e->pod))) {
        work = fresh || (vk_pod_deleting(pod) && !vk_pod_deleting(e->pod));
        json_decref(e->pod);
        e->pod = json_incref(pod);
        const char *job = job_annotation(pod);
        if (!e->job_id && job && *job)
            e->job_id = il_xstrdup(job);
    }
    pthread_mutex_unlock(&t->lock);
    return work;
}

bool vk_pods_put(vk_pods *t, json_t *pod)
{
    return store(t, pod, true);
}

bool vk_pods_refresh(vk_pods *t, json_t *pod)
{
    return store(t, pod, false);
}

bool vk_pods_mark_gone(vk_pods *t, const char *uid)
{
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, uid);
    if (e)
        e->gone = true;
    pthread_mutex_unlock(&t->lock);
    return e != NULL;
}

json_t *vk_pods_mark_missing(vk_pods *t, const json_t *present)
{
    json_t *missing = json_array();
    pthread_mutex_lock(&t->lock);
    for (size_t b = 0; b < BUCKETS; b++) {
        for (entry *e = t->buckets[b]; e; e = e->next) {
            if (!e->gone && !json_object_get(present, e->uid)) {
                e->gone = true;
                json_array_append_new(missing, json_string(e->uid));
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    return missing;
}

void vk_pods_add_orphan(vk_pods *t, json_t *pod, const char *job_id)
{
    const char *uid = vk_pod_uid(pod);
    if (!uid)
        return;
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, uid);
    if (!e) {
        e = insert(t, uid);
        e->pod = json_incref(pod);
        e->job_id = il_xstrdup(job_id);
        e->gone = true;
    }
    pthread_mutex_unlock(&t->lock);
}

/* Fill out from e (NULL: leave it zeroed); called with the lock held. */
static bool view(const entry *e, vk_pod_view *out)
{
    if (e) {
        out->pod = json_incref(e->pod);
        out->job_id = il_xstrdup(e->job_id);
        out->gone = e->gone;
        out->backend_deleted = e->backend_deleted;
        out->failures = e->failures;
    }
    return e != NULL;
}

bool vk_pods_get(vk_pods *t, const char *uid, vk_pod_view *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&t->lock);
    bool found = view(lookup(t, uid), out);
    pthread_mutex_unlock(&t->lock);
    return found;
}

static bool named(const json_t *pod, const char *ns, const char *name)
{
    const char *n = vk_pod_name(pod);
    return n && !strcmp(n, name) && !strcmp(vk_pod_ns(pod), ns);
}

/* A scan: the table is keyed by UID, and a log request is rare enough
 * that a second index is not worth keeping in step. */
bool vk_pods_find(vk_pods *t, const char *ns, const char *name, vk_pod_view *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&t->lock);
    const entry *found = NULL;
    for (size_t b = 0; b < BUCKETS && !found; b++)
        for (const entry *e = t->buckets[b]; e && !found; e = e->next)
            if (!e->gone && named(e->pod, ns, name))
                found = e;
    view(found, out);
    pthread_mutex_unlock(&t->lock);
    return found != NULL;
}

void vk_pod_view_free(vk_pod_view *v)
{
    json_decref(v->pod);
    free(v->job_id);
    memset(v, 0, sizeof *v);
}

void vk_pods_set_job(vk_pods *t, const char *uid, const char *job_id)
{
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, uid);
    if (e) {
        free(e->job_id);
        e->job_id = il_xstrdup(job_id);
    }
    pthread_mutex_unlock(&t->lock);
}

void vk_pods_set_backend_deleted(vk_pods *t, const char *uid)
{
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, uid);
    if (e)
        e->backend_deleted = true;
    pthread_mutex_unlock(&t->lock);
}

int vk_pods_failed(vk_pods *t, const char *uid)
{
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, uid);
    int n = e ? ++e->failures : 1;
    pthread_mutex_unlock(&t->lock);
    return n;
}

void vk_pods_succeeded(vk_pods *t, const char *uid)
{
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, uid);
    if (e)
        e->failures = 0;
    pthread_mutex_unlock(&t->lock);
}

void vk_pods_forget(vk_pods *t, const char *uid)
{
    pthread_mutex_lock(&t->lock);
    entry **s = slot(t, uid);
    entry *e = *s;
    if (e) {
        *s = e->next;
        entry_free(e);
        t->n--;
    }
    pthread_mutex_unlock(&t->lock);
}

json_t *vk_pods_active(vk_pods *t)
{
    json_t *list = json_array();
    pthread_mutex_lock(&t->lock);
    for (size_t b = 0; b < BUCKETS; b++) {
        for (entry *e = t->buckets[b]; e; e = e->next) {
            if (e->job_id && !e->gone && e->pod && !vk_pod_deleting(e->pod) &&
                !il_phase_is_terminal(vk_pod_phase(e->pod)))
                json_array_append(list, e->pod);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return list;
}

void vk_pods_count_phases(vk_pods *t, const char *const *phases, size_t n, size_t *counts)
{
    memset(counts, 0, n * sizeof *counts);
    pthread_mutex_lock(&t->lock);
    for (size_t b = 0; b < BUCKETS; b++) {
        for (entry *e = t->buckets[b]; e; e = e->next) {
            const char *phase = e->pod && !e->gone ? vk_pod_phase(e->pod) : NULL;
            for (size_t i = 0; phase && i < n; i++)
                if (strcmp(phase, phases[i]) == 0)
                    counts[i]++;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void vk_pods_set_synced(vk_pods *t)
{
    pthread_mutex_lock(&t->lock);
    t->synced = true;
    pthread_mutex_unlock(&t->lock);
}

bool vk_pods_synced(vk_pods *t)
{
    pthread_mutex_lock(&t->lock);
    bool s = t->synced;
    pthread_mutex_unlock(&t->lock);
    return s;
}

bool vk_pod_has_container(const json_t *pod, const char *name)
{
    static const char *const lists[] = {"containers", "initContainers"};
    json_t *spec = json_object_get(pod, "spec");
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c) {
            const char *n = json_string_value(json_object_get(c, "name"));
            if (n && !strcmp(n, name))
                return true;
        }
    }
    return false;
}
