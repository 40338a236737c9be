/* status.c -- /status and /getLogs: the state files, corrected by SLURM.
 *
 * One squeue call per /status, for exactly the pods whose outcome the files
 * cannot tell: not finished by the supervisor (shared filesystem: the
 * `done` marker) and no final SLURM state recorded yet.  A job squeue no
 * longer knows is looked up in the job completion log, then with sacct when
 * configured (fallback.c: a file read, and one sacct for all the jobs the
 * log does not know); one that none of them knows is reported Lost --
 * never success. */
#include "slurm.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

typedef struct pod_view {
    char *dir;
    char *job_id;             /* NULL: not submitted yet */
    job_info final;           /* recorded final state; final.state NULL if none */
    bool files_final;         /* the supervisor finished by itself: its files say it all */
    bool queried;
} pod_view;

static bool killed_by_signal(const il_container_status *cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cs[i].state == IL_STATE_TERMINATED &&
            (cs[i].signal != 0 || cs[i].exit_code == 128 + 15 || cs[i].exit_code == 128 + 9))
            return true;
    return false;
}

/* A supervisor that was stopped (SLURM's SIGTERM at a time limit, say)
 * wrote what it saw, but SLURM knows why.  So may one whose container died
 * of SIGTERM/SIGKILL: slurmstepd signals every process of the job, and a
 * container can die of it before its supervisor reads its own SIGTERM (it
 * then finishes "by itself"); an OOM kill is SLURM's to name too. */
static bool files_final(const slurm_ctx *ctx, const char *dir, const il_pod_status *st)
{
    return ctx->cfg->shared_fs && rn_supervisor_done(dir) && !rn_supervisor_stopped(dir) &&
           !killed_by_signal(st->init_containers, st->n_init_containers) &&
           !killed_by_signal(st->containers, st->n_containers);
}

static bool view_open(const slurm_ctx *ctx, const il_pod *pod, pod_view *v, il_pod_status *out)
{
    if (!pod->uid || !il_is_uuid(pod->uid))
        return false;
    v->dir = rn_store_pod_dir(ctx->pods_dir, pod->uid);
    if (rn_podstatus_read(v->dir, out) != 0)
        return false;
    v->job_id = job_record_read(v->dir, &v->final);
    out->job_id = il_xstrdup(v->job_id);
    v->files_final = files_final(ctx, v->dir, out);
    v->queried = v->job_id && !v->final.state && !v->files_final;
    return true;
}

static void view_close(pod_view *v)
{
    free(v->dir);
    free(v->job_id);
    job_info_free(&v->final);
}

static const job_info *find_job(const job_info *jobs, size_t n, const char *id, const char *uid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(jobs[i].id, id) == 0)
            return strcmp(jobs[i].name, uid) == 0 ? &jobs[i] : NULL;   /* reused id: not ours */
    return NULL;
}

static void reread(pod_view *v, il_pod_status *out)
{
    il_pod_status_free(out);
    memset(out, 0, sizeof(*out));
    if (rn_podstatus_read(v->dir, out) == 0)
        out->job_id = il_xstrdup(v->job_id);
}

/* The job is still running but a container's file already says it failed:
 * the supervisor may be stopping it because SLURM is ending the job (a
 * time limit), and SLURM's verdict comes only when the job has ended.
 * Terminated is final for Kubernetes, so such a container is reported
 * running (not ready) until then; the wait is the supervisor's exit. */
static void hold_failures(il_pod_status *st, const char *job_id)
{
    il_container_status *groups[] = {st->init_containers, st->containers};
    size_t counts[] = {st->n_init_containers, st->n_containers};
    for (size_t g = 0; g < 2; g++) {
        for (size_t i = 0; i < counts[g]; i++) {
            il_container_status *cs = &groups[g][i];
            if (cs->state != IL_STATE_TERMINATED || cs->exit_code == 0)
                continue;
            char *message = il_xasprintf("exited with %d; waiting for SLURM job %s to end",
                                         cs->exit_code, job_id);
            rn_state_set(cs, IL_STATE_RUNNING, NULL, message);
            cs->finished_at = IL_TIME_ZERO;
            cs->ready = false;
            free(message);
        }
    }
}

/* sinfo's word on unusable nodes, asked once per /status and only when a
 * job was lost: the operator's first clue (a drained node, "Duplicate
 * jobid" after slurmctld lost its state). */
typedef struct lost_clue {
    bool asked;
    char *problems;
} lost_clue;

