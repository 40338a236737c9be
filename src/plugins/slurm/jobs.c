/* jobs.c -- the durable pod<->job mapping (job.json in the pod directory)
 * and the one batched squeue query.
 *
 * job.json is written right after sbatch answered and again when a final
 * state is first observed, so a restarted plugin still knows every job, and
 * still knows how a job ended after SLURM forgot it (MinJobAge). */
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "log.h"

#define JOB_RECORD_MAX (64 * 1024)

/* squeue -O with a '|' suffix per field prints each value unpadded.  The
 * name (ours: a UUID) comes last, so nothing after it can be shifted. */
#define SQUEUE_FORMAT "JobID:|,State:|,Reason:|,exit_code:|,StartTime:|,EndTime:|,Name:|"
#define SQUEUE_FIELDS 7

il_time job_time(const char *text, size_t len)
{
    char buf[32];
    if (len >= sizeof(buf))
        return IL_TIME_ZERO;
    memcpy(buf, text, len);
    buf[len] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || *end)
        return IL_TIME_ZERO;
    tm.tm_isdst = -1;
    return (il_time){(int64_t)mktime(&tm), 0};
}

int job_split_fields(char *line, char **fields, int n)
{
    for (int i = 0; i < n - 1; i++) {
        char *bar = strchr(line, '|');
        if (!bar)
            return -1;
        *bar = '\0';
        fields[i] = line;
        line = bar + 1;
    }
    fields[n - 1] = line;
    return 0;
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

char *job_record_read(const char *pod_dir, job_info *final)
{
    char *path = rn_store_path(pod_dir, "job.json");
    json_t *json = rn_store_load_json(path, JOB_RECORD_MAX, NULL);
    free(path);
    if (final)
        memset(final, 0, sizeof(*final));
    if (!json)
        return NULL;
    char *id = il_xstrdup(json_string_value(json_object_get(json, "jobId")));
    json_t *f = json_object_get(json, "final");
    if (final && json_is_object(f))
        final_from_json(f, final);
    json_decref(json);
    return id;
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

/* ---- squeue -------------------------------------------------------------- */

static int parse_line(char *line, job_info *j)
{
    char *field[SQUEUE_FIELDS];
    if (job_split_fields(line, field, SQUEUE_FIELDS) != 0)
        return -1;
    char *name = field[SQUEUE_FIELDS - 1];
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '|')
        name[len - 1] = '\0';   /* the name's own suffix; a '|' inside it stays */
    memset(j, 0, sizeof(*j));
    j->id = il_xstrdup(field[0]);
    j->state = il_xstrdup(field[1]);
    j->reason = il_xstrdup(field[2]);
    j->exit_status = atoi(field[3]);
    j->start = job_time(field[4], strlen(field[4]));
    j->end = job_time(field[5], strlen(field[5]));
    j->name = il_xstrdup(field[6]);
    return 0;
}

size_t job_info_parse(const char *text, job_info **out)
{
    char *copy = il_xstrdup(text), *save = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = il_xrealloc(*out, cap * sizeof(**out));
        }
        if (parse_line(line, &(*out)[n]) == 0)
            n++;
    }
    free(copy);
    return n;
}

static ssize_t squeue_by(const slurm_config *cfg, const char *option, char *const *keys,
                         size_t n, job_info **out, il_buf *why)
{
    *out = NULL;
    if (n == 0)
        return 0;
    il_buf list = IL_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        il_buf_printf(&list, "%s%s", i ? "," : "", keys[i]);
    char *argv[] = {cfg->squeue_path, "--noheader", "--states=all", (char *)option,
                    (char *)il_buf_cstr(&list), "--Format", SQUEUE_FORMAT, NULL};
    cmd_result res;
    ssize_t found = -1;
    cmd_run(argv, cfg->command_timeout_s, &res);
    if (res.status == 0) {
        found = (ssize_t)job_info_parse(il_buf_cstr(&res.out), out);
    } else if (strstr(il_buf_cstr(&res.err), "Invalid job id")) {
        found = 0;   /* every id is unknown to SLURM: that is an answer */
    } else {
        il_warn("squeue failed (%d): %s", res.status, il_buf_cstr(&res.err));
        if (why)
            il_buf_printf(why, "squeue failed (exit %d): %s", res.status,
                          il_buf_cstr(&res.err));
    }
    cmd_result_free(&res);
    il_buf_free(&list);
    return found;
}

ssize_t squeue_jobs(const slurm_config *cfg, char *const *ids, size_t n, job_info **out)
{
    return squeue_by(cfg, "--jobs", ids, n, out, NULL);
}

ssize_t squeue_names(const slurm_config *cfg, char *const *names, size_t n, job_info **out)
{
    return squeue_by(cfg, "--name", names, n, out, NULL);
}

ssize_t squeue_jobs_why(const slurm_config *cfg, char *const *ids, size_t n, job_info **out,
                        il_buf *why)
{
    return squeue_by(cfg, "--jobs", ids, n, out, why);
}

ssize_t squeue_names_why(const slurm_config *cfg, char *const *names, size_t n,
                         job_info **out, il_buf *why)
{
    return squeue_by(cfg, "--name", names, n, out, why);
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
