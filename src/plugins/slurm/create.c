/* create.c -- /create: lay out the pod directory (runner's poddir), submit
 * its job script with sbatch, record the job id.
 *
 * What a create costs is what limits the submission rate, next to sbatch
 * itself, so it does the least that keeps its promises.  Measured on ext4
 * (bench/bench-slurm.sh), the dear parts of the old create were not the
 * writes but making files -- inode allocation, about 80 us each -- then
 * fsyncs.  So: five files (pod.json, runtime.json, job.sh, job.json and
 * the directory), no per-container files until the job starts
 * (poddir_opts.lazy_containers), the sbatch argv as a comment in job.sh
 * instead of a file of its own, one process (sbatch), and fsyncs only for
 * what a returned job id depends on (see job_record_commit).
 *
 * Crash safety.  The staging directory is renamed into place before sbatch
 * runs, holding an flock on its empty job.json: the published directory
 * is the intent ("this pod may have a job"), job.json the outcome.  The
 * job is named after the pod UID, and job.json's open file is sbatch's fd
 * 3, so the lock lives as long as sbatch does, even if the plugin dies
 * under it.  After a kill -9 at any point:
 *   - before the rename: a staging directory, removed at startup; nothing
 *     was submitted, and interlink, which got no job id, creates again;
 *   - after it, with job.json still empty: whoever takes the lock next (a
 *     repeated create, or slurm_recover at startup) waits for a surviving
 *     sbatch to finish, then asks squeue for the job by name: found, it is
 *     adopted; not found, it was never submitted and is submitted now;
 *   - after job.json was written: the id is there.
 * So a job is neither lost nor submitted twice.  A concurrent duplicate
 * create waits on the same lock and returns the winner's job id. */
#include "slurm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "log.h"


/* The pod directory as a base64 tar.gz, for a node that cannot see it. */
static char *pod_archive(const slurm_ctx *ctx, const char *dir, il_buf *err)
{
    char *argv[] = {"tar", "-C", (char *)dir, "-czf", "-", ".", NULL};
    cmd_result res;
    char *b64 = NULL;
    if (cmd_run(argv, ctx->cfg->command_timeout_s, &res) == 0)
        b64 = il_base64_encode(res.out.data ? res.out.data : "", res.out.len);
    else
        il_buf_printf(err, "archiving %s: %s", dir, il_buf_cstr(&res.err));
    cmd_result_free(&res);
    return b64;
}

/* What the staging callback needs to write job.sh. */
typedef struct script_job {
    const slurm_ctx *ctx;
    const il_pod *pod;
    const char *dir;          /* the pod directory as the node will see it */
    const char *pre_exec;
    const strvec *sbatch;     /* the argv job.sh is submitted with */
} script_job;

/* poddir_opts.finish: job.sh into the staging directory.  No fsync: sbatch
 * hands the script's bytes to slurmctld, which keeps its own copy; this one
 * is for people debugging.  Without a shared filesystem the script carries
 * the pod's files, archived here before anything of ours is added. */
static int write_script(const char *staging, void *vjob, il_buf *err)
{
    const script_job *job = vjob;
    const slurm_config *cfg = job->ctx->cfg;
    json_t *argv_json = rn_strvec_to_json(job->sbatch);
    char *sbatch_json = json_dumps(argv_json, JSON_COMPACT);
    json_decref(argv_json);
    job_script_opts o = {
        .bash_path = cfg->rt.bash_path, .runner_path = job->ctx->runner_path, .pod_dir = job->dir,
        .pod_uid = job->pod->uid, .node_local_dir = cfg->node_local_dir,
        .command_prefix = cfg->command_prefix, .pre_exec = job->pre_exec,
        .sbatch_json = sbatch_json,
    };
    char *archive = NULL;
    int rc = 0;
    if (!cfg->shared_fs && !(archive = pod_archive(job->ctx, staging, err)))
        rc = -1;
    char *path = rn_store_path(staging, "job.sh");
    if (rc == 0) {
        o.archive_b64 = archive;
        char *text = job_script(&o);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        size_t len = strlen(text);
        if (fd < 0 || il_write_all(fd, text, len) != (ssize_t)len) {
            il_buf_printf(err, "writing %s: %s", path, strerror(errno));
            rc = -1;
        }
        if (fd >= 0)
            close(fd);
        free(text);
    }
    free(path);
    free(archive);
    free(sbatch_json);
    return rc;
}

/* "123" or "123;cluster" -> "123"; NULL if sbatch said nothing usable. */
static char *parse_job_id(const char *out)
{
    size_t len = strspn(out, "0123456789");
    return len > 0 && (out[len] == ';' || out[len] == '\n' || out[len] == '\0')
               ? il_xstrndup(out, len) : NULL;
}

