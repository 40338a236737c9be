/* nodeexec.c -- the node side of kubectl exec and port-forward.
 *
 * exec.c starts these in the pod's job with srun; srun's stdin and stdout
 * are the only way between the plugin and the node, so they carry what
 * the session needs:
 *
 *   --run-pod DIR --exec CONTAINER [--stdin] [--tty] [--size W H] -- CMD...
 *       the session frames of session.h both ways: the command is started
 *       in the container the way the local plugin and exec probes enter
 *       one (rn_exec_prepare: nsenter into the container process's
 *       namespaces, or podman exec), with pipes or a pty here on the node,
 *       and served by the framework's own pump (il_exec_serve), so resize,
 *       stdin close and the exit code need nothing from srun.  The end of
 *       stdin means the plugin is gone: the command's group is killed.
 *   --run-pod DIR --attach CONTAINER [--in-tmpdir]
 *       kubectl attach -i: the frames from stdin go to the container's own
 *       stdin through its supervisor (rn_attach_serve), which runs in
 *       this job on this node.
 *   --run-pod DIR --connect PORT
 *       SLURM_CONNECTED once 127.0.0.1:PORT answered, then the raw bytes
 *       both ways until either side ends (why not, on stderr).
 *
 * DIR is the pod directory as the job sees it; with --in-tmpdir it is the
 * pod UID under ${SLURM_TMPDIR:-${TMPDIR:-/tmp}}, where the job script of
 * a non-shared filesystem unpacks the pod.  Every argument comes from the
 * plugin, which checked it; the command is argv, never shell. */
#include "slurm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t command_group;

/* srun forwards a cancelled step's SIGTERM/SIGHUP/SIGINT here. */
static void on_signal(int sig)
{
    if (command_group > 0) {
        kill(-command_group, SIGKILL);
        kill(command_group, SIGKILL);   /* before its setsid, only the pid reaches it */
    }
    _exit(128 + sig);
}

static int parse_size(const char *s, int *out)
{
    int64_t v;
    if (!s || il_parse_int64(s, &v) != 0 || v < 0 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

/* The pod directory DIR names, or NULL (a UID was expected). */
static char *node_dir(const char *dir, bool in_tmpdir)
{
    if (!in_tmpdir)
        return il_xstrdup(dir);
    if (!il_is_uuid(dir))
        return NULL;
    const char *tmp = getenv("SLURM_TMPDIR");
    if (!tmp || !*tmp)
        tmp = getenv("TMPDIR");
    return il_xasprintf("%s/%s", tmp && *tmp ? tmp : "/tmp", dir);
}

/* The last frame when the command could not start. */
static int say_error(const char *why)
{
    json_t *e = json_pack("{s:s}", "error", why);
    char *text = json_dumps(e, JSON_COMPACT);
    il_buf f = IL_BUF_INIT;
    il_session_frame(&f, IL_SESSION_EXIT, text, strlen(text));
    int rc = il_session_send(1, f.data, f.len);
    il_buf_free(&f);
    free(text);
    json_decref(e);
    return rc == 0 ? 0 : 1;
}

int slurm_node_exec(const char *dir, int argc, char **args)
{
    const char *container = argc > 1 ? args[1] : NULL;
    bool in_stdin = false, tty = false, in_tmpdir = false;
    int width = 0, height = 0, i = 2;
    for (; i < argc && strcmp(args[i], "--") != 0; i++) {
        if (!strcmp(args[i], "--stdin"))
            in_stdin = true;
        else if (!strcmp(args[i], "--tty"))
            tty = true;
        else if (!strcmp(args[i], "--in-tmpdir"))
            in_tmpdir = true;
        else if (!strcmp(args[i], "--size") && i + 2 < argc &&
                 parse_size(args[i + 1], &width) == 0 && parse_size(args[i + 2], &height) == 0)
            i += 2;
        else
            break;
    }
    char *pod_dir = node_dir(dir, in_tmpdir);
    if (!container || i + 1 >= argc || strcmp(args[i], "--") != 0 || !pod_dir) {
        fprintf(stderr, "usage: --run-pod DIR --exec CONTAINER [--stdin] [--tty] "
                        "[--size W H] [--in-tmpdir] -- COMMAND...\n");
        free(pod_dir);
        return 2;
    }
    launch_spec ls = {0};
    il_buf err = IL_BUF_INIT;
    il_exec_proc proc;
    int rc;
    if (rn_exec_prepare(pod_dir, container, args + i + 1, &ls, &err) != RN_EXEC_OK ||
        il_exec_spawn(ls.argv.v, ls.envp.v, tty, width, height, in_stdin, &proc, &err) != 0) {
        rc = say_error(il_buf_cstr(&err));
    } else {
        command_group = proc.pid;
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        signal(SIGINT, on_signal);
        signal(SIGPIPE, SIG_IGN);
        rc = il_exec_serve(&proc, 0, 1) < 0 ? 1 : 0;
    }
    rn_launch_spec_free(&ls);
    il_buf_free(&err);
    free(pod_dir);
    return rc;
}

int slurm_node_attach(const char *dir, int argc, char **args)
{
    bool in_tmpdir = argc > 2 && !strcmp(args[2], "--in-tmpdir");
    char *pod_dir = node_dir(dir, in_tmpdir);
    if (argc < 2 || argc > 3 || (argc == 3 && !in_tmpdir) || !pod_dir) {
        fprintf(stderr, "usage: --run-pod DIR --attach CONTAINER [--in-tmpdir]\n");
        free(pod_dir);
        return 2;
    }
    int rc = rn_attach_serve(pod_dir, args[1], 0, 1);
    free(pod_dir);
    return rc;
}

/* Copy one read of from to to; false at either's end. */
static bool copy_once(int from, int to)
{
    char buf[64 * 1024];
    ssize_t n = read(from, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    return n > 0 && il_session_send(to, buf, (size_t)n) == 0;
}

int slurm_node_connect(const char *dir, int argc, char **args)
{
    (void)dir;   /* pods of every runtime here use the node's network */
    int64_t port;
    if (argc < 2 || il_parse_int64(args[1], &port) != 0 || port < 1 || port > 65535) {
        fprintf(stderr, "usage: --run-pod DIR --connect PORT (1..65535)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "connecting to port %d: %s\n", (int)port, strerror(errno));
        return 1;
    }
    if (il_session_send(1, SLURM_CONNECTED, strlen(SLURM_CONNECTED)) != 0)
        return 1;
    bool open = true;
    while (open) {
        struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = s, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            open = copy_once(0, s);
        if (open && p[1].revents)
            open = copy_once(s, 1);
    }
    close(s);
    return 0;
}
