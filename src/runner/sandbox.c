/* sandbox.c -- the processes of a container: spawning (argv and envp come
 * from runtimes.c), finding them again, stopping and killing them, and
 * removing what a runtime leaves behind (podman's containers). */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "prom.h"
#include "timeutil.h"

/* ---- processes --------------------------------------------------------- */

/* posix_spawn rather than fork: the plugin is multi-threaded, and glibc's
 * posix_spawn reports exec failures (ENOENT, EACCES) to the caller.  The
 * child gets stdin from /dev/null, out_fd/err_fd (-1: /dev/null), fd3 as
 * its fd 3 if >= 0, its own process group (so the whole container can be
 * signalled), default signal dispositions, and no other fd. */
static int spawn_full(const char *cwd, char *const argv[], char *const envp[], int in_fd,
                      const char *tty_path, int out_fd, int err_fd, int fd3, pid_t *pid);

int rn_sandbox_spawn(char *const argv[], char *const envp[], int out_fd, int err_fd, int fd3,
                  pid_t *pid)
{
    return rn_sandbox_spawn_in(NULL, argv, envp, out_fd, err_fd, fd3, pid);
}

int rn_sandbox_spawn_in(const char *cwd, char *const argv[], char *const envp[], int out_fd,
                     int err_fd, int fd3, pid_t *pid)
{
    return spawn_full(cwd, argv, envp, -1, NULL, out_fd, err_fd, fd3, pid);
}

int rn_sandbox_spawn_io(const char *cwd, char *const argv[], char *const envp[], int in_fd,
                        const char *tty_path, int out_fd, int err_fd, pid_t *pid)
{
    return spawn_full(cwd, argv, envp, in_fd, tty_path, out_fd, err_fd, -1, pid);
}

/* A terminal is opened after setsid (glibc runs the file actions after
 * it), which makes it the session's controlling terminal. */
static int spawn_full(const char *cwd, char *const argv[], char *const envp[], int in_fd,
                      const char *tty_path, int out_fd, int err_fd, int fd3, pid_t *pid)
{
    extern char **environ;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (tty_path) {
        posix_spawn_file_actions_addopen(&fa, 0, tty_path, O_RDWR, 0);
        out_fd = err_fd = 0;
    } else if (in_fd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    } else {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    else
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (fd3 >= 0)
        posix_spawn_file_actions_adddup2(&fa, fd3, 3);   /* clears FD_CLOEXEC, even if fd3 == 3 */
    posix_spawn_file_actions_addclosefrom_np(&fa, fd3 >= 0 ? 4 : 3);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    /* setsid makes a process group of its own as well */
    posix_spawnattr_setflags(&attr, (tty_path ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP) |
                                        POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    int rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, envp && envp[0] ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int rn_sandbox_run_quiet(char *const argv[])
{
    pid_t pid;
    int64_t started = il_monotonic_ms();
    int rc = rn_sandbox_spawn(argv, NULL, -1, -1, -1, &pid);
    if (rc != 0) {
        il_warn("cannot run %s: %s", argv[0], strerror(rc));
        il_prom_observe_command(argv[0], 0, "spawn");
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    il_prom_observe_command(argv[0], (double)(il_monotonic_ms() - started) / 1000.0,
                              status != 0 ? "exit" : NULL);
    return status;
}

/* The group leader is bwrap's monitor: SIGTERM would kill it, and with it
 * (--die-with-parent) the whole container at once, grace period or not.
 * So the container's own processes are signalled one by one; bwrap's init
 * inside the pid namespace ignores signals it has no handler for. */
/* The init of a nested pid namespace (bwrap's, with --unshare-pid) ignores
 * signals it has no handler for, so "signalled it" would not mean "asked
 * the container to stop".  Its NSpid line ends in 1. */
bool rn_sandbox_is_namespace_init(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    il_buf status = IL_BUF_INIT;
    bool init = false;
    if (il_read_file(path, 16384, &status) == 0) {
        const char *line = strstr(il_buf_cstr(&status), "\nNSpid:");
        long ids[8];
        int n = 0, used = 0;
        const char *p = line ? line + strlen("\nNSpid:") : NULL;
        while (p && n < 8 && sscanf(p, " %ld%n", &ids[n], &used) == 1) {
            n++;
            p += used;
            if (*p == '\n')
                break;
        }
        init = n > 1 && ids[n - 1] == 1;   /* pid 1 of a namespace below ours */
    }
    il_buf_free(&status);
    return init;
}

pid_t rn_sandbox_proc_pgrp(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    il_buf stat_text = IL_BUF_INIT;
    int pgrp = -1;
    if (il_read_file(path, 4096, &stat_text) == 0) {
        const char *p = strrchr(il_buf_cstr(&stat_text), ')');
        if (!p || sscanf(p + 1, " %*c %*d %d", &pgrp) != 1)
            pgrp = -1;
    }
    il_buf_free(&stat_text);
    return (pid_t)pgrp;
}

static int signal_group_members(pid_t pgid, int sig)
{
    int signalled = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0 || pid == pgid)
            continue;
        if (rn_sandbox_proc_pgrp(pid) == pgid && kill(pid, sig) == 0 &&
            !rn_sandbox_is_namespace_init(pid))
            signalled++;
    }
    if (d)
        closedir(d);
    return signalled;
}

/* Returns how many processes were asked to stop: 0 right after a start,
 * when only bwrap itself exists yet, and the caller should ask again. */
int rn_sandbox_stop(const runtime_spec *rt, const il_pod *pod, const char *name, pid_t pgid,
                 int64_t grace)
{
    if (rt->kind == RUNTIME_HOST)
        return pgid > 0 ? signal_group_members(pgid, SIGTERM) : 0;
    if (rt->kind != RUNTIME_PODMAN)
        return pgid > 0 && killpg(pgid, SIGTERM) == 0;
    /* Asynchronous: the supervisor keeps capturing logs meanwhile and reaps
     * this child like any other. */
    strvec argv = {0};
    rn_strvec_push(&argv, rt->path);
    rn_strvec_push(&argv, "stop");
    rn_strvec_push(&argv, "-t");
    rn_strvec_pushf(&argv, "%lld", (long long)grace);
    rn_strvec_pushf(&argv, "il-%s-%s", pod->uid, name);
    pid_t pid;
    if (rn_sandbox_spawn(argv.v, NULL, -1, -1, -1, &pid) != 0)
        killpg(pgid, SIGTERM);
    rn_strvec_free(&argv);
    return 1;
}

void rn_sandbox_kill(pid_t pgid)
{
    if (pgid > 0)
        killpg(pgid, SIGKILL);
}

static void podman_rm(const runtime_spec *rt, const il_pod *pod, const il_container *c)
{
    strvec argv = {0};
    rn_strvec_push(&argv, rt->path);
    rn_strvec_push(&argv, "rm");
    rn_strvec_push(&argv, "--force");
    rn_strvec_push(&argv, "--ignore");
    rn_strvec_pushf(&argv, "il-%s-%s", pod->uid, c->name);
    rn_sandbox_run_quiet(argv.v);
    rn_strvec_free(&argv);
}

void rn_sandbox_cleanup(const runtime_spec *rt, const il_pod *pod)
{
    if (rt->kind != RUNTIME_PODMAN)
        return;
    for (size_t i = 0; i < pod->n_init_containers; i++)
        podman_rm(rt, pod, &pod->init_containers[i]);
    for (size_t i = 0; i < pod->n_containers; i++)
        podman_rm(rt, pod, &pod->containers[i]);
}
