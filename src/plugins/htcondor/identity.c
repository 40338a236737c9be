/* identity.c -- whose job a pod becomes: IdentityMapFile, the batch
 * plugins' one format (the file, its checks and the caller -> entry rule
 * are the batch library's identity_map_load and identity_resolve).
 *
 * An entry's UnixUser is the account the job is submitted as (runuser),
 * and owns the pod directory; AccountingGroup (else Account) becomes the
 * job's accounting_group, which the pod's annotation then cannot change;
 * QoS and Partition mean nothing to HTCondor and are ignored, so one file
 * can serve both plugins.
 * A caller the map does not name is refused (403).  Without a map every
 * job is SubmitUser's.  Later calls (condor_rm, condor_transfer_data) run
 * as the pod directory's owner, who owns the job. */
#include "htcondor.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The caller as the job ad records it: bytes outside [A-Za-z0-9.@_-] as '_'. */
static void plain_copy(char *out, size_t size, const char *s)
{
    size_t n = 0;
    for (; s && *s && n + 1 < size; s++, n++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '@' || c == '_' || c == '-';
        out[n] = ok ? c : '_';
    }
    out[n] = '\0';
}

int htc_identity_resolve(const htc_config *cfg, const il_caller *caller, htc_identity *out,
                         il_buf *err)
{
    memset(out, 0, sizeof(*out));
    out->uid = cfg->submit_uid;
    out->gid = cfg->submit_gid;
    if (cfg->submit_user && cfg->submit_user[0])
        snprintf(out->user, sizeof(out->user), "%s", cfg->submit_user);
    if (caller && caller->user) {
        plain_copy(out->caller, sizeof(out->caller), caller->user);
        plain_copy(out->tenant, sizeof(out->tenant), caller->tenant);
    }
    if (!cfg->ident.map)
        return 0;
    batch_identity who;
    int rc = identity_resolve(cfg->ident.map, caller, &who, err);
    if (rc != 0)
        return rc;
    const char *group = identity_value(&who, "AccountingGroup");
    if (!group)
        group = identity_value(&who, "Account");
    if (group)
        snprintf(out->accounting_group, sizeof(out->accounting_group), "%s", group);
    if (who.as_user && who.uid == 0) {
        il_buf_printf(err, "IdentityMapFile maps \"%s\" to root, whose jobs HTCondor refuses",
                      caller->user);
        return 500;
    }
    if (who.as_user) {
        snprintf(out->user, sizeof(out->user), "%s", who.unix_user);
        out->uid = who.uid;
        out->gid = who.gid;
    }
    return 0;
}

char *htc_pod_owner(const htc_config *cfg, const char *dir)
{
    struct stat st;
    if (geteuid() != 0 || stat(dir, &st) != 0 || st.st_uid == cfg->submit_uid)
        return cfg->submit_user && cfg->submit_user[0] ? il_xstrdup(cfg->submit_user) : NULL;
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &found) != 0 || !found)
        return cfg->submit_user && cfg->submit_user[0] ? il_xstrdup(cfg->submit_user) : NULL;
    return il_xstrdup(found->pw_name);
}
