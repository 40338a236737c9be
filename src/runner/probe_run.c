/* probe_run.c -- running one probe or hook handler, without blocking the
 * supervisor.
 *
 * Every run is a child process in its own process group with its output on
 * a pipe, so the supervisor's poll loop only reaps and reads, and a run
 * that hangs is killed at its deadline like any process:
 *
 *   exec       inside the container: `podman exec NAME argv...`; for the
 *              other runtimes nsenter into the namespaces of the
 *              container's process (see rn_check_exec_command).
 *   httpGet    libcurl in a forked child (GET, 200-399 is success, TLS
 *              not verified and no proxy, as the kubelet does).
 *   tcpSocket  a connect() in a forked child.
 *   sleep      a forked child that sleeps (hooks only).
 *
 * Both runtimes that run here use the host's network (podman --network
 * host, bubblewrap shares it), so the pod's address is 127.0.0.1. */
#include "runner.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define POD_ADDRESS "127.0.0.1"
#define PROBE_USER_AGENT "kube-probe/1.30"

/* ---- exec: finding the container's process ----------------------------- */

static bool ns_differs(pid_t pid, const char *ns)
{
    char path[64], mine[64], theirs[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
    ssize_t a = readlink(path, theirs, sizeof(theirs) - 1);
    snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
    ssize_t b = readlink(path, mine, sizeof(mine) - 1);
    if (a <= 0 || b <= 0)
        return false;
    return a != b || memcmp(theirs, mine, (size_t)a) != 0;
}

/* The namespaces nsenter can enter: their name in /proc/PID/ns, its option. */
static const struct {
    const char *proc, *option;
} NAMESPACES[] = {
    {"user", "--user"}, {"mnt", "--mount"}, {"pid", "--pid"},     {"uts", "--uts"},
    {"ipc", "--ipc"},   {"net", "--net"},   {"cgroup", "--cgroup"}, {"time", "--time"},
};

/* The lowest pid of group pgid that lives in a mount namespace other than
 * ours and is not a namespace's init: the container's own process, once
 * the runtime has finished setting it up.  0 if there is none yet. */
static pid_t container_process(pid_t pgid)
{
    pid_t best = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0 || (best && pid >= best) || rn_sandbox_proc_pgrp(pid) != pgid ||
            !ns_differs(pid, "mnt") || rn_sandbox_is_namespace_init(pid))
            continue;
        best = pid;
    }
    if (d)
        closedir(d);
    return best;
}

int rn_check_exec_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                       pid_t pgid, char *const argv[], launch_spec *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    pid_t target = 0;
    if (rt->kind != RUNTIME_PODMAN && (target = pgid > 0 ? container_process(pgid) : 0) <= 0)
        return 1;
    return rn_check_exec_argv(rt, pod, c, target, argv, out, err);
}

int rn_check_exec_argv(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                    pid_t target, char *const argv[], launch_spec *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!argv || !argv[0]) {
        il_buf_printf(err, "exec: no command");
        return -1;
    }
    if (rt->kind == RUNTIME_PODMAN) {
        /* podman exec takes the container's environment and workingDir;
         * options end at the container name. */
        rn_strvec_push(&out->argv, rt->path);
        rn_strvec_push(&out->argv, "exec");
        rn_strvec_pushf(&out->argv, "il-%s-%s", pod->uid, c->name);
        rn_strvec_push_all(&out->argv, argv);
        return 0;
    }
    /* Every namespace of the target that is not ours (mount, pid, uts,
     * and the user namespace bubblewrap or an unprivileged apptainer/
     * charliecloud/enroot made), its root, and the workingDir resolved
     * through /proc/PID/root, i.e. inside the container's mounts.  Without
     * a workingDir: the host runtime's "/" (what bwrap --chdir got), else
     * the target's own cwd, the image's WORKDIR.  Not `--all`: it also
     * re-enters the namespaces the container shares with us (cgroup, net,
     * time), and setns() into one owned by the initial user namespace
     * needs CAP_SYS_ADMIN there, so an ordinary account (a batch job's
     * owner) would be refused every exec, probe and hook. */
    rn_strvec_push(&out->argv, "nsenter");
    rn_strvec_pushf(&out->argv, "--target=%d", (int)target);
    for (size_t i = 0; i < sizeof(NAMESPACES) / sizeof(NAMESPACES[0]); i++)
        if (ns_differs(target, NAMESPACES[i].proc))
            rn_strvec_push(&out->argv, NAMESPACES[i].option);
    rn_strvec_push(&out->argv, "--preserve-credentials");
    rn_strvec_push(&out->argv, "--root");
    if (c->working_dir || rt->kind == RUNTIME_HOST)
        rn_strvec_pushf(&out->argv, "--wd=/proc/%d/root%s", (int)target,
                     c->working_dir ? c->working_dir : "/");
    else
        rn_strvec_push(&out->argv, "--wd");
    rn_strvec_push(&out->argv, "--");
    rn_strvec_push_all(&out->argv, argv);
    rn_sandbox_container_env(pod, c, true, &out->envp);
    return 0;
}

