/* podstatus.h -- upstream's PodStatus (plugin -> interlink -> VK) in C,
 * its JSON both ways, and the Kubernetes phase it implies. */
#ifndef IL_PODSTATUS_H
#define IL_PODSTATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "timeutil.h"

typedef enum { IL_STATE_WAITING = 0, IL_STATE_RUNNING, IL_STATE_TERMINATED } il_state_kind;

/* A producer that runs no probes or hooks leaves `started` unset: it then
 * means "running", and a parsed status without the key is unset too, so
 * the VK can tell a plugin's verdict from a plugin's silence. */
typedef enum { IL_STARTED_UNSET = 0, IL_STARTED_YES, IL_STARTED_NO } il_started;

typedef struct il_container_status {
    char *name;
    char *image;
    il_state_kind state;
    char *reason;             /* waiting/terminated reason, NULL if none */
    char *message;
    int exit_code;            /* terminated only */
    int signal;               /* terminated only, 0 if none */
    il_time started_at;       /* running/terminated */
    il_time finished_at;      /* terminated */
    bool ready;
    il_started started;       /* k8s `started` (postStart done, startup probe passed) */
    int restart_count;
    char *container_id;       /* NULL if none */
} il_container_status;

typedef struct il_pod_status {
    char *name;
    char *ns;
    char *uid;
    char *job_id;
    il_container_status *containers;
    size_t n_containers;
    il_container_status *init_containers;
    size_t n_init_containers;
    json_t *tunnel;           /* our extension: the pod's tunnel client's state
                               * ({"state", "message", "since", ...}), or NULL */
} il_pod_status;

json_t *il_pod_status_to_json(const il_pod_status *st);
/* metav1.Time: RFC 3339 seconds, or null when unset. */
json_t *il_time_json(il_time t);
int il_pod_status_from_json(json_t *json, il_pod_status *out, char *err, size_t errlen);
void il_pod_status_free(il_pod_status *st);
void il_container_status_free(il_container_status *cs);

/* The pod phase Kubernetes would derive: "Pending", "Running",
 * "Succeeded" or "Failed" (restartPolicy decides whether a failed container
 * fails the pod; NULL means "Always").  Works on JSON PodStatus too; a
 * PodStatus that does not parse gives "Pending".  Backends never restart
 * containers, so today the policy does not change the result (see wire.c). */
const char *il_pod_phase(const il_pod_status *st, const char *restart_policy);
const char *il_pod_phase_json(json_t *pod_status, const char *restart_policy);
bool il_phase_is_terminal(const char *phase);

#endif
