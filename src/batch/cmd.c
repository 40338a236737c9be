/* cmd.c -- running the batch system's client commands (sbatch, squeue,
 * condor_submit, ...): argv only (never a shell), stdout and stderr
 * captured, a deadline always (a hung slurmctld or schedd must not hang
 * /status forever). */
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "prom.h"
#include "timeutil.h"
#include "trace.h"

static void drain(int *fd, il_buf *into)
{
    char chunk[16384];
    ssize_t got = read(*fd, chunk, sizeof(chunk));
    if (got > 0) {
        il_buf_append(into, chunk, (size_t)got);
    } else if (got == 0 || errno != EINTR) {
        close(*fd);
        *fd = -1;
    }
}

/* Read both pipes until they close or the deadline passes. */
static bool collect(int fds[2], il_buf *bufs[2], int64_t deadline_ms)
{
    while (fds[0] >= 0 || fds[1] >= 0) {
        int64_t left = deadline_ms - il_monotonic_ms();
        if (left <= 0)
            return false;
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        if (poll(p, 2, (int)left) < 0 && errno != EINTR)
            return false;
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0 && p[i].revents)
                drain(&fds[i], bufs[i]);
    }
    return true;
}

static int wait_exit(pid_t pid, bool kill_first)
{
    if (kill_first)
        killpg(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (kill_first)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cmd_run(char *const argv[], int64_t timeout_s, cmd_result *res)
{
    return cmd_run_fd3(argv, -1, timeout_s, res);
}

static int run(char *const argv[], int fd3, int64_t timeout_s, cmd_result *res);

/* Every command is a span of the request that ran it. */
int cmd_run_fd3(char *const argv[], int fd3, int64_t timeout_s, cmd_result *res)
{
    const char *base = strrchr(argv[0], '/');
    il_span *span = il_span_start_child(base ? base + 1 : argv[0], IL_SPAN_INTERNAL);
    il_span_set_str(span, "interlink.backend", il_prom_backend());
    int rc = run(argv, fd3, timeout_s, res);
    il_span_set_int(span, "process.exit.code", res->status);
    if (res->status != 0)
        il_span_set_error(span, il_buf_cstr(&res->err));
    il_span_end(span);
    return rc;
}

static int run(char *const argv[], int fd3, int64_t timeout_s, cmd_result *res)
{
    memset(res, 0, sizeof(*res));
    res->status = -1;
    int64_t started = il_monotonic_ms();
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        il_buf_printf(&res->err, "pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++)
            if (out[i] >= 0)
                close(out[i]);
        return -1;
    }
    pid_t pid;
    int rc = rn_sandbox_spawn(argv, NULL, out[1], errp[1], fd3, &pid);
    close(out[1]);
    close(errp[1]);
    int fds[2] = {out[0], errp[0]};
    if (rc != 0) {
        il_buf_printf(&res->err, "cannot run %s: %s", argv[0], strerror(rc));
        close(fds[0]);
        close(fds[1]);
        il_prom_observe_command(argv[0], 0, "spawn");
        return -1;
    }
    il_buf *bufs[2] = {&res->out, &res->err};
    bool in_time = collect(fds, bufs, il_monotonic_ms() + timeout_s * 1000);
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    res->status = wait_exit(pid, !in_time);
    if (!in_time)
        il_buf_printf(&res->err, "%s did not finish within %llds", argv[0], (long long)timeout_s);
    il_debug("%s exited %d", argv[0], res->status);
    il_prom_observe_command(argv[0], (double)(il_monotonic_ms() - started) / 1000.0,
                              !in_time ? "timeout" : res->status != 0 ? "exit" : NULL);
    return res->status;
}

void cmd_result_free(cmd_result *res)
{
    il_buf_free(&res->out);
    il_buf_free(&res->err);
}
