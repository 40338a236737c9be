/* podoutline.c -- what a pod's status is built on, kept from its pod.json.
 *
 * A status names the pod and each of its containers with its image; the
 * rest comes from the containers' state files.  Those names are in
 * pod.json, the whole create request (ConfigMaps and Secrets included), and
 * reading and parsing it for every pod of every /status was the largest
 * part of a plugin's work at scale: a fifth of interlink-slurm's CPU over
 * 10,000 pods.  pod.json does not change once written (poddir.c builds a
 * pod's directory aside and renames it in), so its outline is kept here,
 * keyed by the file's path and trusted while a stat finds the same file:
 * same inode, size and modification time.  A pod directory made anew for
 * the same UID is a new file, and so is a copy written over the old one.
 *
 * One block per pod (the strings packed behind the header), so a burst of
 * creates does not scatter small live chunks over the heap.  Bounded: an
 * entry goes when its pod directory is removed (rn_poddir_remove; the
 * HTCondor plugin's delete also forgets the copy FileTransfer brought
 * back), when a lookup finds its file gone or changed, and all of them when
 * the table is full. */
#include "runner.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OUTLINE_MAX 65536   /* pods; more than any backend here runs at once */

typedef struct outline {
    struct outline *next;     /* hash chain */
    uint64_t hash;
    dev_t dev;                /* the pod.json this was read from */
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool tunnel;
    size_t n_init, n_ctr;
    const char *path, *name, *ns, *uid;   /* name and ns may be NULL */
    const char **names, **images;         /* init containers first */
} outline;

