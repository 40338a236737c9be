/* daemon.c -- SIGINT/SIGTERM to a self-pipe the main thread waits on. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char byte = (unsigned char)sig;
    ssize_t ignored = write(signal_pipe[1], &byte, 1);
    (void)ignored;
    errno = saved;
}

void il_daemon_init_signals(void)
{
    if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_CLOEXEC) != 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int il_daemon_wait_for_signal(void)
{
    unsigned char byte = 0;
    for (;;) {
        ssize_t n = read(signal_pipe[0], &byte, 1);
        if (n == 1)
            return byte;
        if (n < 0 && errno == EINTR)
            continue;
        return SIGTERM;
    }
}
