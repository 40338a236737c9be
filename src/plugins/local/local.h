/* local.h -- internals of interlink-local, the embedded default backend.
 *
 * The plugin runs pods on this host with libilrunner (runner.h: the pod
 * directory, volumes, runtimes, the supervisor, logs).  What is local is
 * only this: the configuration, a detached supervisor process per pod (this
 * binary in `--run-pod DIR` mode, reparented to init so it outlives the
 * plugin), judging that supervisor by its pid, and delete.  The plugin is
 * stateless: everything about a pod lives in DataRootFolder/pods/<uid>/,
 * so a plugin restart (or kill -9) loses nothing. */
#ifndef IL_LOCAL_H
#define IL_LOCAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "plugin.h"
#include "runner.h"
#include "wire.h"

/* ---- configuration (main.c) ------------------------------------------- */

typedef struct local_config {
    il_plugin_base base;      /* Socket, SidecarURL/Port, DataRootFolder, logging, MaxBodyBytes */
    char *runtime;
    char *podman_path;
    char *bwrap_path;
    char **podman_args;
    bool podman_limits;
} local_config;

typedef struct local_ctx {
    const local_config *cfg;
    runtime_spec runtime;     /* what every new pod is frozen with */
    char *pods_dir;           /* DataRootFolder/pods */
    char *self_exe;           /* this binary, re-executed as the supervisor; owned */
} local_ctx;

/* "local-<uid>": derived from the UID rather than a counter, so it is
 * stable across restarts and identical for concurrent duplicate creates
 * without any coordination.  Caller frees. */
char *local_job_id(const char *uid);

/* ---- callbacks (create.c, status.c, delete.c) ------------------------- */

int local_create(void *ctx, const il_create_request *req, char **job_id, il_buf *err);
int local_status(void *ctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err);
int local_delete(void *ctx, const il_pod *pod, il_buf *err);
int local_logs_open(void *ctx, const il_log_request *req, void **stream, il_buf *err);
json_t *local_ping(void *ctx);
/* exec.c: kubectl exec and port-forward. */
int local_exec(void *ctx, const il_exec_request *req, il_exec_proc *proc, il_buf *err);
int local_port_connect(void *ctx, const il_pod *pod, int port, int *fd, il_buf *err);

#endif
