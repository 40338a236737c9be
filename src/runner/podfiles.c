/* podfiles.c -- the pod directory: paths, names, state files, records.
 *
 * Owns the on-disk format described in runner.h.  Every file a concurrent
 * reader may look at is replaced atomically (il_write_file_atomic), so
 * /status never sees half a state.  Names that become path components are
 * validated before they get here (rn_poddir_validate: a pod UID must be a
 * UUID, container / volume names DNS labels), so nothing can escape
 * DataRootFolder. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "timeutil.h"

#define STATE_MAX_BYTES (64 * 1024)

char *rn_store_pod_dir(const char *pods_dir, const char *uid)
{
    return il_xasprintf("%s/%s", pods_dir, uid);
}

char *rn_store_ctr_dir(const char *pod_dir, const char *name)
{
    return il_xasprintf("%s/containers/%s", pod_dir, name);
}

char *rn_store_path(const char *pod_dir, const char *file)
{
    return il_xasprintf("%s/%s", pod_dir, file);
}

json_t *rn_store_load_json(const char *path, size_t max, il_buf *err)
{
    il_buf buf = IL_BUF_INIT;
    if (il_read_file(path, max, &buf) != 0) {
        if (err)
            il_buf_printf(err, "%s: %s", path, strerror(errno));
        il_buf_free(&buf);
        return NULL;
    }
    json_error_t jerr;
    json_t *json = json_loadb(il_buf_cstr(&buf), buf.len, 0, &jerr);
    il_buf_free(&buf);
    if (!json && err)
        il_buf_printf(err, "%s: %s", path, jerr.text);
    return json;
}

int rn_store_save_json(const char *path, json_t *json)
{
    char *text = json_dumps(json, JSON_COMPACT);
    int rc = text ? il_write_file_atomic(path, text, strlen(text), 0644) : -1;
    free(text);
    return rc;
}

int rn_store_read_request(const char *pod_dir, il_create_request *out, il_buf *err)
{
    char *path = rn_store_path(pod_dir, "pod.json");
    json_t *body = rn_store_load_json(path, SIZE_MAX / 2, err);
    free(path);
    if (!body)
        return -1;
    char msg[512];
    int rc = il_create_request_parse(body, out, msg, sizeof(msg));
    if (rc != 0 && err)
        il_buf_printf(err, "%s/pod.json: %s", pod_dir, msg);
    json_decref(body);
    return rc;
}

/* ---- runtime.json ------------------------------------------------------ */

static const char *const runtime_names[] = {
    [RUNTIME_HOST] = "host",           [RUNTIME_PODMAN] = "podman",
    [RUNTIME_APPTAINER] = "apptainer", [RUNTIME_SINGULARITY] = "singularity",
    [RUNTIME_CHARLIECLOUD] = "charliecloud", [RUNTIME_ENROOT] = "enroot",
};
#define N_RUNTIMES (sizeof(runtime_names) / sizeof(runtime_names[0]))

int rn_runtime_kind_parse(const char *name, runtime_kind *out)
{
    if (name && strcmp(name, "none") == 0)
        name = "host";   /* upstream's word for "no container runtime" */
    for (size_t k = 0; name && k < N_RUNTIMES; k++) {
        if (strcmp(name, runtime_names[k]) == 0) {
            *out = (runtime_kind)k;
            return 0;
        }
    }
    return -1;
}

const char *rn_runtime_kind_name(runtime_kind kind)
{
    return (size_t)kind < N_RUNTIMES ? runtime_names[kind] : "unknown";
}

static json_t *runtime_spec_json(const runtime_spec *rt)
{
    json_t *json = json_pack("{s:s, s:s?, s:s?, s:o, s:s?, s:b}", "runtime",
                             rn_runtime_kind_name(rt->kind), "path", rt->path, "bwrapPath",
                             rt->bwrap_path, "args", rn_strvec_to_json(&rt->args), "imagePrefix",
                             rt->image_prefix, "gpu", rt->gpu);
    if (json && rt->mpi.n > 0)
        json_object_set_new(json, "mpi", rn_strvec_to_json(&rt->mpi));
    if (json && rt->limits)
        json_object_set_new(json, "limits", json_true());
    if (json && rt->no_probes)
        json_object_set_new(json, "probes", json_false());
    return json;
}

char *rn_runtime_spec_dump(const runtime_spec *rt)
{
    json_t *json = runtime_spec_json(rt);
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    return text;
}

