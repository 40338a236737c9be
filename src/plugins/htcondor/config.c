/* config.c -- interlink-htcondor's configuration, declared once here (the
 * table also prints --help-config; docs/htcondor.md documents it).
 *
 * Checked at load, so a mistake stops the plugin at start-up rather than
 * failing pods later: the identity (HTCondor refuses jobs owned by root,
 * so a plugin running as root needs SubmitUser), and the paths that end up
 * in every submit description (DataRootFolder, RunnerPath), which must
 * need no quoting there.  The runtime keys are every batch plugin's
 * (batch.h). */
#include "htcondor.h"

#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define CFG(member) offsetof(htc_config, member)

const il_cfg_field htc_config_fields[] = {
    IL_PLUGIN_BASE_FIELDS(htc_config, base, "/var/lib/interlink-htcondor",
                          "pod directories, job files, states and logs (visible on the execute "
                          "nodes); letters, digits and /._+-@: only"),
    {"SubmitUser", "HTCONDOR_SUBMIT_USER", IL_CFG_STRING, CFG(submit_user), NULL,
     "the account jobs are submitted and removed as (runuser -u USER) when IdentityMapFile "
     "names none; required when the plugin runs as root, since HTCondor refuses root's jobs; "
     "empty: the plugin's own"},
    {"CondorBinDir", "HTCONDOR_BIN_DIR", IL_CFG_STRING, CFG(bin_dir), NULL,
     "directory of condor_submit, condor_q, condor_history, condor_rm, condor_status; empty: "
     "PATH.  The pool is the one CONDOR_CONFIG (environment) names"},
    {"ScheddName", NULL, IL_CFG_STRING, CFG(schedd_name), NULL,
     "submit to and query this schedd (-name), e.g. on another host; empty: the local one"},
    {"Pool", NULL, IL_CFG_STRING, CFG(pool), NULL,
     "the collector (host[:port]) to find ScheddName and the slots in (-pool); empty: "
     "CONDOR_CONFIG's"},
    {"FileTransfer", NULL, IL_CFG_BOOL, CFG(file_transfer), "false",
     "the execute nodes do not see DataRootFolder: HTCondor transfers the pod's files to the "
     "job and its state files and logs back when it ends (should_transfer_files = YES); "
     "status while it runs comes from HTCondor alone, logs once it has ended"},
    {"Spool", NULL, IL_CFG_BOOL, CFG(spool), "false",
     "submit with -spool (a schedd on another host, see ScheddName and Pool): the pod's files "
     "travel with the submission, and a completed job's results are fetched with "
     "condor_transfer_data, then the job is removed from the queue; implies FileTransfer"},
    BATCH_RUNTIME_FIELDS(htc_config, rt, "none"),
    {"Requirements", NULL, IL_CFG_STRING, CFG(requirements), NULL,
     "requirements expression of every job (admin-trusted ClassAd); the pod's requirements "
     "annotation is and'ed to it"},
    {"AccountingGroups", NULL, IL_CFG_STRLIST, CFG(accounting_groups), NULL,
     "accounting groups the htcondor-job.vk.io/accounting-group annotation may name (list; "
     "\"*\": any well-formed name); empty: the annotation is refused"},
    {"AllowRequirements", NULL, IL_CFG_BOOL, CFG(allow_requirements), "false",
     "accept the htcondor-job.vk.io/requirements annotation (a ClassAd expression)"},
    {"AllowedAttributes", NULL, IL_CFG_STRLIST, CFG(allowed_attributes), NULL,
     "job ClassAd attributes the htcondor-job.vk.io/attributes annotation may set (list); "
     "empty: the annotation is refused"},
    {"CPUDefault", NULL, IL_CFG_INT, CFG(cpu_default), "1",
     "request_cpus when no container gives a CPU request or limit"},
    {"MemoryDefaultMB", NULL, IL_CFG_INT, CFG(memory_default_mb), "0",
     "request_memory (MB) when no container gives one; 0: HTCondor's default"},
    {"VacateExtraSeconds", NULL, IL_CFG_INT, CFG(vacate_extra_s), "10",
     "job_max_vacate_time is the pod's grace period plus this: the supervisor's time to stop "
     "the containers before HTCondor kills it"},
    {"CommandTimeoutSeconds", NULL, IL_CFG_INT, CFG(command_timeout_s), "60",
     "deadline of one condor_submit/condor_q/condor_history/condor_rm/condor_status call"},
    {"DeleteWaitSeconds", NULL, IL_CFG_INT, CFG(delete_wait_s), "30",
     "after the grace period, how long a delete waits for the job to leave the queue "
     "(then condor_rm -forcex); still there: 503 and the pod is kept"},
    {"SubmitBatchMax", NULL, IL_CFG_INT, CFG(batch_max), "100",
     "pods one condor_submit may queue: concurrent creates whose submit descriptions differ "
     "only in the pod are submitted together (one cluster, one proc each); 1: one each"},
    {"SubmitBatchWindowMs", NULL, IL_CFG_INT, CFG(batch_window_ms), "20",
     "how long a batch gathers creates before its condor_submit; later ones wait for the next"},
    {"SubmitParallel", NULL, IL_CFG_INT, CFG(submit_parallel), "2",
     "condor_submit calls (batches) running at once at most"},
    BATCH_IDENTITY_FIELDS(htc_config, ident,
                          "{UnixUser (the account the job is submitted as; root plugins only), "
                          "AccountingGroup (else Account)}"),
};
const size_t htc_config_nfields = sizeof(htc_config_fields) / sizeof(htc_config_fields[0]);

