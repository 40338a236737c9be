/* exec.c -- kubectl exec and port-forward for interlink-local.
 *
 * exec runs the command the way exec probes run (rn_check_exec_command:
 * `podman exec`, or nsenter into every namespace of the container's
 * process), in a session of its own so the framework can kill it as a
 * group, with pipes or, for a TTY, a pty whose slave becomes the
 * command's controlling terminal (il_exec_spawn).  Pods here share the
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

static const il_container *find_container(const il_pod *pod, const char *name)
{
    for (size_t i = 0; i < pod->n_containers; i++)
        if (!strcmp(pod->containers[i].name, name))
            return &pod->containers[i];
    for (size_t i = 0; i < pod->n_init_containers; i++)
        if (!strcmp(pod->init_containers[i].name, name))
            return &pod->init_containers[i];
    return NULL;
}

/* The launch for req in its container: 0, or an HTTP status with err. */
static int exec_launch(local_ctx *lc, const il_exec_request *req, launch_spec *ls, il_buf *err)
{
    char *pod_dir = rn_poddir_find(lc->pods_dir, &req->pod);
    if (!pod_dir) {
        il_buf_printf(err, "pod %s/%s (uid %s) is not here", req->pod.ns, req->pod.name,
                      req->pod.uid);
        return 404;
    }
    il_create_request cr;
    runtime_spec rt;
    int rc = 500;
    if (rn_store_read_request(pod_dir, &cr, err) != 0) {
        free(pod_dir);
        return 500;
    }
    if (rn_runtime_spec_read(pod_dir, &rt, err) != 0) {
        il_create_request_free(&cr);
        free(pod_dir);
        return 500;
    }
    const il_container *c = find_container(&cr.pod, req->container);
    char *ctr_dir = c ? rn_store_ctr_dir(pod_dir, c->name) : NULL;
    il_container_status st = {0};
    pid_t pgid = 0;
    if (!c) {
        il_buf_printf(err, "container %s is not valid for pod %s", req->container, req->pod.name);
        rc = 404;
    } else if (rn_state_read(ctr_dir, &st, &pgid) != 0 || st.state != IL_STATE_RUNNING ||
               pgid <= 0) {
        il_buf_printf(err, "container %s is not running", c->name);
        rc = 409;
    } else {
        int r = rn_check_exec_command(&rt, &cr.pod, c, pgid, req->command, ls, err);
        if (r == 1)
            il_buf_printf(err, "container %s has no process to enter yet", c->name);
        rc = r == 0 ? 0 : r == 1 ? 409 : 500;
    }
    il_container_status_free(&st);
    free(ctr_dir);
    rn_runtime_spec_free(&rt);
    il_create_request_free(&cr);
    free(pod_dir);
    return rc;
}

int local_exec(void *ctx, const il_exec_request *req, il_exec_proc *proc, il_buf *err)
{
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