int rn_runtime_spec_write(const char *pod_dir, const runtime_spec *rt)
{
    json_t *json = runtime_spec_json(rt);
    char *path = rn_store_path(pod_dir, "runtime.json");
    int rc = json ? rn_store_save_json(path, json) : -1;
    free(path);
    json_decref(json);
    return rc;
}

int rn_runtime_spec_read(const char *pod_dir, runtime_spec *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    char *path = rn_store_path(pod_dir, "runtime.json");
    json_t *json = rn_store_load_json(path, STATE_MAX_BYTES, err);
    free(path);
    if (!json)
        return -1;
    int rc = -1;
    const char *kind = json_string_value(json_object_get(json, "runtime"));
    if (rn_runtime_kind_parse(kind, &out->kind) != 0 ||
        rn_strvec_from_json(json_object_get(json, "args"), &out->args) != 0 ||
        (json_object_get(json, "mpi") &&
         rn_strvec_from_json(json_object_get(json, "mpi"), &out->mpi) != 0)) {
        if (err)
            il_buf_printf(err, "%s/runtime.json: malformed", pod_dir);
    } else {
        out->path = il_xstrdup(json_string_value(json_object_get(json, "path")));
        out->bwrap_path = il_xstrdup(json_string_value(json_object_get(json, "bwrapPath")));
        out->image_prefix = il_xstrdup(json_string_value(json_object_get(json, "imagePrefix")));
        out->gpu = json_is_true(json_object_get(json, "gpu"));
        out->no_probes = json_is_false(json_object_get(json, "probes"));
        out->limits = json_is_true(json_object_get(json, "limits"));
        rc = 0;
    }
    json_decref(json);
    return rc;
}

void rn_runtime_spec_free(runtime_spec *rt)
{
    free(rt->path);
    free(rt->bwrap_path);
    free(rt->image_prefix);
    rn_strvec_free(&rt->args);
    rn_strvec_free(&rt->mpi);
    memset(rt, 0, sizeof(*rt));
}

/* ---- state.json -------------------------------------------------------- */

static const char *const state_names[] = {"waiting", "running", "terminated"};

static void put_time(json_t *obj, const char *key, il_time t)
{
    if (il_time_is_zero(t))
        return;
    char text[IL_RFC3339_MAX];
    il_time_format(t, true, text);
    json_object_set_new(obj, key, json_string(text));
}

static il_time get_time(json_t *obj, const char *key)
{
    il_time t = IL_TIME_ZERO;
    const char *text = json_string_value(json_object_get(obj, key));
    if (text && il_time_parse(text, &t) != 0)
        t = IL_TIME_ZERO;
    return t;
}

static void put_string(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_string(value));
}

int rn_state_write(const char *ctr_dir, const il_container_status *st, pid_t pid)
{
    json_t *json = json_pack("{s:s, s:i, s:i, s:I}", "state", state_names[st->state],
                             "exitCode", st->exit_code, "signal", st->signal,
                             "pid", (json_int_t)pid);
    /* ready/started: the supervisor's probe verdicts, so a restarted
     * plugin reports what the probes said, not what the state implies. */
    json_object_set_new(json, "ready", json_boolean(st->ready));
    json_object_set_new(json, "started", json_boolean(st->started == IL_STARTED_YES));
    put_string(json, "reason", st->reason);
    put_string(json, "message", st->message);
    put_string(json, "containerID", st->container_id);
    put_time(json, "startedAt", st->started_at);
    put_time(json, "finishedAt", st->finished_at);
    char *path = il_xasprintf("%s/state.json", ctr_dir);
    int rc = rn_store_save_json(path, json);
    free(path);
    json_decref(json);
    return rc;
}

int rn_state_read(const char *ctr_dir, il_container_status *st, pid_t *pid)
{
    char *path = il_xasprintf("%s/state.json", ctr_dir);
    json_t *json = rn_store_load_json(path, STATE_MAX_BYTES, NULL);
    free(path);
    if (!json)
        return -1;
    const char *kind = json_string_value(json_object_get(json, "state"));
    st->state = IL_STATE_WAITING;
    for (int k = 0; kind && k < 3; k++)
        if (strcmp(kind, state_names[k]) == 0)
            st->state = (il_state_kind)k;
    st->reason = il_xstrdup(json_string_value(json_object_get(json, "reason")));
    st->message = il_xstrdup(json_string_value(json_object_get(json, "message")));
    st->container_id = il_xstrdup(json_string_value(json_object_get(json, "containerID")));
    st->exit_code = (int)json_integer_value(json_object_get(json, "exitCode"));
    st->signal = (int)json_integer_value(json_object_get(json, "signal"));
    st->started_at = get_time(json, "startedAt");
    st->finished_at = get_time(json, "finishedAt");
    /* Files from before probes: running meant ready and started. */
    json_t *ready = json_object_get(json, "ready"), *started = json_object_get(json, "started");
    st->ready = json_is_boolean(ready) ? json_is_true(ready) : st->state == IL_STATE_RUNNING;
    st->started = !json_is_boolean(started) ? IL_STARTED_UNSET
                  : json_is_true(started)   ? IL_STARTED_YES
                                            : IL_STARTED_NO;
    if (pid)
        *pid = (pid_t)json_integer_value(json_object_get(json, "pid"));
    json_decref(json);
    return 0;
}

