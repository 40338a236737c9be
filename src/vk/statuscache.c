/* statuscache.c -- what one status cycle keeps for the next (see
 * statuscache.h). */
#include "statuscache.h"

#include <jansson.h>
#include <string.h>


/* One map for both cycles, its entries stamped with the cycle that noted
 * them: an element quiet cycle after cycle stays where it is (rebuilding
 * the map each cycle cost ten thousand keys of heap churn per cycle). */
struct vk_status_cache {
    json_t *quiet;       /* answer element text -> [UID, resourceVersion, cycle noted] */
    json_int_t cycle;    /* the cycle now running; cycle - 1 is the last */
};

vk_status_cache *vk_status_cache_new(void)
{
    vk_status_cache *c = il_xcalloc(1, sizeof *c);
    c->quiet = json_object();
    c->cycle = 1;
    return c;
}

void vk_status_cache_free(vk_status_cache *c)
{
    if (!c)
        return;
    json_decref(c->quiet);
    free(c);
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
    const json_t *seen = json_object_getn(c->quiet, elem, len);
    if (!seen || json_integer_value(json_array_get(seen, 2)) != c->cycle - 1)
        return false;
    *uid = json_string_value(json_array_get(seen, 0));
    *rv = json_string_value(json_array_get(seen, 1));
    return true;
}

/* s into arr[i], reusing the string there when it is the same. */
static void set_str(json_t *arr, size_t i, const char *s)
{
    json_t *have = json_array_get(arr, i);
    if (strcmp(json_string_value(have), s) != 0)
        json_string_set(have, s);
}

void vk_status_cache_note_quiet(vk_status_cache *c, const char *elem, size_t len,
                                const vk_podrec *pod)
{
    if (!pod->rv)
        return;
    json_t *seen = json_object_getn(c->quiet, elem, len);
    if (!seen) {
        json_object_setn_new(c->quiet, elem, len,
                             json_pack("[ssI]", pod->uid, pod->rv, c->cycle));
        return;
    }
    set_str(seen, 0, pod->uid);
    set_str(seen, 1, pod->rv);
    json_integer_set(json_array_get(seen, 2), c->cycle);
}

void vk_status_cache_next(vk_status_cache *c)
{
    const char *key;
    size_t klen;
    json_t *seen, *tmp;
    json_object_keylen_foreach_safe(c->quiet, tmp, key, klen, seen) {
        if (json_integer_value(json_array_get(seen, 2)) != c->cycle)
            json_object_deln(c->quiet, key, klen);
    }
    c->cycle++;
}
