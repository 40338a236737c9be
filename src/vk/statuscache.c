/* statuscache.c -- what one status cycle keeps for the next (see
 * statuscache.h). */
#include "statuscache.h"

#include <jansson.h>
#include <string.h>

#include "jsonsplit.h"

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

void vk_status_request(vk_podrec *const *pods, size_t n, il_buf *body)
{
    size_t need = 2;
    for (size_t i = 0; i < n; i++)
        need += pods[i]->text_len + 1;
    if (body->cap < body->len + need + 1) {   /* one allocation for megabytes, not doublings */
        body->data = il_xrealloc(body->data, body->len + need + 1);
        body->cap = body->len + need + 1;
    }
    for (size_t i = 0; i < n; i++)
        il_json_join_add(body, pods[i]->text, pods[i]->text_len);
    il_json_join_end(body);
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
