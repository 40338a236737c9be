/* jobrecord.c -- the durable pod<->job mapping every batch backend keeps:
 * job.json in the pod directory, and job_create()/job_ensure(), the one way
 * a pod gets its job.
 *
 * job.json is also the create lock: made empty and flock'ed before the pod
 * directory is published, lent to the submitting client as its fd 3, and
 * taken by whoever must see the job a submission in flight makes (a
 * repeated create, a delete, startup recovery: job_record_lock).
 *
 * job.json is written right after the backend accepted the submission and
 * again when a final state is first observed, so a restarted plugin still
 * knows every job, and still knows how a job ended after the batch system
 * forgot it. */
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"

#define JOB_RECORD_MAX (64 * 1024)

void job_info_free(job_info *j)
{
    free(j->id);
    free(j->name);
    free(j->state);
    free(j->reason);
    memset(j, 0, sizeof(*j));
}

static json_t *time_json(il_time t)
{
    char text[IL_RFC3339_MAX];
    il_time_format(t, false, text);
    return json_string(text);
}

static il_time json_time(json_t *v)
{
    il_time t = IL_TIME_ZERO;
    if (!json_is_string(v) || il_time_parse(json_string_value(v), &t) != 0)
        return IL_TIME_ZERO;
    return t;
}

static json_t *final_json(const job_info *j)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:o, s:o}", "id", j->id, "state", j->state,
                     "reason", j->reason ? j->reason : "", "exitStatus", j->exit_status,
                     "start", time_json(j->start), "end", time_json(j->end));
}

static void final_from_json(json_t *f, job_info *out)
{
    out->id = il_xstrdup(json_string_value(json_object_get(f, "id")));
    out->state = il_xstrdup(json_string_value(json_object_get(f, "state")));
    out->reason = il_xstrdup(json_string_value(json_object_get(f, "reason")));
    out->exit_status = (int)json_integer_value(json_object_get(f, "exitStatus"));
    out->start = json_time(json_object_get(f, "start"));
    out->end = json_time(json_object_get(f, "end"));
}

/* ---- reading, through a memo ------------------------------------------------
 *
 * Every /status reads every unfinished pod's job.json; at 10,000 pods
 * reading and parsing them was a quarter of interlink-slurm's CPU.  A
 * record changes only when this process commits a job id (in place: the
 * size changes from empty) or records a final state (a new file), so what
 * was read is kept (podmemo.c) and trusted while a stat finds the same
 * file. */

#define RECORDS_MAX 65536   /* pods, as the outlines (runner) */

typedef struct kept_record {
    rn_memo_entry head;
    const char *id;
    bool has_final;
    job_info final;           /* strings point into the block: never freed alone */
} kept_record;

static rn_memo records = RN_MEMO_INIT("job.json", RECORDS_MAX);

static kept_record *kept_make(const char *id, const job_info *final)
{
    size_t bytes = sizeof(kept_record) + rn_memo_text_size(id);
    if (final)
        bytes += rn_memo_text_size(final->id) + rn_memo_text_size(final->state) +
                 rn_memo_text_size(final->reason);
    kept_record *k = il_xcalloc(1, bytes);
    char *at = (char *)(k + 1);
    k->id = rn_memo_pack(&at, id);
    if (final) {
        k->has_final = true;
        k->final = (job_info){.id = (char *)rn_memo_pack(&at, final->id),
                              .state = (char *)rn_memo_pack(&at, final->state),
                              .reason = (char *)rn_memo_pack(&at, final->reason),
                              .exit_status = final->exit_status,
                              .start = final->start,
                              .end = final->end};
    }
    return k;
}

typedef struct copy_args {
    char *id;
    job_info *final;
} copy_args;

static void copy_out(const rn_memo_entry *kept, void *arg)
{
    const kept_record *k = (const kept_record *)kept;
    copy_args *c = arg;
    c->id = il_xstrdup(k->id);
    if (c->final && k->has_final)
        *c->final = (job_info){.id = il_xstrdup(k->final.id),
                               .state = il_xstrdup(k->final.state),
                               .reason = il_xstrdup(k->final.reason),
                               .exit_status = k->final.exit_status,
                               .start = k->final.start,
                               .end = k->final.end};
}

/* The record as the file says (NULL: none, or no id in it). */
static char *read_file(const char *pod_dir, job_info *final)
{
    char *path = rn_store_path(pod_dir, "job.json");
    json_t *json = rn_store_load_json(path, JOB_RECORD_MAX, NULL);
    free(path);
    const char *id = json_string_value(json_object_get(json, "jobId"));
    char *copy = id ? il_xstrdup(id) : NULL;
    json_t *f = json_object_get(json, "final");
    if (copy && json_is_object(f))
        final_from_json(f, final);
    json_decref(json);
    return copy;
}

