/* status.c -- /status and /getLogs: the state files, corrected by HTCondor.
 *
 * The supervisor's files (shared filesystem) tell everything about a pod
 * whose supervisor finished by itself.  For the others, one condor_q per
 * /status asks about all their jobs at once (a constraint on the ids, a
 * projection of the attributes used), and one condor_history about the
 * ones that left the queue.  What the queue says:
 *   Idle       containers waiting, with "job C.P is idle" as the message
 *   Held       containers waiting, reason Held, HoldReason as the message
 *   Running    the files (the supervisor is writing them)
 *   Removed    (history) containers not finished: terminated, Removed
 *   Completed  (history) the files; containers they leave unfinished:
 *              terminated with the job's exit code
 * A job neither knows is reported Lost, never success.  A final state is
 * recorded in job.json, so HTCondor forgetting the job changes nothing.
 * With FileTransfer the files come back only when the job ends (into
 * pod_dir/<uid>/): until then a Running job's containers are reported
 * running, ready, from the job's start. */
#include "htcondor.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define LOST_EXIT_CODE 137

typedef struct pod_view {
    char *dir;
    char *files;              /* where the state files are: dir, or FileTransfer's copy */
    char *job_id;
    job_info final;           /* recorded final state; final.state NULL if none */
    bool queried;
} pod_view;

/* The supervisor ran the pod to its end by itself (not stopped by a
 * condor_rm or a hold): its files say it all. */
static bool files_final(const char *dir)
{
    return rn_supervisor_done(dir) && !rn_supervisor_stopped(dir);
}

/* FileTransfer: the directory the job's files came back in, once they did. */
static char *returned_dir(const htc_ctx *ctx, const char *dir, const char *uid)
{
    char *node = ctx->cfg->file_transfer ? rn_store_pod_dir(dir, uid) : NULL;
    char *pod_json = node ? rn_store_path(node, "pod.json") : NULL;
    if (node && access(pod_json, F_OK) != 0) {
        free(node);
        node = NULL;
    }
    free(pod_json);
    return node;
}

static bool view_open(const htc_ctx *ctx, const il_pod *pod, pod_view *v, il_pod_status *out)
{
    if (!pod->uid || !il_is_uuid(pod->uid))
        return false;
    v->dir = rn_store_pod_dir(ctx->pods_dir, pod->uid);
    if (access(v->dir, F_OK) != 0)
        return false;
    v->files = returned_dir(ctx, v->dir, pod->uid);
    if (!v->files)
        v->files = il_xstrdup(v->dir);
    if (rn_podstatus_read(v->files, out) != 0)
        return false;
    v->job_id = job_record_read(v->dir, &v->final);
    out->job_id = il_xstrdup(v->job_id);
    v->queried = v->job_id && !v->final.state && !files_final(v->files);
    return true;
}

static void view_close(pod_view *v)
{
    free(v->dir);
    free(v->files);
    free(v->job_id);
    job_info_free(&v->final);
}

static const job_info *find_job(const job_info *jobs, ssize_t n, const char *id,
                                const char *uid)
{
    for (ssize_t i = 0; i < n; i++)
        if (strcmp(jobs[i].id, id) == 0)
            return strcmp(jobs[i].name, uid) == 0 ? &jobs[i] : NULL;   /* reused id */
    return NULL;
}

/* Every container not started or finished gets this waiting reason. */
static void wait_all(il_pod_status *st, const char *reason, const char *message)
{
    il_container_status *groups[] = {st->init_containers, st->containers};
    size_t counts[] = {st->n_init_containers, st->n_containers};
    for (size_t g = 0; g < 2; g++) {
        for (size_t i = 0; i < counts[g]; i++) {
            il_container_status *cs = &groups[g][i];
            if (cs->state == IL_STATE_TERMINATED)
                continue;
            char *keep = il_xstrdup(reason ? reason : cs->reason);   /* rn_state_set frees it */
            rn_state_set(cs, IL_STATE_WAITING, keep, message);
            free(keep);
        }
    }
}

static bool is_final(const job_info *j)
{
    return strcmp(j->state, "Completed") == 0 || strcmp(j->state, "Removed") == 0;
}

/* What a final job state means for the containers the files leave open. */
static void apply_final(il_pod_status *st, const char *dir, const job_info *j)
{
    if (files_final(dir))
        return;
    char *message;
    if (strcmp(j->state, "Removed") == 0) {
        message = il_xasprintf("HTCondor job %s was removed%s%s", j->id, j->reason[0] ? ": " : "",
                               j->reason);
        rn_podstatus_terminate(st, "Removed", message, LOST_EXIT_CODE);
    } else {
        int code = WIFSIGNALED(j->exit_status) ? 128 + WTERMSIG(j->exit_status)
                                               : WEXITSTATUS(j->exit_status);
        message = il_xasprintf("HTCondor job %s completed with exit code %d", j->id, code);
        rn_podstatus_terminate(st, code == 0 ? "Completed" : "Error", message, code);
    }
    free(message);
}

/* FileTransfer: the job runs, its files are on the execute node. */
static void run_all(il_pod_status *st, const job_info *j)
{
    il_container_status *groups[] = {st->init_containers, st->containers};
    size_t counts[] = {st->n_init_containers, st->n_containers};
    for (size_t g = 0; g < 2; g++) {
        for (size_t i = 0; i < counts[g]; i++) {
            il_container_status *cs = &groups[g][i];
            if (cs->state != IL_STATE_WAITING)
                continue;
            rn_state_set(cs, IL_STATE_RUNNING, NULL, NULL);
            cs->started_at = !il_time_is_zero(j->start) ? j->start : il_time_now();
            cs->ready = true;
        }
    }
}

