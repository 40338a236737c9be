/* filestatus.c -- a pod's status as its state files tell it.
 *
 * The supervisor writes the states; here they are only read.  Whether the
 * files can be trusted (is the supervisor still there?) is the backend's
 * judgement: it then calls rn_podstatus_terminate() for what it knows ended
 * otherwise (a lost supervisor, a cancelled or timed-out batch job).
 * `ready` and `started` are the supervisor's probe verdicts, as stored. */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

static const char *waiting_reason(bool pod_has_init, bool init_container)
{
    return init_container || pod_has_init ? "PodInitializing" : "ContainerCreating";
}

const char *rn_podstatus_waiting_reason(const il_pod *pod, bool init_container)
{
    return waiting_reason(pod->n_init_containers > 0, init_container);
}

/* A container without a state file has not been started yet (backends
 * with lazy container directories, poddir_opts).  Names and images are
 * already in place (rn_podoutline_fill). */
static void read_states(const char *pod_dir, bool pod_has_init, bool init,
                        il_container_status *cs, size_t n)
{
    for (size_t i = 0; i < n; i++, cs++) {
        char *dir = rn_store_ctr_dir(pod_dir, cs->name);
        if (rn_state_read(dir, cs, NULL) != 0)
            rn_state_set(cs, IL_STATE_WAITING, waiting_reason(pod_has_init, init), NULL);
        free(dir);
        if (cs->state != IL_STATE_RUNNING)   /* only a running container is ready */
            cs->ready = false;
        if (init)   /* init containers have no startup probe: started is running */
            cs->started = IL_STARTED_UNSET;
        cs->restart_count = 0;
    }
}

int rn_podstatus_read(const char *pod_dir, il_pod_status *out)
{
    bool tunnel;
    if (rn_podoutline_fill(pod_dir, out, &tunnel) != 0)
        return -1;   /* unknown, or being deleted */
    bool has_init = out->n_init_containers > 0;
    read_states(pod_dir, has_init, true, out->init_containers, out->n_init_containers);
    read_states(pod_dir, has_init, false, out->containers, out->n_containers);
    if (tunnel) {
        char *path = rn_store_path(pod_dir, "tunnel.json");
        out->tunnel = rn_store_load_json(path, 64 * 1024, NULL);
        free(path);
    }
    return 0;
}

bool rn_podstatus_all_terminated(const il_pod_status *st)
{
    for (size_t i = 0; i < st->n_containers; i++)
        if (st->containers[i].state != IL_STATE_TERMINATED)
            return false;
    return true;
}

static void terminate_each(il_container_status *cs, size_t n, const char *reason,
                           const char *message, int exit_code)
{
    il_time now = il_time_now();
    for (size_t i = 0; i < n; i++) {
        if (cs[i].state == IL_STATE_TERMINATED)
            continue;
        if (il_time_is_zero(cs[i].started_at))
            cs[i].started_at = now;
        rn_state_set(&cs[i], IL_STATE_TERMINATED, reason, message);
        cs[i].exit_code = exit_code;
        cs[i].finished_at = now;
        cs[i].ready = false;
        cs[i].started = IL_STARTED_NO;
    }
}

void rn_podstatus_terminate(il_pod_status *st, const char *reason, const char *message,
                         int exit_code)
{
    terminate_each(st->init_containers, st->n_init_containers, reason, message, exit_code);
    terminate_each(st->containers, st->n_containers, reason, message, exit_code);
}
