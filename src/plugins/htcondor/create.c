/* create.c -- /create: lay out the pod directory (runner's poddir) with
 * job.sh and job.sub, submit it with condor_submit as SubmitUser, record
 * the job id.
 *
 * Crash safety is interlink-slurm's design (its create.c), with the pod
 * UID in the job ad (+InterLinkPodUID) instead of the job name: the
 * staging directory is renamed into place holding an flock on its empty
 * job.json, which condor_submit inherits as fd 3, so the lock lives as long
 * as the submission even if the plugin dies (a batch of pods, batch.c,
 * has one lock for all: htc_batch_wait waits for it).  After a kill -9:
 *   - before the rename: a staging directory, removed at startup; nothing
 *     was submitted;
 *   - after it, job.json still empty: whoever takes the lock next (a
 *     repeated create, or htc_recover at startup) asks the queue and the
 *     history for a job with the pod's UID: found, it is adopted; not
 *     found, it was never submitted and is submitted now;
 *   - after job.json was written: the id is there.
 * So a pod never has two jobs, and a concurrent duplicate create waits on
 * the lock and returns the winner's id. */
#include "htcondor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"


typedef struct submit_job {
    const htc_ctx *ctx;
    const htc_identity *who;  /* owns the pod directory */
    const il_pod *pod;
    const char *dir;          /* the pod directory as published */
    const char *submit;       /* job.sub's text */
} submit_job;

