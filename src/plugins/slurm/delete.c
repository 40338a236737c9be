/* delete.c -- /delete: stop the pod's job with its grace period, then
 * remove the pod's files.
 *
 * A pending job is simply cancelled.  A running one gets SIGTERM in its
 * batch step (the supervisor then stops the containers with the grace
 * period it finds in stop.json) and is cancelled outright once the grace
 * period is over.  The call blocks until SLURM no longer runs the job (or
 * a bounded wait ran out), so the files are never removed under it.  Only
 * a job SLURM confirmed gone counts as deleted: when slurmctld cannot be
 * reached the answer is 503 with the reason, and everything is kept.
 *
 * A delete that arrives while the pod's create is still submitting waits
 * for it (the create lock, job.json, which sbatch holds too): otherwise
 * it would find no job, remove the pod, and the submission would then
 * leave a job nobody owns.  The same for a slurmrestd submission whose
 * answer was lost: the delete waits as long as it may still arrive. */
#include "slurm.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define POLL_MS 250
#define CANCEL_WAIT_MS 20000   /* SLURM's KillWait and slurmd's cleanup */

/* term_only: SIGTERM to the batch step (our supervisor and its
 * containers); else cancel the job (SLURM's SIGTERM, KillWait, SIGKILL).
 * 0 when SLURM took the request or no longer knows the job; else the
 * HTTP status (failure.c) with err saying why. */
static int scancel(const slurm_ctx *ctx, const char *job_id, bool term_only, il_buf *err)
{
    char *term[] = {ctx->cfg->scancel_path, "--batch", "--signal=TERM", (char *)job_id, NULL};
    char *cancel[] = {ctx->cfg->scancel_path, (char *)job_id, NULL};
    char **argv = term_only ? term : cancel;
    cmd_result res;
    cmd_run(argv, ctx->cfg->command_timeout_s, &res);
    const char *text = il_buf_cstr(&res.err);
    int rc = 0;
    if (res.status != 0 && !strstr(text, "Invalid job id") &&
        !strstr(text, "already completing or completed")) {
        slurm_failure kind = slurm_failure_classify(res.status, text);
        /* A refused cancel leaves the job running: never success. */
        rc = kind == SLURM_FAILURE_TRANSIENT ? 503 : 500;
        il_buf_printf(err, "scancel %s failed (exit %d): %s", job_id, res.status, text);
        il_warn("%s", il_buf_cstr(err));
    }
    cmd_result_free(&res);
    return rc;
}

/* The job's phase as SLURM sees it now; JOB_FINISHED when SLURM no longer
 * knows it (or the id now belongs to another job).  -1 (err says why)
 * when SLURM could not be asked. */
static int job_phase_now(const slurm_ctx *ctx, const char *job_id, const char *uid,
                         job_phase *phase, il_buf *err)
{
    char *ids[] = {(char *)job_id};
    job_info *jobs = NULL;
    ssize_t found = squeue_jobs_why(ctx->cfg, ids, 1, &jobs, err);
    *phase = JOB_FINISHED;
    for (ssize_t i = 0; i < found; i++) {
        if (strcmp(jobs[i].id, job_id) == 0 && strcmp(jobs[i].name, uid) == 0)
            *phase = job_state_phase(jobs[i].state);
        job_info_free(&jobs[i]);
    }
    free(jobs);
    return found < 0 ? -1 : 0;
}

/* The job a create submitted but did not live to record, if any (*id
 * NULL: none).  -1 (err says why) when SLURM could not be asked: then a
 * job may exist, and the pod's files must stay. */
static int job_by_name(const slurm_ctx *ctx, const char *uid, char **id, il_buf *err)
{
    char *names[] = {(char *)uid};
    job_info *jobs = NULL;
    ssize_t found = squeue_names_why(ctx->cfg, names, 1, &jobs, err);
    *id = NULL;
    for (ssize_t i = 0; i < found; i++) {
        if (!*id && strcmp(jobs[i].name, uid) == 0)
            *id = il_xstrdup(jobs[i].id);
        job_info_free(&jobs[i]);
    }
    free(jobs);
    return found < 0 ? -1 : 0;
}

