/* status.c -- /status and ping: read the pod directories, nothing else.
 *
 * The supervisor writes the states; here they are only read and, when the
 * supervisor is gone (killed, host rebooted) while containers were not
 * finished, reported as terminated with reason "Lost" -- never as success
 * and never as running forever. */
#include "local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define LOST_EXIT_CODE 137          /* what Kubernetes reports for ContainerStatusUnknown */
#define NO_SUPERVISOR_GRACE_S 60    /* a create that crashed before spawning */

/* Whether the states are trustworthy: the supervisor finished the pod or
 * is alive, or the pod is so fresh its supervisor has not recorded itself. */
static bool pod_supervised(const char *pod_dir)
{
    if (rn_supervisor_done(pod_dir))
        return true;
    pid_t pid = 0;
    int alive = rn_supervisor_alive(pod_dir, &pid);
    if (alive >= 0)
        return alive == 1;
    char *path = rn_store_path(pod_dir, "pod.json");
    struct stat st;
    bool fresh = stat(path, &st) == 0 && time(NULL) - st.st_mtime < NO_SUPERVISOR_GRACE_S;
    free(path);
    return fresh;
}

/* Status of one stored pod; out->uid stays NULL when it is unknown. */
static void status_of_pod(const char *pod_dir, il_pod_status *out)
{
    if (rn_podstatus_read(pod_dir, out) != 0)
        return;
    out->job_id = local_job_id(out->uid);
    if (rn_podstatus_all_terminated(out) || pod_supervised(pod_dir))
        return;
    /* Re-read: the supervisor may have finished between the two looks. */
    il_pod_status_free(out);
    memset(out, 0, sizeof(*out));
    if (rn_podstatus_read(pod_dir, out) != 0)
        return;
    out->job_id = local_job_id(out->uid);
    rn_podstatus_terminate(out, "Lost", "the pod's supervisor process is gone (killed, or the "
                        "host rebooted); the container's outcome is unknown", LOST_EXIT_CODE);
}

int local_status(void *vctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err)
{
    const local_ctx *ctx = vctx;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        if (!pods[i].uid || !il_is_uuid(pods[i].uid))
            continue;
        char *dir = rn_store_pod_dir(ctx->pods_dir, pods[i].uid);
        status_of_pod(dir, &out[i]);
        free(dir);
    }
    return 0;
}

/* ---- logs -------------------------------------------------------------- */

static bool supervisor_not_gone(const char *pod_dir, void *unused)
{
    (void)unused;
    pid_t pid;
    return rn_supervisor_alive(pod_dir, &pid) != 0;
}

int local_logs_open(void *vctx, const il_log_request *req, void **stream, il_buf *err)
{
    const local_ctx *ctx = vctx;
    return il_plugin_status(
        rn_logs_open_in(ctx->pods_dir, req, supervisor_not_gone, NULL, stream, err));
}

/* ---- ping -------------------------------------------------------------- */

static long long mem_total_kib(void)
{
    il_buf buf = IL_BUF_INIT;
    long long kib = 0;
    if (il_read_file("/proc/meminfo", 1 << 16, &buf) == 0) {
        const char *line = strstr(il_buf_cstr(&buf), "MemTotal:");
        if (line)
            sscanf(line, "MemTotal: %lld kB", &kib);
    }
    il_buf_free(&buf);
    return kib;
}

json_t *local_ping(void *vctx)
{
    (void)vctx;
    char cpu[32], memory[32];
    snprintf(cpu, sizeof(cpu), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    snprintf(memory, sizeof(memory), "%lldKi", mem_total_kib());
    return json_pack("{s:s, s:{s:s, s:s, s:s}}", "status", "ok", "resources", "cpu", cpu,
                     "memory", memory, "pods", "1000");
}