static int write_file(const char *dir, const char *name, const char *text, mode_t mode,
                      il_buf *err)
{
    char *path = rn_store_path(dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    size_t len = strlen(text);
    int rc = 0;
    if (fd < 0 || il_write_all(fd, text, len) != (ssize_t)len) {
        il_buf_printf(err, "writing %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

/* The job runs as its owner (SubmitUser or the mapped user) and its
 * supervisor writes the state files and logs: the whole pod directory is
 * that user's. */
static int give_to_owner(const htc_identity *who, const char *dir, il_buf *err)
{
    if (who->uid == geteuid())
        return 0;
    batch_identity owner = {.as_user = true, .uid = who->uid, .gid = who->gid};
    snprintf(owner.unix_user, sizeof owner.unix_user, "%s", who->user);
    return identity_hand_over(&owner, dir, err) == 0 ? 0 : -1;
}

/* poddir_opts.finish: job.sh and job.sub into the staging directory. */
static int write_job_files(const char *staging, void *vjob, il_buf *err)
{
    const submit_job *job = vjob;
    il_buf sh = IL_BUF_INIT;
    il_buf_printf(&sh, "#!%s\n# interlink-htcondor: pod %s\n", job->ctx->cfg->rt.bash_path,
                  job->pod->uid);   /* a checked UUID */
    if (job->ctx->cfg->file_transfer) {
        /* The transferred files are in the scratch directory: gather them
         * into the directory HTCondor will transfer back. */
        il_buf_printf(&sh, "set -e\n"
                           "pod_dir=\"$_CONDOR_SCRATCH_DIR/%s\"\n"
                           "mkdir -p -- \"$pod_dir\"\n"
                           "mv -- pod.json runtime.json \"$pod_dir/\"\n"
                           "if [ -e volumes ]; then mv -- volumes \"$pod_dir/\"; fi\n"
                           "exec ", job->pod->uid);
        sh_quote(&sh, job->ctx->runner_path);
        il_buf_puts(&sh, " --run-pod \"$pod_dir\"\n");
    } else {
        il_buf_puts(&sh, "exec ");
        sh_quote(&sh, job->ctx->runner_path);
        il_buf_puts(&sh, " --run-pod ");
        sh_quote(&sh, job->dir);
        il_buf_puts(&sh, "\n");
    }
    int rc = write_file(staging, "job.sh", il_buf_cstr(&sh), 0755, err);
    il_buf_free(&sh);
    if (rc == 0)
        rc = write_file(staging, "job.sub", job->submit, 0644, err);
    return rc == 0 ? give_to_owner(job->who, staging, err) : rc;
}

/* The submission job_ensure makes: DIR/job.sub, alone or in a batch. */
typedef struct condor_submission {
    const htc_ctx *ctx;
    const char *user;         /* submit as; "": ourselves */
    const char *dir;
    const char *uid;
    const char *text;         /* job.sub */
} condor_submission;

static int find_submitted(const void *vsub, const char *uid, char **id)
{
    const condor_submission *sub = vsub;
    htc_batch_wait(sub->dir);
    return htc_find_by_uid(sub->ctx->cfg, uid, id);
}

static int submit_condor(const void *vsub, int lock_fd, char **id, il_buf *err)
{
    const condor_submission *sub = vsub;
    return htc_batch_submit(sub->ctx, sub->user, sub->dir, sub->uid, sub->text, lock_fd, id,
                            err);
}

int htc_create(void *vctx, const il_create_request *req, char **job_id, il_buf *err)
{
    const htc_ctx *ctx = vctx;
    const il_pod *pod = &req->pod;
    if (rn_poddir_validate(pod, err) != 0)
        return 400;
    htc_identity who;
    int status = htc_identity_resolve(ctx->cfg, req->caller, &who, err);
    if (status != 0)
        return status;
    const char *where;
    int64_t run_as = pod_run_as_user(pod, &where);
    if (run_as >= 0 && run_as != (int64_t)who.uid) {
        il_buf_printf(err, "%s %lld: interlink-htcondor runs this job as %s (uid %lld) and "
                      "cannot run it as another user", where, (long long)run_as,
                      who.user[0] ? who.user : "itself", (long long)who.uid);
        return 400;
    }
    htc_request res;
    status = htc_pod_request(ctx->cfg, pod, &res, err);
    if (status != 0)
        return status;
    res.accounting_group = who.accounting_group;
    res.caller = who.caller;
    res.tenant = who.tenant;
    char *dir = rn_store_pod_dir(ctx->pods_dir, pod->uid);
    il_buf sub = IL_BUF_INIT;
    runtime_spec rt = {0};
    /* Everything condor_submit will be told is decided before anything
     * touches the disk: a refused annotation costs no files. */
    status = htc_submit_text(ctx->cfg, pod, dir, &res, &sub, err);
    if (status == 0 && batch_runtime_spec(&ctx->cfg->rt, res.gpus > 0, &rt, err) != 0)
        status = 400;
    if (status == 0) {
        submit_job job = {.ctx = ctx, .who = &who, .pod = pod, .dir = dir,
                          .submit = il_buf_cstr(&sub)};
        poddir_opts files = {.lazy_containers = true, .sync_files = true,
                             .finish = write_job_files, .finish_ctx = &job};
        condor_submission submission = {ctx, who.user, dir, pod->uid, il_buf_cstr(&sub)};
        job_backend backend = {"HTCondor", find_submitted, submit_condor, &submission};
        /* the staging directory was handed to the owner (write_job_files) */
        status = job_create(&backend, ctx->pods_dir, req, &rt, &files, NULL, job_id, err);
    }
    rn_runtime_spec_free(&rt);
    il_buf_free(&sub);
    free(dir);
    return status;
}

/* ---- startup recovery ------------------------------------------------------ */

/* A published pod without a job id: its create died between the rename and
 * job.json.  Taking the lock waits for a condor_submit that outlived it. */
static void recover_one(const htc_ctx *ctx, const char *uid)
{
    char *dir = rn_store_pod_dir(ctx->pods_dir, uid);
    char *id = job_record_read(dir, NULL);
    int fd = id ? -1 : job_record_lock(dir);
    if (fd >= 0 && !id && !(id = job_record_read(dir, NULL))) {
        htc_batch_wait(dir);
        if (htc_find_by_uid(ctx->cfg, uid, &id) != 0)
            il_warn("pod %s may have an unrecorded job and HTCondor cannot tell: a repeated "
                    "create will look again", uid);
        else if (id && job_record_commit(fd, ctx->pods_dir, dir, id) == 0)
            il_warn("pod %s: adopted job %s submitted by an interrupted create", uid, id);
        else if (id)
            il_error("pod %s: recording adopted job %s: %s", uid, id, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    free(id);
    free(dir);
}

void htc_recover(const htc_ctx *ctx)
{
    DIR *d = opendir(ctx->pods_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (il_is_uuid(e->d_name))
            recover_one(ctx, e->d_name);
    if (d)
        closedir(d);
    htc_batch_clean(ctx->pods_dir);
}
