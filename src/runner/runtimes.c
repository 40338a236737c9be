/* runtimes.c -- every runtime's command line: how a container becomes an
 * argv and an envp.  Spawning, stopping and killing the processes is
 * sandbox.c's; nothing here starts one.
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
 * The HPC runtimes: apptainer / singularity, charliecloud (ch-run on an
 * image directory) and enroot.  The values a runtime would re-parse are
 * kept out of its option syntax: environment values travel in the
 * runtime's own environment (APPTAINERENV_NAME=value, enroot's `--env
 * NAME`), never in an option string, and mount paths with the runtime's
 * separators in them (':' and ','; whitespace and '$' for enroot's fstab
 * entries) are refused rather than mangled.  None of these runtimes can be
 * installed on the CI machine: their command lines are pinned by golden
 * tests (tests/unit).  Also the MPI launcher any runtime's command may be
 * wrapped in (the interlink-slurm mpi-flags annotation, runtime_spec.mpi).
 *
 * Nothing ever goes through a shell: argv and envp reach execve() (or
 * podman's JSON --entrypoint) byte for byte. */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

extern char **environ;

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define IMAGE_ROOT_ANNOTATION "slurm-job.vk.io/image-root"

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

void rn_sandbox_container_env(const il_pod *pod, const il_container *c, bool with_path, strvec *env)
{
    if (with_path)
        rn_strvec_setenv(env, "PATH", DEFAULT_PATH);
    char *hostname = pod_hostname(pod);
    rn_strvec_setenv(env, "HOSTNAME", hostname);
    free(hostname);
    for (size_t i = 0; i < c->n_env; i++)
        rn_strvec_setenv(env, c->env[i].name, c->env[i].value);
}

