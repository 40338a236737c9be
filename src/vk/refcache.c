/* refcache.c -- the shared, short-lived cache of ConfigMaps and Secrets
 * (refcache.h says why).  One jansson object under a lock: key ->
 * [object, stored-at ms].  Expired entries are swept when the table grows
 * past REFCACHE_MAX, and if that frees nothing the table starts over, so
 * its size stays bounded whatever the pods refer to. */
#include "refcache.h"

#include <pthread.h>
#include <stdlib.h>

#include "timeutil.h"
#include "util.h"

#define REFCACHE_MAX 1024

struct vk_refcache {
    pthread_mutex_t lock;
    int64_t ttl_ms;
    json_t *table;
};

vk_refcache *vk_refcache_new(int64_t ttl_ms)
{
    vk_refcache *c = il_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->ttl_ms = ttl_ms;
    c->table = json_object();
    return c;
}

void vk_refcache_free(vk_refcache *c)
{
    if (!c)
        return;
    json_decref(c->table);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int64_t stored_at(const json_t *entry)
{
    return json_integer_value(json_array_get(entry, 1));
}

json_t *vk_refcache_get(vk_refcache *c, const char *key)
{
    if (c->ttl_ms <= 0)
        return NULL;
    pthread_mutex_lock(&c->lock);
    json_t *entry = json_object_get(c->table, key), *obj = NULL;
    if (entry && il_monotonic_ms() - stored_at(entry) < c->ttl_ms)
        obj = json_incref(json_array_get(entry, 0));
    pthread_mutex_unlock(&c->lock);
    return obj;
}

/* Drop what has expired; everything when nothing has.  Lock held. */
static void sweep(vk_refcache *c, int64_t now)
{
    const char *key;
    json_t *entry, *tmp;
    json_object_foreach_safe(c->table, tmp, key, entry) {
        if (now - stored_at(entry) >= c->ttl_ms)
            json_object_del(c->table, key);
    }
    if (json_object_size(c->table) >= REFCACHE_MAX)
        json_object_clear(c->table);
}

void vk_refcache_put(vk_refcache *c, const char *key, json_t *obj)
{
    if (c->ttl_ms <= 0 || !obj)
        return;
    int64_t now = il_monotonic_ms();
    pthread_mutex_lock(&c->lock);
    if (json_object_size(c->table) >= REFCACHE_MAX)
        sweep(c, now);
    json_object_set_new(c->table, key, json_pack("[O, I]", obj, (json_int_t)now));
    pthread_mutex_unlock(&c->lock);
}
