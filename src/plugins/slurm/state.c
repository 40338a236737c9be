/* state.c -- SLURM job states as Kubernetes container states.
 *
 * States are compared as whole words (squeue -O State prints the long
 * form), never by substring: CONFIGURING is not FAILED, REQUEUED is not
 * RUNNING.  What the containers' own state files say wins where they know
 * (a container that exited 0 before the job timed out did complete); SLURM
 * fills in what the files cannot know: a job still pending, a job killed
 * for its time limit or its memory, a node that failed, a job that
 * vanished. */
#include "slurm.h"

#include <stdlib.h>
#include <string.h>

typedef struct state_map {
    const char *state;
    job_phase phase;
    const char *reason;       /* finished: the containers' terminated reason */
    int exit_code;            /* finished, when the job's own code says nothing */
} state_map;

static const state_map states[] = {
    {"PENDING", JOB_PENDING, NULL, 0},
    {"CONFIGURING", JOB_PENDING, NULL, 0},
    {"REQUEUED", JOB_PENDING, NULL, 0},
    {"REQUEUE_HOLD", JOB_PENDING, NULL, 0},
    {"REQUEUE_FED", JOB_PENDING, NULL, 0},
    {"RESV_DEL_HOLD", JOB_PENDING, NULL, 0},
    {"RUNNING", JOB_RUNNING, NULL, 0},
    {"COMPLETING", JOB_RUNNING, NULL, 0},
    {"SUSPENDED", JOB_RUNNING, NULL, 0},
    {"STOPPED", JOB_RUNNING, NULL, 0},
    {"RESIZING", JOB_RUNNING, NULL, 0},
    {"SIGNALING", JOB_RUNNING, NULL, 0},
    {"STAGE_OUT", JOB_RUNNING, NULL, 0},
    {"COMPLETED", JOB_FINISHED, "Completed", 0},
    {"FAILED", JOB_FINISHED, "Error", 1},
    {"SPECIAL_EXIT", JOB_FINISHED, "Error", 1},
    {"TIMEOUT", JOB_FINISHED, "DeadlineExceeded", 143},
    {"DEADLINE", JOB_FINISHED, "DeadlineExceeded", 143},
    {"OUT_OF_MEMORY", JOB_FINISHED, "OOMKilled", 137},
    {"CANCELLED", JOB_FINISHED, "Cancelled", 143},
    {"NODE_FAIL", JOB_FINISHED, "NodeFailure", 137},
    {"PREEMPTED", JOB_FINISHED, "Preempted", 143},
    {"BOOT_FAIL", JOB_FINISHED, "BootFailure", 128},
    {"REVOKED", JOB_FINISHED, "Revoked", 143},
};
#define N_STATES (sizeof(states) / sizeof(states[0]))
#define LOST_EXIT_CODE 137   /* what Kubernetes reports for ContainerStatusUnknown */

static const state_map *lookup(const char *state)
{
    for (size_t i = 0; state && i < N_STATES; i++)
        if (strcmp(states[i].state, state) == 0)
            return &states[i];
    return NULL;
}

job_phase job_state_phase(const char *state)
{
    const state_map *m = lookup(state);
    return m ? m->phase : JOB_UNKNOWN_STATE;
}

const char *job_state_reason(const char *state)
{
    const state_map *m = lookup(state);
    return m && m->reason ? m->reason : "Unknown";
}

/* squeue's exit_code is a wait status: the code in the high byte, a
 * signal in the low bits. */
int job_state_exit_code(const job_info *j)
{
    int code = (j->exit_status >> 8) & 0xff, sig = j->exit_status & 0x7f;
    if (sig)
        return 128 + sig;
    if (code)
        return code;
    const state_map *m = lookup(j->state);
    return m ? m->exit_code : 1;
}

/* ---- applying SLURM's view to the state files' view --------------------- */

typedef void (*ctr_fn)(il_container_status *cs, const job_info *j, const char *text);

static void for_each(il_pod_status *st, ctr_fn fn, const job_info *j, const char *text)
{
    for (size_t i = 0; i < st->n_init_containers; i++)
        fn(&st->init_containers[i], j, text);
    for (size_t i = 0; i < st->n_containers; i++)
        fn(&st->containers[i], j, text);
}

static void pending(il_container_status *cs, const job_info *j, const char *message)
{
    (void)j;
    if (cs->state != IL_STATE_WAITING)
        return;
    free(cs->message);
    cs->message = il_xstrdup(message);
}

/* Without state files (no shared filesystem) a running job's containers
 * are reported running since the job started. */
static void running(il_container_status *cs, const job_info *j, const char *unused)
{
    (void)unused;
    if (cs->state != IL_STATE_WAITING)
        return;
    rn_state_set(cs, IL_STATE_RUNNING, NULL, NULL);
    cs->started_at = j->start;
    cs->ready = true;
}

/* A container that ended by itself keeps its outcome, unless SLURM ended
 * the job under it (a TIMEOUT kills with SIGTERM: exit 143 in the files). */
static void finished(il_container_status *cs, const job_info *j, const char *message)
{
    const state_map *m = lookup(j->state);
    bool by_itself = cs->state == IL_STATE_TERMINATED &&
                     (cs->exit_code == 0 || (m && m->exit_code <= 1));
    if (by_itself)
        return;
    bool was_terminated = cs->state == IL_STATE_TERMINATED;
    rn_state_set(cs, IL_STATE_TERMINATED, job_state_reason(j->state), message);
    if (!was_terminated)
        cs->exit_code = job_state_exit_code(j);
    if (il_time_is_zero(cs->started_at))
        cs->started_at = !il_time_is_zero(j->start) ? j->start : il_time_now();
    if (il_time_is_zero(cs->finished_at) || !was_terminated)
        cs->finished_at = !il_time_is_zero(j->end) ? j->end : il_time_now();
    cs->ready = false;
}

void job_apply_state(il_pod_status *st, const job_info *j, bool shared_fs)
{
    char *text;
    switch (job_state_phase(j->state)) {
    case JOB_PENDING:
        text = il_xasprintf("SLURM job %s is %s (reason: %s)", j->id, j->state, j->reason);
        for_each(st, pending, j, text);
        break;
    case JOB_RUNNING:
        text = NULL;
        if (!shared_fs)
            for_each(st, running, j, NULL);
        break;
    case JOB_FINISHED:
        text = il_xasprintf("SLURM job %s ended %s (reason: %s)", j->id, j->state, j->reason);
        if (strcmp(j->state, "COMPLETED") != 0 || !rn_podstatus_all_terminated(st))
            for_each(st, finished, j, text);
        break;
    default:
        text = il_xasprintf("SLURM job %s is in state %s, unknown to interlink-slurm", j->id,
                            j->state);
        for_each(st, pending, j, text);
        break;
    }
    free(text);
}

void job_mark_lost(il_pod_status *st, const char *job_id, const char *node_problems)
{
    char *message = il_xasprintf("SLURM job %s vanished from SLURM without leaving a final "
                                 "state (controller crash, or it aged out while the plugin was "
                                 "away); the container's outcome is unknown%s%s", job_id,
                                 node_problems ? "; SLURM reports: " : "",
                                 node_problems ? node_problems : "");
    rn_podstatus_terminate(st, "Lost", message, LOST_EXIT_CODE);
    free(message);
}