/* SLURM unreachable (503: try again later) or the job refused (400: the
 * pod's flags or resources do not fit the cluster): failure.c's table. */
static int sbatch_failure_status(const cmd_result *out)
{
    slurm_failure kind = slurm_failure_classify(out->status, il_buf_cstr(&out->err));
    return kind == SLURM_FAILURE_NONE ? 502 : slurm_failure_http(kind);   /* 502: no job id */
}

/* sbatch inherits the create lock (lock_fd) as its fd 3. */
static int submit(const slurm_ctx *ctx, const strvec *argv, int lock_fd, char **job_id,
                  il_buf *err)
{
    cmd_result out;
    cmd_run_fd3(argv->v, lock_fd, ctx->cfg->command_timeout_s, &out);
    *job_id = out.status == 0 ? parse_job_id(il_buf_cstr(&out.out)) : NULL;
    int rc = *job_id ? 0 : sbatch_failure_status(&out);
    if (!*job_id)
        il_buf_printf(err, "sbatch failed (exit %d): %s%s", out.status, il_buf_cstr(&out.err),
                      il_buf_cstr(&out.out));
    cmd_result_free(&out);
    return rc;
}

/* The job named uid, if SLURM knows one (the lowest id if, against all
 * precautions, there are several).  -1: SLURM could not be asked. */
static int find_job_by_name(const slurm_ctx *ctx, const char *uid, char **id)
{
    char *names[] = {(char *)uid};
    job_info *jobs;
    ssize_t found = squeue_names(ctx->cfg, names, 1, &jobs);
    *id = NULL;
    for (ssize_t i = 0; i < found; i++) {
        if (strcmp(jobs[i].name, uid) == 0 &&
            (!*id || strtoull(jobs[i].id, NULL, 10) < strtoull(*id, NULL, 10))) {
            free(*id);
            *id = il_xstrdup(jobs[i].id);
        }
        job_info_free(&jobs[i]);
    }
    free(jobs);
    return found < 0 ? -1 : 0;
}

/* The submission job_ensure makes: sbatch with this argv, or the same
 * as a job description POSTed to slurmrestd (rest.c). */
typedef struct sbatch_submission {
    const slurm_ctx *ctx;
    const strvec *sbatch;
    json_t *rest_job;         /* SubmitMode rest and mappable, else NULL */
    const char *dir;
} sbatch_submission;

static int find_submitted(const void *vsub, const char *uid, char **id)
{
    const sbatch_submission *sub = vsub;
    if (sub->rest_job)
        rest_settle(sub->ctx->rest, sub->dir);
    return find_job_by_name(sub->ctx, uid, id);
}

static int submit_sbatch(const void *vsub, int lock_fd, char **id, il_buf *err)
{
    const sbatch_submission *sub = vsub;
    if (sub->rest_job) {
        char *script = rn_store_path(sub->dir, "job.sh");
        int rc = rest_submit(sub->ctx->rest, sub->rest_job, script, lock_fd, id, err);
        free(script);
        return rc;
    }
    return submit(sub->ctx, sub->sbatch, lock_fd, id, err);
}

