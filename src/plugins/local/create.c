/* create.c -- /create: validate, lay out the pod directory, start the
 * supervisor.
 *
 * The directory is built under a unique staging name and renamed into
 * place: rename() of a directory onto an existing non-empty one fails, so
 * of two concurrent creates of one UID exactly one wins and starts a
 * supervisor; the other (and any later repeat) just returns the job id. */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define SUPERVISOR_READY_TIMEOUT_MS 10000

static int validate_container(const il_container *c, il_buf *err)
{
    if (!store_is_dns_label(c->name)) {
        il_buf_printf(err, "container name \"%s\" is not a DNS label", c->name);
        return -1;
    }
    for (size_t i = 0; i < c->n_env; i++) {
        if (!c->env[i].name[0] || strchr(c->env[i].name, '=')) {
            il_buf_printf(err, "container %s: env name \"%s\" is empty or contains '='",
                          c->name, c->env[i].name);
            return -1;
        }
    }
    for (size_t i = 0; i < c->n_mounts; i++) {
        const il_volume_mount *m = &c->mounts[i];
        if (!volumes_valid_mount_path(m->mount_path) ||
            (m->sub_path && !volumes_valid_sub_path(m->sub_path))) {
            il_buf_printf(err, "container %s: volumeMount %s: mountPath must be absolute and "
                          "subPath relative, without \".\" or \"..\"", c->name, m->name);
            return -1;
        }
    }
    return 0;
}

/* Everything that becomes a path component or reaches execve() is checked
 * before anything touches the disk. */
static int validate_pod(const il_pod *pod, il_buf *err)
{
    if (!il_is_uuid(pod->uid)) {
        il_buf_printf(err, "metadata.uid \"%s\" is not a lowercase UUID", pod->uid);
        return -1;
    }
    for (size_t i = 0; i < pod->n_volumes; i++) {
        if (!store_is_dns_label(pod->volumes[i].name)) {
            il_buf_printf(err, "volume name \"%s\" is not a DNS label", pod->volumes[i].name);
            return -1;
        }
    }
    for (size_t i = 0; i < pod->n_init_containers; i++)
        if (validate_container(&pod->init_containers[i], err) != 0)
            return -1;
    for (size_t i = 0; i < pod->n_containers; i++)
        if (validate_container(&pod->containers[i], err) != 0)
            return -1;
    return 0;
}

/* Each container starts waiting, with an empty log, so /status and
 * /getLogs know every container from the first moment. */
static int init_container_dir(const char *dir, const il_container *c, const char *reason,
                              il_buf *err)
{
    char *ctr_dir = store_ctr_dir(dir, c->name);
    char *log_path = il_xasprintf("%s/log", ctr_dir);
    il_container_status st = {0};
    state_set(&st, IL_STATE_WAITING, reason, NULL);
    int rc = il_mkdir_p(ctr_dir, 0755) == 0 && state_write(ctr_dir, &st, 0) == 0 &&
             il_write_file_atomic(log_path, "", 0, 0644) == 0 ? 0 : -1;
    if (rc != 0)
        il_buf_printf(err, "writing %s: %s", ctr_dir, strerror(errno));
    il_container_status_free(&st);
    free(log_path);
    free(ctr_dir);
    return rc;
}

/* Returns 0, 400 (the pod cannot be materialized: a missing ConfigMap,
 * an unsupported volume) or 500 (the disk failed us). */
static int populate(const local_ctx *ctx, const il_create_request *req, const char *dir,
                    il_buf *err)
{
    const il_pod *pod = &req->pod;
    char *pod_json = il_xasprintf("%s/pod.json", dir);
    char *text = json_dumps(req->raw, JSON_COMPACT);
    int rc = il_mkdir_p(dir, 0700) == 0 && text &&
             il_write_file_atomic(pod_json, text, strlen(text), 0600) == 0 &&
             runtime_spec_write(dir, ctx->cfg) == 0 ? 0 : 500;
    if (rc != 0)
        il_buf_printf(err, "writing %s: %s", pod_json, strerror(errno));
    free(text);
    free(pod_json);
    const char *main_reason = pod->n_init_containers ? "PodInitializing" : "ContainerCreating";
    for (size_t i = 0; rc == 0 && i < pod->n_init_containers; i++)
        rc = init_container_dir(dir, &pod->init_containers[i], "PodInitializing", err) ? 500 : 0;
    for (size_t i = 0; rc == 0 && i < pod->n_containers; i++)
        rc = init_container_dir(dir, &pod->containers[i], main_reason, err) ? 500 : 0;
    if (rc == 0 && volumes_materialize(req, dir, err) != 0)
        rc = 400;
    return rc;
}

/* The supervisor is spawned (posix_spawn: safe in this multi-threaded
 * process) and then forks once more itself and starts a session, so it is
 * reparented to init and the plugin only reaps the short-lived first
 * process.  It writes one byte on its fd 3 once it has recorded itself. */
static int spawn_supervisor(const local_ctx *ctx, const char *dir, il_buf *err)
{
    char *log_path = il_xasprintf("%s/supervisor.log", dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    bool verbose = il_log_get_level() == IL_LOG_DEBUG;
    char *argv[] = {ctx->self_exe, "--supervise", (char *)dir, "--ready-fd", "3",
                    verbose ? "--verbose" : NULL, NULL};
    int ready[2] = {-1, -1};
    pid_t pid = -1;
    int rc = log_fd < 0 || pipe2(ready, O_CLOEXEC) != 0
                 ? errno : sandbox_spawn(argv, NULL, log_fd, log_fd, ready[1], &pid);
    if (ready[1] >= 0)
        close(ready[1]);
    if (log_fd >= 0)
        close(log_fd);
    if (rc == 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    char byte = 0;
    struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
    bool ok = rc == 0 && poll(&pfd, 1, SUPERVISOR_READY_TIMEOUT_MS) == 1 &&
              read(ready[0], &byte, 1) == 1;
    if (ready[0] >= 0)
        close(ready[0]);
    if (!ok)
        il_buf_printf(err, "the pod supervisor did not start (%s; see %s)",
                      rc ? strerror(rc) : "no ready signal", log_path);
    free(log_path);
    return ok ? 0 : -1;
}

int local_create(void *vctx, const il_create_request *req, char **job_id, il_buf *err)
{
    const local_ctx *ctx = vctx;
    const il_pod *pod = &req->pod;
    if (validate_pod(pod, err) != 0)
        return 400;
    char *dir = store_pod_dir(ctx, pod->uid);
    char token[37];
    il_uuid4(token);
    char *staging = il_xasprintf("%s/.staging-%s-%s", ctx->pods_dir, pod->uid, token);
    int status = 0;
    struct stat st;
    if (stat(dir, &st) == 0) {
        il_info("pod %s (%s) already created: returning its job id", pod->name, pod->uid);
    } else if ((status = populate(ctx, req, staging, err)) != 0) {
        /* nothing was started; the staging directory goes below */
    } else if (rename(staging, dir) != 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            il_buf_printf(err, "rename %s: %s", dir, strerror(errno));
            status = 500;
        }   /* else: a concurrent create of the same UID won */
    } else if (spawn_supervisor(ctx, dir, err) != 0) {
        il_rm_rf(dir);
        status = 500;
    }
    il_rm_rf(staging);
    if (status == 0)
        *job_id = store_job_id(pod->uid);
    free(staging);
    free(dir);
    return status;
}
