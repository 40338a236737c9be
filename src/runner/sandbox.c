/* sandbox.c -- how a container becomes a process: argv and envp for the
 * host and podman runtimes (the HPC runtimes are in runtimes.c), process
 * spawning, stop and kill.
 *
 * Runtime "host": the container's argv runs directly on this host inside
 * bubblewrap, which gives it a private mount namespace where every volume
 * is at its mountPath.  The host root is not bound as a whole (bwrap would
 * then create missing mount points on the real filesystem); instead each
 * directory on the way to a mount point is "mirrored": recreated in bwrap's
 * tmpfs root with every host entry in it bound individually, so new mount
 * points only ever appear in the tmpfs.
 *
 * Runtime "podman": `podman run` in the foreground, so that its exit code is
 * the container's and its stdout/stderr are captured exactly like a host
 * process's.  Short image names ("busybox") need no mapping: with
 * --pull never podman resolves them against local images (localhost/...).
 *
 * Nothing ever goes through a shell: argv and envp reach execve() (or
 * podman's JSON --entrypoint) byte for byte. */
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

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- environment and argv, shared by both runtimes --------------------- */

/* The pod's hostname as the kubelet makes it: the name (a DNS subdomain,
 * checked at /create), cut to 63 bytes without a trailing '-' or '.'
 * (sethostname refuses more than 64). */
static char *pod_hostname(const il_pod *pod)
{
    size_t len = strlen(pod->name);
    if (len > 63)
        len = 63;
    while (len > 1 && (pod->name[len - 1] == '-' || pod->name[len - 1] == '.'))
        len--;
    return il_xstrndup(pod->name, len);
}

void sandbox_container_env(const il_pod *pod, const il_container *c, bool with_path, strvec *env)
{
    if (with_path)
        strvec_setenv(env, "PATH", DEFAULT_PATH);
    char *hostname = pod_hostname(pod);
    strvec_setenv(env, "HOSTNAME", hostname);
    free(hostname);
    for (size_t i = 0; i < c->n_env; i++)
        strvec_setenv(env, c->env[i].name, c->env[i].value);
}

char *sandbox_container_id(const runtime_spec *rt, const il_pod *pod, const char *name)
{
    if (rt->kind == RUNTIME_PODMAN)
        return il_xasprintf("podman://il-%s-%s", pod->uid, name);
    return il_xasprintf("%s://%s/%s", rt->kind == RUNTIME_HOST ? "local"
                                                                : runtime_kind_name(rt->kind),
                        pod->uid, name);
}

/* ---- host runtime: bubblewrap ------------------------------------------ */

/* The mount point in host terms: symlinks in the existing part of the path
 * are resolved (a mount at /bin/x lands on /usr/bin/x where /bin -> usr/bin),
 * so the mirror below never replaces a host symlink by a directory. */
static char *resolve_dest(const char *dest)
{
    char *prefix = il_xstrdup(dest);
    const char *rest = NULL;
    struct stat st;
    while (lstat(prefix, &st) != 0) {
        char *slash = strrchr(prefix, '/');
        if (slash == prefix) {
            free(prefix);
            return il_xstrdup(dest);
        }
        *slash = '\0';
        rest = dest + (slash - prefix);
    }
    char resolved[PATH_MAX];
    char *out = realpath(prefix, resolved)
                    ? il_xasprintf("%s%s", strcmp(resolved, "/") ? resolved : "", rest ? rest : "")
                    : il_xstrdup(dest);
    free(prefix);
    return out;
}

