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

static void read_states(const char *pod_dir, const il_container *specs, size_t n,
                        il_container_status *out)
{
    for (size_t i = 0; i < n; i++) {
        il_container_status *cs = &out[i];
        il_container_status_free(cs);
        memset(cs, 0, sizeof(*cs));
        char *dir = store_ctr_dir(pod_dir, specs[i].name);
        if (state_read(dir, cs, NULL) != 0)
            state_set(cs, IL_STATE_WAITING, "ContainerCreating", NULL);
        free(dir);
        cs->name = il_xstrdup(specs[i].name);
        cs->image = il_xstrdup(specs[i].image ? specs[i].image : "");
        cs->ready = cs->state == IL_STATE_RUNNING;
        cs->restart_count = 0;
    }
}

static bool all_terminated(const il_container_status *cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cs[i].state != IL_STATE_TERMINATED)
            return false;
    return true;
}

static void mark_lost(il_container_status *cs, size_t n, const char *message)
{
    il_time now = il_time_now();
    for (size_t i = 0; i < n; i++) {
        if (cs[i].state == IL_STATE_TERMINATED)
            continue;
        if (il_time_is_zero(cs[i].started_at))
            cs[i].started_at = now;
        state_set(&cs[i], IL_STATE_TERMINATED, "Lost", message);
        cs[i].exit_code = LOST_EXIT_CODE;
        cs[i].finished_at = now;
        cs[i].ready = false;
    }
}

/* Whether the states are trustworthy: the supervisor finished the pod or
 * is alive, or the pod is so fresh its supervisor has not recorded itself. */
static bool pod_supervised(const char *pod_dir)
{
    if (supervisor_done(pod_dir))
        return true;
    pid_t pid = 0;
    int alive = supervisor_alive(pod_dir, &pid);
    if (alive >= 0)
        return alive == 1;
    char *path = il_xasprintf("%s/pod.json", pod_dir);
    struct stat st;
    bool fresh = stat(path, &st) == 0 && time(NULL) - st.st_mtime < NO_SUPERVISOR_GRACE_S;
    free(path);
    return fresh;
}

void status_of_pod(const char *pod_dir, il_pod_status *out)
{
    il_create_request req;
    char err[512];
    if (store_read_request(pod_dir, &req, err, sizeof(err)) != 0)
        return;   /* unknown (or being deleted): uid stays NULL */
    const il_pod *pod = &req.pod;
    out->name = il_xstrdup(pod->name);
    out->ns = il_xstrdup(pod->ns);
    out->uid = il_xstrdup(pod->uid);
    out->job_id = store_job_id(pod->uid);
    out->n_init_containers = pod->n_init_containers;
    out->n_containers = pod->n_containers;
    out->init_containers = il_xcalloc(pod->n_init_containers, sizeof(il_container_status));
    out->containers = il_xcalloc(pod->n_containers, sizeof(il_container_status));
    read_states(pod_dir, pod->init_containers, pod->n_init_containers, out->init_containers);
    read_states(pod_dir, pod->containers, pod->n_containers, out->containers);
    if (!all_terminated(out->containers, out->n_containers) && !pod_supervised(pod_dir)) {
        /* Re-read: the supervisor may have finished between the two looks. */
        read_states(pod_dir, pod->init_containers, pod->n_init_containers, out->init_containers);
        read_states(pod_dir, pod->containers, pod->n_containers, out->containers);
        const char *message = "the pod's supervisor process is gone (killed, or the host "
                              "rebooted); the container's outcome is unknown";
        mark_lost(out->init_containers, out->n_init_containers, message);
        mark_lost(out->containers, out->n_containers, message);
    }
    il_create_request_free(&req);
}

int local_status(void *vctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err)
{
    const local_ctx *ctx = vctx;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        if (!pods[i].uid || !il_is_uuid(pods[i].uid))
            continue;
        char *dir = store_pod_dir(ctx, pods[i].uid);
        status_of_pod(dir, &out[i]);
        free(dir);
    }
    return 0;
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
