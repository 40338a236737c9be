/* plugin.h -- the plugin framework: a backend is five callbacks.
 *
 * il_plugin_serve() runs the southbound HTTP API (POST /create, GET|POST
 * /status, POST|DELETE /delete, GET /getLogs) and does the HTTP, JSON,
 * validation and error mapping, so a backend only translates pods into its
 * own language.  "Ping" is upstream's GET /status with an empty list.
 *
 * Callbacks run concurrently on connection threads and must be thread-safe.
 * A callback that fails returns an HTTP status (400 bad pod, 404 unknown,
 * 409 conflict, 500 backend error, 503 backend unavailable) and writes a
 * message a person can act on into err; 0 means success. */
#ifndef IL_PLUGIN_H
#define IL_PLUGIN_H

#include <jansson.h>
#include <sys/types.h>

#include "httpd.h"
#include "pod.h"
#include "session.h"
#include "util.h"
#include "wire.h"

typedef struct il_exec_proc {
    pid_t pid;
    int in_fd, out_fd, err_fd;
    bool tty;
} il_exec_proc;

typedef struct il_plugin_ops {
    const char *name;         /* "local", "slurm": used in logs */

    /* Submit the pod.  Idempotent: a pod UID already submitted returns its
     * existing job id.  *job_id is malloc'd by the callee. */
    int (*create)(void *ctx, const il_create_request *req, char **job_id, il_buf *err);

    /* Status of n pods in one call.  out[i] is zeroed on entry and is for
     * pods[i]; leave out[i].uid NULL for a pod the backend does not know
     * (it is then left out of the answer).  Return non-zero only when the
     * backend cannot answer at all. */
    int (*status)(void *ctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err);

    /* Stop the pod (SIGTERM, then SIGKILL after pod->grace_seconds) and
     * remove its files.  Deleting an unknown pod succeeds (idempotent). */
    int (*delete)(void *ctx, const il_pod *pod, il_buf *err);

    /* Open a log stream for one container.  Returns 0 and sets *stream, or
     * an HTTP status with err.  read: bytes, 0 at end, -1 on error, or
     * IL_STREAM_AGAIN after waiting at most ~1 s (follow mode). */
    int (*logs_open)(void *ctx, const il_log_request *req, void **stream, il_buf *err);
    ssize_t (*logs_read)(void *stream, char *buf, size_t max);
    void (*logs_close)(void *stream);

    /* Capacity and taints as a PingResponse object (new reference), or
     * NULL to answer a plain "ok".  {"status": "error", "message": M}
     * answers 503 with M: the backend cannot say what it has. */
    json_t *(*ping)(void *ctx);

    /* ---- optional: interactive sessions (NULL: the endpoint answers 501) */

    /* kubectl exec: start req->command in the container.  *proc gets the
     * process (leading its own process group) and the fds of its stdin,
     * stdout and stderr, or with req->tty a pty's master in in_fd and
     * out_fd and -1 in err_fd.  The framework owns them from then on: it
     * pumps them, sizes the terminal, kills the group when the caller
     * goes away, and reaps the process for its exit code. */
    int (*exec)(void *ctx, const il_exec_request *req, il_exec_proc *proc, il_buf *err);

    /* kubectl port-forward: a TCP connection to port in the pod's network,
     * connected, in *fd (the framework owns it). */
    int (*port_connect)(void *ctx, const il_pod *pod, int port, int *fd, il_buf *err);
} il_plugin_ops;

/* Serve until SIGINT or SIGTERM.  Returns the process exit status. */
int il_plugin_serve(const il_plugin_ops *ops, void *ctx, const il_httpd_opts *listen);

/* POST /exec and /portforward (plugin_session.c), routed by
 * il_plugin_serve. */
void il_plugin_route_sessions(il_httpd *srv, const il_plugin_ops *ops, void *ctx);

#endif