static const char *lost_clue_get(const slurm_ctx *ctx, lost_clue *clue)
{
    if (!clue->asked)
        clue->problems = slurm_node_problems(ctx);
    clue->asked = true;
    return clue->problems;
}

/* What SLURM said (or did not say) about one queried pod. */
static void settle(const slurm_ctx *ctx, pod_view *v, const job_info *job, bool slurm_answered,
                   lost_clue *clue, il_pod_status *out)
{
    bool shared = ctx->cfg->shared_fs;
    if (job) {
        job_phase phase = job_state_phase(job->state);
        if (phase == JOB_FINISHED && job_record_write(v->dir, v->job_id, job) != 0)
            il_warn("recording the final state of job %s in %s failed", v->job_id, v->dir);
        if (shared && rn_supervisor_done(v->dir))
            reread(v, out);   /* it may have finished between our two looks */
        if (!files_final(ctx, v->dir, out)) {
            if (shared && phase != JOB_FINISHED)
                hold_failures(out, v->job_id);
            job_apply_state(out, job, shared);
        }
    } else if (slurm_answered) {
        if (shared && rn_supervisor_done(v->dir))
            reread(v, out);
        else
            job_mark_lost(out, v->job_id, lost_clue_get(ctx, clue));
    }   /* else SLURM could not be asked: the files are the best we know */
}

static const job_info *find_in(const job_info *jobs, ssize_t n, const char *id, const char *uid)
{
    return n > 0 ? find_job(jobs, (size_t)n, id, uid) : NULL;
}

int slurm_status(void *vctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err)
{
    slurm_ctx *ctx = vctx;
    (void)err;
    pod_view *views = il_xcalloc(n ? n : 1, sizeof(*views));
    bool *known = il_xcalloc(n ? n : 1, sizeof(*known));
    char **ids = il_xcalloc(n ? n : 1, sizeof(*ids));
    size_t n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        known[i] = view_open(ctx, &pods[i], &views[i], &out[i]);
        if (known[i] && views[i].queried)
            ids[n_ids++] = views[i].job_id;
    }
    job_info *jobs = NULL;
    ssize_t found = squeue_jobs(ctx->cfg, ids, n_ids, &jobs);
    /* Gone from squeue, and the supervisor did not finish by itself (a
     * stopped one saw SLURM's signal, not why: a time limit, a scancel). */
    size_t n_gone = 0;
    for (size_t i = 0; found >= 0 && i < n; i++)
        if (known[i] && views[i].queried &&
            !find_in(jobs, found, views[i].job_id, pods[i].uid) &&
            !files_final(ctx, views[i].dir, &out[i]))
            ids[n_gone++] = views[i].job_id;
    job_info *ended = NULL;
    bool ended_answered;
    size_t n_ended = fallback_jobs(ctx, ids, n_gone, &ended, &ended_answered);
    lost_clue clue = {0};
    for (size_t i = 0; i < n; i++) {
        pod_view *v = &views[i];
        if (known[i] && v->final.state && !v->files_final) {
            job_apply_state(&out[i], &v->final, ctx->cfg->shared_fs);
        } else if (known[i] && v->queried) {
            const job_info *job = find_in(jobs, found, v->job_id, pods[i].uid);
            const job_info *last = find_in(ended, (ssize_t)n_ended, v->job_id, pods[i].uid);
            settle(ctx, v, job ? job : last && job_state_phase(last->state) == JOB_FINISHED
                                           ? last : NULL, found >= 0 && ended_answered, &clue,
                   &out[i]);
        }
        view_close(v);
    }
    for (ssize_t i = 0; i < found; i++)
        job_info_free(&jobs[i]);
    free(jobs);
    for (size_t i = 0; i < n_ended; i++)
        job_info_free(&ended[i]);
    free(ended);
    free(clue.problems);
    free(ids);
    free(known);
    free(views);
    return 0;
}

/* ---- logs ---------------------------------------------------------------- */

int slurm_logs_open(void *vctx, const il_log_request *req, void **stream, il_buf *err)
{
    const slurm_ctx *ctx = vctx;
    if (!ctx->cfg->shared_fs) {
        il_buf_printf(err, "container logs are not available: interlink-slurm runs with "
                      "SharedFS false, and the logs stay on the compute node");
        return 501;
    }
    return il_plugin_status(
        rn_logs_open_in(ctx->pods_dir, req, job_pod_may_write, NULL, stream, err));
}