int slurm_create(void *vctx, const il_create_request *req, char **job_id, il_buf *err)
{
    const slurm_ctx *ctx = vctx;
    const il_pod *pod = &req->pod;
    const char *pre_exec = il_pod_annotation(pod, "slurm-job.vk.io/pre-exec");
    if (rn_poddir_validate(pod, err) != 0)
        return 400;
    slurm_identity who;
    int refused = slurm_identity_resolve(ctx->cfg, req->caller, &who, err);
    if (refused != 0)
        return refused;
    if (pre_exec && !ctx->cfg->allow_pre_exec) {
        il_buf_printf(err, "slurm-job.vk.io/pre-exec is refused (shell run as the plugin's "
                      "account); set AllowPreExec to allow it");
        return 400;
    }
    const slurm_flavor *flavor;
    if (flavor_for_pod(ctx->cfg, pod, &flavor, err) != 0 || uid_check(pod, err) != 0) {
        slurm_identity_free(&who);
        return 400;
    }
    job_resources res = {0};
    runtime_spec rt = {0};
    il_create_request stripped = {0};
    strvec sbatch = {0};
    json_t *rest_job = NULL;
    char *dir = rn_store_pod_dir(ctx->pods_dir, pod->uid);
    int status = 400;
    if (job_resources_for_flavor(pod, ctx->cfg->gres_resources, flavor, &res, err) != 0 ||
        batch_runtime_spec(&ctx->cfg->rt, res.gpu, &rt, err) != 0 ||
        slurm_runtime_annotations(ctx->cfg, pod, &rt, err) != 0 ||
        (!ctx->cfg->export_pod_data && pod_data_strip(req, &stripped, err) != 0)) {
        rn_runtime_spec_free(&rt);
        job_resources_free(&res);
        slurm_identity_free(&who);
        free(dir);
        return 400;
    }
    if (!ctx->cfg->export_pod_data)
        req = &stripped;   /* what the job may see: no configMap/secret/... data */
    /* Everything sbatch will be told is decided before anything touches
     * the disk: a refused flag costs no files. */
    if (sbatch_argv(ctx->cfg, pod, flavor, dir, &res, &sbatch, err) == 0) {
        rn_strvec_push_all(&sbatch, who.flags.v);   /* last: the pod's flags cannot undo them */
        rn_strvec_pushf(&sbatch, "%s/job.sh", dir);
        if (ctx->rest && (status = rest_job_for(ctx->rest, &who, &sbatch, &rest_job, err)))
            goto done;
        identity_wrap_argv(ctx->cfg->ident.runuser_path, &who.who, &sbatch);
        script_job job = {.ctx = ctx, .pod = pod, .dir = dir, .pre_exec = pre_exec,
                          .sbatch = &sbatch};
        poddir_opts files = {.lazy_containers = true, .sync_files = true,
                             .finish = write_script, .finish_ctx = &job};
        sbatch_submission sub = {ctx, &sbatch, rest_job, dir};
        job_backend backend = {"squeue", find_submitted, submit_sbatch, &sub};
        status = job_create(&backend, ctx->pods_dir, req, &rt, &files, &who.who, job_id, err);
    }
done:
    json_decref(rest_job);
    rn_strvec_free(&sbatch);
    slurm_identity_free(&who);
    rn_runtime_spec_free(&rt);
    job_resources_free(&res);
    il_create_request_free(&stripped);
    free(dir);
    return status;
}

/* ---- startup recovery ------------------------------------------------------ */

typedef struct orphan {
    char *uid;
    char *dir;
    int fd;                   /* job.json, locked */
} orphan;

/* A published pod without a job id: its create died between the rename
 * and job.json.  Locking waits for an sbatch that outlived that create. */
static bool take_orphan(const slurm_ctx *ctx, const char *uid, orphan *out)
{
    char *dir = rn_store_pod_dir(ctx->pods_dir, uid);
    char *id = job_record_read(dir, NULL);
    int fd = id ? -1 : job_record_lock(dir);
    free(id);
    if (fd >= 0 && (id = job_record_read(dir, NULL)) != NULL) {   /* recorded meanwhile */
        free(id);
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        free(dir);
        return false;
    }
    *out = (orphan){il_xstrdup(uid), dir, fd};
    return true;
}

void slurm_recover(const slurm_ctx *ctx)
{
    DIR *d = opendir(ctx->pods_dir);
    struct dirent *e;
    orphan *orphans = NULL;
    size_t n = 0, cap = 0;
    while (d && (e = readdir(d)) != NULL) {
        if (!il_is_uuid(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            orphans = il_xrealloc(orphans, cap * sizeof(*orphans));
        }
        if (take_orphan(ctx, e->d_name, &orphans[n]))
            n++;
    }
    if (d)
        closedir(d);
    char **names = il_xcalloc(n ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = orphans[i].uid;
    job_info *jobs = NULL;
    ssize_t found = squeue_names(ctx->cfg, names, n, &jobs);
    if (found < 0)
        il_warn("%zu pod(s) may have unrecorded jobs and squeue failed: a repeated create "
                "will look again", n);
    for (size_t i = 0; i < n; i++) {
        const job_info *job = NULL;
        for (ssize_t j = 0; j < found; j++)
            if (strcmp(jobs[j].name, orphans[i].uid) == 0 &&
                (!job || strtoull(jobs[j].id, NULL, 10) < strtoull(job->id, NULL, 10)))
                job = &jobs[j];
        if (job && job_record_commit(orphans[i].fd, ctx->pods_dir, orphans[i].dir, job->id) == 0)
            il_warn("pod %s: adopted job %s submitted by an interrupted create", orphans[i].uid,
                    job->id);
        else if (job)
            il_error("pod %s: recording adopted job %s: %s", orphans[i].uid, job->id,
                     strerror(errno));
        close(orphans[i].fd);
        free(orphans[i].uid);
        free(orphans[i].dir);
    }
    for (ssize_t j = 0; j < found; j++)
        job_info_free(&jobs[j]);
    free(jobs);
    free(names);
    free(orphans);
}
