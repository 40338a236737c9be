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
static bool files_final_if(const slurm_ctx *ctx, bool done, const char *dir,
                           const il_pod_status *st)
{
    return ctx->cfg->shared_fs && done && !rn_supervisor_stopped(dir) &&
           !killed_by_signal(st->init_containers, st->n_init_containers) &&
           !killed_by_signal(st->containers, st->n_containers);
}

static bool files_final(const slurm_ctx *ctx, const char *dir, const il_pod_status *st)
{
    return files_final_if(ctx, ctx->cfg->shared_fs && rn_supervisor_done(dir), dir, st);
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

/* SLURM's answer, ordered by job id for lookups: one /status may ask about
 * 10,000 jobs, and a linear search per pod made that 50 million string
 * comparisons.  Equal ids keep squeue's order, so the first line with an
 * id is the one that counts, as before. */
typedef struct job_index {
    const job_info **by_id;
    size_t n;
} job_index;

static int by_id_then_line(const void *a, const void *b)
{
    const job_info *x = *(const job_info *const *)a, *y = *(const job_info *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x > y) - (x < y);
}

static job_index job_index_make(const job_info *jobs, ssize_t n)
{
    job_index ix = {NULL, n > 0 ? (size_t)n : 0};
    ix.by_id = il_xcalloc(ix.n ? ix.n : 1, sizeof(*ix.by_id));
    for (size_t i = 0; i < ix.n; i++)
        ix.by_id[i] = &jobs[i];
    qsort(ix.by_id, ix.n, sizeof(*ix.by_id), by_id_then_line);
    return ix;
}

/* The first job with this id, if it is ours (its name is the pod UID);
 * NULL when SLURM did not list the id or it now names another job. */
static const job_info *job_index_find(const job_index *ix, const char *id, const char *uid)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {   /* the first entry whose id is not below `id` */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->by_id[mid]->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == ix->n || strcmp(ix->by_id[lo]->id, id) != 0)
        return NULL;
    return strcmp(ix->by_id[lo]->name, uid) == 0 ? ix->by_id[lo] : NULL;   /* reused id */
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
        /* One look at the `done` marker answers both questions (a system
         * call a pod: 10,000 of them per large /status).  A supervisor
         * finishing just after it is taken for one still running, so
         * SLURM's state applies, as for one finishing a moment later.
         * A job SLURM still holds back has no supervisor that could have
         * finished since the first look (view_open): no second one. */
        bool done = shared && phase != JOB_PENDING && rn_supervisor_done(v->dir);
        if (done)
            reread(v, out);   /* it may have finished between our two looks */
        if (!files_final_if(ctx, done, v->dir, out)) {
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
    job_index listed = job_index_make(jobs, found);
    /* Gone from squeue, and the supervisor did not finish by itself (a
     * stopped one saw SLURM's signal, not why: a time limit, a scancel). */
    size_t n_gone = 0;
    for (size_t i = 0; found >= 0 && i < n; i++)
        if (known[i] && views[i].queried &&
            !job_index_find(&listed, views[i].job_id, pods[i].uid) &&
            !files_final(ctx, views[i].dir, &out[i]))
            ids[n_gone++] = views[i].job_id;
    job_info *ended = NULL;
    bool ended_answered;
    size_t n_ended = fallback_jobs(ctx, ids, n_gone, &ended, &ended_answered);
    job_index last_known = job_index_make(ended, (ssize_t)n_ended);
    lost_clue clue = {0};
    for (size_t i = 0; i < n; i++) {
        pod_view *v = &views[i];
        if (known[i] && v->final.state && !v->files_final) {
            job_apply_state(&out[i], &v->final, ctx->cfg->shared_fs);
        } else if (known[i] && v->queried) {
            const job_info *job = job_index_find(&listed, v->job_id, pods[i].uid);
            const job_info *last = job_index_find(&last_known, v->job_id, pods[i].uid);
            settle(ctx, v, job ? job : last && job_state_phase(last->state) == JOB_FINISHED
                                           ? last : NULL, found >= 0 && ended_answered, &clue,
                   &out[i]);
        }
        view_close(v);
    }
    free(listed.by_id);
    free(last_known.by_id);
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
