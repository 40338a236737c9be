/* statuscache.c -- what one status cycle keeps for the next (see
 * statuscache.h). */
#include "statuscache.h"

#include <stdint.h>
#include <string.h>

/* The elements noted quiet: one dense array of fixed-size entries keyed
 * by two 64-bit hashes and the length of the element's bytes, found through
 * an open-addressed table of 32-bit indices, so ten thousand of them are a
 * block of about a megabyte and one of 128 KiB, not ten thousand keys of
 * text and their values scattered through the heap (which pinned pages
 * long after the cycle's garbage around them was freed).  The slots hold
 * indices, not the 104-byte entries: a table at most half full of entries
 * was 3.4 MB at 10,000 pods, and twice that while a cycle's end rebuilt it.  A false
 * match needs both hashes and the length to collide; the elements come
 * from interlink, which the VK trusts with the statuses themselves.
 * Entries carry the cycle that noted them; each cycle end keeps only those
 * of the cycle (the table is rebuilt: no tombstones). */

#define UID_MAX 48    /* a Kubernetes UID is 36 bytes */
#define RV_MAX 24     /* a resourceVersion (an etcd revision) is 20 digits at most */

typedef struct quiet_entry {
    uint64_t h1, h2;
    size_t len;
    uint64_t cycle;           /* the cycle that noted it; 0: an empty slot */
    char uid[UID_MAX];
    char rv[RV_MAX];
} quiet_entry;

struct vk_status_cache {
    uint32_t *slots;          /* index + 1 into entries; 0: an empty slot */
    size_t cap;               /* slots: a power of two, at most half full */
    quiet_entry *entries;     /* every entry's cycle is set */
    size_t used, room;        /* entries in use; allocated */
    uint64_t cycle;           /* the cycle now running; cycle - 1 is the last */
};

static uint64_t mix(uint64_t h)   /* splitmix64's finalizer */
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebu;
    return h ^ (h >> 31);
}

/* Two hashes of s, 8 bytes a step, on different multipliers. */
static void hash2(const char *s, size_t n, uint64_t *a, uint64_t *b)
{
    uint64_t h1 = 0x9e3779b97f4a7c15u ^ n, h2 = 0xc2b2ae3d27d4eb4fu + n;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, s + i, n - i < 8 ? n - i : 8);
        h1 = ((h1 ^ w) * 0x100000001b3u) ^ (h1 >> 29);
        h2 = (h2 + w) * 0xff51afd7ed558ccdu;
        h2 ^= h2 >> 33;
    }
    *a = mix(h1);
    *b = mix(h2 ^ h1);
}

vk_status_cache *vk_status_cache_new(void)
{
    vk_status_cache *c = il_xcalloc(1, sizeof *c);
    c->cap = 64;
    c->slots = il_xcalloc(c->cap, sizeof *c->slots);
    c->room = 32;
    c->entries = il_xcalloc(c->room, sizeof *c->entries);
    c->cycle = 1;
    return c;
}

void vk_status_cache_free(vk_status_cache *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c->entries);
    free(c);
}

/* The slot holding (h1, h2, len)'s index, or the empty one where it would
 * go. */
static uint32_t *find(const vk_status_cache *c, uint64_t h1, uint64_t h2, size_t len)
{
    size_t i = (size_t)h1 & (c->cap - 1);
    for (;; i = (i + 1) & (c->cap - 1)) {
        uint32_t *slot = &c->slots[i];
        const quiet_entry *e = *slot ? &c->entries[*slot - 1] : NULL;
        if (!e || (e->h1 == h1 && e->h2 == h2 && e->len == len))
            return slot;
    }
}

/* The entries whose cycle is keep (every one when keep is 0), packed, in
 * an array with room for want, under a table of cap slots. */
