/* identity.c -- whose job a pod becomes: IdentityMapFile, one file format
 * for every batch backend.
 *
 * interlink tells the plugin who created a pod (il_caller: the
 * X-Interlink-User, -Groups and -Tenant headers).  The site admin maps
 * those identities to what the batch system bills and whom the job runs as:
 *
 *   users:
 *     alice: {Account: acct-a, QoS: normal, Partition: debug,
 *             AccountingGroup: group_a.alice, UnixUser: alice}
 *   groups:
 *     physics: {Account: acct-phys}
 *
 * A user entry wins over group entries; among groups, the first of the
 * caller's groups that is mapped.  With a map, a caller it does not map
 * (or a create without an identity) is refused with 403: a job is never
 * billed to the plugin's own account by default.  Each backend takes the
 * keys it knows (SLURM: Account, QoS, Partition; HTCondor:
 * AccountingGroup) and ignores the others, so a site keeps one file.
 * UnixUser (root plugins only) submits through runuser as that user, after
 * handing the pod directory to it: the job, its files and its processes
 * are that user's. */
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "yamljson.h"

#define MAP_FILE_MAX (4 * 1024 * 1024)

static const char *const entry_keys[] = {"Account", "QoS", "Partition", "AccountingGroup",
                                         "UnixUser", NULL};
#define ENTRY_KEYS "Account, QoS, Partition, AccountingGroup, UnixUser"

