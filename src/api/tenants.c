/* tenants.c -- which namespaces a caller may act on.
 *
 * Owns TenantsFile, the admin's mapping of identities to namespaces
 * (tenants), and the checks every endpoint makes with it:
 *
 *   users:                 # a caller's name (auth.c: token name, JWT user
 *     alice: [team-a]      # claim, certificate CN) -> namespaces
 *     vk-cluster-1: ["*"]  # "*": every namespace (a virtual kubelet)
 *   groups:                # a caller's groups -> namespaces
 *     physics: [team-b, team-c]
 *
 * A caller listed nowhere may act on no namespace.  A pod's namespace is
 * the one stored when it was created, looked up by UID, so the right UID
 * with another namespace in the body reaches nothing.
 *
 * The file is looked at again at most once a second and re-read when it
 * changed; a new version that does not load leaves the old one in force
 * (logged), so a typo never opens or closes everything. */
#include "tenants.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "log.h"
#include "timeutil.h"
#include "util.h"
#include "yamljson.h"

#define TENANTS_FILE_MAX (4 * 1024 * 1024)
#define TENANTS_CHECK_MS 1000

struct tenants {
    char *path;
    pthread_mutex_t mu;       /* the maps, and the file's identity */
    json_t *users;            /* name -> [namespace] */
    json_t *groups;           /* group -> [namespace] */
    struct stat st;           /* of the file they came from */
    int64_t checked_ms;       /* monotonic: when st was last compared */
};

/* section must be absent or a mapping of names to lists of strings. */
static int check_section(json_t *doc, const char *section, char *err, size_t errlen)
{
    json_t *map = json_object_get(doc, section);
    if (!map || json_is_null(map))
        return 0;
    if (!json_is_object(map)) {
        snprintf(err, errlen, "%s must be a mapping of names to lists of namespaces", section);
        return -1;
    }
    const char *name;
    json_t *list;
    json_object_foreach(map, name, list) {
        size_t i;
        json_t *ns;
        if (!json_is_array(list)) {
            snprintf(err, errlen, "%s.%s must be a list of namespaces", section, name);
            return -1;
        }
        json_array_foreach(list, i, ns) {
            if (!json_is_string(ns)) {
                snprintf(err, errlen, "%s.%s[%zu] must be a namespace name or \"*\"", section,
                         name, i);
                return -1;
            }
        }
    }
    return 0;
}

/* The file parsed and checked: {users, groups}, or NULL with err. */
static json_t *load_doc(const char *path, char *err, size_t errlen)
{
    il_buf text = IL_BUF_INIT;
    char yerr[256];
    json_t *doc = NULL;
    if (il_read_file(path, TENANTS_FILE_MAX, &text) != 0)
        snprintf(err, errlen, "TenantsFile %s: cannot read it", path);
    else if (!(doc = il_yaml_load_one(text.data ? text.data : "", text.len, yerr, sizeof yerr)))
        snprintf(err, errlen, "TenantsFile %s: %s", path, yerr);
    il_buf_free(&text);
    if (!doc)
        return NULL;
    char why[256];
    const char *key;
    json_t *value;
    int rc = json_is_object(doc) ? 0 : -1;
    snprintf(why, sizeof why, "expected a mapping with users and groups");
    json_object_foreach(doc, key, value) {
        if (rc == 0 && strcmp(key, "users") != 0 && strcmp(key, "groups") != 0) {
            snprintf(why, sizeof why, "unknown key %s (users and groups are known)", key);
            rc = -1;
        }
    }
    if (rc == 0 && (check_section(doc, "users", why, sizeof why) != 0 ||
                    check_section(doc, "groups", why, sizeof why) != 0))
        rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "TenantsFile %s: %s", path, why);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Replace the maps with doc's (caller holds mu, or owns t alone). */
static void take_doc(tenants *t, json_t *doc, const struct stat *st)
{
    json_decref(t->users);
    json_decref(t->groups);
    t->users = json_incref(json_object_get(doc, "users"));
    t->groups = json_incref(json_object_get(doc, "groups"));
    t->st = *st;
    json_decref(doc);
}

tenants *tenants_load(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "TenantsFile %s: cannot read it", path);
        return NULL;
    }
    json_t *doc = load_doc(path, err, errlen);
    if (!doc)
        return NULL;
    tenants *t = il_xcalloc(1, sizeof *t);
    t->path = il_xstrdup(path);
    pthread_mutex_init(&t->mu, NULL);
    take_doc(t, doc, &st);
    t->checked_ms = il_monotonic_ms();
    return t;
}

void tenants_free(tenants *t)
{
    if (!t)
        return;
    json_decref(t->users);
    json_decref(t->groups);
    pthread_mutex_destroy(&t->mu);
    free(t->path);
    free(t);
}

/* Caller holds mu: re-read the file if it changed (checked once a second). */
static void refresh(tenants *t)
{
    int64_t now = il_monotonic_ms();
    if (now - t->checked_ms < TENANTS_CHECK_MS)
        return;
    t->checked_ms = now;
    struct stat st;
    if (stat(t->path, &st) != 0 || il_same_file_version(&st, &t->st))
        return;   /* gone (a secret volume being swapped) or unchanged: keep what we have */
    char err[512] = "";
    json_t *doc = load_doc(t->path, err, sizeof err);
    if (!doc) {
        il_warn("%s (the mapping read before stays in force)", err);
        t->st = st;   /* warn once per version */
        return;
    }
    take_doc(t, doc, &st);
    il_info("TenantsFile %s re-read", t->path);
}

static bool list_has(json_t *list, const char *ns)
{
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        const char *s = json_string_value(item);
        if (strcmp(s, "*") == 0 || (ns && strcmp(s, ns) == 0))
            return true;
    }
    return false;
}

bool tenants_allows(tenants *t, const api_caller *who, const char *ns)
{
    if (!who->name)
        return false;
    pthread_mutex_lock(&t->mu);
    refresh(t);
    bool ok = *who->name && list_has(json_object_get(t->users, who->name), ns);
    for (size_t i = 0; !ok && i < who->n_groups; i++)
        ok = list_has(json_object_get(t->groups, who->groups[i]), ns);
    pthread_mutex_unlock(&t->mu);
    return ok;
}

/* ---- the endpoints' checks ------------------------------------------------ */

bool access_may(api *a, il_request *req, const char *ns)
{
    const api_caller *who = il_request_caller(req);
    return !a->tenants || !who || tenants_allows(a->tenants, who, ns);
}

bool access_check_ns(api *a, il_request *req, const char *ns)
{
    if (access_may(a, req, ns))
        return true;
    const api_caller *who = il_request_caller(req);
    il_respond_error(req, 403, "forbidden: %s \"%s\" may not act on namespace \"%s\" "
                     "(TenantsFile)", who->via, who->name, ns ? ns : "");
    return false;
}

bool access_check_pod(api *a, il_request *req, const char *uid, const char *body_ns)
{
    if (!a->tenants || !il_request_caller(req))
        return true;
    char *stored = NULL;
    int found = store_get_namespace(a->store, uid, &stored);
    if (found < 0) {
        il_respond_error(req, 500, "state database error; see the server log");
        return false;
    }
    bool ok = access_check_ns(a, req, found == 1 ? stored : body_ns);
    free(stored);
    return ok;
}
