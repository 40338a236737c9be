/* refcache.h -- ConfigMaps and Secrets read for one pod, kept a few
 * seconds for the next pods of the same namespace.
 *
 * Pods created together mostly refer to the same objects (every pod's
 * service-account volume holds kube-root-ca.crt): reading each once per
 * RefsCacheSeconds instead of once per pod takes one API round trip off
 * every create.  Only objects found are kept (a pod waiting for a
 * ConfigMap sees it as soon as it exists); a value is at most ttl old,
 * as with the kubelet's TTL cache. */
#ifndef VK_REFCACHE_H
#define VK_REFCACHE_H

#include <jansson.h>
#include <stdint.h>

typedef struct vk_refcache vk_refcache;

/* ttl_ms <= 0: a cache that keeps nothing. */
vk_refcache *vk_refcache_new(int64_t ttl_ms);
void vk_refcache_free(vk_refcache *c);

/* The object stored under key within its ttl (a new reference: the caller
 * decrefs it), or NULL. */
json_t *vk_refcache_get(vk_refcache *c, const char *key);
/* Keep obj (a reference of its own is taken) under key from now on. */
void vk_refcache_put(vk_refcache *c, const char *key, json_t *obj);

#endif
