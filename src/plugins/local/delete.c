/* delete.c -- /delete: stop the pod through its supervisor, then remove it.
 *
 * The supervisor owns the processes, so stopping is asking it: stop.json
 * carries the grace period, SIGTERM makes it send SIGTERM to every
 * container (or `podman stop -t grace`) and SIGKILL what is left after the
 * grace period.  Only if the supervisor itself does not finish in time does
 * the plugin kill it and the process groups it recorded.  The call blocks
 * up to the grace period, which the API allows. */
#include "local.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define SUPERVISOR_EXIT_SLACK_MS 10000
#define POLL_MS 50

/* Kubernetes' order: the deletion's own grace period, the spec's, then the
 * pod as it was created. */
static int64_t delete_grace(const il_pod *pod, const il_pod *stored)
{
    json_t *meta = json_object_get(pod->raw, "metadata");
    json_t *spec = json_object_get(pod->raw, "spec");
    json_t *value = json_object_get(meta, "deletionGracePeriodSeconds");
    if (!json_is_integer(value))
        value = json_object_get(spec, "terminationGracePeriodSeconds");
    int64_t grace = json_is_integer(value) ? json_integer_value(value)
                                           : stored ? stored->grace_seconds : pod->grace_seconds;
    return grace < 0 ? 0 : grace;
}

static void write_stop_request(const char *dir, int64_t grace)
{
    char *path = il_xasprintf("%s/stop.json", dir);
    char *text = il_xasprintf("{\"grace\":%lld}", (long long)grace);
    if (il_write_file_atomic(path, text, strlen(text), 0644) != 0)
        il_warn("writing %s: %s", path, strerror(errno));
    free(text);
    free(path);
}

static void kill_recorded_groups(const char *dir, const il_pod *stored)
{
    size_t n = stored->n_init_containers + stored->n_containers;
    for (size_t i = 0; i < n; i++) {
        const il_container *c = i < stored->n_init_containers
                                    ? &stored->init_containers[i]
                                    : &stored->containers[i - stored->n_init_containers];
        char *ctr_dir = store_ctr_dir(dir, c->name);
        il_container_status st = {0};
        pid_t pgid = 0;
        if (state_read(ctr_dir, &st, &pgid) == 0 && st.state == IL_STATE_RUNNING)
            sandbox_kill(pgid);
        il_container_status_free(&st);
        free(ctr_dir);
    }
}

static void stop_pod(const char *dir, const il_pod *stored, int64_t grace)
{
    pid_t pid = 0;
    if (supervisor_alive(dir, &pid) != 1)
        return;   /* finished, or lost: there is nobody left to signal safely */
    write_stop_request(dir, grace);
    kill(pid, SIGTERM);
    int64_t deadline = il_monotonic_ms() + grace * 1000 + SUPERVISOR_EXIT_SLACK_MS;
    while (supervisor_alive(dir, &pid) == 1 && il_monotonic_ms() < deadline)
        usleep(POLL_MS * 1000);
    if (supervisor_alive(dir, &pid) == 1) {
        il_warn("supervisor %d of %s did not stop in time: killing it", (int)pid, dir);
        kill(pid, SIGKILL);
        if (stored)
            kill_recorded_groups(dir, stored);
    }
}

int local_delete(void *vctx, const il_pod *pod, il_buf *err)
{
    const local_ctx *ctx = vctx;
    if (!pod->uid || !il_is_uuid(pod->uid))
        return 0;   /* cannot be one of ours */
    char *dir = store_pod_dir(ctx, pod->uid);
    struct stat st;
    if (stat(dir, &st) != 0) {
        free(dir);
        return 0;
    }
    il_create_request req;
    char msg[512];
    bool have_req = store_read_request(dir, &req, msg, sizeof(msg)) == 0;
    stop_pod(dir, have_req ? &req.pod : NULL, delete_grace(pod, have_req ? &req.pod : NULL));
    runtime_spec rt;
    if (have_req && runtime_spec_read(dir, &rt, msg, sizeof(msg)) == 0) {
        sandbox_cleanup(&rt, &req.pod);
        runtime_spec_free(&rt);
    }
    if (have_req)
        il_create_request_free(&req);
    /* Rename first so /status never sees a half-removed pod. */
    char token[37];
    il_uuid4(token);
    char *doomed = il_xasprintf("%s/.deleting-%s-%s", ctx->pods_dir, pod->uid, token);
    int rc = 0;   /* ENOENT: a concurrent delete got there first */
    if (rename(dir, doomed) != 0 ? errno != ENOENT : il_rm_rf(doomed) != 0) {
        il_buf_printf(err, "removing %s: %s", dir, strerror(errno));
        rc = 500;
    }
    free(doomed);
    free(dir);
    return rc;
}
