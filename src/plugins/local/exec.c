/* exec.c -- kubectl exec and port-forward for interlink-local.
 *
 * exec runs the command the way exec probes run (rn_check_exec_command:
 * `podman exec`, or nsenter into every namespace of the container's
 * process), in a session of its own so the framework can kill it as a
 * group, with pipes or, for a TTY, a pty whose slave becomes the
 * command's controlling terminal (il_exec_spawn).  attach -i relays to
 * the supervisor, which keeps the container's stdin (ctrstdin.c).  Pods here share the
 * host's network (probes reach them on 127.0.0.1 too), so a forwarded
 * port is a connection to 127.0.0.1:port. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "local.h"
#include "plugin.h"

/* The pod's directory (caller frees), or NULL with err (a 404). */
static char *exec_pod_dir(local_ctx *lc, const il_exec_request *req, il_buf *err)
{
    char *pod_dir = rn_poddir_find(lc->pods_dir, &req->pod);
    if (!pod_dir)
        il_buf_printf(err, "pod %s/%s (uid %s) is not here", req->pod.ns, req->pod.name,
                      req->pod.uid);
    return pod_dir;
}

/* The HTTP status of each rn_exec_prepare / rn_attach_check answer. */
static const int exec_status[] = {[RN_EXEC_OK] = 0, [RN_EXEC_IO] = 500,
                                  [RN_EXEC_UNKNOWN] = 404, [RN_EXEC_NOT_RUNNING] = 409,
                                  [RN_EXEC_NO_STDIN] = 400};

/* The launch for req in its container: 0, or an HTTP status with err. */
static int exec_launch(local_ctx *lc, const il_exec_request *req, launch_spec *ls, il_buf *err)
{
    char *pod_dir = exec_pod_dir(lc, req, err);
    if (!pod_dir)
        return 404;
    int rc = exec_status[rn_exec_prepare(pod_dir, req->container, req->command, ls, err)];
    free(pod_dir);
    return rc;
}

/* kubectl attach -i: an attacher process (this binary's --run-pod DIR
 * --attach C, rn_attach_serve) relays the frames to the supervisor, which
 * holds the container's stdin. */
static int local_attach(local_ctx *lc, const il_exec_request *req, il_exec_proc *proc,
                        il_buf *err)
{
    char *pod_dir = exec_pod_dir(lc, req, err);
    if (!pod_dir)
        return 404;
    int rc = exec_status[rn_attach_check(pod_dir, req->container, err)];
    char *argv[] = {lc->self_exe, "--run-pod", pod_dir, "--attach", req->container, NULL};
    if (rc == 0 && il_exec_spawn(argv, NULL, false, 0, 0, true, proc, err) != 0)
        rc = 500;
    if (rc == 0)
        proc->framed = true;
    free(pod_dir);
    return rc;
}

int local_exec(void *ctx, const il_exec_request *req, il_exec_proc *proc, il_buf *err)
{
    if (req->attach)
        return local_attach(ctx, req, proc, err);
    launch_spec ls = {0};
    int rc = exec_launch(ctx, req, &ls, err);
    if (rc == 0 && il_exec_spawn(ls.argv.v, ls.envp.v, req->tty, req->width, req->height,
                                 req->stdin_open, proc, err) != 0)
        rc = 500;
    rn_launch_spec_free(&ls);
    return rc;
}

int local_port_connect(void *ctx, const il_pod *pod, int port, int *fd, il_buf *err)
{
    local_ctx *lc = ctx;
    char *pod_dir = rn_poddir_find(lc->pods_dir, pod);
    if (!pod_dir) {
        il_buf_printf(err, "pod %s/%s (uid %s) is not here", pod->ns, pod->name, pod->uid);
        return 404;
    }
    free(pod_dir);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        il_buf_printf(err, "connecting to port %d of pod %s: %s", port, pod->name,
                      strerror(errno));
        if (s >= 0)
            close(s);
        return 502;
    }
    *fd = s;
    return 0;
}