/* ---- httpGet and tcpSocket, in a forked child -------------------------- */

static size_t discard_body(char *data, size_t size, size_t n, void *unused)
{
    (void)data;
    (void)unused;
    return size * n;
}

static char *handler_url(const probe_handler *h)
{
    const char *host = h->host ? h->host : POD_ADDRESS;
    bool v6 = strchr(host, ':') != NULL;
    return il_xasprintf("%s://%s%s%s:%d%s", h->https ? "https" : "http", v6 ? "[" : "", host,
                        v6 ? "]" : "", h->port, h->path ? h->path : "/");
}

static bool has_header(const probe_handler *h, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < h->headers.n; i++)
        if (strncasecmp(h->headers.v[i], name, len) == 0 && h->headers.v[i][len] == ':')
            return true;
    return false;
}

static bool http_check(const probe_handler *h, int64_t timeout_ms, il_buf *msg)
{
    char *url = handler_url(h);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < h->headers.n; i++)
        headers = curl_slist_append(headers, h->headers.v[i]);
    if (!has_header(h, "Accept"))
        headers = curl_slist_append(headers, "Accept: */*");
    CURL *curl = curl_easy_init();
    long code = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    if (curl) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, PROBE_USER_AGENT);
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 0));
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
        rc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(curl);
    }
    bool ok = rc == CURLE_OK && code >= 200 && code < 400;
    if (rc != CURLE_OK)
        il_buf_printf(msg, "Get \"%s\": %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (!ok)
        il_buf_printf(msg, "HTTP probe failed with statuscode: %ld", code);
    curl_slist_free_all(headers);
    free(url);
    return ok;
}

static int connect_within(const struct addrinfo *ai, int64_t timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return errno;
    int rc = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = errno;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (rc == EINPROGRESS) {
            socklen_t len = sizeof(rc);
            rc = poll(&pfd, 1, (int)timeout_ms) == 1 ? 0 : ETIMEDOUT;
            if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &len) != 0)
                rc = errno;
        }
    }
    close(fd);
    return rc;
}

static bool tcp_check(const probe_handler *h, int64_t timeout_ms, il_buf *msg)
{
    const char *host = h->host ? h->host : POD_ADDRESS;
    char port[16];
    snprintf(port, sizeof(port), "%d", h->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        il_buf_printf(msg, "dial tcp %s:%s: %s", host, port, gai_strerror(gai));
        return false;
    }
    int rc = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && rc != 0; ai = ai->ai_next)
        rc = connect_within(ai, timeout_ms > 0 ? timeout_ms : 1000);
    freeaddrinfo(res);
    if (rc != 0)
        il_buf_printf(msg, "dial tcp %s:%s: connect: %s", host, port, strerror(rc));
    return rc == 0;
}

/* The forked child: check, say why on fd, exit 0 (success) or 1. */
static void __attribute__((noreturn)) run_in_child(const probe_handler *h, int64_t timeout_ms,
                                                   int fd)
{
    il_buf msg = IL_BUF_INIT;
    bool ok = true;
    if (h->kind == HANDLER_HTTP)
        ok = http_check(h, timeout_ms, &msg);
    else if (h->kind == HANDLER_TCP)
        ok = tcp_check(h, timeout_ms, &msg);
    else
        sleep((unsigned)h->sleep_seconds);
    if (msg.len && il_write_all(fd, msg.data, msg.len) < 0)
        ok = false;
    _exit(ok ? 0 : 1);
}

static int fork_check(const probe_handler *h, int64_t timeout_ms, int write_end, pid_t *pid)
{
    *pid = fork();
    if (*pid < 0)
        return errno;
    if (*pid == 0) {
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        run_in_child(h, timeout_ms, write_end);
    }
    setpgid(*pid, *pid);   /* no race with a kill before the child got there */
    return 0;
}

