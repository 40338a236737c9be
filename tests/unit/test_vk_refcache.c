/* test_vk_refcache.c -- the shared ConfigMap/Secret cache: an object is
 * served for its ttl and not after, a ttl of 0 keeps nothing, and the
 * table stays bounded whatever is put in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "refcache.h"

static void test_served_within_the_ttl_only(void **state)
{
    (void)state;
    vk_refcache *c = vk_refcache_new(150);
    json_t *cm = json_pack("{s:{s:s}}", "data", "ca.crt", "PEM");
    assert_null(vk_refcache_get(c, "/api/v1/namespaces/a/configmaps/x"));
    vk_refcache_put(c, "/api/v1/namespaces/a/configmaps/x", cm);
    json_t *got = vk_refcache_get(c, "/api/v1/namespaces/a/configmaps/x");
    assert_ptr_equal(got, cm);
    json_decref(got);
    assert_null(vk_refcache_get(c, "/api/v1/namespaces/b/configmaps/x"));   /* per namespace */
    usleep(200 * 1000);
    assert_null(vk_refcache_get(c, "/api/v1/namespaces/a/configmaps/x"));
    json_decref(cm);
    vk_refcache_free(c);
}

static void test_ttl_zero_keeps_nothing(void **state)
{
    (void)state;
    vk_refcache *c = vk_refcache_new(0);
    json_t *cm = json_object();
    vk_refcache_put(c, "k", cm);
    assert_null(vk_refcache_get(c, "k"));
    json_decref(cm);
    vk_refcache_free(c);
}

static void test_bounded(void **state)
{
    (void)state;
    vk_refcache *c = vk_refcache_new(60 * 1000);
    json_t *cm = json_object();
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        vk_refcache_put(c, key, cm);
    }
    int kept = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        json_t *got = vk_refcache_get(c, key);
        kept += got != NULL;
        json_decref(got);
    }
    assert_true(kept > 0 && kept <= 1024);
    assert_int_equal(cm->refcount, (size_t)kept + 1);   /* the rest were let go */
    json_decref(cm);
    vk_refcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served_within_the_ttl_only),
        cmocka_unit_test(test_ttl_zero_keeps_nothing),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
