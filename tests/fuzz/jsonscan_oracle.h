/* jsonscan_oracle.h -- the promise of jsonscan.h and podscan.h, checked
 * against jansson and il_pod_parse_meta on any text: shared by the fuzz
 * harness (fuzz_jsonscan.c) and the unit test (test_jsonscan.c).
 *
 * When il_json_scan says yes, json_loadb reads the text and its tree holds
 * what the scan reported for every wanted member; when il_pod_scan_ref
 * says yes, il_pod_parse_meta accepts the tree and the pod's ref read from
 * the tree is the scanned one.  A "no" promises nothing: the caller parses. */
#ifndef IL_JSONSCAN_ORACLE_H
#define IL_JSONSCAN_ORACLE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "pod.h"
#include "podscan.h"

#define ORACLE_CHECK(cond)                                                         \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: jsonscan promise broken: %s\n", __FILE__,       \
                    __LINE__, #cond);                                              \
            abort();                                                               \
        }                                                                          \
    } while (0)

static const char *const oracle_paths[] = {
    "metadata", "metadata.uid", "metadata.name", "metadata.namespace",
    "metadata.annotations", "metadata.labels", "spec", "spec.restartPolicy", "UID",
};
#define ORACLE_N (sizeof(oracle_paths) / sizeof(oracle_paths[0]))

/* path's value in root, through objects only (as the scan matches it). */
static json_t *oracle_lookup(json_t *root, const char *path)
{
    char key[64];
    json_t *v = root;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        v = json_is_object(v) ? json_object_get(v, key) : NULL;
        path += n + (path[n] == '.');
    }
    return v;
}

static void oracle_member(json_t *root, const il_jscan_member *m)
{
    json_t *v = oracle_lookup(root, m->path);
    switch (m->kind) {
    case IL_JSCAN_ABSENT:
        ORACLE_CHECK(v == NULL);
        break;
    case IL_JSCAN_NULL:
        ORACLE_CHECK(json_is_null(v));
        break;
    case IL_JSCAN_STRING:
        ORACLE_CHECK(json_is_string(v));
        if (!m->escaped)
            ORACLE_CHECK(json_string_length(v) == m->len &&
                         memcmp(json_string_value(v), m->value, m->len) == 0);
        break;
    case IL_JSCAN_OBJECT: {
        ORACLE_CHECK(json_is_object(v));
        json_t *alone = json_loadb(m->value, m->len, 0, NULL);   /* its text, parsed alone */
        ORACLE_CHECK(json_equal(alone, v) && m->value[0] == '{' && m->value[m->len - 1] == '}');
        json_decref(alone);
        if (m->strings_only) {
            const char *k;
            json_t *member;
            json_object_foreach(v, k, member)
                ORACLE_CHECK(json_is_string(member) || json_is_null(member));
        }
        break;
    }
    case IL_JSCAN_OTHER:
        ORACLE_CHECK(v && !json_is_null(v) && !json_is_string(v) && !json_is_object(v));
        break;
    }
}

static int oracle_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Checks the promises on text; returns il_json_scan's answer. */
static int jsonscan_oracle(const char *text, size_t len)
{
    il_jscan_member m[ORACLE_N];
    for (size_t i = 0; i < ORACLE_N; i++)
        m[i] = (il_jscan_member){.path = oracle_paths[i]};
    int rc = il_json_scan(text, len, m, ORACLE_N);
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    if (rc == 0) {
        ORACLE_CHECK(root != NULL);
        for (size_t i = 0; i < ORACLE_N; i++)
            oracle_member(root, &m[i]);
    }
    il_pod_ref ref;
    if (il_pod_scan_ref(text, len, &ref) == 0) {
        ORACLE_CHECK(rc == 0);
        char err[512];
        il_pod pod;
        ORACLE_CHECK(il_pod_parse_meta(root, &pod, err, sizeof err) == 0);
        il_pod_ref parsed;
        il_pod_ref_from_json(root, &parsed);
        ORACLE_CHECK(strcmp(ref.uid, pod.uid) == 0 && oracle_same(ref.uid, parsed.uid));
        ORACLE_CHECK(strcmp(ref.ns && *ref.ns ? ref.ns : "default", pod.ns) == 0);
        ORACLE_CHECK(oracle_same(ref.ns, parsed.ns) && oracle_same(ref.name, parsed.name) &&
                     oracle_same(ref.restart_policy, parsed.restart_policy));
        il_pod_ref_free(&parsed);
        il_pod_free(&pod);
        il_pod_ref_free(&ref);
    } else {
        ORACLE_CHECK(ref.uid == NULL && ref.ns == NULL && ref.name == NULL &&
                     ref.restart_policy == NULL);
    }
    json_decref(root);
    return rc;
}

#endif
