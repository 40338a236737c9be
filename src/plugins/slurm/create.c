/* create.c -- /create: lay out the pod directory (runner's poddir), write
 * the job script, submit it with sbatch, record the job id.
 *
 * poddir_create returns holding the pod's create lock, so a concurrent
 * duplicate create waits for the winner's sbatch and returns the same job
 * id.  A create that finds the directory but no job record (the plugin died
 * between rename and sbatch's answer) looks for the job by name before
 * submitting, so a pod is never submitted twice. */
#include "slurm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "log.h"

/* The pod directory as a base64 tar.gz, for a node that cannot see it. */
static char *pod_archive(const slurm_ctx *ctx, const char *dir, il_buf *err)
{
    char *argv[] = {"tar", "-C", (char *)dir, "--exclude=./create.lock", "-czf", "-", ".", NULL};
    cmd_result res;
    char *b64 = NULL;
    if (cmd_run(argv, ctx->cfg->command_timeout_s, &res) == 0)
        b64 = il_base64_encode(res.out.data ? res.out.data : "", res.out.len);
    else
        il_buf_printf(err, "archiving %s: %s", dir, il_buf_cstr(&res.err));
    cmd_result_free(&res);
    return b64;
}

static int write_script(const slurm_ctx *ctx, const il_pod *pod, const char *dir, il_buf *err)
{
    const slurm_config *cfg = ctx->cfg;
    const char *pre_exec = il_pod_annotation(pod, "slurm-job.vk.io/pre-exec");
    if (pre_exec && !cfg->allow_pre_exec) {
        il_buf_printf(err, "slurm-job.vk.io/pre-exec is refused (shell run as the plugin's "
                      "account); set AllowPreExec to allow it");
        return 400;
    }
    job_script_opts o = {
        .bash_path = cfg->bash_path, .runner_path = ctx->runner_path, .pod_dir = dir,
        .pod_uid = pod->uid, .node_local_dir = cfg->node_local_dir,
        .command_prefix = cfg->command_prefix, .pre_exec = pre_exec,
    };
    char *archive = NULL;
    if (!cfg->shared_fs && !(archive = pod_archive(ctx, dir, err)))
        return 500;
    o.archive_b64 = archive;
    char *text = job_script(&o);
    char *path = store_path(dir, "job.sh");
    int rc = il_write_file_atomic(path, text, strlen(text), 0755) == 0 ? 0 : 500;
    if (rc != 0)
        il_buf_printf(err, "writing %s: %s", path, strerror(errno));
    free(path);
    free(text);
    free(archive);
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
 * pod's flags or resources do not fit the cluster). */
static int sbatch_failure_status(const cmd_result *out)
{
    const char *text = il_buf_cstr(&out->err);
    return out->status < 0 || strstr(text, "Unable to contact") ||
           strstr(text, "Socket timed out") ? 503 : 400;
}

static int submit(const slurm_ctx *ctx, const il_pod *pod, const char *dir,
                  const job_resources *res, char **job_id, il_buf *err)
{
    strvec argv = {0};
    int rc = 400;
    if (sbatch_argv(ctx->cfg, pod, dir, res, &argv, err) == 0) {
        strvec_pushf(&argv, "%s/job.sh", dir);
        json_t *record = strvec_to_json(&argv);
        char *path = store_path(dir, "sbatch.json");
        store_save_json(path, record);   /* for debugging only: a failure is no reason to stop */
        free(path);
        json_decref(record);
        cmd_result out;
        cmd_run(argv.v, ctx->cfg->command_timeout_s, &out);
        *job_id = out.status == 0 ? parse_job_id(il_buf_cstr(&out.out)) : NULL;
        rc = *job_id ? 0 : sbatch_failure_status(&out);
        if (!*job_id)
            il_buf_printf(err, "sbatch failed (exit %d): %s%s", out.status, il_buf_cstr(&out.err),
                          il_buf_cstr(&out.out));
        cmd_result_free(&out);
    }
    strvec_free(&argv);
    return rc;
}

/* A previous create died after sbatch but before job.json: find its job
 * by name (the pod UID) instead of submitting a second one. */
static char *find_job_by_name(const slurm_ctx *ctx, const char *uid)
{
    char *argv[] = {ctx->cfg->squeue_path, "--noheader", "--states=all", "--name", (char *)uid,
                    "--Format", "JobID:|", NULL};
    cmd_result res;
    char *id = NULL;
    if (cmd_run(argv, ctx->cfg->command_timeout_s, &res) == 0)
        id = parse_job_id(il_buf_cstr(&res.out));
    cmd_result_free(&res);
    return id;
}

/* Make the job for a pod whose directory is in place (lock held). */
static int ensure_job(const slurm_ctx *ctx, const il_pod *pod, const char *dir, bool created,
                      const job_resources *res, char **job_id, il_buf *err)
{
    if (!created && (*job_id = job_record_read(dir, NULL)) != NULL)
        return 0;
    if (!created && (*job_id = find_job_by_name(ctx, pod->uid)) != NULL) {
        il_warn("pod %s: adopting job %s submitted by an interrupted create", pod->uid, *job_id);
    } else {
        int rc = write_script(ctx, pod, dir, err);
        if (rc == 0)
            rc = submit(ctx, pod, dir, res, job_id, err);
        if (rc != 0)
            return rc;
    }
    if (job_record_write(dir, *job_id, NULL) != 0) {
        il_buf_printf(err, "recording job %s in %s: %s", *job_id, dir, strerror(errno));
        return 500;   /* the job runs; a retried create adopts it by name */
    }
    return 0;
}

int slurm_create(void *vctx, const il_create_request *req, char **job_id, il_buf *err)
{
    const slurm_ctx *ctx = vctx;
    const il_pod *pod = &req->pod;
    if (poddir_validate(pod, err) != 0)
        return 400;
    job_resources res;
    runtime_spec rt;
    if (job_resources_compute(pod, ctx->cfg->gres_resources, &res, err) != 0 ||
        slurm_runtime_spec(ctx->cfg, res.gpu, &rt, err) != 0) {
        job_resources_free(&res);
        return 400;
    }
    bool created = false;
    int lock_fd = -1;
    int status = poddir_create(ctx->pods_dir, req, &rt, &created, &lock_fd, err);
    runtime_spec_free(&rt);
    char *dir = store_pod_dir(ctx->pods_dir, pod->uid);
    if (status == 0 && lock_fd < 0) {
        il_buf_printf(err, "pod %s was deleted while being created", pod->uid);
        status = 409;
    } else if (status == 0) {
        status = ensure_job(ctx, pod, dir, created, &res, job_id, err);
        if (status != 0 && status != 500)
            il_rm_rf(dir);   /* nothing was submitted: leave no half pod behind */
    }
    if (lock_fd >= 0)
        close(lock_fd);
    job_resources_free(&res);
    free(dir);
    return status;
}
