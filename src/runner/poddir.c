/* poddir.c -- the life of a pod directory: validation of everything that
 * becomes a path or reaches execve(), the staged create, the removal.
 *
 * The directory is built under a unique staging name and renamed into
 * place: rename() of a directory onto an existing non-empty one fails, so
 * of two concurrent creates of one UID exactly one wins; the other (and any
 * later repeat) finds the directory there.  Removal renames first, so a
 * status reader never sees half a pod. */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define STAGING_PREFIX ".staging-"
#define DELETING_PREFIX ".deleting-"

static int validate_container(const il_container *c, il_buf *err)
{
    if (!il_is_dns_label(c->name)) {
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
        if (!rn_volumes_valid_mount_path(m->mount_path) ||
            (m->sub_path && !rn_volumes_valid_sub_path(m->sub_path))) {
            il_buf_printf(err, "container %s: volumeMount %s: mountPath must be absolute and "
                          "subPath relative, without \".\" or \"..\"", c->name, m->name);
            return -1;
        }
    }
    return 0;
}

int rn_poddir_validate(const il_pod *pod, il_buf *err)
{
    if (!il_is_uuid(pod->uid)) {
        il_buf_printf(err, "metadata.uid \"%s\" is not a lowercase UUID", pod->uid);
        return -1;
    }
    for (size_t i = 0; i < pod->n_volumes; i++) {
        if (!il_is_dns_label(pod->volumes[i].name)) {
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
    return rn_checks_validate(pod, err);   /* probes and lifecycle hooks (probe.c) */
}

/* Nobody reads a staging directory, so its files need no atomic replace
 * (tmp + rename): the rename of the whole directory publishes them.  sync:
 * fsync the file, for backends that promise the pod survives a machine
 * crash from the moment the directory is visible. */
static int write_new_file(const char *path, const void *data, size_t len, mode_t mode, bool sync)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    int rc = il_write_all(fd, data, len) == (ssize_t)len && (!sync || fsync(fd) == 0) ? 0 : -1;
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        saved = errno;
        rc = -1;
    }
    errno = saved;
    return rc;
}

/* Each container starts waiting, with an empty log, so status and log
 * readers know every container from the first moment. */
static int init_container_dir(const char *dir, const il_container *c, const char *reason,
                              il_buf *err)
{
    char *ctr_dir = rn_store_ctr_dir(dir, c->name);
    char *log_path = rn_store_path(ctr_dir, "log");
    il_container_status st = {0};
    rn_state_set(&st, IL_STATE_WAITING, reason, NULL);
    int rc = il_mkdir_p(ctr_dir, 0755) == 0 && rn_state_write(ctr_dir, &st, 0) == 0 &&
             write_new_file(log_path, "", 0, 0644, true) == 0 ? 0 : -1;
    if (rc != 0)
        il_buf_printf(err, "writing %s: %s", ctr_dir, strerror(errno));
    il_container_status_free(&st);
    free(log_path);
    free(ctr_dir);
    return rc;
}

/* Returns IL_OK, IL_FAIL_INPUT (the pod cannot be materialized: a missing
 * ConfigMap, an unsupported volume) or IL_FAIL_IO (the disk failed us). */
static il_fail populate(const il_create_request *req, const runtime_spec *rt, const char *dir,
                        const poddir_opts *opts, il_buf *err)
{
    const il_pod *pod = &req->pod;
    char *pod_json = rn_store_path(dir, "pod.json");
    char *rt_json = rn_store_path(dir, "runtime.json");
    char *text = json_dumps(req->raw, JSON_COMPACT);
    char *rt_text = rn_runtime_spec_dump(rt);
    const char *failed = pod_json;
    il_fail rc = il_mkdir_p(dir, 0700) == 0 && text &&
                 write_new_file(pod_json, text, strlen(text), 0600, opts->sync_files) == 0 &&
                 (failed = rt_json) && rt_text &&
                 write_new_file(rt_json, rt_text, strlen(rt_text), 0644, opts->sync_files) == 0
                 ? IL_OK : IL_FAIL_IO;
    if (rc != IL_OK)
        il_buf_printf(err, "writing %s: %s", failed, strerror(errno));
    free(rt_text);
    free(text);
    free(rt_json);
    free(pod_json);
    const char *main_reason = rn_podstatus_waiting_reason(pod, false);
    for (size_t i = 0; !opts->lazy_containers && rc == IL_OK && i < pod->n_init_containers; i++)
        rc = init_container_dir(dir, &pod->init_containers[i], "PodInitializing", err)
                 ? IL_FAIL_IO : IL_OK;
    for (size_t i = 0; !opts->lazy_containers && rc == IL_OK && i < pod->n_containers; i++)
        rc = init_container_dir(dir, &pod->containers[i], main_reason, err) ? IL_FAIL_IO : IL_OK;
    if (rc == IL_OK && rn_volumes_materialize(req, dir, err) != 0)
        rc = IL_FAIL_INPUT;
    if (rc == IL_OK && opts->finish && opts->finish(dir, opts->finish_ctx, err) != 0)
        rc = IL_FAIL_IO;
    return rc;
}

static int lock_pod(const char *dir, const char *name, bool create)
{
    char *path = rn_store_path(dir, name);
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    free(path);
    while (fd >= 0 && flock(fd, LOCK_EX) != 0 && errno == EINTR) {}
    return fd;
}

static const poddir_opts default_opts = {.lock_name = "create.lock", .sync_files = true};

il_fail rn_poddir_create(const char *pods_dir, const il_create_request *req,
                         const runtime_spec *rt, bool *created, int *lock_fd, il_buf *err)
{
    return rn_poddir_create_opts(pods_dir, req, rt, &default_opts, created, lock_fd, err);
}

