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

void sandbox_push_image(const runtime_spec *rt, const il_pod *pod, const char *image,
                        strvec *argv)
{
    char *ref = sandbox_image_ref(rt, pod, image);
    strvec_push(argv, ref);
    free(ref);
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

static int check_image(const il_container *c, il_buf *err)
{
    if (!c->image || !c->image[0] || c->image[0] == '-') {
        il_buf_printf(err, "container %s: invalid image name", c->name);
        return -1;
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
    if (check_image(c, err) != 0 || check_mount_paths(mounts, n, ":,", "apptainer", err) != 0)
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
    char *image = sandbox_image_ref(rt, pod, c->image);
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
    if (check_image(c, err) != 0 || check_mount_paths(mounts, n, ":", "ch-run", err) != 0)
        return -1;
    if (!exec_argv || !exec_argv[0]) {
        il_buf_printf(err, "container %s has neither command nor args; ch-run has no image "
                      "entrypoint to fall back on", c->name);
        return -1;
    }
    strvec *argv = &out->argv;
    strvec_push(argv, rt->path);
    strvec_push_all(argv, rt->args.v);
    for (size_t i = 0; i < n; i++)
        strvec_pushf(argv, "--bind=%s:%s", mounts[i].source, mounts[i].dest);
    strvec_pushf(argv, "--cd=%s", c->working_dir ? c->working_dir : "/");
    sandbox_push_image(rt, pod, c->image, argv);
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
    if (check_image(c, err) != 0 || check_mount_paths(mounts, n, ": \t\n$,", "enroot", err) != 0)
        return -1;
    if (c->working_dir) {
        il_buf_printf(err, "container %s: workingDir is not supported by enroot", c->name);
        return -1;
    }
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
    sandbox_push_image(rt, pod, c->image, argv);
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
