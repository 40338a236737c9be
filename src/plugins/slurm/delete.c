/* delete.c -- /delete: stop the pod's job with its grace period, then
 * remove the pod's files.
 *
 * A pending job is simply cancelled.  A running one gets SIGTERM in its
 * batch step (the supervisor then stops the containers with the grace
 * period it finds in stop.json) and is cancelled outright once the grace
 * period is over.  The call blocks until SLURM no longer runs the job (or
 * a bounded wait ran out), so the files are never removed under it. */
#include "slurm.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define POLL_MS 250
#define CANCEL_WAIT_MS 20000   /* SLURM's KillWait and slurmd's cleanup */

/* term_only: SIGTERM to the batch step (our supervisor and its
 * containers); else cancel the job (SLURM's SIGTERM, KillWait, SIGKILL). */
static void scancel(const slurm_ctx *ctx, const char *job_id, bool term_only)
{
    char *term[] = {ctx->cfg->scancel_path, "--batch", "--signal=TERM", (char *)job_id, NULL};
    char *cancel[] = {ctx->cfg->scancel_path, (char *)job_id, NULL};
    char **argv = term_only ? term : cancel;
    cmd_result res;
    if (cmd_run(argv, ctx->cfg->command_timeout_s, &res) != 0)
        il_warn("scancel %s: %s", job_id, il_buf_cstr(&res.err));
    cmd_result_free(&res);
}

/* The job's phase as SLURM sees it now; JOB_FINISHED when SLURM no longer
 * knows it (or the id now belongs to another job). */
static job_phase job_phase_now(const slurm_ctx *ctx, const char *job_id, const char *uid)
{
    char *ids[] = {(char *)job_id};
    job_info *jobs = NULL;
    ssize_t found = squeue_jobs(ctx->cfg, ids, 1, &jobs);
    job_phase phase = found < 0 ? JOB_UNKNOWN_STATE : JOB_FINISHED;
    for (ssize_t i = 0; i < found; i++) {
        if (strcmp(jobs[i].id, job_id) == 0 && strcmp(jobs[i].name, uid) == 0)
            phase = job_state_phase(jobs[i].state);
        job_info_free(&jobs[i]);
    }
    free(jobs);
    return phase;
}

/* The job a create submitted but did not live to record, if any. */
static char *job_by_name(const slurm_ctx *ctx, const char *uid)
{
    char *names[] = {(char *)uid};
    job_info *jobs = NULL;
    ssize_t found = squeue_names(ctx->cfg, names, 1, &jobs);
    char *id = NULL;
    for (ssize_t i = 0; i < found; i++) {
        if (!id && strcmp(jobs[i].name, uid) == 0)
            id = il_xstrdup(jobs[i].id);
        job_info_free(&jobs[i]);
    }
    free(jobs);
    return id;
}

static bool wait_finished(const slurm_ctx *ctx, const char *job_id, const char *uid,
                          int64_t deadline_ms)
{
    while (job_phase_now(ctx, job_id, uid) != JOB_FINISHED) {
        if (il_monotonic_ms() >= deadline_ms)
            return false;
        usleep(POLL_MS * 1000);
    }
    return true;
}

static void write_stop_request(const char *dir, int64_t grace)
{
    json_t *json = json_pack("{s:I}", "grace", (json_int_t)grace);
    char *path = rn_store_path(dir, "stop.json");
    if (rn_store_save_json(path, json) != 0)
        il_warn("writing %s failed", path);
    free(path);
    json_decref(json);
}

static void stop_job(const slurm_ctx *ctx, const char *dir, const char *job_id, const char *uid,
                     int64_t grace)
{
    job_phase phase = job_phase_now(ctx, job_id, uid);
    if (phase == JOB_FINISHED)
        return;
    if (phase == JOB_RUNNING) {
        write_stop_request(dir, grace);
        scancel(ctx, job_id, true);
        if (wait_finished(ctx, job_id, uid, il_monotonic_ms() + grace * 1000))
            return;
        il_info("job %s still running after its %llds grace period: cancelling", job_id,
                (long long)grace);
    }
    scancel(ctx, job_id, false);
    if (!wait_finished(ctx, job_id, uid, il_monotonic_ms() + CANCEL_WAIT_MS))
        il_warn("job %s did not leave SLURM within %ds of scancel", job_id,
                CANCEL_WAIT_MS / 1000);
}

int slurm_delete(void *vctx, const il_pod *pod, il_buf *err)
{
    const slurm_ctx *ctx = vctx;
    char *dir = rn_poddir_find(ctx->pods_dir, pod);
    if (!dir)
        return 0;
    il_create_request req;
    char msg[512];
    bool have_req = rn_store_read_request(dir, &req, msg, sizeof(msg)) == 0;
    int64_t grace = rn_poddir_delete_grace(pod, have_req ? &req.pod : NULL);
    if (have_req)
        il_create_request_free(&req);
    job_info final;
    char *job_id = job_record_read(dir, &final);
    if (!job_id)
        job_id = job_by_name(ctx, pod->uid);   /* a create died before recording it */
    if (job_id && !final.state)
        stop_job(ctx, dir, job_id, pod->uid, grace);
    job_info_free(&final);
    free(job_id);
    free(dir);
    return rn_poddir_remove(ctx->pods_dir, pod->uid, err);
}
