/* pods.c -- the node's pod table: UID -> latest object and VK bookkeeping.
 *
 * Owns the entries, their records and the lock.  Chained hashing on the
 * UID; a node holds thousands of pods at most, so the bucket count is
 * fixed.  A record is one allocation: the struct, then its strings and
 * its deflated texts (recdeflate.c), in a slab of its own (recslab.c). */
#include "pods.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recdeflate.h"
#include "recslab.h"
#include "util.h"
#include "wire.h"

#define BUCKETS 1024

typedef struct entry {
    char *uid;
    vk_podrec *rec;           /* NULL never once stored */
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

/* ---- records ----------------------------------------------------------- */

json_t *vk_pod_for_status(const json_t *pod)
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

/* Copy s (n bytes and a NUL) to *at; returns the copy, or NULL for NULL. */
static const char *pack(char **at, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = *at;
    memcpy(d, s, n);
    d[n] = '\0';
    *at += n + 1;
    return d;
}

static size_t len0(const char *s) { return s ? strlen(s) : 0; }

vk_podrec *vk_podrec_new(const json_t *pod)
{
    const char *uid = vk_pod_uid(pod);
    if (!uid)
        return NULL;
    json_t *part = vk_pod_for_status(pod);
    char *text = json_dumps(part, JSON_COMPACT);
    json_decref(part);
    const json_t *st = json_object_get(pod, "status");
    char *status = json_is_object(st) ? json_dumps(st, JSON_COMPACT) : NULL;
    size_t text_len = strlen(text), status_len = len0(status);
    vk_recdeflate_dict_once(text, text_len, status, status_len);
    size_t ztext_len, zstatus_len = 0;
    unsigned char *ztext = vk_recdeflate_pack(text, text_len, &ztext_len);
    unsigned char *zstatus = status ? vk_recdeflate_pack(status, status_len, &zstatus_len)
                                    : NULL;
    free(text);
    free(status);

    const char *ns = vk_pod_ns(pod), *name = meta_str(pod, "name");
    const char *rv = meta_str(pod, "resourceVersion"), *phase = vk_pod_phase(pod);
    const char *job = job_annotation(pod);
    size_t size = sizeof(vk_podrec) + strlen(uid) + len0(ns) + len0(name) + len0(rv) +
                  strlen(phase) + len0(job) + ztext_len + zstatus_len + 8;
    void *owner;
    vk_podrec *r = vk_recslab_alloc(size, &owner);
    r->slab = owner;
    char *at = (char *)(r + 1);
    r->refs = 1;
    r->deleting = vk_pod_deleting(pod);
    r->uid = pack(&at, uid, strlen(uid));
    r->ns = pack(&at, ns, strlen(ns));
    r->name = pack(&at, name ? name : "", len0(name));
    r->rv = pack(&at, rv, len0(rv));
    r->phase = pack(&at, phase, strlen(phase));
    r->job = pack(&at, job, len0(job));
    r->text_len = text_len;
    r->status_len = status_len;
    r->ztext = (const unsigned char *)pack(&at, (const char *)ztext, ztext_len);
    r->ztext_len = ztext_len;
    r->zstatus = (const unsigned char *)pack(&at, (const char *)zstatus, zstatus_len);
    r->zstatus_len = zstatus_len;
    free(ztext);
    free(zstatus);
    return r;
}

vk_podrec *vk_podrec_ref(vk_podrec *r)
{
    if (r)
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    return r;
}

void vk_podrec_unref(vk_podrec *r)
{
    if (r && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
        vk_recslab_free(r, r->slab);
}

void vk_podrec_text(const vk_podrec *r, il_buf *out)
{
    vk_recdeflate_unpack(r->ztext, r->ztext_len, r->text_len, out);
}

json_t *vk_podrec_pod(const vk_podrec *r)
{
    il_buf b = {0};
    vk_podrec_text(r, &b);
    json_t *pod = json_loadb(b.data, b.len, 0, NULL);
    if (pod && r->zstatus) {
        il_buf_reset(&b);
        vk_recdeflate_unpack(r->zstatus, r->zstatus_len, r->status_len, &b);
        json_object_set_new(pod, "status", json_loadb(b.data, b.len, 0, NULL));
    }
    il_buf_free(&b);
    return pod;
}

void vk_podrecs_free(vk_podrec **recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vk_podrec_unref(recs[i]);
    free(recs);
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
    vk_podrec_unref(e->rec);
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
    entry **s = &t->buckets[il_hash_str(uid) % BUCKETS];
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
static bool older(const vk_podrec *a, const vk_podrec *b)
{
    const char *ra = a->rv, *rb = b->rv;
    char *ea, *eb;
    if (!ra || !rb)
        return false;
    unsigned long long va = strtoull(ra, &ea, 10), vb = strtoull(rb, &eb, 10);
    return !*ea && !*eb && va < vb;
}

/* The common part of put and refresh: store pod into a known or (when
 * create) new entry.  Returns whether a worker must look at the pod.  The
 * record is made before the lock is taken (it serializes the pod). */
static bool store(vk_pods *t, const json_t *pod, bool create)
{
    vk_podrec *r = vk_podrec_new(pod);
    if (!r)
        return false;
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, r->uid);
    bool fresh = !e, work = false;
    if (!e && create)
        e = insert(t, r->uid);
    if (e && !e->gone && (!e->rec || !older(r, e->rec))) {
        work = fresh || (r->deleting && !e->rec->deleting);
        vk_podrec *old = e->rec;
        e->rec = r;
        r = old;   /* released below, outside the lock */
        if (!e->job_id && e->rec->job && *e->rec->job)
            e->job_id = il_xstrdup(e->rec->job);
    }
    pthread_mutex_unlock(&t->lock);
    vk_podrec_unref(r);
    return work;
}

bool vk_pods_put(vk_pods *t, const json_t *pod)
{
    return store(t, pod, true);
}

bool vk_pods_refresh(vk_pods *t, const json_t *pod)
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

void vk_pods_add_orphan(vk_pods *t, const json_t *pod, const char *job_id)
{
    vk_podrec *r = vk_podrec_new(pod);
    if (!r)
        return;
    pthread_mutex_lock(&t->lock);
    entry *e = lookup(t, r->uid);
    if (!e) {
        e = insert(t, r->uid);
        e->rec = r;
        r = NULL;
        e->job_id = il_xstrdup(job_id);
        e->gone = true;
    }
    pthread_mutex_unlock(&t->lock);
    vk_podrec_unref(r);
}

/* Fill out from e (NULL: leave it zeroed) but the pod, whose record is
 * returned (a reference) to be parsed once the lock is released; called
 * with the lock held. */
static vk_podrec *view(const entry *e, vk_pod_view *out)
{
    if (!e)
        return NULL;
    out->job_id = il_xstrdup(e->job_id);
    out->gone = e->gone;
    out->backend_deleted = e->backend_deleted;
    out->failures = e->failures;
    return vk_podrec_ref(e->rec);
}

/* The view's pod from its record (r: view's reference, released). */
static bool parsed(vk_podrec *r, vk_pod_view *out)
{
    if (!r)
        return false;
    out->pod = vk_podrec_pod(r);
    vk_podrec_unref(r);
    return true;
}

bool vk_pods_get(vk_pods *t, const char *uid, vk_pod_view *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&t->lock);
    vk_podrec *r = view(lookup(t, uid), out);
    pthread_mutex_unlock(&t->lock);
    return parsed(r, out);
}

bool vk_pods_has(vk_pods *t, const char *uid)
{
    pthread_mutex_lock(&t->lock);
    bool found = lookup(t, uid) != NULL;
    pthread_mutex_unlock(&t->lock);
    return found;
}

char *vk_pods_job_id(vk_pods *t, const char *uid)
{
    pthread_mutex_lock(&t->lock);
    const entry *e = lookup(t, uid);
    char *job = e ? il_xstrdup(e->job_id) : NULL;
    pthread_mutex_unlock(&t->lock);
    return job;
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
            if (!e->gone && !strcmp(e->rec->name, name) && !strcmp(e->rec->ns, ns))
                found = e;
    vk_podrec *r = view(found, out);
    pthread_mutex_unlock(&t->lock);
    return parsed(r, out);
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

vk_podrec **vk_pods_active(vk_pods *t, size_t *n)
{
    pthread_mutex_lock(&t->lock);
    vk_podrec **recs = il_xcalloc(t->n + 1, sizeof *recs);
    *n = 0;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (entry *e = t->buckets[b]; e; e = e->next) {
            if (e->job_id && !e->gone && !e->rec->deleting &&
                !il_phase_is_terminal(e->rec->phase))
                recs[(*n)++] = vk_podrec_ref(e->rec);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return recs;
}

void vk_pods_count_phases(vk_pods *t, const char *const *phases, size_t n, size_t *counts)
{
    memset(counts, 0, n * sizeof *counts);
    pthread_mutex_lock(&t->lock);
    for (size_t b = 0; b < BUCKETS; b++) {
        for (entry *e = t->buckets[b]; e; e = e->next) {
            const char *phase = e->gone ? NULL : e->rec->phase;
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
