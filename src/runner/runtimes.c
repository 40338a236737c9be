/* runtimes.c -- argv and envp for the HPC container runtimes: apptainer /
 * singularity, charliecloud (ch-run on an image directory) and enroot.
 *
 * As for host and podman (sandbox.c), nothing goes through a shell on our
 * side.  The values a runtime would re-parse are kept out of its option
 * syntax: environment values travel in the runtime's own environment
 * (APPTAINERENV_NAME=value, enroot's `--env NAME`), never in an option
 * string, and mount paths with the runtime's separators in them (':' and
 * ','; whitespace and '$' for enroot's fstab entries) are refused rather
 * than mangled.  None of these runtimes can be installed on the CI machine:
 * their command lines are pinned by golden tests (tests/unit).
 *
 * Also the MPI launcher any runtime's command may be wrapped in (the
 * interlink-slurm mpi-flags annotation, frozen in runtime_spec.mpi). */
#include "runner.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define IMAGE_ROOT_ANNOTATION "slurm-job.vk.io/image-root"

static bool has_scheme(const char *image)
{
    const char *colon = strstr(image, "://");
    return colon && colon > image && strcspn(image, "/") > (size_t)(colon - image);
}

char *sandbox_image_ref(const runtime_spec *rt, const il_pod *pod, const char *image)
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

bool runtime_image_ref_valid(runtime_kind kind, const char *ref)
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