static void apply_state(il_pod_status *st, const char *dir, const job_info *j, bool remote)
{
    char *message = NULL;
    if (strcmp(j->state, "Running") == 0 && remote) {
        run_all(st, j);
    } else if (strcmp(j->state, "Idle") == 0) {
        message = il_xasprintf("HTCondor job %s is idle (waiting for a slot)", j->id);
        wait_all(st, NULL, message);
    } else if (strcmp(j->state, "Held") == 0) {
        message = il_xasprintf("HTCondor job %s is held: %s", j->id, j->reason);
        wait_all(st, "Held", message);
    } else if (is_final(j)) {
        apply_final(st, dir, j);
    }
    free(message);
}

static void mark_lost(il_pod_status *st, const char *job_id)
{
    char *message = il_xasprintf("HTCondor job %s is in neither the queue nor the history "
                                 "(history rotated, or the schedd lost it); the containers' "
                                 "outcome is unknown", job_id);
    rn_podstatus_terminate(st, "Lost", message, LOST_EXIT_CODE);
    free(message);
}

/* Read the files again: the job may have ended between our two looks (its
 * files then complete, or, with FileTransfer, just come back). */
static void reread(const htc_ctx *ctx, const char *uid, pod_view *v, il_pod_status *out)
{
    char *back = returned_dir(ctx, v->dir, uid);
    if (back) {
        free(v->files);
        v->files = back;
    }
    if (!rn_supervisor_done(v->files))
        return;
    il_pod_status_free(out);
    memset(out, 0, sizeof(*out));
    if (rn_podstatus_read(v->files, out) == 0)
        out->job_id = il_xstrdup(v->job_id);
}

static void settle(const htc_ctx *ctx, const char *uid, pod_view *v, const job_info *job,
                   bool answered, il_pod_status *out)
{
    if (job) {
        /* A spooled job's results stay with the schedd until fetched; the
         * final state is recorded only once they are here. */
        if (ctx->cfg->spool && strcmp(job->state, "Completed") == 0 &&
            htc_fetch_spooled(ctx->cfg, v->dir, v->job_id) != 0)
            return;   /* the files say what they say; the next /status tries again */
        if (is_final(job) && job_record_write(v->dir, v->job_id, job) != 0)
            il_warn("recording the final state of job %s in %s failed", v->job_id, v->dir);
        reread(ctx, uid, v, out);
        apply_state(out, v->files, job, ctx->cfg->file_transfer);
    } else if (answered) {
        reread(ctx, uid, v, out);
        if (!files_final(v->files))
            mark_lost(out, v->job_id);
    }   /* HTCondor could not be asked: the files are the best we know */
}

int htc_status(void *vctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err)
{
    const htc_ctx *ctx = vctx;
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
    job_info *queue = NULL, *history = NULL;
    ssize_t in_queue = htc_query(ctx->cfg, false, ids, NULL, n_ids, &queue);
    size_t n_gone = 0;
    for (size_t i = 0; in_queue >= 0 && i < n; i++)
        if (known[i] && views[i].queried &&
            !find_job(queue, in_queue, views[i].job_id, pods[i].uid))
            ids[n_gone++] = views[i].job_id;
    ssize_t in_history = in_queue >= 0 ? htc_query(ctx->cfg, true, ids, NULL, n_gone, &history)
                                       : -1;
    for (size_t i = 0; i < n; i++) {
        pod_view *v = &views[i];
        if (known[i] && v->final.state && !files_final(v->files)) {
            apply_final(&out[i], v->files, &v->final);
        } else if (known[i] && v->queried) {
            const job_info *job = find_job(queue, in_queue, v->job_id, pods[i].uid);
            if (!job)
                job = find_job(history, in_history, v->job_id, pods[i].uid);
            settle(ctx, pods[i].uid, v, job, in_queue >= 0 && in_history >= 0, &out[i]);
        }
        view_close(v);
    }
    htc_jobs_free(queue, in_queue);
    htc_jobs_free(history, in_history);
    free(ids);
    free(known);
    free(views);
    return 0;
}

/* ---- logs ---------------------------------------------------------------- */

/* FileTransfer: the returned copy, where nothing writes any more. */
static bool returned_may_write(const char *pod_dir, void *unused)
{
    (void)pod_dir;
    (void)unused;
    return false;
}

/* With FileTransfer the logs exist here once the job has ended; before,
 * the containers read as not started (empty logs; follow waits for the
 * end). */
int htc_logs_open(void *vctx, const il_log_request *req, void **stream, il_buf *err)
{
    const htc_ctx *ctx = vctx;
    char *dir = il_is_uuid(req->pod_uid) ? rn_store_pod_dir(ctx->pods_dir, req->pod_uid) : NULL;
    char *back = dir ? returned_dir(ctx, dir, req->pod_uid) : NULL;
    il_fail f = back ? rn_logs_open_in(dir, req, returned_may_write, NULL, stream, err)
                     : rn_logs_open_in(ctx->pods_dir, req, job_pod_may_write, NULL, stream, err);
    int rc = il_plugin_status(f);
    free(back);
    free(dir);
    return rc;
}
