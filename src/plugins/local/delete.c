/* delete.c -- /delete: stop the pod through its supervisor, then remove it.
 *
 * The supervisor owns the processes, so stopping is asking it: stop.json
 * carries the grace period, SIGTERM makes it send SIGTERM to every
 * container (or `podman stop -t grace`) and SIGKILL what is left after the
 * grace period.  Only if the supervisor itself does not finish in time does
 * the plugin kill it and the process groups it recorded.  The call blocks
 * up to the grace period, which the API allows.  A create of the same pod
 * still starting its supervisor is waited for first (its lock): otherwise
 * there is no supervisor to stop yet, and the directory would be removed
 * under the one about to start. */
#include "local.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define SUPERVISOR_EXIT_SLACK_MS 10000
#define POLL_MS 50

static void kill_recorded_groups(const char *dir, const il_pod *stored)
{
    size_t n = stored->n_init_containers + stored->n_containers;
    for (size_t i = 0; i < n; i++) {
        const il_container *c = i < stored->n_init_containers
                                    ? &stored->init_containers[i]
                                    : &stored->containers[i - stored->n_init_containers];
        char *ctr_dir = rn_store_ctr_dir(dir, c->name);
        il_container_status st = {0};
        pid_t pgid = 0;
        if (rn_state_read(ctr_dir, &st, &pgid) == 0 && st.state == IL_STATE_RUNNING)
            rn_sandbox_kill(pgid);
        il_container_status_free(&st);
        free(ctr_dir);
    }
}

static void stop_pod(const char *dir, const il_pod *stored, int64_t grace)
{
    pid_t pid = 0;
    if (rn_supervisor_alive(dir, &pid) != 1)
        return;   /* finished, or lost: there is nobody left to signal safely */
    rn_poddir_write_stop(dir, grace);
    kill(pid, SIGTERM);
    int64_t deadline = il_monotonic_ms() + grace * 1000 + SUPERVISOR_EXIT_SLACK_MS;
    while (rn_supervisor_alive(dir, &pid) == 1 && il_monotonic_ms() < deadline)
        usleep(POLL_MS * 1000);
    if (rn_supervisor_alive(dir, &pid) == 1) {
        il_warn("supervisor %d of %s did not stop in time: killing it", (int)pid, dir);
        kill(pid, SIGKILL);
        if (stored)
            kill_recorded_groups(dir, stored);
    }
}

int local_delete(void *vctx, const il_pod *pod, il_buf *err)
{
    const local_ctx *ctx = vctx;
    char *dir = rn_poddir_find(ctx->pods_dir, pod);
    if (!dir)
        return 0;
    int create_lock = rn_poddir_wait_create(dir);
    il_create_request req;
    bool have_req = rn_store_read_request(dir, &req, NULL) == 0;
    const il_pod *stored = have_req ? &req.pod : NULL;
    stop_pod(dir, stored, rn_poddir_delete_grace(pod, stored));
    runtime_spec rt;
    if (have_req && rn_runtime_spec_read(dir, &rt, NULL) == 0) {
        rn_sandbox_cleanup(&rt, &req.pod);
        rn_runtime_spec_free(&rt);
    }
    if (have_req)
        il_create_request_free(&req);
    free(dir);
    int status = il_plugin_status(rn_poddir_remove(ctx->pods_dir, pod->uid, err));
    if (create_lock >= 0)
        close(create_lock);
    return status;
}