char *job_record_read(const char *pod_dir, job_info *final)
{
    job_info seen = {0};
    if (final)
        memset(final, 0, sizeof(*final));
    struct stat st;
    if (!rn_memo_stat(&records, pod_dir, &st))
        return NULL;
    copy_args args = {NULL, final};
    if (rn_memo_use(&records, pod_dir, &st, copy_out, &args))
        return args.id;
    char *id = read_file(pod_dir, &seen);
    if (id)   /* an empty record (a create submitting) is not kept: it changes soon */
        rn_memo_keep(&records, pod_dir, &st, &kept_make(id, seen.state ? &seen : NULL)->head);
    if (final)
        *final = seen;
    else
        job_info_free(&seen);
    return id;
}

size_t job_record_kept(void)
{
    return rn_memo_count(&records);
}

int job_record_write(const char *pod_dir, const char *job_id, const job_info *final)
{
    json_t *json = json_pack("{s:s}", "jobId", job_id);
    if (final)
        json_object_set_new(json, "final", final_json(final));
    char *path = rn_store_path(pod_dir, "job.json");
    int rc = rn_store_save_json(path, json);
    free(path);
    json_decref(json);
    return rc;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* In place, not tmp + rename: the file is the create lock (a rename would
 * swap the inode under the flock) and a new inode per pod is the dearest
 * part of a create on ext4.  The record is one write() of a few bytes into
 * an empty file (ids are digits: nothing to escape), so a kill -9 leaves it
 * empty or whole; a power cut may leave it torn, which reads as "no id",
 * and then the job is found by its name (create.c) -- never submitted
 * twice.  The directory syncs make the pod's files and the rename that
 * published them durable with the one record that depends on them. */
int job_record_commit(int fd, const char *pods_dir, const char *pod_dir, const char *job_id)
{
    char text[96];
    int len = snprintf(text, sizeof(text), "{\"jobId\":\"%s\"}\n", job_id);
    if (len < 0 || (size_t)len >= sizeof(text)) {
        errno = EINVAL;
        return -1;
    }
    if (pwrite(fd, text, (size_t)len, 0) != len || ftruncate(fd, len) != 0 || fdatasync(fd) != 0)
        return -1;
    return fsync_dir(pod_dir) == 0 && fsync_dir(pods_dir) == 0 ? 0 : -1;
}

int job_record_lock(const char *pod_dir)
{
    char *path = rn_store_path(pod_dir, "job.json");
    int fd = open(path, O_RDWR | O_CLOEXEC);
    free(path);
    while (fd >= 0 && flock(fd, LOCK_EX) != 0 && errno == EINTR) {}
    return fd;
}

bool job_pod_may_write(const char *pod_dir, void *unused)
{
    (void)unused;
    if (rn_supervisor_done(pod_dir))
        return false;
    job_info final;
    char *id = job_record_read(pod_dir, &final);
    bool finished = final.state != NULL;
    job_info_free(&final);
    free(id);
    return !finished;
}

int job_ensure(const job_backend *b, const char *pods_dir, const char *dir, const char *uid,
               bool created, int lock_fd, char **job_id, il_buf *err)
{
    if (!created && (*job_id = job_record_read(dir, NULL)) != NULL)
        return 0;
    if (!created && b->find(b->ctx, uid, job_id) != 0) {
        il_buf_printf(err, "pod %s may have a job already, and %s cannot tell", uid, b->what);
        return 503;   /* submitting now could submit twice */
    }
    if (*job_id) {
        il_warn("pod %s: adopting job %s submitted by an interrupted create", uid, *job_id);
    } else {
        int rc = b->submit(b->ctx, lock_fd, job_id, err);
        if (rc != 0)
            return rc;
    }
    if (job_record_commit(lock_fd, pods_dir, dir, *job_id) != 0) {
        il_buf_printf(err, "recording job %s in %s: %s", *job_id, dir, strerror(errno));
        free(*job_id);
        *job_id = NULL;
        return 500;   /* the job exists; a retried create adopts it */
    }
    return 0;
}

int job_create(const job_backend *b, const char *pods_dir, const il_create_request *req,
               const runtime_spec *rt, const poddir_opts *files, const batch_identity *owner,
               char **job_id, il_buf *err)
{
    const char *uid = req->pod.uid;
    poddir_opts opts = *files;
    opts.lock_name = "job.json";
    bool created = false;
    int lock_fd = -1;
    int status = il_plugin_status(
        rn_poddir_create_opts(pods_dir, req, rt, &opts, &created, &lock_fd, err));
    char *dir = rn_store_pod_dir(pods_dir, uid);
    if (status == 0 && lock_fd < 0) {
        il_buf_printf(err, "pod %s was deleted while being created", uid);
        status = 409;
    } else if (status == 0 && created && owner &&
               (status = identity_hand_over(owner, dir, err)) != 0) {
        il_rm_rf(dir);   /* nothing was submitted */
    } else if (status == 0) {
        status = job_ensure(b, pods_dir, dir, uid, created, lock_fd, job_id, err);
        if (status != 0 && status != 500 && status != 503)
            il_rm_rf(dir);   /* nothing was submitted: leave no half pod behind */
    }
    if (lock_fd >= 0)
        close(lock_fd);
    free(dir);
    return status;
}
