/* identity.c -- whose job a pod becomes: IdentityMapFile.
 *
 * interlink tells the plugin who created a pod (il_caller: the
 * X-Interlink-User, -Groups and -Tenant headers).  The site admin maps
 * those identities to what SLURM bills and whom the job runs as:
 *
 *   users:
 *     alice: {Account: acct-a, QoS: normal, Partition: debug, UnixUser: alice}
 *   groups:
 *     physics: {Account: acct-phys}
 *
 * A user entry wins over group entries; among groups, the first of the
 * caller's groups that is mapped.  With a map, a caller it does not map
 * (or a create without an identity) is refused with 403: a job is never
 * billed to the plugin's own account by default.  The mapped values come
 * last on the sbatch command line, so the pod's flags cannot override
 * them.  UnixUser (root plugins only) submits through runuser as that
 * user, after handing the pod directory to it: the job, its files and its
 * processes are that user's.  Every job's --comment names the caller and
 * tenant, for accounting. */
#include "slurm.h"

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

static const char *const entry_keys[] = {"Account", "QoS", "Partition", "UnixUser", NULL};

static bool safe_char(char c)
{
    return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* SLURM names and Unix user names: letters, digits, '.', '_', '-', not first '-'. */
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
        il_buf_printf(err, "IdentityMapFile: %s must be a mapping of Account, QoS, Partition, "
                      "UnixUser", where);
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
                                        : "unknown key (Account, QoS, Partition, UnixUser)");
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

/* "--comment=interlink user=U tenant=T", bytes outside [A-Za-z0-9.@_-] as '_'. */
static void push_comment(strvec *flags, const il_caller *caller)
{
    il_buf c = IL_BUF_INIT;
    const char *parts[][2] = {{"user", caller->user}, {"tenant", caller->tenant}};
    il_buf_printf(&c, "--comment=interlink");
    for (size_t i = 0; i < 2; i++) {
        if (!parts[i][1])
            continue;
        il_buf_printf(&c, " %s=", parts[i][0]);
        for (const char *p = parts[i][1]; *p && p - parts[i][1] < 128; p++)
            il_buf_printf(&c, "%c", safe_char(*p) || *p == '@' ? *p : '_');
    }
    rn_strvec_push(flags, il_buf_cstr(&c));
    il_buf_free(&c);
}

int identity_resolve(const slurm_config *cfg, const il_caller *caller, slurm_identity *out,
                     il_buf *err)
{
    memset(out, 0, sizeof *out);
    bool named = caller && caller->user && *caller->user;
    if (named)
        push_comment(&out->flags, caller);
    if (!cfg->identity_map)
        return 0;
    json_t *entry = named ? entry_for(cfg->identity_map, caller) : NULL;
    if (!entry) {
        if (named)
            il_buf_printf(err, "user \"%s\" (groups: %s) is not mapped to a SLURM account in "
                          "IdentityMapFile; ask the site admin to add it", caller->user,
                          caller->groups && *caller->groups ? caller->groups : "none");
        else
            il_buf_printf(err, "no caller identity (X-Interlink-User): IdentityMapFile needs "
                          "an interlink that authenticates its callers");
        rn_strvec_free(&out->flags);
        return 403;
    }
    const char *flag_of[] = {"account", "qos", "partition"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(entry, entry_keys[i]));
        if (v)
            rn_strvec_pushf(&out->flags, "--%s=%s", flag_of[i], v);
    }
    const char *unix_user = json_string_value(json_object_get(entry, "UnixUser"));
    if (unix_user) {
        struct passwd pw, *found = NULL;
        char buf[4096];
        if (getpwnam_r(unix_user, &pw, buf, sizeof buf, &found) != 0 || !found) {
            il_buf_printf(err, "IdentityMapFile maps \"%s\" to Unix user %s, which does not "
                          "exist here", caller->user, unix_user);
            rn_strvec_free(&out->flags);
            return 500;
        }
        out->as_user = true;
        out->uid = found->pw_uid;
        out->gid = found->pw_gid;
        snprintf(out->unix_user, sizeof out->unix_user, "%s", unix_user);
    }
    return 0;
}

void identity_free(slurm_identity *id)
{
    rn_strvec_free(&id->flags);
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

int identity_hand_over(const slurm_identity *id, const char *dir, il_buf *err)
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

void identity_wrap_argv(const slurm_config *cfg, const slurm_identity *id, strvec *argv)
{
    if (!id->as_user)
        return;
    strvec wrapped = {0};
    rn_strvec_push(&wrapped, cfg->runuser_path);
    rn_strvec_push(&wrapped, "-u");
    rn_strvec_push(&wrapped, id->unix_user);
    rn_strvec_push(&wrapped, "--");
    rn_strvec_push_all(&wrapped, argv->v);
    rn_strvec_free(argv);
    *argv = wrapped;
}
