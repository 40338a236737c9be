/* podmemo.c -- what a plugin parsed of a pod's file, kept while the file
 * stays the same.
 *
 * A /status over 10,000 pods read and parsed two files per pod that
 * rarely change: pod.json (written once) and a batch plugin's job.json
 * (written when the job is submitted and when it ends).  Reading them was
 * most of a plugin's work at that scale; a stat is a third of a read.  So
 * each kind of file has a memo (rn_memo): per pod directory, one block the
 * kind's code built from the file, trusted while a stat finds the same
 * file -- same device, inode, size and modification time.  A directory
 * made anew for the same UID is a new file, and so is a copy written over
 * the old one (a new size or time) or one renamed over it (a new inode).
 *
 * Blocks are keyed by the hash of the pod directory's path alone: two
 * directories whose hashes collide name two different files, which the
 * stat tells apart, so a collision costs a read and never returns another
 * pod's data.  Bounded: a pod's blocks go when its directory is removed
 * (rn_memo_forget_pod, for every memo in use), when a lookup finds the
 * file gone or changed, and all of a memo's when it is full. */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

/* Every memo that kept something, for rn_memo_forget_pod. */
static struct {
    pthread_mutex_t lock;
    rn_memo *first;
} memos = {PTHREAD_MUTEX_INITIALIZER, NULL};

/* ---- the table (callers hold m->lock) ------------------------------------- */

static rn_memo_entry **slot_of(rn_memo *m, uint64_t hash)
{
    if (!m->n_buckets)
        return NULL;
    rn_memo_entry **p = &m->buckets[hash & (m->n_buckets - 1)];
    while (*p && (*p)->hash != hash)
        p = &(*p)->next;
    return p;
}

static void unlink_at(rn_memo *m, rn_memo_entry **p)
{
    rn_memo_entry *e = *p;
    *p = e->next;
    m->n--;
    free(e);
}

static void clear_all(rn_memo *m)
{
    for (size_t i = 0; i < m->n_buckets; i++)
        while (m->buckets[i])
            unlink_at(m, &m->buckets[i]);
}

static void grow(rn_memo *m)
{
    size_t n = m->n_buckets ? m->n_buckets * 2 : 256;
    rn_memo_entry **buckets = il_xcalloc(n, sizeof(*buckets));
    for (size_t i = 0; i < m->n_buckets; i++) {
        for (rn_memo_entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = buckets;
    m->n_buckets = n;
}

static void forget_hash(rn_memo *m, uint64_t hash)
{
    pthread_mutex_lock(&m->lock);
    rn_memo_entry **p = slot_of(m, hash);
    if (p && *p)
        unlink_at(m, p);
    pthread_mutex_unlock(&m->lock);
}

static void list_once(rn_memo *m)
{
    pthread_mutex_lock(&memos.lock);
    if (!m->listed) {
        m->listed = true;
        m->next_memo = memos.first;
        memos.first = m;
    }
    pthread_mutex_unlock(&memos.lock);
}

/* ---- lookups --------------------------------------------------------------- */

bool rn_memo_stat(rn_memo *m, const char *pod_dir, struct stat *st)
{
    char *path = rn_store_path(pod_dir, m->file);
    bool found = stat(path, st) == 0;
    free(path);
    if (!found)
        forget_hash(m, il_hash_str(pod_dir));   /* gone, or being deleted */
    return found;
}

bool rn_memo_use(rn_memo *m, const char *pod_dir, const struct stat *st,
                 void (*use)(const rn_memo_entry *kept, void *arg), void *arg)
{
    uint64_t hash = il_hash_str(pod_dir);
    bool used = false;
    pthread_mutex_lock(&m->lock);
    rn_memo_entry **p = slot_of(m, hash);
    il_file_version now = il_file_version_of(st);
    if (p && *p && il_file_version_same(&(*p)->version, &now)) {
        use(*p, arg);
        used = true;
    } else if (p && *p) {
        unlink_at(m, p);   /* of an earlier file */
    }
    pthread_mutex_unlock(&m->lock);
    return used;
}

void rn_memo_keep(rn_memo *m, const char *pod_dir, const struct stat *st, rn_memo_entry *block)
{
    list_once(m);
    *block = (rn_memo_entry){.hash = il_hash_str(pod_dir), .version = il_file_version_of(st)};
    pthread_mutex_lock(&m->lock);
    if (m->n >= m->max)
        clear_all(m);   /* pods nobody removed through us: start over */
    if (m->n >= m->n_buckets)
        grow(m);
    rn_memo_entry **p = slot_of(m, block->hash);
    if (*p)
        unlink_at(m, p);
    *p = block;
    m->n++;
    pthread_mutex_unlock(&m->lock);
}

void rn_memo_forget_pod(const char *pod_dir)
{
    uint64_t hash = il_hash_str(pod_dir);
    pthread_mutex_lock(&memos.lock);
    for (rn_memo *m = memos.first; m; m = m->next_memo)
        forget_hash(m, hash);
    pthread_mutex_unlock(&memos.lock);
}

size_t rn_memo_count(rn_memo *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* ---- packing a block --------------------------------------------------------- */

size_t rn_memo_text_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

const char *rn_memo_pack(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*at, s, n);
    const char *copy = *at;
    *at += n;
    return copy;
}