static void rebuild(vk_status_cache *c, size_t cap, size_t want, uint64_t keep)
{
    quiet_entry *old = c->entries;
    size_t n = c->used;
    c->room = want > 32 ? want : 32;
    c->entries = il_xcalloc(c->room, sizeof *c->entries);
    c->used = 0;
    free(c->slots);
    c->slots = il_xcalloc(cap, sizeof *c->slots);
    c->cap = cap;
    for (size_t i = 0; i < n; i++) {
        if (!keep || old[i].cycle == keep) {
            c->entries[c->used] = old[i];
            *find(c, old[i].h1, old[i].h2, old[i].len) = (uint32_t)++c->used;
        }
    }
    free(old);
}

void vk_status_body_init(vk_status_body *b, vk_podrec *const *pods, size_t n)
{
    *b = (vk_status_body){.pods = pods, .n = n};
}

size_t vk_status_body_len(const vk_status_body *b)
{
    size_t len = 2 + (b->n ? b->n - 1 : 0);   /* brackets and commas */
    for (size_t i = 0; i < b->n; i++)
        len += b->pods[i]->text_len;
    return len;
}

/* The next piece into chunk; false at the end. */
static bool next_chunk(vk_status_body *b)
{
    il_buf_reset(&b->chunk);
    b->at = 0;
    if (b->next < b->n) {
        il_buf_append(&b->chunk, b->next ? "," : "[", 1);
        vk_podrec_text(b->pods[b->next++], &b->chunk);
        return true;
    }
    if (b->closed)
        return false;
    il_buf_puts(&b->chunk, b->n ? "]" : "[]");
    b->closed = true;
    return true;
}

size_t vk_status_body_read(char *buf, size_t n, void *arg)
{
    vk_status_body *b = arg;
    size_t done = 0;
    while (done < n) {
        if (b->at == b->chunk.len && !next_chunk(b))
            break;
        size_t take = b->chunk.len - b->at < n - done ? b->chunk.len - b->at : n - done;
        memcpy(buf + done, b->chunk.data + b->at, take);
        b->at += take;
        done += take;
    }
    return done;
}

int vk_status_body_rewind(void *arg)
{
    vk_status_body *b = arg;
    il_buf_reset(&b->chunk);
    b->at = 0;
    b->next = 0;
    b->closed = false;
    return 0;
}

void vk_status_body_free(vk_status_body *b)
{
    il_buf_free(&b->chunk);
}

bool vk_status_cache_seen(const vk_status_cache *c, const char *elem, size_t len,
                          const char **uid, const char **rv)
{
    uint64_t h1, h2;
    hash2(elem, len, &h1, &h2);
    const uint32_t *slot = find(c, h1, h2, len);
    const quiet_entry *e = *slot ? &c->entries[*slot - 1] : NULL;
    if (!e || e->cycle != c->cycle - 1)
        return false;
    *uid = e->uid;
    *rv = e->rv;
    return true;
}

void vk_status_cache_note_quiet(vk_status_cache *c, const char *elem, size_t len,
                                const vk_podrec *pod)
{
    size_t ulen = strlen(pod->uid), rlen = pod->rv ? strlen(pod->rv) : RV_MAX;
    if (ulen >= UID_MAX || rlen >= RV_MAX)
        return;   /* never remembered: its element is parsed every cycle */
    if (2 * (c->used + 1) > c->cap || c->used == c->room || c->used == UINT32_MAX)
        rebuild(c, 2 * (c->used + 1) > c->cap ? 2 * c->cap : c->cap, 2 * c->room, 0);
    uint64_t h1, h2;
    hash2(elem, len, &h1, &h2);
    uint32_t *slot = find(c, h1, h2, len);
    if (!*slot)
        *slot = (uint32_t)++c->used;
    quiet_entry *e = &c->entries[*slot - 1];
    *e = (quiet_entry){.h1 = h1, .h2 = h2, .len = len, .cycle = c->cycle};
    memcpy(e->uid, pod->uid, ulen + 1);
    memcpy(e->rv, pod->rv, rlen + 1);
}

void vk_status_cache_next(vk_status_cache *c)
{
    size_t live = 0;
    for (size_t i = 0; i < c->used; i++)
        live += c->entries[i].cycle == c->cycle;
    size_t cap = 64;
    while (cap < 2 * live + 2)
        cap *= 2;
    rebuild(c, cap, live, c->cycle);
    c->cycle++;
}