/* ---- a run ------------------------------------------------------------- */

int rn_check_start(const runtime_spec *rt, const il_pod *pod, const il_container *c, pid_t pgid,
                const probe_handler *h, int64_t timeout_ms, check_run *run, il_buf *err)
{
    memset(run, 0, sizeof(*run));
    run->out_fd = -1;
    launch_spec ls = {0};
    if (h->kind == HANDLER_EXEC) {
        int rc = rn_check_exec_command(rt, pod, c, pgid, h->command.v, &ls, err);
        if (rc != 0)
            return rc;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        il_buf_printf(err, "pipe: %s", strerror(errno));
        rn_launch_spec_free(&ls);
        return -1;
    }
    int rc = h->kind == HANDLER_EXEC
                 ? rn_sandbox_spawn(ls.argv.v, ls.envp.v, fds[1], fds[1], -1, &run->pid)
                 : fork_check(h, timeout_ms, fds[1], &run->pid);
    close(fds[1]);
    if (rc != 0) {
        il_buf_printf(err, "starting %s: %s", h->kind == HANDLER_EXEC ? ls.argv.v[0] : "check",
                      strerror(rc));
        close(fds[0]);
        run->pid = 0;
        rn_launch_spec_free(&ls);
        return -1;
    }
    rn_launch_spec_free(&ls);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    run->out_fd = fds[0];
    run->began_ms = il_monotonic_ms();
    run->deadline_ms = timeout_ms > 0 ? run->began_ms + timeout_ms : 0;
    return 0;
}

bool rn_check_read(check_run *run)
{
    char chunk[4096];
    while (run->out_fd >= 0) {
        ssize_t got = read(run->out_fd, chunk, sizeof(chunk));
        if (got > 0) {
            size_t room =
                CHECK_OUTPUT_MAX > run->output.len ? CHECK_OUTPUT_MAX - run->output.len : 0;
            il_buf_append(&run->output, chunk, (size_t)got < room ? (size_t)got : room);
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            return true;
        close(run->out_fd);
        run->out_fd = -1;
    }
    return false;
}

/* podman's own "the container is not running (yet)" errors, exit 125. */
static bool podman_not_running(const char *output)
{
    return strstr(output, "no such container") || strstr(output, "state improper") ||
           strstr(output, "is not running");
}

static probe_result exec_result(check_run *run, int status, il_buf *message)
{
    const char *out = il_buf_cstr(&run->output);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PROBE_SUCCESS;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 125 && podman_not_running(out)) {
        il_buf_printf(message, "container not running yet");
        return PROBE_UNKNOWN;
    }
    if (WIFEXITED(status))
        il_buf_printf(message, "command exited with %d%s%s", WEXITSTATUS(status),
                      *out ? ": " : "", out);
    else
        il_buf_printf(message, "command killed by signal %d", WTERMSIG(status));
    return PROBE_FAILURE;
}

probe_result rn_check_finish(check_run *run, int status, const probe_handler *h, il_buf *message)
{
    rn_check_read(run);
    il_buf dummy = IL_BUF_INIT;
    il_buf *msg = message ? message : &dummy;
    probe_result result;
    if (run->timed_out) {
        il_buf_printf(msg, "timed out after %llds",
                      (long long)((run->deadline_ms - run->began_ms + 999) / 1000));
        result = PROBE_FAILURE;
    } else if (h->kind == HANDLER_EXEC) {
        result = exec_result(run, status, msg);
    } else {
        result = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? PROBE_SUCCESS : PROBE_FAILURE;
        if (result == PROBE_FAILURE)
            il_buf_append(msg, run->output.data ? run->output.data : "", run->output.len);
    }
    il_buf_free(&dummy);
    if (run->out_fd >= 0)
        close(run->out_fd);
    il_buf_free(&run->output);
    memset(run, 0, sizeof(*run));
    run->out_fd = -1;
    return result;
}

void rn_check_abort(check_run *run)
{
    if (run->pid > 0)
        killpg(run->pid, SIGKILL);
    if (run->out_fd >= 0)
        close(run->out_fd);
    il_buf_free(&run->output);
    memset(run, 0, sizeof(*run));
    run->out_fd = -1;
}