/* A path that goes verbatim into every submit description. */
static bool plain_path(const char *s)
{
    return s && s[0] == '/' && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789/._+-@:") == strlen(s);
}

static int identity_check(htc_config *cfg, il_buf *err)
{
    cfg->submit_uid = geteuid();
    cfg->submit_gid = getegid();
    if (!cfg->submit_user || !cfg->submit_user[0]) {
        if (geteuid() == 0) {
            il_buf_printf(err, "SubmitUser is required when running as root: HTCondor refuses "
                          "jobs owned by root");
            return -1;
        }
        return 0;
    }
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwnam_r(cfg->submit_user, &pw, buf, sizeof(buf), &found) != 0 || !found) {
        il_buf_printf(err, "SubmitUser \"%s\": no such user", cfg->submit_user);
        return -1;
    }
    if (found->pw_uid == 0 || (geteuid() != 0 && found->pw_uid != geteuid())) {
        il_buf_printf(err, "SubmitUser \"%s\": %s", cfg->submit_user,
                      found->pw_uid == 0 ? "HTCondor refuses jobs owned by root"
                                         : "only root may submit as another user");
        return -1;
    }
    cfg->submit_uid = found->pw_uid;
    cfg->submit_gid = found->pw_gid;
    return 0;
}

int htc_config_check(void *vcfg, il_buf *err)
{
    htc_config *cfg = vcfg;
    if (batch_runtime_check(&cfg->rt, err) != 0)
        return -1;
    const char *runner = cfg->rt.runner_path;
    if (!plain_path(cfg->base.data_root) || (runner && runner[0] && !plain_path(runner))) {
        il_buf_printf(err, "DataRootFolder and RunnerPath must be absolute paths of letters, "
                      "digits and /._+-@: (they are written into submit descriptions)");
        return -1;
    }
    if (cfg->spool)
        cfg->file_transfer = true;
    if (cfg->requirements && strpbrk(cfg->requirements, "\r\n")) {
        il_buf_printf(err, "Requirements: one line expected");
        return -1;
    }
    if (cfg->cpu_default < 1 || cfg->memory_default_mb < 0 || cfg->vacate_extra_s < 0 ||
        cfg->command_timeout_s < 1 || cfg->delete_wait_s < 0 || cfg->batch_max < 1 ||
        cfg->batch_max > 10000 || cfg->batch_window_ms < 0 || cfg->batch_window_ms > 10000 ||
        cfg->submit_parallel < 1) {
        il_buf_printf(err, "CPUDefault, CommandTimeoutSeconds and SubmitParallel must be at "
                      "least 1, SubmitBatchMax 1 to 10000, SubmitBatchWindowMs 0 to 10000, "
                      "MemoryDefaultMB, VacateExtraSeconds and DeleteWaitSeconds at least 0");
        return -1;
    }
    if (identity_check(cfg, err) != 0)
        return -1;
    return identity_config_load(&cfg->ident, err);
}

void htc_config_release(void *vcfg)
{
    htc_config *cfg = vcfg;
    identity_config_release(&cfg->ident);
}