char *rn_sandbox_container_id(const runtime_spec *rt, const il_pod *pod, const char *name)
{
    if (rt->kind == RUNTIME_PODMAN)
        return il_xasprintf("podman://il-%s-%s", pod->uid, name);
    return il_xasprintf("%s://%s/%s", rt->kind == RUNTIME_HOST ? "local"
                                                                : rn_runtime_kind_name(rt->kind),
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
        rn_strvec_push(argv, "--dir");
        rn_strvec_push(argv, dir);
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
        if (rn_strvec_contains(skip, path) || lstat(path, &st) != 0) {
            /* on the way to a mount point, or vanished meanwhile */
        } else if (S_ISLNK(st.st_mode) && (tlen = readlink(path, target, sizeof(target) - 1)) > 0) {
            target[tlen] = '\0';
            rn_strvec_push(argv, "--symlink");
            rn_strvec_push(argv, target);
            rn_strvec_push(argv, path);
        } else {
            rn_strvec_push(argv, "--dev-bind");
            rn_strvec_push(argv, path);
            rn_strvec_push(argv, path);
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
    rn_strvec_push(dirs, "/");
    for (size_t i = 0; i < n; i++) {
        bool nested = false;
        for (size_t j = 0; j < n; j++)
            if (j != i && strcmp(dests[i], dests[j]) != 0 && is_under(dests[i], dests[j]))
                nested = true;
        if (!rn_strvec_contains(skip, dests[i]))
            rn_strvec_push(skip, dests[i]);
        for (char *p = strchr(dests[i] + 1, '/'); !nested && p; p = strchr(p + 1, '/')) {
            char *ancestor = il_xstrndup(dests[i], (size_t)(p - dests[i]));
            if (!rn_strvec_contains(dirs, ancestor)) {
                rn_strvec_push(dirs, ancestor);
                rn_strvec_push(skip, ancestor);
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
        rn_strvec_push(argv, mounts[order[i]].read_only ? "--ro-bind" : "--bind");
        rn_strvec_push(argv, mounts[order[i]].source);
        rn_strvec_push(argv, dests[order[i]]);
    }
    for (size_t i = 0; i < n; i++)
        free(dests[i]);
    free(dests);
    free(order);
    rn_strvec_free(&dirs);
    rn_strvec_free(&skip);
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
    rn_strvec_push(argv, rt->bwrap_path);
    /* A pid namespace: when the main process exits bwrap's init ends, and
     * every process the container left behind dies with it (no strays
     * holding the log pipes open).  --die-with-parent ties the container to
     * its supervisor. */
    char *hostname = pod_hostname(pod);
    const char *const fixed[] = {"--unshare-pid", "--unshare-uts", "--die-with-parent",
                                 "--hostname", hostname};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        rn_strvec_push(argv, fixed[i]);
    free(hostname);
    bwrap_mounts(mounts, n, argv);
    rn_strvec_push(argv, "--chdir");
    rn_strvec_push(argv, c->working_dir ? c->working_dir : "/");
    rn_strvec_push(argv, "--");
    for (char **a = exec_argv; *a; a++)
        rn_strvec_push(argv, *a);
    if (c->command)
        for (char **a = c->args; a && *a; a++)
            rn_strvec_push(argv, *a);
    rn_sandbox_container_env(pod, c, true, &out->envp);
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
        rn_strvec_push(argv, "-v");
        rn_strvec_pushf(argv, "%s:%s%s", mounts[i].source, mounts[i].dest,
                     mounts[i].read_only ? ":ro" : "");
    }
    return 0;
}

/* The container's limits as a kubelet enforces them through the CRI: a
 * memory cgroup limit with no swap beyond it, a CFS quota for the CPU. */
static void podman_limit_args(const il_resource_list *limits, strvec *argv)
{
    if (limits->memory_bytes > 0) {
        rn_strvec_pushf(argv, "--memory=%lld", (long long)limits->memory_bytes);
        rn_strvec_pushf(argv, "--memory-swap=%lld", (long long)limits->memory_bytes);
    }
    if (limits->cpu_milli > 0)
        rn_strvec_pushf(argv, "--cpus=%lld.%03lld", (long long)(limits->cpu_milli / 1000),
                     (long long)(limits->cpu_milli % 1000));
}

static int podman_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                          const mount_spec *mounts, size_t n, launch_spec *out, il_buf *err)
{
    char *image;
    if (rn_runtime_image_ref(rt, pod, c, &image, err) != 0)
        return -1;
    strvec *argv = &out->argv;
    const char *const fixed[] = {rt->path, "--runtime", "runc", "--cgroup-manager",
                                 "cgroupfs", "run", "--rm", "--replace", "--pull", "never",
                                 "--network", "host", "--name"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        rn_strvec_push(argv, fixed[i]);
    rn_strvec_pushf(argv, "il-%s-%s", pod->uid, c->name);
    bool in, once, tty;   /* the supervisor gives podman the stdin or terminal to pass on */
    rn_container_io_flags(pod, c->name, &in, &once, &tty);
    if (in)
        rn_strvec_push(argv, "--interactive");
    if (tty)
        rn_strvec_push(argv, "--tty");
    rn_strvec_push_all(argv, rt->args.v);
    if (rt->limits)
        podman_limit_args(&c->resources.limits, argv);
    if (rt->gpu) {
        rn_strvec_push(argv, "--device");
        rn_strvec_push(argv, "nvidia.com/gpu=all");   /* CDI, as podman documents for NVIDIA */
    }
    strvec env = {0};
    rn_sandbox_container_env(pod, c, false, &env);
    for (size_t i = 0; i < env.n; i++) {
        rn_strvec_push(argv, "-e");
        rn_strvec_push(argv, env.v[i]);
    }
    rn_strvec_free(&env);
    if (podman_volume_args(mounts, n, argv, err) != 0) {
        free(image);
        return -1;
    }
    if (c->working_dir) {
        rn_strvec_push(argv, "-w");
        rn_strvec_push(argv, c->working_dir);
    }
    if (c->command) {
        strvec cmd = {0};
        for (char **a = c->command; *a; a++)
            rn_strvec_push(&cmd, *a);
        json_t *arr = rn_strvec_to_json(&cmd);
        char *text = json_dumps(arr, JSON_COMPACT);
        rn_strvec_push(argv, "--entrypoint");
        rn_strvec_push(argv, text);
        free(text);
        json_decref(arr);
        rn_strvec_free(&cmd);
    }
    rn_strvec_push(argv, image);   /* podman stops reading options at the image */
    free(image);
    rn_strvec_push_all(argv, c->args);
    return 0;
}

/* ---- HPC runtimes ---------------------------------------------------- */

static bool has_scheme(const char *image)
{
    const char *colon = strstr(image, "://");
    return colon && colon > image && strcspn(image, "/") > (size_t)(colon - image);
}

char *rn_sandbox_image_ref(const runtime_spec *rt, const il_pod *pod, const char *image)
{
    const char *prefix = il_pod_annotation(pod, IMAGE_ROOT_ANNOTATION);
    if (!prefix || !prefix[0])
        prefix = rt->image_prefix;
    if (!prefix || !prefix[0] || image[0] == '/' || has_scheme(image))
        return il_xstrdup(image);
    return il_xasprintf("%s%s", prefix, image);
}

/* ---- image references -------------------------------------------------- */

/* Image references are checked against a grammar, never against a list of
 * bad strings: a reference (registry name, local path, URI) can then never
 * be read by the runtime as an option, whatever the image-root annotation
 * or the image put in front of it. */

static bool is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* A name component: alphanumerics with '.', '_', '-' inside (so never "..",
 * never a leading '-'). */
static bool name_component(const char *s, size_t len)
{
    if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

static bool all_of(const char *s, size_t len, const char *set, size_t min)
{
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && !strchr(set, s[i]))
            return false;
    return len >= min;
}

/* [host[:port]/]name[/name...][:tag][@algorithm:hex], as registries name
 * images (upper case allowed: enroot and ch-run names are not registry
 * names, and podman refuses what it cannot use). */
static bool registry_ref(const char *ref)
{
    size_t len = strlen(ref);
    const char *at = strchr(ref, '@');
    if (at) {
        const char *colon = strchr(at, ':');
        if (!colon || !all_of(at + 1, (size_t)(colon - at - 1), "+._-", 1) ||
            strspn(colon + 1, "0123456789abcdefABCDEF") != strlen(colon + 1) ||
            strlen(colon + 1) < 32)
            return false;
        len = (size_t)(at - ref);
    }
    const char *last_slash = memrchr(ref, '/', len);
    size_t name_from = last_slash ? (size_t)(last_slash - ref) : 0;
    const char *tag = memrchr(ref + name_from, ':', len - name_from);
    if (tag) {
        size_t tag_len = len - (size_t)(tag - ref) - 1;
        if (tag_len == 0 || tag_len > 128 || tag[1] == '.' || tag[1] == '-' ||
            !all_of(tag + 1, tag_len, "_.-", 1))
            return false;
        len = (size_t)(tag - ref);
    }
    for (size_t start = 0, first = 1; start <= len; first = 0) {
        const char *slash = memchr(ref + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - ref) : len;
        const char *port = first && slash ? memchr(ref + start, ':', end - start) : NULL;
        size_t name_end = port ? (size_t)(port - ref) : end;
        /* host:port: a registry host is localhost or has a dot. */
        bool host_ok = !port || memchr(ref + start, '.', name_end - start) ||
                       (name_end - start == 9 && strncmp(ref + start, "localhost", 9) == 0);
        if (!host_ok || !name_component(ref + start, name_end - start) ||
            (port && !all_of(port + 1, end - name_end - 1, "", 1)) ||
            (port && strspn(port + 1, "0123456789") != end - name_end - 1))
            return false;
        start = end + 1;
        if (!slash)
            break;
    }
    return true;
}

/* An absolute path without ".", ".." or empty components. */
static bool local_path(const char *ref)
{
    if (ref[0] != '/')
        return false;
    for (const char *p = ref + 1;;) {
        size_t len = strcspn(p, "/");
        if (!all_of(p, len, "._+@:-", 1) || (len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!p[len])
            return true;
        p += len + 1;
    }
}

/* The URI schemes each runtime pulls from; none reads a host file. */
static bool scheme_allowed(runtime_kind kind, const char *scheme, size_t len)
{
    static const char *const apptainer[] = {"docker", "library", "oras", "shub", NULL};
    static const char *const podman[] = {"docker", NULL};
    const char *const *allowed = kind == RUNTIME_PODMAN ? podman
                                 : kind == RUNTIME_APPTAINER || kind == RUNTIME_SINGULARITY
                                     ? apptainer : NULL;
    for (const char *const *a = allowed; a && *a; a++)
        if (strlen(*a) == len && strncmp(*a, scheme, len) == 0)
            return true;
    return false;
}

/* "dir:x", "oci-archive:/x", "docker-archive:5000/x": a name before the
 * first ':' that the containers-image library (podman) or apptainer takes
 * for a transport, which would read the rest as a path on this host. */
static bool transport_prefixed(const char *ref)
{
    static const char *const transports[] = {
        "atomic", "containers-storage", "dir", "docker", "docker-archive", "docker-daemon",
        "oci", "oci-archive", "ostree", "sif", "tarball", "library", "oras", "shub", NULL};
    size_t len = strcspn(ref, ":/");
    if (ref[len] != ':')
        return false;
    for (const char *const *t = transports; *t; t++)
        if (strlen(*t) == len && strncmp(*t, ref, len) == 0)
            return true;
    return false;
}

bool rn_runtime_image_ref_valid(runtime_kind kind, const char *ref)
{
    if (transport_prefixed(ref) && !has_scheme(ref))
        return false;
    const char *sep = strstr(ref, "://");
    if (has_scheme(ref))
        return scheme_allowed(kind, ref, (size_t)(sep - ref)) && registry_ref(sep + 3);
    if (ref[0] == '/')
        return kind != RUNTIME_PODMAN && local_path(ref);
    return registry_ref(ref);
}

int rn_runtime_image_ref(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                      char **out, il_buf *err)
{
    *out = NULL;
    if (!c->image || !c->image[0]) {
        il_buf_printf(err, "container %s: no image", c->name);
        return -1;
    }
    char *ref = rn_sandbox_image_ref(rt, pod, c->image);
    if (!rn_runtime_image_ref_valid(rt->kind, ref)) {
        const char *root = il_pod_annotation(pod, IMAGE_ROOT_ANNOTATION);
        il_buf_printf(err, "container %s: image \"%s\"%s%s%s is not an image reference %s can "
                      "use (a registry name[:tag][@digest]%s)", c->name, c->image,
                      root && root[0] ? " with " IMAGE_ROOT_ANNOTATION " \"" : "",
                      root && root[0] ? root : "", root && root[0] ? "\"" : "",
                      rn_runtime_kind_name(rt->kind),
                      rt->kind == RUNTIME_PODMAN ? " or docker://..."
                      : rt->kind == RUNTIME_APPTAINER || rt->kind == RUNTIME_SINGULARITY
                          ? ", an absolute path, or docker://, library://, oras://, shub://"
                          : " or an absolute path");
        free(ref);
        return -1;
    }
    *out = ref;
    return 0;
}

int rn_runtime_check_images(const runtime_spec *rt, const il_pod *pod, il_buf *err)
{
    if (rt->kind == RUNTIME_HOST)
        return 0;   /* the host runtime runs no image */
    for (size_t i = 0; i < pod->n_init_containers + pod->n_containers; i++) {
        const il_container *c = i < pod->n_init_containers
                                    ? &pod->init_containers[i]
                                    : &pod->containers[i - pod->n_init_containers];
        char *ref;
        if (rn_runtime_image_ref(rt, pod, c, &ref, err) != 0)
            return -1;
        free(ref);
    }
    return 0;
}

/* Paths the runtime splits on `forbidden` cannot be passed faithfully. */
static int check_mount_paths(const mount_spec *mounts, size_t n, const char *forbidden,
                             const char *runtime, il_buf *err)
{
    for (size_t i = 0; i < n; i++) {
        if (strpbrk(mounts[i].source, forbidden) || strpbrk(mounts[i].dest, forbidden)) {
            il_buf_printf(err, "mount %s: %s cannot bind paths containing any of \"%s\"",
                          mounts[i].dest, runtime, forbidden);
            return -1;
        }
    }
    return 0;
}

/* The container's env as NAME=value pairs under the runtime's prefix,
 * added to the supervisor's own environment (the runtime needs PATH, HOME,
 * ... to work). */
static void prefixed_env(const il_pod *pod, const il_container *c, const char *prefix,
                         strvec *out)
{
    strvec env = {0};
    rn_sandbox_container_env(pod, c, false, &env);
    rn_strvec_push_all(out, environ);
    for (size_t i = 0; i < env.n; i++)
        rn_strvec_pushf(out, "%s%s", prefix, env.v[i]);
    rn_strvec_free(&env);
}

/* ---- apptainer / singularity ------------------------------------------- */

/* `exec` when the pod sets command (it replaces the entrypoint), `run` when
 * it does not, so the image's runscript gets args appended -- Kubernetes'
 * command/args semantics.  A bare name means a registry image: docker://. */
int rn_runtime_apptainer_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                              const mount_spec *mounts, size_t n, launch_spec *out,
                              il_buf *err)
{
    char *image;
    if (check_mount_paths(mounts, n, ":,", "apptainer", err) != 0 ||
        rn_runtime_image_ref(rt, pod, c, &image, err) != 0)
        return -1;
    strvec *argv = &out->argv;
    rn_strvec_push(argv, rt->path);
    rn_strvec_push(argv, c->command ? "exec" : "run");
    rn_strvec_push_all(argv, rt->args.v);
    if (rt->gpu)
        rn_strvec_push(argv, "--nv");
    if (c->working_dir) {
        rn_strvec_push(argv, "--pwd");
        rn_strvec_push(argv, c->working_dir);
    }
    for (size_t i = 0; i < n; i++) {
        rn_strvec_push(argv, "--bind");
        rn_strvec_pushf(argv, "%s:%s:%s", mounts[i].source, mounts[i].dest,
                     mounts[i].read_only ? "ro" : "rw");
    }
    if (image[0] == '/' || has_scheme(image))
        rn_strvec_push(argv, image);
    else
        rn_strvec_pushf(argv, "docker://%s", image);
    free(image);
    rn_strvec_push_all(argv, c->command);
    rn_strvec_push_all(argv, c->args);
    prefixed_env(pod, c, rt->kind == RUNTIME_SINGULARITY ? "SINGULARITYENV_" : "APPTAINERENV_",
                 &out->envp);
    return 0;
}

/* ---- charliecloud ------------------------------------------------------ */

/* ch-run refuses to start without $USER (and uses $HOME): the supervisor's
 * own values, unless the pod sets them. */
static void chrun_env(const il_pod *pod, const il_container *c, strvec *env)
{
    const char *inherited[] = {"USER", "HOME"};
    for (size_t i = 0; i < 2; i++) {
        const char *value = getenv(inherited[i]);
        if (!value) {
            struct passwd *pw = getpwuid(getuid());
            value = pw ? (i == 0 ? pw->pw_name : pw->pw_dir) : (i == 0 ? "nobody" : "/");
        }
        rn_strvec_setenv(env, inherited[i], value);
    }
    rn_sandbox_container_env(pod, c, true, env);
}

/* ch-run knows no image entrypoint, so command (else args) is the argv, as
 * with the host runtime; the image is a directory (ImagePrefix + image).
 * ch-run passes its own environment to the container: it gets exactly the
 * container's.  ch-run has no read-only bind: readOnly is not enforced. */
int rn_runtime_charliecloud_command(const runtime_spec *rt, const il_pod *pod,
                                 const il_container *c, const mount_spec *mounts, size_t n,
                                 launch_spec *out, il_buf *err)
{
    char **exec_argv = c->command ? c->command : c->args;
    char *image;
    if (!exec_argv || !exec_argv[0]) {
        il_buf_printf(err, "container %s has neither command nor args; ch-run has no image "
                      "entrypoint to fall back on", c->name);
        return -1;
    }
    if (check_mount_paths(mounts, n, ":", "ch-run", err) != 0 ||
        rn_runtime_image_ref(rt, pod, c, &image, err) != 0)
        return -1;
    strvec *argv = &out->argv;
    rn_strvec_push(argv, rt->path);
    rn_strvec_push_all(argv, rt->args.v);
    for (size_t i = 0; i < n; i++)
        rn_strvec_pushf(argv, "--bind=%s:%s", mounts[i].source, mounts[i].dest);
    rn_strvec_pushf(argv, "--cd=%s", c->working_dir ? c->working_dir : "/");
    rn_strvec_push(argv, image);
    free(image);
    rn_strvec_push(argv, "--");
    rn_strvec_push_all(argv, exec_argv);
    if (c->command)
        rn_strvec_push_all(argv, c->args);
    chrun_env(pod, c, &out->envp);
    return 0;
}

/* ---- enroot ------------------------------------------------------------ */

/* `enroot start` on a container name or squashfs image (ImagePrefix +
 * image; importing registry images is the site's business).  Mounts are
 * fstab entries, env values come from enroot's environment (`--env NAME`).
 * enroot has no working-directory option: a workingDir is refused rather
 * than ignored.  Command, else args, replace the image's /etc/rc command. */
int rn_runtime_enroot_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                           const mount_spec *mounts, size_t n, launch_spec *out, il_buf *err)
{
    char *image;
    if (c->working_dir) {
        il_buf_printf(err, "container %s: workingDir is not supported by enroot", c->name);
        return -1;
    }
    if (check_mount_paths(mounts, n, ": \t\n$,", "enroot", err) != 0 ||
        rn_runtime_image_ref(rt, pod, c, &image, err) != 0)
        return -1;
    strvec *argv = &out->argv;
    rn_strvec_push(argv, rt->path);
    rn_strvec_push(argv, "start");
    rn_strvec_push_all(argv, rt->args.v);
    for (size_t i = 0; i < n; i++) {
        rn_strvec_push(argv, "--mount");
        rn_strvec_pushf(argv, "%s %s none x-create=auto,rbind%s", mounts[i].source, mounts[i].dest,
                     mounts[i].read_only ? ",ro" : "");
    }
    strvec env = {0};
    rn_sandbox_container_env(pod, c, false, &env);
    if (rt->gpu)
        rn_strvec_setenv(&env, "NVIDIA_VISIBLE_DEVICES", "all");   /* enroot's nvidia hook */
    rn_strvec_push_all(&out->envp, environ);
    for (size_t i = 0; i < env.n; i++) {
        const char *eq = strchr(env.v[i], '=');   /* names never hold '=' (poddir.c) */
        char *name = il_xstrndup(env.v[i], (size_t)(eq - env.v[i]));
        rn_strvec_push(argv, "--env");
        rn_strvec_push(argv, name);
        rn_strvec_setenv(&out->envp, name, eq + 1);
        free(name);
    }
    rn_strvec_free(&env);
    rn_strvec_push(argv, image);
    free(image);
    rn_strvec_push_all(argv, c->command);
    rn_strvec_push_all(argv, c->args);
    return 0;
}

/* ---- MPI launcher ------------------------------------------------------ */

/* `mpiexec -np N flags... <runtime argv>`: what upstream's mpi-flags
 * annotation meant to do.  N is read from the job's environment when the
 * container starts, as upstream's $SLURM_NTASKS would have been by the
 * shell, but without one: the flags are argv items made at create time. */
int rn_runtime_mpi_wrap(const runtime_spec *rt, launch_spec *out, il_buf *err)
{
    if (rt->mpi.n == 0)
        return 0;
    const char *ntasks = getenv("SLURM_NTASKS");
    char *end = NULL;
    long n = ntasks ? strtol(ntasks, &end, 10) : 0;
    if (!ntasks || end == ntasks || *end || n <= 0) {
        il_buf_printf(err, "slurm-job.vk.io/mpi-flags: SLURM_NTASKS is %s%s%s in the job's "
                      "environment; give the job --ntasks", ntasks ? "\"" : "not set",
                      ntasks ? ntasks : "", ntasks ? "\"" : "");
        return -1;
    }
    strvec argv = {0};
    rn_strvec_push(&argv, rt->mpi.v[0]);
    rn_strvec_push(&argv, "-np");
    rn_strvec_pushf(&argv, "%ld", n);
    for (size_t i = 1; i < rt->mpi.n; i++)
        rn_strvec_push(&argv, rt->mpi.v[i]);
    rn_strvec_push_all(&argv, out->argv.v);
    rn_strvec_free(&out->argv);
    out->argv = argv;
    return 0;
}

/* ---- the runtime of a container -------------------------------------- */

int rn_sandbox_command_mounts(const runtime_spec *rt, const il_pod *pod, const il_container *c,
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
        rc = rn_runtime_apptainer_command(rt, pod, c, mounts, n, out, err);
        break;
    case RUNTIME_CHARLIECLOUD:
        rc = rn_runtime_charliecloud_command(rt, pod, c, mounts, n, out, err);
        break;
    case RUNTIME_ENROOT:
        rc = rn_runtime_enroot_command(rt, pod, c, mounts, n, out, err);
        break;
    }
    bool init = c >= pod->init_containers && c < pod->init_containers + pod->n_init_containers;
    if (rc == 0 && !init)   /* init containers are set-up steps: run once, not per rank */
        rc = rn_runtime_mpi_wrap(rt, out, err);
    if (rc != 0)
        rn_launch_spec_free(out);
    return rc;
}

int rn_sandbox_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                    const char *pod_dir, launch_spec *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    mount_spec *mounts = NULL;
    size_t n = 0;
    if (rn_volumes_mounts(pod, c, pod_dir, &mounts, &n, err) != 0)
        return -1;
    int rc = rn_sandbox_command_mounts(rt, pod, c, mounts, n, out, err);
    rn_mounts_free(mounts, n);
    return rc;
}

void rn_launch_spec_free(launch_spec *ls)
{
    rn_strvec_free(&ls->argv);
    rn_strvec_free(&ls->envp);
}
