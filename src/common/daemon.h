/* daemon.h -- process lifecycle shared by the daemons.
 *
 * Signals are turned into a byte on a self-pipe instead of being blocked, so
 * child processes started by plugins inherit neither a blocked mask nor an
 * ignored SIGPIPE. */
#ifndef IL_DAEMON_H
#define IL_DAEMON_H

/* Install SIGINT/SIGTERM handlers; call once, before starting threads. */
void il_daemon_init_signals(void);
/* Block until SIGINT or SIGTERM arrives; returns the signal number. */
int il_daemon_wait_for_signal(void);

#endif