il_fail rn_poddir_create_opts(const char *pods_dir, const il_create_request *req,
                              const runtime_spec *rt, const poddir_opts *opts, bool *created,
                              int *lock_fd, il_buf *err)
{
    const il_pod *pod = &req->pod;
    *created = false;
    *lock_fd = -1;
    if (rn_runtime_check_images(rt, pod, err) != 0)
        return IL_FAIL_INPUT;   /* before anything touches the disk */
    char *dir = rn_store_pod_dir(pods_dir, pod->uid);
    char token[37];
    il_uuid4(token);
    char *staging = il_xasprintf("%s/" STAGING_PREFIX "%s-%s", pods_dir, pod->uid, token);
    il_fail status = IL_OK;
    struct stat st;
    *created = false;
    *lock_fd = -1;
    if (stat(dir, &st) == 0) {
        il_info("pod %s (%s) already created", pod->name, pod->uid);
    } else if ((status = populate(req, rt, staging, opts, err)) != 0) {
        /* nothing was started; the staging directory goes below */
    } else if ((*lock_fd = lock_pod(staging, opts->lock_name, true)) < 0) {
        il_buf_printf(err, "locking %s: %s", staging, strerror(errno));
        status = IL_FAIL_IO;
    } else if (rename(staging, dir) != 0) {
        int rename_errno = errno;
        close(*lock_fd);
        *lock_fd = -1;
        errno = rename_errno;
        if (errno != EEXIST && errno != ENOTEMPTY) {
            il_buf_printf(err, "rename %s: %s", dir, strerror(errno));
            status = IL_FAIL_IO;
        }   /* else: a concurrent create of the same UID won */
    } else {
        *created = true;
    }
    if (status == IL_OK && !*created)
        *lock_fd = lock_pod(dir, opts->lock_name, false);   /* waits for the winner */
    il_rm_rf(staging);
    free(staging);
    free(dir);
    return status;
}

int rn_poddir_wait_create(const char *dir)
{
    return lock_pod(dir, default_opts.lock_name, false);
}

il_fail rn_poddir_remove(const char *pods_dir, const char *uid, il_buf *err)
{
    char *dir = rn_store_pod_dir(pods_dir, uid);
    char token[37];
    il_uuid4(token);
    char *doomed = il_xasprintf("%s/" DELETING_PREFIX "%s-%s", pods_dir, uid, token);
    il_fail rc = IL_OK;   /* ENOENT: a concurrent delete got there first */
    if (rename(dir, doomed) != 0 ? errno != ENOENT : il_rm_rf(doomed) != 0) {
        il_buf_printf(err, "removing %s: %s", dir, strerror(errno));
        rc = IL_FAIL_IO;
    }
    rn_memo_forget_pod(dir);   /* after the rename: a status now finds no pod.json */
    free(doomed);
    free(dir);
    return rc;
}

void rn_poddir_remove_stale(const char *pods_dir)
{
    const char *prefixes[] = {STAGING_PREFIX, DELETING_PREFIX};
    DIR *d = opendir(pods_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        for (size_t i = 0; i < 2; i++) {
            if (strncmp(e->d_name, prefixes[i], strlen(prefixes[i])) != 0)
                continue;
            char *path = rn_store_path(pods_dir, e->d_name);
            il_info("removing stale %s", path);
            il_rm_rf(path);
            free(path);
        }
    }
    if (d)
        closedir(d);
}

char *rn_poddir_find(const char *pods_dir, const il_pod *pod)
{
    if (!pod->uid || !il_is_uuid(pod->uid))
        return NULL;   /* cannot be one of ours */
    char *dir = rn_store_pod_dir(pods_dir, pod->uid);
    struct stat st;
    if (stat(dir, &st) != 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

int64_t rn_poddir_delete_grace(const il_pod *pod, const il_pod *stored)
{
    json_t *meta = json_object_get(pod->raw, "metadata");
    json_t *spec = json_object_get(pod->raw, "spec");
    json_t *value = json_object_get(meta, "deletionGracePeriodSeconds");
    if (!json_is_integer(value))
        value = json_object_get(spec, "terminationGracePeriodSeconds");
    int64_t grace = json_is_integer(value) ? json_integer_value(value)
                                           : stored ? stored->grace_seconds : pod->grace_seconds;
    return il_grace_clamp(grace);
}

int64_t rn_poddir_stored_grace(const char *dir, const il_pod *pod)
{
    il_create_request req;
    bool have_req = rn_store_read_request(dir, &req, NULL) == 0;
    int64_t grace = rn_poddir_delete_grace(pod, have_req ? &req.pod : NULL);
    if (have_req)
        il_create_request_free(&req);
    return grace;
}

void rn_poddir_write_stop(const char *dir, int64_t grace)
{
    char *path = rn_store_path(dir, "stop.json");
    char *text = il_xasprintf("{\"grace\":%lld}", (long long)grace);
    if (il_write_file_atomic(path, text, strlen(text), 0644) != 0)
        il_warn("writing %s: %s", path, strerror(errno));
    free(text);
    free(path);
}

char *rn_pods_dir_open(const char *data_root, mode_t mode)
{
    char *pods_dir = il_xasprintf("%s/pods", data_root);
    if (il_mkdir_p(pods_dir, mode) != 0) {
        il_error("cannot create %s: %s", pods_dir, strerror(errno));
        free(pods_dir);
        return NULL;
    }
    rn_poddir_remove_stale(pods_dir);
    return pods_dir;
}

char *rn_runner_path(const char *configured)
{
    if (configured && configured[0])
        return il_xstrdup(configured);
    char *self = rn_self_exe();
    if (!self)
        il_error("cannot find my own executable: %s", strerror(errno));
    return self;
}