static bool safe_char(char c)
{
    return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* Batch system names and Unix user names: letters, digits, '.', '_', '-',
 * not first '-'. */
static bool safe_name(const char *s)
{
    if (!*s || *s == '-')
        return false;
    for (; *s; s++)
        if (!safe_char(*s))
            return false;
    return true;
}

static int check_entry(const char *where, json_t *entry, il_buf *err)
{
    if (!json_is_object(entry)) {
        il_buf_printf(err, "IdentityMapFile: %s must be a mapping of " ENTRY_KEYS, where);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(entry, key, value) {
        size_t i = 0;
        while (entry_keys[i] && strcmp(entry_keys[i], key) != 0)
            i++;
        if (!entry_keys[i] || !json_is_string(value) || !safe_name(json_string_value(value))) {
            il_buf_printf(err, "IdentityMapFile: %s.%s: %s", where, key,
                          entry_keys[i] ? "expected a name (letters, digits, . _ -)"
                                        : "unknown key (" ENTRY_KEYS ")");
            return -1;
        }
        if (strcmp(key, "UnixUser") == 0 && geteuid() != 0) {
            il_buf_printf(err, "IdentityMapFile: %s.UnixUser needs the plugin to run as root",
                          where);
            return -1;
        }
    }
    return 0;
}

json_t *identity_map_load(const char *path, il_buf *err)
{
    il_buf text = IL_BUF_INIT;
    char yerr[256];
    json_t *doc = NULL;
    if (il_read_file(path, MAP_FILE_MAX, &text) != 0)
        il_buf_printf(err, "IdentityMapFile %s: %s", path, strerror(errno));
    else if (!(doc = il_yaml_load_one(text.data ? text.data : "", text.len, yerr, sizeof yerr)))
        il_buf_printf(err, "IdentityMapFile %s: %s", path, yerr);
    il_buf_free(&text);
    const char *section;
    json_t *map;
    int rc = doc && json_is_object(doc) ? 0 : -1;
    if (doc && rc != 0)
        il_buf_printf(err, "IdentityMapFile %s: expected a mapping with users and groups", path);
    json_object_foreach(doc, section, map) {
        const char *name;
        json_t *entry;
        if (rc == 0 && strcmp(section, "users") != 0 && strcmp(section, "groups") != 0) {
            il_buf_printf(err, "IdentityMapFile: unknown key %s (users and groups are known)",
                          section);
            rc = -1;
        }
        json_object_foreach(map, name, entry) {
            char where[300];
            snprintf(where, sizeof where, "%s.%s", section, name);
            if (rc == 0 && check_entry(where, entry, err) != 0)
                rc = -1;
        }
    }
    if (rc != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int identity_config_load(batch_identity_config *ic, il_buf *err)
{
    if (ic->map_file && ic->map_file[0] && !(ic->map = identity_map_load(ic->map_file, err)))
        return -1;
    return 0;
}

void identity_config_release(batch_identity_config *ic)
{
    json_decref(ic->map);
    ic->map = NULL;
}

/* The entry for caller: its user's, else its first mapped group's. */
static json_t *entry_for(json_t *map, const il_caller *caller)
{
    json_t *entry = json_object_get(json_object_get(map, "users"), caller->user);
    if (entry || !caller->groups)
        return entry;
    char *groups = il_xstrdup(caller->groups), *save = NULL;
    for (char *g = strtok_r(groups, ",", &save); g && !entry; g = strtok_r(NULL, ",", &save))
        entry = json_object_get(json_object_get(map, "groups"), g);
    free(groups);
    return entry;
}

void identity_comment(const il_caller *caller, il_buf *out)
{
    const char *parts[][2] = {{"user", caller->user}, {"tenant", caller->tenant}};
    il_buf_puts(out, "interlink");
    for (size_t i = 0; i < 2; i++) {
        if (!parts[i][1])
            continue;
        il_buf_printf(out, " %s=", parts[i][0]);
        for (const char *p = parts[i][1]; *p && p - parts[i][1] < 128; p++)
            il_buf_printf(out, "%c", safe_char(*p) || *p == '@' ? *p : '_');
    }
}

int identity_resolve(json_t *map, const il_caller *caller, batch_identity *out, il_buf *err)
{
    memset(out, 0, sizeof *out);
    if (!map)
        return 0;
    bool named = caller && caller->user && *caller->user;
    json_t *entry = named ? entry_for(map, caller) : NULL;
    if (!entry) {
        if (named)
            il_buf_printf(err, "user \"%s\" (groups: %s) is not mapped to an account in "
                          "IdentityMapFile; ask the site admin to add it", caller->user,
                          caller->groups && *caller->groups ? caller->groups : "none");
        else
            il_buf_printf(err, "no caller identity (X-Interlink-User): IdentityMapFile needs "
                          "an interlink that authenticates its callers");
        return 403;
    }
    out->entry = entry;
    const char *unix_user = json_string_value(json_object_get(entry, "UnixUser"));
    if (!unix_user)
        return 0;
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwnam_r(unix_user, &pw, buf, sizeof buf, &found) != 0 || !found) {
        il_buf_printf(err, "IdentityMapFile maps \"%s\" to Unix user %s, which does not "
                      "exist here", caller->user, unix_user);
        out->entry = NULL;
        return 500;
    }
    out->as_user = true;
    out->uid = found->pw_uid;
    out->gid = found->pw_gid;
    snprintf(out->unix_user, sizeof out->unix_user, "%s", unix_user);
    return 0;
}

const char *identity_value(const batch_identity *id, const char *key)
{
    return json_string_value(json_object_get(id->entry, key));
}

/* runAsUser of the pod's securityContext, or of any container's (-1: none). */
int64_t pod_run_as_user(const il_pod *pod, const char **where)
{
    json_t *spec = json_object_get(pod->raw, "spec");
    json_t *uid = json_object_get(json_object_get(spec, "securityContext"), "runAsUser");
    *where = "spec.securityContext.runAsUser";
    const char *lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < 2 && !json_is_integer(uid); l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c) {
            uid = json_object_get(json_object_get(c, "securityContext"), "runAsUser");
            if (json_is_integer(uid)) {
                *where = "a container's securityContext.runAsUser";
                break;
            }
        }
    }
    return json_is_integer(uid) ? (int64_t)json_integer_value(uid) : -1;
}

/* ---- running as the mapped user -------------------------------------------- */

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return lchown(path, chown_uid, chown_gid) == 0 ? 0 : -1;
}

int identity_hand_over(const batch_identity *id, const char *dir, il_buf *err)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;   /* nftw has no context */
    if (!id->as_user)
        return 0;
    pthread_mutex_lock(&mu);
    chown_uid = id->uid;
    chown_gid = id->gid;
    int rc = nftw(dir, chown_one, 16, FTW_PHYS);
    pthread_mutex_unlock(&mu);
    if (rc != 0)
        il_buf_printf(err, "handing %s to %s: %s", dir, id->unix_user, strerror(errno));
    return rc == 0 ? 0 : 500;
}

void identity_runuser_argv(const char *runuser_path, const char *user, strvec *out)
{
    if (!user || !user[0])
        return;
    rn_strvec_push(out, runuser_path);
    rn_strvec_push(out, "-u");
    rn_strvec_push(out, user);
    rn_strvec_push(out, "--");
}

void identity_wrap_argv(const char *runuser_path, const batch_identity *id, strvec *argv)
{
    if (!id->as_user)
        return;
    strvec wrapped = {0};
    identity_runuser_argv(runuser_path, id->unix_user, &wrapped);
    rn_strvec_push_all(&wrapped, argv->v);
    rn_strvec_free(argv);
    *argv = wrapped;
}