int runtime_image_ref(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                      char **out, il_buf *err)
{
    *out = NULL;
    if (!c->image || !c->image[0]) {
        il_buf_printf(err, "container %s: no image", c->name);
        return -1;
    }
    char *ref = sandbox_image_ref(rt, pod, c->image);
    if (!runtime_image_ref_valid(rt->kind, ref)) {
        const char *root = il_pod_annotation(pod, IMAGE_ROOT_ANNOTATION);
        il_buf_printf(err, "container %s: image \"%s\"%s%s%s is not an image reference %s can "
                      "use (a registry name[:tag][@digest]%s)", c->name, c->image,
                      root && root[0] ? " with " IMAGE_ROOT_ANNOTATION " \"" : "",
                      root && root[0] ? root : "", root && root[0] ? "\"" : "",
                      runtime_kind_name(rt->kind),
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

int runtime_check_images(const runtime_spec *rt, const il_pod *pod, il_buf *err)
{
    if (rt->kind == RUNTIME_HOST)
        return 0;   /* the host runtime runs no image */
    for (size_t i = 0; i < pod->n_init_containers + pod->n_containers; i++) {
        const il_container *c = i < pod->n_init_containers
                                    ? &pod->init_containers[i]
                                    : &pod->containers[i - pod->n_init_containers];
        char *ref;
        if (runtime_image_ref(rt, pod, c, &ref, err) != 0)
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
    sandbox_container_env(pod, c, false, &env);
    strvec_push_all(out, environ);
    for (size_t i = 0; i < env.n; i++)
        strvec_pushf(out, "%s%s", prefix, env.v[i]);
    strvec_free(&env);
}

/* ---- apptainer / singularity ------------------------------------------- */

/* `exec` when the pod sets command (it replaces the entrypoint), `run` when
 * it does not, so the image's runscript gets args appended -- Kubernetes'
 * command/args semantics.  A bare name means a registry image: docker://. */
int runtime_apptainer_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                              const mount_spec *mounts, size_t n, launch_spec *out,
                              il_buf *err)
{
    char *image;
    if (check_mount_paths(mounts, n, ":,", "apptainer", err) != 0 ||
        runtime_image_ref(rt, pod, c, &image, err) != 0)
        return -1;
    strvec *argv = &out->argv;
    strvec_push(argv, rt->path);
    strvec_push(argv, c->command ? "exec" : "run");
    strvec_push_all(argv, rt->args.v);
    if (rt->gpu)
        strvec_push(argv, "--nv");
    if (c->working_dir) {
        strvec_push(argv, "--pwd");
        strvec_push(argv, c->working_dir);
    }
    for (size_t i = 0; i < n; i++) {
        strvec_push(argv, "--bind");
        strvec_pushf(argv, "%s:%s:%s", mounts[i].source, mounts[i].dest,
                     mounts[i].read_only ? "ro" : "rw");
    }
    if (image[0] == '/' || has_scheme(image))
        strvec_push(argv, image);
    else
        strvec_pushf(argv, "docker://%s", image);
    free(image);
    strvec_push_all(argv, c->command);
    strvec_push_all(argv, c->args);
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
        strvec_setenv(env, inherited[i], value);
    }
    sandbox_container_env(pod, c, true, env);
}

/* ch-run knows no image entrypoint, so command (else args) is the argv, as
 * with the host runtime; the image is a directory (ImagePrefix + image).
 * ch-run passes its own environment to the container: it gets exactly the
 * container's.  ch-run has no read-only bind: readOnly is not enforced. */
int runtime_charliecloud_command(const runtime_spec *rt, const il_pod *pod,
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
        runtime_image_ref(rt, pod, c, &image, err) != 0)
        return -1;
    strvec *argv = &out->argv;
    strvec_push(argv, rt->path);
    strvec_push_all(argv, rt->args.v);
    for (size_t i = 0; i < n; i++)
        strvec_pushf(argv, "--bind=%s:%s", mounts[i].source, mounts[i].dest);
    strvec_pushf(argv, "--cd=%s", c->working_dir ? c->working_dir : "/");
    strvec_push(argv, image);
    free(image);
    strvec_push(argv, "--");
    strvec_push_all(argv, exec_argv);
    if (c->command)
        strvec_push_all(argv, c->args);
    chrun_env(pod, c, &out->envp);
    return 0;
}

/* ---- enroot ------------------------------------------------------------ */

/* `enroot start` on a container name or squashfs image (ImagePrefix +
 * image; importing registry images is the site's business).  Mounts are
 * fstab entries, env values come from enroot's environment (`--env NAME`).
 * enroot has no working-directory option: a workingDir is refused rather
 * than ignored.  Command, else args, replace the image's /etc/rc command. */
int runtime_enroot_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                           const mount_spec *mounts, size_t n, launch_spec *out, il_buf *err)
{
    char *image;
    if (c->working_dir) {
        il_buf_printf(err, "container %s: workingDir is not supported by enroot", c->name);
        return -1;
    }
    if (check_mount_paths(mounts, n, ": \t\n$,", "enroot", err) != 0 ||
        runtime_image_ref(rt, pod, c, &image, err) != 0)
        return -1;
    strvec *argv = &out->argv;
    strvec_push(argv, rt->path);
    strvec_push(argv, "start");
    strvec_push_all(argv, rt->args.v);
    for (size_t i = 0; i < n; i++) {
        strvec_push(argv, "--mount");
        strvec_pushf(argv, "%s %s none x-create=auto,rbind%s", mounts[i].source, mounts[i].dest,
                     mounts[i].read_only ? ",ro" : "");
    }
    strvec env = {0};
    sandbox_container_env(pod, c, false, &env);
    if (rt->gpu)
        strvec_setenv(&env, "NVIDIA_VISIBLE_DEVICES", "all");   /* enroot's nvidia hook */
    strvec_push_all(&out->envp, environ);
    for (size_t i = 0; i < env.n; i++) {
        const char *eq = strchr(env.v[i], '=');   /* names never hold '=' (poddir.c) */
        char *name = il_xstrndup(env.v[i], (size_t)(eq - env.v[i]));
        strvec_push(argv, "--env");
        strvec_push(argv, name);
        strvec_setenv(&out->envp, name, eq + 1);
        free(name);
    }
    strvec_free(&env);
    strvec_push(argv, image);
    free(image);
    strvec_push_all(argv, c->command);
    strvec_push_all(argv, c->args);
    return 0;
}

/* ---- MPI launcher ------------------------------------------------------ */

/* `mpiexec -np N flags... <runtime argv>`: what upstream's mpi-flags
 * annotation meant to do.  N is read from the job's environment when the
 * container starts, as upstream's $SLURM_NTASKS would have been by the
 * shell, but without one: the flags are argv items made at create time. */
int runtime_mpi_wrap(const runtime_spec *rt, launch_spec *out, il_buf *err)
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
    strvec_push(&argv, rt->mpi.v[0]);
    strvec_push(&argv, "-np");
    strvec_pushf(&argv, "%ld", n);
    for (size_t i = 1; i < rt->mpi.n; i++)
        strvec_push(&argv, rt->mpi.v[i]);
    strvec_push_all(&argv, out->argv.v);
    strvec_free(&out->argv);
    out->argv = argv;
    return 0;
}
