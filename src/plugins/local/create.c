/* create.c -- /create: validate, lay out the pod directory (runner's
 * rn_poddir_create), start the detached supervisor.
 *
 * Of two concurrent creates of one UID exactly one makes the directory and
 * starts a supervisor; the other (and any later repeat) returns the job id,
 * after starting the supervisor itself when the first create died before
 * one recorded itself. */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define SUPERVISOR_READY_TIMEOUT_MS 10000

/* The supervisor is spawned (posix_spawn: safe in this multi-threaded
 * process) and then forks once more itself and starts a session, so it is
 * reparented to init and the plugin only reaps the short-lived first
 * process.  It writes one byte on its fd 3 once it has recorded itself. */
static int spawn_supervisor(const local_ctx *ctx, const char *dir, il_buf *err)
{
    char *log_path = rn_store_path(dir, "supervisor.log");
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    bool verbose = il_log_get_level() == IL_LOG_DEBUG;
    char *argv[] = {ctx->self_exe, "--run-pod", (char *)dir, "--ready-fd", "3",
                    verbose ? "--verbose" : NULL, NULL};
    int ready[2] = {-1, -1};
    pid_t pid = -1;
    int rc = log_fd < 0 || pipe2(ready, O_CLOEXEC) != 0
                 ? errno : rn_sandbox_spawn(argv, NULL, log_fd, log_fd, ready[1], &pid);
    if (ready[1] >= 0)
        close(ready[1]);
    if (log_fd >= 0)
        close(log_fd);
    if (rc == 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    char byte = 0;
    struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
    bool ok = rc == 0 && poll(&pfd, 1, SUPERVISOR_READY_TIMEOUT_MS) == 1 &&
              read(ready[0], &byte, 1) == 1;
    if (ready[0] >= 0)
        close(ready[0]);
    if (!ok)
        il_buf_printf(err, "the pod supervisor did not start (%s; see %s)",
                      rc ? strerror(rc) : "no ready signal", log_path);
    free(log_path);
    return ok ? 0 : -1;
}

/* Called with the pod's create lock held, so no other create is between
 * making the directory and starting its supervisor. */
static bool never_supervised(const char *dir)
{
    pid_t pid;
    return !rn_supervisor_done(dir) && rn_supervisor_alive(dir, &pid) < 0;
}

char *local_job_id(const char *uid)
{
    return il_xasprintf("local-%s", uid);
}

int local_create(void *vctx, const il_create_request *req, char **job_id, il_buf *err)
{
    const local_ctx *ctx = vctx;
    const il_pod *pod = &req->pod;
    if (rn_poddir_validate(pod, err) != 0)
        return 400;
    bool created = false;
    int lock_fd = -1;
    int status = il_plugin_status(
        rn_poddir_create(ctx->pods_dir, req, &ctx->runtime, &created, &lock_fd, err));
    char *dir = rn_store_pod_dir(ctx->pods_dir, pod->uid);
    if (status == 0 && (created || never_supervised(dir))) {
        /* !created: the create that made the directory died before its
         * supervisor recorded itself (kill -9 of the plugin), and this
         * repeat starts the pod.  The supervisor's claim keeps it from
         * running twice. */
        if (!created)
            il_warn("pod %s (%s): no supervisor ever ran it; starting one", pod->name, pod->uid);
        if (spawn_supervisor(ctx, dir, err) != 0 && never_supervised(dir))
            status = 500;   /* the directory stays: a repeat tries again */
        else
            il_buf_reset(err);   /* a slow supervisor recorded itself after all */
    }
    free(dir);
    if (lock_fd >= 0)
        close(lock_fd);
    if (status == 0)
        *job_id = local_job_id(pod->uid);
    return status;
}
