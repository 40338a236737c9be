/* delete.c -- /delete: condor_rm the pod's job, wait until it has left the
 * queue, then remove the pod's files.
 *
 * condor_rm makes HTCondor send the job kill_sig (SIGTERM) and, after
 * job_max_vacate_time (the pod's grace period plus VacateExtraSeconds),
 * SIGKILL; the supervisor finds the delete's own grace period in stop.json
 * and stops the containers with it.  Success only for what happened: a
 * condor_rm the schedd did not accept, or a job still in the queue after
 * the grace period, DeleteWaitSeconds and a condor_rm -forcex, answer 503
 * and keep the pod, so a retried delete finds it again.
 *
 * A delete that arrives while the pod's create is still submitting waits
 * for it (the create lock, job.json, and a batch's lock, job.batch):
 * otherwise it would find no job, remove the pod, and the submission
 * would then leave a job nobody owns. */
#include "htcondor.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define POLL_MS 250

/* 1 the job is still in the queue, 0 it is not, -1 condor_q failed. */
static int in_queue(const htc_config *cfg, const char *job_id, const char *uid)
{
    char *ids[] = {(char *)job_id};
    job_info *jobs;
    ssize_t found = htc_query(cfg, false, ids, NULL, 1, &jobs);
    int rc = found < 0 ? -1 : 0;
    for (ssize_t i = 0; i < found; i++)
        if (strcmp(jobs[i].id, job_id) == 0 && strcmp(jobs[i].name, uid) == 0)
            rc = 1;
    htc_jobs_free(jobs, found);
    return rc;
}

/* As the job's owner (the pod directory's: identity.c). */
static bool condor_rm(const htc_config *cfg, const char *dir, const char *job_id, bool forcex,
                      il_buf *err)
{
    strvec argv = {0};
    char *owner = htc_pod_owner(cfg, dir);
    htc_tool_argv_as(cfg, owner, "condor_rm", &argv);
    free(owner);
    if (forcex)
        rn_strvec_push(&argv, "-forcex");
    rn_strvec_push(&argv, job_id);
    cmd_result res;
    bool ok = cmd_run(argv.v, cfg->command_timeout_s, &res) == 0;
    if (!ok)
        il_buf_printf(err, "condor_rm%s %s failed (exit %d): %s%s", forcex ? " -forcex" : "",
                      job_id, res.status, il_buf_cstr(&res.err), il_buf_cstr(&res.out));
    cmd_result_free(&res);
    rn_strvec_free(&argv);
    return ok;
}

static int wait_gone(const htc_config *cfg, const char *job_id, const char *uid,
                     int64_t deadline_ms)
{
    int rc;
    while ((rc = in_queue(cfg, job_id, uid)) != 0 && il_monotonic_ms() < deadline_ms)
        usleep(POLL_MS * 1000);
    return rc;
}

/* 0 once the job has left the queue; 503 with err otherwise. */
static int remove_job(const htc_config *cfg, const char *dir, const char *job_id,
                      const char *uid, int64_t grace, il_buf *err)
{
    int rc = in_queue(cfg, job_id, uid);
    if (rc == 0)
        return 0;
    rn_poddir_write_stop(dir, grace);
    if (!condor_rm(cfg, dir, job_id, false, err) && in_queue(cfg, job_id, uid) != 0)
        return 503;   /* the schedd did not take it, and the job is still there */
    il_buf_reset(err);
    int64_t wait_ms = (grace + cfg->vacate_extra_s + cfg->delete_wait_s) * 1000;
    if (wait_gone(cfg, job_id, uid, il_monotonic_ms() + wait_ms) == 0)
        return 0;
    il_warn("job %s still in the queue %llds after condor_rm: condor_rm -forcex", job_id,
            (long long)(wait_ms / 1000));
    condor_rm(cfg, dir, job_id, true, err);
    if (wait_gone(cfg, job_id, uid, il_monotonic_ms() + 10000) == 0)
        return 0;
    il_buf_printf(err, "%sHTCondor job %s is still in the queue; the pod is kept, delete again",
                  err->len ? "; " : "", job_id);
    return 503;
}

int htc_delete(void *vctx, const il_pod *pod, il_buf *err)
{
    const htc_ctx *ctx = vctx;
    char *dir = rn_poddir_find(ctx->pods_dir, pod);
    if (!dir)
        return 0;
    int lock = job_record_lock(dir);
    htc_batch_wait(dir);
    int64_t grace = rn_poddir_stored_grace(dir, pod);
    job_info final;
    char *job_id = job_record_read(dir, &final);
    int rc = 0;
    if (!job_id && htc_find_by_uid(ctx->cfg, pod->uid, &job_id) != 0) {
        il_buf_printf(err, "pod %s may have an unrecorded job, and HTCondor cannot tell",
                      pod->uid);
        rc = 503;   /* a create died before recording it */
    }
    if (rc == 0 && job_id && !final.state)
        rc = remove_job(ctx->cfg, dir, job_id, pod->uid, grace, err);
    job_info_free(&final);
    free(job_id);
    if (rc == 0) {
        rc = il_plugin_status(rn_poddir_remove(ctx->pods_dir, pod->uid, err));
        char *back = rn_store_pod_dir(dir, pod->uid);   /* FileTransfer's copy (status.c) */
        rn_memo_forget_pod(back);
        free(back);
    }
    free(dir);
    if (lock >= 0)
        close(lock);
    return rc;
}