/* 0 once SLURM says the job is gone; 503 when it could not be asked or
 * the job outlived the deadline (err says which). */
static int wait_finished(const slurm_ctx *ctx, const char *job_id, const char *uid,
                         int64_t deadline_ms, il_buf *err)
{
    job_phase phase;
    for (;;) {
        if (job_phase_now(ctx, job_id, uid, &phase, err) != 0)
            return 503;
        if (phase == JOB_FINISHED)
            return 0;
        if (il_monotonic_ms() >= deadline_ms)
            return 503;
        usleep(POLL_MS * 1000);
    }
}

/* 0 when SLURM confirmed the job gone (or never knew it); otherwise the
 * HTTP status for the caller, err saying why, and the job may still run. */
static int stop_job(const slurm_ctx *ctx, const char *dir, const char *job_id, const char *uid,
                    int64_t grace, il_buf *err)
{
    job_phase phase;
    if (job_phase_now(ctx, job_id, uid, &phase, err) != 0)
        return 503;
    if (phase == JOB_FINISHED)
        return 0;
    int rc;
    if (phase == JOB_RUNNING) {
        rn_poddir_write_stop(dir, grace);
        if ((rc = scancel(ctx, job_id, true, err)) != 0)
            return rc;
        il_buf before_cancel = IL_BUF_INIT;
        rc = wait_finished(ctx, job_id, uid, il_monotonic_ms() + grace * 1000, &before_cancel);
        bool asked = before_cancel.len == 0;
        if (!asked)
            il_buf_printf(err, "%s", il_buf_cstr(&before_cancel));
        il_buf_free(&before_cancel);
        if (rc == 0 || !asked)
            return rc;
        il_info("job %s still running after its %llds grace period: cancelling", job_id,
                (long long)grace);
    }
    if ((rc = scancel(ctx, job_id, false, err)) != 0)
        return rc;
    rc = wait_finished(ctx, job_id, uid, il_monotonic_ms() + CANCEL_WAIT_MS, err);
    if (rc != 0 && err->len == 0)
        il_buf_printf(err, "job %s did not leave SLURM within %ds of scancel", job_id,
                      CANCEL_WAIT_MS / 1000);
    return rc;
}

/* The pod's files go only once SLURM confirmed its job gone: a delete
 * that could not reach SLURM answers 503 and keeps everything, so the
 * retry (the VK's, interlink's) finds the job again. */
int slurm_delete(void *vctx, const il_pod *pod, il_buf *err)
{
    const slurm_ctx *ctx = vctx;
    char *dir = rn_poddir_find(ctx->pods_dir, pod);
    if (!dir)
        return 0;
    int lock = job_record_lock(dir);
    int64_t grace = rn_poddir_stored_grace(dir, pod);
    job_info final;
    char *job_id = job_record_read(dir, &final);
    int rc = 0;
    if (!job_id && ctx->rest)
        rest_settle(ctx->rest, dir);   /* a lost POST may still reach slurmrestd */
    if (!job_id && job_by_name(ctx, pod->uid, &job_id, err) != 0)
        rc = 503;   /* a create died before recording a job SLURM may have */
    if (rc == 0 && job_id && !final.state)
        rc = stop_job(ctx, dir, job_id, pod->uid, grace, err);
    if (rc != 0)
        il_warn("delete of pod %s (job %s) not confirmed by SLURM: %s", pod->uid,
                job_id ? job_id : "unknown", il_buf_cstr(err));
    job_info_free(&final);
    free(job_id);
    free(dir);
    if (rc == 0)
        rc = il_plugin_status(rn_poddir_remove(ctx->pods_dir, pod->uid, err));
    if (lock >= 0)
        close(lock);
    return rc;
}
