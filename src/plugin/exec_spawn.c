/* exec_spawn.c -- starting a kubectl exec command with its fds.
 *
 * The command gets a session of its own (so the framework can kill it as
 * a group) and pipes, or for a TTY a pty whose slave becomes its
 * controlling terminal, sized as kubectl's terminal is before the first
 * instruction runs.  Backends decide what argv is (nsenter, podman exec,
 * srun) and hand the result to the framework. */
#include "plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* In the child, before exec: only async-signal-safe calls. */
static void child(char *const argv[], char *const envp[], int in, int out, int errfd, bool tty)
{
    extern char **environ;
    setsid();
    if (tty)
        ioctl(in, TIOCSCTTY, 0);
    dup2(in, 0);
    dup2(out, 1);
    dup2(errfd, 2);
    closefrom(3);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    execvpe(argv[0], argv, envp && envp[0] ? envp : environ);
    _exit(127);
}

static int open_pty(int *master, int *slave)
{
    char name[128];
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0 || grantpt(*master) != 0 || unlockpt(*master) != 0 ||
        ptsname_r(*master, name, sizeof name) != 0 ||
        (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        if (*master >= 0)
            close(*master);
        return -1;
    }
    return 0;
}

int il_exec_spawn(char *const argv[], char *const envp[], bool tty, int width, int height,
                  bool stdin_open, il_exec_proc *proc, il_buf *err)
{
    int fds[6] = {-1, -1, -1, -1, -1, -1};   /* stdin r/w, stdout r/w, stderr r/w */
    int ok = tty ? open_pty(&fds[1], &fds[0])
                 : (pipe2(fds, O_CLOEXEC) | pipe2(fds + 2, O_CLOEXEC) |
                    pipe2(fds + 4, O_CLOEXEC));
    if (ok != 0) {
        il_buf_printf(err, "exec: %s", strerror(errno));
        for (int i = 0; i < 6; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return -1;
    }
    if (tty && width > 0 && height > 0 && width < 65536 && height < 65536) {
        struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};
        ioctl(fds[1], TIOCSWINSZ, &ws);
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (tty)
            child(argv, envp, fds[0], fds[0], fds[0], true);
        child(argv, envp, fds[0], fds[3], fds[5], false);
    }
    if (tty) {   /* fds[0] the slave, fds[1] the master */
        close(fds[0]);
        *proc = (il_exec_proc){.pid = pid, .in_fd = fds[1], .out_fd = dup(fds[1]),
                               .err_fd = -1, .tty = true};
    } else {
        close(fds[0]);
        close(fds[3]);
        close(fds[5]);
        *proc = (il_exec_proc){.pid = pid, .in_fd = fds[1], .out_fd = fds[2], .err_fd = fds[4]};
    }
    if (pid < 0) {
        il_buf_printf(err, "exec: fork: %s", strerror(errno));
        close(proc->in_fd);
        close(proc->out_fd);
        if (proc->err_fd >= 0)
            close(proc->err_fd);
        return -1;
    }
    if (!stdin_open && !tty) {   /* no stdin: the command sees EOF */
        close(proc->in_fd);
        proc->in_fd = -1;
    }
    return 0;
}