void rn_state_set(il_container_status *st, il_state_kind kind, const char *reason,
               const char *message)
{
    st->state = kind;
    free(st->reason);
    free(st->message);
    st->reason = il_xstrdup(reason);
    st->message = il_xstrdup(message);
}

/* ---- supervisor.json --------------------------------------------------- */

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot), and
 * whether the process is a zombie.  The command name (field 2) may hold
 * spaces and parentheses, so parsing starts after the last ')'. */
static int proc_start_time(pid_t pid, unsigned long long *start, bool *zombie)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    il_buf buf = IL_BUF_INIT;
    int rc = -1;
    if (il_read_file(path, 4096, &buf) == 0) {
        const char *p = strrchr(il_buf_cstr(&buf), ')');
        char state;
        if (p && sscanf(p + 1, " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s"
                               " %*s %*s %*s %*s %*s %llu", &state, start) == 2) {
            *zombie = state == 'Z' || state == 'X';
            rc = 0;
        }
    }
    il_buf_free(&buf);
    return rc;
}

int rn_supervisor_record_write(const char *pod_dir, pid_t pid)
{
    unsigned long long start = 0;
    bool zombie;
    if (proc_start_time(pid, &start, &zombie) != 0)
        return -1;
    json_t *json = json_pack("{s:I, s:I}", "pid", (json_int_t)pid, "startTime",
                             (json_int_t)start);
    char *path = il_xasprintf("%s/supervisor.json", pod_dir);
    int rc = rn_store_save_json(path, json);
    free(path);
    json_decref(json);
    return rc;
}

int rn_supervisor_alive(const char *pod_dir, pid_t *pid)
{
    char *path = il_xasprintf("%s/supervisor.json", pod_dir);
    json_t *json = rn_store_load_json(path, STATE_MAX_BYTES, NULL);
    free(path);
    if (!json)
        return -1;
    *pid = (pid_t)json_integer_value(json_object_get(json, "pid"));
    unsigned long long recorded = (unsigned long long)json_integer_value(
        json_object_get(json, "startTime"));
    json_decref(json);
    unsigned long long now_start;
    bool zombie;
    if (*pid <= 0 || proc_start_time(*pid, &now_start, &zombie) != 0)
        return 0;
    return now_start == recorded && !zombie;
}

int rn_supervisor_claim(const char *pod_dir, int *lock_fd)
{
    char *lock_path = rn_store_path(pod_dir, "supervisor.lock");
    char *record = rn_store_path(pod_dir, "supervisor.json");
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd >= 0) {
        while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {}
        if (rc != 0)
            rc = errno == EWOULDBLOCK ? 0 : -1;   /* held: a live supervisor has it */
        else
            rc = access(record, F_OK) == 0 ? 0 : 1;
    }
    int saved = errno;
    if (rc != 1 && fd >= 0)
        close(fd);
    *lock_fd = rc == 1 ? fd : -1;
    free(record);
    free(lock_path);
    errno = saved;
    return rc;
}

int rn_supervisor_mark_done(const char *pod_dir, bool stopped)
{
    char *path = rn_store_path(pod_dir, "done");
    const char *text = stopped ? "stopped\n" : "";
    int rc = il_write_file_atomic(path, text, strlen(text), 0644);
    free(path);
    return rc;
}

bool rn_supervisor_done(const char *pod_dir)
{
    char *path = rn_store_path(pod_dir, "done");
    bool done = access(path, F_OK) == 0;
    free(path);
    return done;
}

bool rn_supervisor_stopped(const char *pod_dir)
{
    char *path = rn_store_path(pod_dir, "done");
    il_buf text = IL_BUF_INIT;
    bool stopped = il_read_file(path, 64, &text) == 0 &&
                   strncmp(il_buf_cstr(&text), "stopped", 7) == 0;
    il_buf_free(&text);
    free(path);
    return stopped;
}

char *rn_self_exe(void)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len <= 0)
        return NULL;
    exe[len] = '\0';
    return il_xstrdup(exe);
}