static bool is_under(const char *path, const char *dir)
{
    size_t len = strlen(dir);
    return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

/* Bind every host entry of dir except those on the way to a mount point. */
static void mirror_dir(const char *dir, const strvec *skip, strvec *argv)
{
    if (strcmp(dir, "/") != 0) {
        strvec_push(argv, "--dir");
        strvec_push(argv, dir);
    }
    DIR *d = opendir(dir);
    if (!d)
        return;   /* does not exist on the host: an empty tmpfs directory */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *path = il_xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", e->d_name);
        char target[PATH_MAX];
        ssize_t tlen;
        struct stat st;
        if (strvec_contains(skip, path) || lstat(path, &st) != 0) {
            /* on the way to a mount point, or vanished meanwhile */
        } else if (S_ISLNK(st.st_mode) && (tlen = readlink(path, target, sizeof(target) - 1)) > 0) {
            target[tlen] = '\0';
            strvec_push(argv, "--symlink");
            strvec_push(argv, target);
            strvec_push(argv, path);
        } else {
            strvec_push(argv, "--dev-bind");
            strvec_push(argv, path);
            strvec_push(argv, path);
        }
        free(path);
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The mirrored directories: every strict ancestor of a mount point that is
 * not itself inside another mount (those live in the volume, not the host). */
static void mirrored_dirs(char **dests, size_t n, strvec *dirs, strvec *skip)
{
    strvec_push(dirs, "/");
    for (size_t i = 0; i < n; i++) {
        bool nested = false;
        for (size_t j = 0; j < n; j++)
            if (j != i && strcmp(dests[i], dests[j]) != 0 && is_under(dests[i], dests[j]))
                nested = true;
        if (!strvec_contains(skip, dests[i]))
            strvec_push(skip, dests[i]);
        for (char *p = strchr(dests[i] + 1, '/'); !nested && p; p = strchr(p + 1, '/')) {
            char *ancestor = il_xstrndup(dests[i], (size_t)(p - dests[i]));
            if (!strvec_contains(dirs, ancestor)) {
                strvec_push(dirs, ancestor);
                strvec_push(skip, ancestor);
            }
            free(ancestor);
        }
    }
    qsort(dirs->v, dirs->n, sizeof(char *), cmp_str);
}

static void bwrap_mounts(const mount_spec *mounts, size_t n, strvec *argv)
{
    char **dests = il_xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        dests[i] = resolve_dest(mounts[i].dest);
    strvec dirs = {0}, skip = {0};
    mirrored_dirs(dests, n, &dirs, &skip);
    for (size_t i = 0; i < dirs.n; i++)
        mirror_dir(dirs.v[i], &skip, argv);
    /* Parents before children: lexical order puts "/a" before "/a/b". */
    size_t *order = il_xcalloc(n, sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(dests[order[j - 1]], dests[order[j]]) > 0; j--) {
            size_t tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    for (size_t i = 0; i < n; i++) {
        strvec_push(argv, mounts[order[i]].read_only ? "--ro-bind" : "--bind");
        strvec_push(argv, mounts[order[i]].source);
        strvec_push(argv, dests[order[i]]);
    }
    for (size_t i = 0; i < n; i++)
        free(dests[i]);
    free(dests);
    free(order);
    strvec_free(&dirs);
    strvec_free(&skip);
}

static int host_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                        const mount_spec *mounts, size_t n, launch_spec *out, il_buf *err)
{
    /* Kubernetes: command replaces the entrypoint and args the cmd; with
     * no image there is neither, so args alone are the argv. */
    char **exec_argv = c->command ? c->command : c->args;
    if (!exec_argv || !exec_argv[0]) {
        il_buf_printf(err, "container %s has neither command nor args; the host runtime "
                      "has no image entrypoint to fall back on", c->name);
        return -1;
    }
    il_debug("pod %s container %s: image %s ignored by the host runtime", pod->name, c->name,
             c->image ? c->image : "(none)");
    strvec *argv = &out->argv;
    strvec_push(argv, rt->bwrap_path);
    /* A pid namespace: when the main process exits bwrap's init ends, and
     * every process the container left behind dies with it (no strays
     * holding the log pipes open).  --die-with-parent ties the container to
     * its supervisor. */
    char *hostname = pod_hostname(pod);
    const char *const fixed[] = {"--unshare-pid", "--unshare-uts", "--die-with-parent",
                                 "--hostname", hostname};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        strvec_push(argv, fixed[i]);
    free(hostname);
    bwrap_mounts(mounts, n, argv);
    strvec_push(argv, "--chdir");
    strvec_push(argv, c->working_dir ? c->working_dir : "/");
    strvec_push(argv, "--");
    for (char **a = exec_argv; *a; a++)
        strvec_push(argv, *a);
    if (c->command)
        for (char **a = c->args; a && *a; a++)
            strvec_push(argv, *a);
    sandbox_container_env(pod, c, true, &out->envp);
    return 0;
}

/* ---- podman runtime ---------------------------------------------------- */

static int podman_volume_args(const mount_spec *mounts, size_t n, strvec *argv, il_buf *err)
{
    for (size_t i = 0; i < n; i++) {
        /* -v splits on ':' and has no quoting. */
        if (strchr(mounts[i].source, ':') || strchr(mounts[i].dest, ':')) {
            il_buf_printf(err, "mount %s: ':' in a path is not supported by podman -v",
                          mounts[i].dest);
            return -1;
        }
        strvec_push(argv, "-v");
        strvec_pushf(argv, "%s:%s%s", mounts[i].source, mounts[i].dest,
                     mounts[i].read_only ? ":ro" : "");
    }
    return 0;
}

/* The container's limits as a kubelet enforces them through the CRI: a
 * memory cgroup limit with no swap beyond it, a CFS quota for the CPU. */
static void podman_limit_args(const il_resource_list *limits, strvec *argv)
{
    if (limits->memory_bytes > 0) {
        strvec_pushf(argv, "--memory=%lld", (long long)limits->memory_bytes);
        strvec_pushf(argv, "--memory-swap=%lld", (long long)limits->memory_bytes);
    }
    if (limits->cpu_milli > 0)
        strvec_pushf(argv, "--cpus=%lld.%03lld", (long long)(limits->cpu_milli / 1000),
                     (long long)(limits->cpu_milli % 1000));
}

static int podman_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                          const mount_spec *mounts, size_t n, launch_spec *out, il_buf *err)
{
    char *image;
    if (runtime_image_ref(rt, pod, c, &image, err) != 0)
        return -1;
    strvec *argv = &out->argv;
    const char *const fixed[] = {rt->path, "--runtime", "runc", "--cgroup-manager",
                                 "cgroupfs", "run", "--rm", "--replace", "--pull", "never",
                                 "--network", "host", "--name"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        strvec_push(argv, fixed[i]);
    strvec_pushf(argv, "il-%s-%s", pod->uid, c->name);
    strvec_push_all(argv, rt->args.v);
    if (rt->limits)
        podman_limit_args(&c->resources.limits, argv);
    if (rt->gpu) {
        strvec_push(argv, "--device");
        strvec_push(argv, "nvidia.com/gpu=all");   /* CDI, as podman documents for NVIDIA */
    }
    strvec env = {0};
    sandbox_container_env(pod, c, false, &env);
    for (size_t i = 0; i < env.n; i++) {
        strvec_push(argv, "-e");
        strvec_push(argv, env.v[i]);
    }
    strvec_free(&env);
    if (podman_volume_args(mounts, n, argv, err) != 0) {
        free(image);
        return -1;
    }
    if (c->working_dir) {
        strvec_push(argv, "-w");
        strvec_push(argv, c->working_dir);
    }
    if (c->command) {
        strvec cmd = {0};
        for (char **a = c->command; *a; a++)
            strvec_push(&cmd, *a);
        json_t *arr = strvec_to_json(&cmd);
        char *text = json_dumps(arr, JSON_COMPACT);
        strvec_push(argv, "--entrypoint");
        strvec_push(argv, text);
        free(text);
        json_decref(arr);
        strvec_free(&cmd);
    }
    strvec_push(argv, image);   /* podman stops reading options at the image */
    free(image);
    strvec_push_all(argv, c->args);
    return 0;
}

int sandbox_command_mounts(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                           const mount_spec *mounts, size_t n, launch_spec *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    int rc = -1;
    switch (rt->kind) {
    case RUNTIME_HOST:
        rc = host_command(rt, pod, c, mounts, n, out, err);
        break;
    case RUNTIME_PODMAN:
        rc = podman_command(rt, pod, c, mounts, n, out, err);
        break;
    case RUNTIME_APPTAINER:
    case RUNTIME_SINGULARITY:
        rc = runtime_apptainer_command(rt, pod, c, mounts, n, out, err);
        break;
    case RUNTIME_CHARLIECLOUD:
        rc = runtime_charliecloud_command(rt, pod, c, mounts, n, out, err);
        break;
    case RUNTIME_ENROOT:
        rc = runtime_enroot_command(rt, pod, c, mounts, n, out, err);
        break;
    }
    bool init = c >= pod->init_containers && c < pod->init_containers + pod->n_init_containers;
    if (rc == 0 && !init)   /* init containers are set-up steps: run once, not per rank */
        rc = runtime_mpi_wrap(rt, out, err);
    if (rc != 0)
        launch_spec_free(out);
    return rc;
}

int sandbox_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                    const char *pod_dir, launch_spec *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    mount_spec *mounts = NULL;
    size_t n = 0;
    if (volumes_mounts(pod, c, pod_dir, &mounts, &n, err) != 0)
        return -1;
    int rc = sandbox_command_mounts(rt, pod, c, mounts, n, out, err);
    mounts_free(mounts, n);
    return rc;
}

void launch_spec_free(launch_spec *ls)
{
    strvec_free(&ls->argv);
    strvec_free(&ls->envp);
}

/* ---- processes --------------------------------------------------------- */

/* posix_spawn rather than fork: the plugin is multi-threaded, and glibc's
 * posix_spawn reports exec failures (ENOENT, EACCES) to the caller.  The
 * child gets stdin from /dev/null, out_fd/err_fd (-1: /dev/null), fd3 as
 * its fd 3 if >= 0, its own process group (so the whole container can be
 * signalled), default signal dispositions, and no other fd. */
int sandbox_spawn(char *const argv[], char *const envp[], int out_fd, int err_fd, int fd3,
                  pid_t *pid)
{
    return sandbox_spawn_in(NULL, argv, envp, out_fd, err_fd, fd3, pid);
}

int sandbox_spawn_in(const char *cwd, char *const argv[], char *const envp[], int out_fd,
                     int err_fd, int fd3, pid_t *pid)
{
    extern char **environ;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
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
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    int rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, envp && envp[0] ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int sandbox_run_quiet(char *const argv[])
{
    pid_t pid;
    int rc = sandbox_spawn(argv, NULL, -1, -1, -1, &pid);
    if (rc != 0) {
        il_warn("cannot run %s: %s", argv[0], strerror(rc));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

/* The group leader is bwrap's monitor: SIGTERM would kill it, and with it
 * (--die-with-parent) the whole container at once, grace period or not.
 * So the container's own processes are signalled one by one; bwrap's init
 * inside the pid namespace ignores signals it has no handler for. */
/* The init of a nested pid namespace (bwrap's, with --unshare-pid) ignores
 * signals it has no handler for, so "signalled it" would not mean "asked
 * the container to stop".  Its NSpid line ends in 1. */
bool sandbox_is_namespace_init(pid_t pid)
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

pid_t sandbox_proc_pgrp(pid_t pid)
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
        if (sandbox_proc_pgrp(pid) == pgid && kill(pid, sig) == 0 &&
            !sandbox_is_namespace_init(pid))
            signalled++;
    }
    if (d)
        closedir(d);
    return signalled;
}

/* Returns how many processes were asked to stop: 0 right after a start,
 * when only bwrap itself exists yet, and the caller should ask again. */
int sandbox_stop(const runtime_spec *rt, const il_pod *pod, const char *name, pid_t pgid,
                 int64_t grace)
{
    if (rt->kind == RUNTIME_HOST)
        return pgid > 0 ? signal_group_members(pgid, SIGTERM) : 0;
    if (rt->kind != RUNTIME_PODMAN)
        return pgid > 0 && killpg(pgid, SIGTERM) == 0;
    /* Asynchronous: the supervisor keeps capturing logs meanwhile and reaps
     * this child like any other. */
    strvec argv = {0};
    strvec_push(&argv, rt->path);
    strvec_push(&argv, "stop");
    strvec_push(&argv, "-t");
    strvec_pushf(&argv, "%lld", (long long)grace);
    strvec_pushf(&argv, "il-%s-%s", pod->uid, name);
    pid_t pid;
    if (sandbox_spawn(argv.v, NULL, -1, -1, -1, &pid) != 0)
        killpg(pgid, SIGTERM);
    strvec_free(&argv);
    return 1;
}

void sandbox_kill(pid_t pgid)
{
    if (pgid > 0)
        killpg(pgid, SIGKILL);
}

static void podman_rm(const runtime_spec *rt, const il_pod *pod, const il_container *c)
{
    strvec argv = {0};
    strvec_push(&argv, rt->path);
    strvec_push(&argv, "rm");
    strvec_push(&argv, "--force");
    strvec_push(&argv, "--ignore");
    strvec_pushf(&argv, "il-%s-%s", pod->uid, c->name);
    sandbox_run_quiet(argv.v);
    strvec_free(&argv);
}

void sandbox_cleanup(const runtime_spec *rt, const il_pod *pod)
{
    if (rt->kind != RUNTIME_PODMAN)
        return;
    for (size_t i = 0; i < pod->n_init_containers; i++)
        podman_rm(rt, pod, &pod->init_containers[i]);
    for (size_t i = 0; i < pod->n_containers; i++)
        podman_rm(rt, pod, &pod->containers[i]);
}