static struct {
    pthread_mutex_t lock;
    outline **buckets;
    size_t n_buckets, n;
} table = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static uint64_t hash_path(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool same_file(const outline *o, const struct stat *st)
{
    return o->dev == st->st_dev && o->ino == st->st_ino && o->size == st->st_size &&
           o->mtime.tv_sec == st->st_mtim.tv_sec && o->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* ---- the table (callers hold the lock) ----------------------------------- */

static outline **slot_of(const char *path, uint64_t hash)
{
    if (!table.n_buckets)
        return NULL;
    outline **p = &table.buckets[hash & (table.n_buckets - 1)];
    while (*p && ((*p)->hash != hash || strcmp((*p)->path, path) != 0))
        p = &(*p)->next;
    return p;
}

static void unlink_at(outline **p)
{
    outline *o = *p;
    *p = o->next;
    table.n--;
    free(o);
}

static void clear_all(void)
{
    for (size_t i = 0; i < table.n_buckets; i++)
        while (table.buckets[i])
            unlink_at(&table.buckets[i]);
}

static void grow(void)
{
    size_t n = table.n_buckets ? table.n_buckets * 2 : 256;
    outline **buckets = il_xcalloc(n, sizeof(*buckets));
    for (size_t i = 0; i < table.n_buckets; i++) {
        for (outline *o = table.buckets[i], *next; o; o = next) {
            next = o->next;
            o->next = buckets[o->hash & (n - 1)];
            buckets[o->hash & (n - 1)] = o;
        }
    }
    free(table.buckets);
    table.buckets = buckets;
    table.n_buckets = n;
}

static void insert(outline *o)
{
    if (table.n >= OUTLINE_MAX)
        clear_all();   /* pods nobody removed through us: start over */
    if (table.n >= table.n_buckets)
        grow();
    outline **p = slot_of(o->path, o->hash);
    if (*p)
        unlink_at(p);
    o->next = NULL;
    *p = o;
    table.n++;
}

/* ---- one pod's outline ----------------------------------------------------- */

static size_t text_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *pack(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    const char *copy = *at;
    *at += n;
    return copy;
}

static const il_container *nth_container(const il_pod *pod, size_t i)
{
    return i < pod->n_init_containers ? &pod->init_containers[i]
                                      : &pod->containers[i - pod->n_init_containers];
}

/* One block: the header, the two pointer arrays, then every string. */
static outline *outline_make(const char *path, uint64_t hash, const struct stat *st,
                             const il_create_request *req)
{
    const il_pod *pod = &req->pod;
    size_t n = pod->n_init_containers + pod->n_containers;
    size_t bytes = sizeof(outline) + 2 * n * sizeof(char *) + text_size(path) +
                   text_size(pod->name) + text_size(pod->ns) + text_size(pod->uid);
    for (size_t i = 0; i < n; i++) {
        const il_container *c = nth_container(pod, i);
        bytes += text_size(c->name) + text_size(c->image ? c->image : "");
    }
    outline *o = il_xcalloc(1, bytes);
    *o = (outline){.hash = hash, .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                   .mtime = st->st_mtim, .tunnel = json_object_get(req->raw, "tunnel") != NULL,
                   .n_init = pod->n_init_containers, .n_ctr = pod->n_containers};
    o->names = (const char **)(o + 1);
    o->images = o->names + n;
    char *at = (char *)(o->images + n);
    o->path = pack(&at, path);
    o->name = pack(&at, pod->name);
    o->ns = pack(&at, pod->ns);
    o->uid = pack(&at, pod->uid);
    for (size_t i = 0; i < n; i++) {
        const il_container *c = nth_container(pod, i);
        o->names[i] = pack(&at, c->name);
        o->images[i] = pack(&at, c->image ? c->image : "");
    }
    return o;
}

static void fill(const outline *o, il_pod_status *out, bool *tunnel)
{
    out->name = il_xstrdup(o->name);
    out->ns = il_xstrdup(o->ns);
    out->uid = il_xstrdup(o->uid);
    out->n_init_containers = o->n_init;
    out->n_containers = o->n_ctr;
    out->init_containers = il_xcalloc(o->n_init, sizeof(il_container_status));
    out->containers = il_xcalloc(o->n_ctr, sizeof(il_container_status));
    for (size_t i = 0; i < o->n_init + o->n_ctr; i++) {
        il_container_status *cs =
            i < o->n_init ? &out->init_containers[i] : &out->containers[i - o->n_init];
        cs->name = il_xstrdup(o->names[i]);
        cs->image = il_xstrdup(o->images[i]);
    }
    *tunnel = o->tunnel;
}

/* Under the lock: fills out from a kept outline of the very file st
 * describes; false when there is none (one of another file is dropped). */
static bool fill_kept(const char *path, uint64_t hash, const struct stat *st,
                      il_pod_status *out, bool *tunnel)
{
    outline **p = slot_of(path, hash);
    if (!p || !*p)
        return false;
    if (same_file(*p, st)) {
        fill(*p, out, tunnel);
        return true;
    }
    unlink_at(p);
    return false;
}

/* Drops what is kept of the file at path (hash: its hash_path). */
static void forget_path(const char *path, uint64_t hash)
{
    pthread_mutex_lock(&table.lock);
    outline **p = slot_of(path, hash);
    if (p && *p)
        unlink_at(p);
    pthread_mutex_unlock(&table.lock);
}

static int fill_from(const char *path, const char *pod_dir, il_pod_status *out, bool *tunnel)
{
    uint64_t hash = hash_path(path);
    struct stat st;
    if (stat(path, &st) != 0) {
        forget_path(path, hash);
        return -1;   /* unknown, or being deleted */
    }
    pthread_mutex_lock(&table.lock);
    bool kept = fill_kept(path, hash, &st, out, tunnel);
    pthread_mutex_unlock(&table.lock);
    if (kept)
        return 0;
    /* Read while unlocked: other pods' statuses need not wait for a parse.
     * The stat above was taken before the read, so a file replaced in
     * between is a stat that no later lookup matches: read again then. */
    il_create_request req;
    if (rn_store_read_request(pod_dir, &req, NULL) != 0)
        return -1;
    outline *o = outline_make(path, hash, &st, &req);
    il_create_request_free(&req);
    fill(o, out, tunnel);
    pthread_mutex_lock(&table.lock);
    insert(o);
    pthread_mutex_unlock(&table.lock);
    return 0;
}

int rn_podoutline_fill(const char *pod_dir, il_pod_status *out, bool *tunnel)
{
    char *path = rn_store_path(pod_dir, "pod.json");
    int rc = fill_from(path, pod_dir, out, tunnel);
    free(path);
    return rc;
}

void rn_podoutline_forget(const char *pod_dir)
{
    char *path = rn_store_path(pod_dir, "pod.json");
    forget_path(path, hash_path(path));
    free(path);
}

size_t rn_podoutline_count(void)
{
    pthread_mutex_lock(&table.lock);
    size_t n = table.n;
    pthread_mutex_unlock(&table.lock);
    return n;
}
