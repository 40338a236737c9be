/* test_runner_argv.c -- argv and environment building for the runtimes that
 * run for real here (host under bubblewrap, podman).
 *
 * The property under test: every pod string reaches the process as one
 * argv element or one environment entry, byte for byte, with nothing in
 * between that a shell could interpret.  The integration tests prove the
 * same end to end; these pin the exact command lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pod.h"
#include "runner.h"

#define UID "0b1f3c1e-7c0e-4f55-9b1d-3c0f7c1a2b3c"

/* Hostile on purpose: quotes, substitutions, a newline, UTF-8, a leading dash. */
static const char hostile_pod[] =
    "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\",\"uid\":\"" UID "\"},"
    " \"spec\":{\"containers\":["
    "   {\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"/bin/echo\",\"$(touch /x)\"],"
    "    \"args\":[\"`id`\",\"a;b\",\"it's "
    "\\\"q\\\"\",\"l1\\nl2\",\"\xc3\xbc\xe2\x9c\x93\",\"-n\"],"
    "    \"workingDir\":\"/w\","
    "    \"env\":[{\"name\":\"A\",\"value\":\"$(id)\\n`x`\"},{\"name\":\"B\",\"value\":\"\"},"
    "             {\"name\":\"A\",\"value\":\"last wins\"}]},"
    "   {\"name\":\"argsonly\",\"image\":\"busybox\",\"args\":[\"/bin/true\",\"x\"]},"
    "   {\"name\":\"nothing\",\"image\":\"busybox\"}]}}";

static const mount_spec mounts[] = {{"/pods/u/volumes/cfg", "/etc/cfg", true},
                                    {"/pods/u/volumes/work", "/work", false}};

static void parse_pod(il_pod *pod)
{
    json_error_t jerr;
    json_t *json = json_loads(hostile_pod, 0, &jerr);
    assert_non_null(json);
    char err[256];
    if (il_pod_parse(json, pod, err, sizeof(err)) != 0)
        fail_msg("pod does not parse: %s", err);
    json_decref(json);
}

/* got[from..] must equal want (NULL-terminated) exactly. */
static void assert_tail(const strvec *got, size_t from, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    if (got->n - from != n)
        fail_msg("expected %zu elements from %zu, got %zu", n, from, got->n - from);
    for (size_t i = 0; i < n; i++)
        if (strcmp(got->v[from + i], want[i]) != 0)
            fail_msg("element %zu: got \"%s\", want \"%s\"", from + i, got->v[from + i], want[i]);
}

static ssize_t index_of(const strvec *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return (ssize_t)i;
    return -1;
}

static const char *const expected_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOSTNAME=p", "A=last wins", "B=", NULL,
};

/* got[from..] must begin with want (NULL-terminated). */
static void assert_tail_prefix(const strvec *got, size_t from, const char *const *want)
{
    for (size_t i = 0; want[i]; i++) {
        if (from + i >= got->n)
            fail_msg("argv ends at %zu, want \"%s\" there", got->n, want[i]);
        if (strcmp(got->v[from + i], want[i]) != 0)
            fail_msg("element %zu: got \"%s\", want \"%s\"", from + i, got->v[from + i], want[i]);
    }
}

static void test_host_argv_and_env(void **state)
{
    (void)state;
    il_pod pod;
    parse_pod(&pod);
    runtime_spec rt = {.kind = RUNTIME_HOST, .bwrap_path = "/usr/bin/bwrap"};
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], mounts, 2, &ls, &err),
                     0);
    const char *const head[] = {"/usr/bin/bwrap", "--unshare-pid", "--unshare-uts",
                                "--die-with-parent", "--hostname", "p"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(ls.argv.v[i], head[i]);
    /* The volumes, parents first, read-only where asked. */
    ssize_t ro = index_of(&ls.argv, "--ro-bind");
    assert_true(ro > 0);
    assert_string_equal(ls.argv.v[ro + 1], "/pods/u/volumes/cfg");
    assert_string_equal(ls.argv.v[ro + 2], "/etc/cfg");
    ssize_t work = index_of(&ls.argv, "/pods/u/volumes/work");
    assert_true(work > 0);
    assert_string_equal(ls.argv.v[work - 1], "--bind");
    assert_string_equal(ls.argv.v[work + 1], "/work");
    /* Then the working directory and the command, each string one element. */
    ssize_t chdir_at = index_of(&ls.argv, "--chdir");
    assert_true(chdir_at > work);
    const char *const tail[] = {"--chdir", "/w", "--", "/bin/echo", "$(touch /x)", "`id`",
                                "a;b", "it's \"q\"", "l1\nl2", "\xc3\xbc\xe2\x9c\x93", "-n",
                                NULL};
    assert_tail(&ls.argv, (size_t)chdir_at, tail);
    assert_tail(&ls.envp, 0, expected_env);
    rn_launch_spec_free(&ls);
    il_buf_free(&err);
    il_pod_free(&pod);
}

static void test_host_args_only_and_no_command(void **state)
{
    (void)state;
    il_pod pod;
    parse_pod(&pod);
    runtime_spec rt = {.kind = RUNTIME_HOST, .bwrap_path = "bwrap"};
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    /* No image entrypoint on the host: args alone are the argv. */
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[1], NULL, 0, &ls, &err),
                     0);
    const char *const tail[] = {"--chdir", "/", "--", "/bin/true", "x", NULL};
    assert_tail(&ls.argv, (size_t)index_of(&ls.argv, "--chdir"), tail);
    rn_launch_spec_free(&ls);
    /* Neither command nor args: a CreateContainerError message, no argv. */
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[2], NULL, 0, &ls, &err),
                     -1);
    assert_non_null(strstr(il_buf_cstr(&err), "neither command nor args"));
    assert_int_equal(ls.argv.n, 0);
    il_buf_free(&err);
    il_pod_free(&pod);
}

static void test_podman_argv(void **state)
{
    (void)state;
    il_pod pod;
    parse_pod(&pod);
    runtime_spec rt = {.kind = RUNTIME_PODMAN, .path = "podman"};
    rn_strvec_push(&rt.args, "--ulimit");
    rn_strvec_push(&rt.args, "nofile=16384:16384");
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], mounts, 2, &ls, &err),
                     0);
    /* command becomes a JSON entrypoint; args follow the image, unquoted. */
    const char *const want[] = {
        "podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "run", "--rm",
        "--replace", "--pull", "never", "--network", "host", "--name", "il-" UID "-c",
        "--ulimit", "nofile=16384:16384",
        "-e", "HOSTNAME=p", "-e", "A=last wins", "-e", "B=",
        "-v", "/pods/u/volumes/cfg:/etc/cfg:ro", "-v", "/pods/u/volumes/work:/work",
        "-w", "/w", "--entrypoint", "[\"/bin/echo\",\"$(touch /x)\"]", "busybox",
        "`id`", "a;b", "it's \"q\"", "l1\nl2", "\xc3\xbc\xe2\x9c\x93", "-n", NULL};
    assert_tail(&ls.argv, 0, want);
    rn_launch_spec_free(&ls);
    /* podman -v cannot quote ':'; refused rather than mis-mounted. */
    mount_spec colon = {"/pods/u/volumes/a:b", "/x", false};
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], &colon, 1, &ls, &err),
                     -1);
    assert_non_null(strstr(il_buf_cstr(&err), "':'"));
    rn_strvec_free(&rt.args);
    il_buf_free(&err);
    il_pod_free(&pod);
}

/* Limits on: the container's memory limit without swap and its CPU limit
 * as a CFS quota, right after the configured arguments; none without limits. */
static void test_podman_limits(void **state)
{
    (void)state;
    static const char pod_json[] =
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\",\"uid\":\"" UID "\"},"
        " \"spec\":{\"containers\":["
        "   {\"name\":\"lim\",\"image\":\"busybox\",\"resources\":"
        "      {\"limits\":{\"memory\":\"50Mi\",\"cpu\":\"1500m\"},\"requests\":{\"cpu\":\"1\"}}},"
        "   "
        "{\"name\":\"free\",\"image\":\"busybox\",\"resources\":{\"requests\":{\"memory\":\"1Gi\"}}"
        "}]}}";
    json_t *json = json_loads(pod_json, 0, NULL);
    assert_non_null(json);
    il_pod pod;
    char perr[256];
    assert_int_equal(il_pod_parse(json, &pod, perr, sizeof(perr)), 0);
    json_decref(json);
    runtime_spec rt = {.kind = RUNTIME_PODMAN, .path = "podman", .limits = true};
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], NULL, 0, &ls, &err),
                     0);
    const char *const limited[] = {"--name", "il-" UID "-lim", "--memory=52428800",
                                   "--memory-swap=52428800", "--cpus=1.500", "-e", NULL};
    assert_tail_prefix(&ls.argv, 12, limited);
    rn_launch_spec_free(&ls);
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[1], NULL, 0, &ls, &err),
                     0);
    const char *const unlimited[] = {"--name", "il-" UID "-free", "-e", NULL};
    assert_tail_prefix(&ls.argv, 12, unlimited);
    rn_launch_spec_free(&ls);
    rt.limits = false;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], NULL, 0, &ls, &err),
                     0);
    const char *const off[] = {"--name", "il-" UID "-lim", "-e", NULL};
    assert_tail_prefix(&ls.argv, 12, off);
    rn_launch_spec_free(&ls);
    il_buf_free(&err);
    il_pod_free(&pod);
}

/* Image references: a grammar, per runtime; nothing option-shaped, no
 * host-file transport, no control character, whatever the prefix. */
static void test_image_refs(void **state)
{
    (void)state;
    static const struct {
        runtime_kind kind;
        const char *ref;
        bool valid;
    } cases[] = {
        {RUNTIME_PODMAN, "busybox", true},
        {RUNTIME_PODMAN, "localhost/busybox:latest", true},
        {RUNTIME_PODMAN, "registry.example:5000/a/b-c_d.e:v1.2-rc", true},
        {RUNTIME_PODMAN, "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef", true},
        {RUNTIME_PODMAN, "docker://docker.io/library/busybox:1", true},
        {RUNTIME_PODMAN, "--privileged=true", false},
        {RUNTIME_PODMAN, "-it", false},
        {RUNTIME_PODMAN, "/etc/passwd", false},
        {RUNTIME_PODMAN, "docker-archive:/etc/passwd", false},
        {RUNTIME_PODMAN, "oci-archive:///x", false},
        {RUNTIME_PODMAN, "../busybox", false},
        {RUNTIME_PODMAN, "a//b", false},
        {RUNTIME_PODMAN, "a/-b", false},
        {RUNTIME_PODMAN, "busybox:", false},
        {RUNTIME_PODMAN, "busybox:-x", false},
        {RUNTIME_PODMAN, "busybox:$(id)", false},
        {RUNTIME_PODMAN, "busy`id`box", false},
        {RUNTIME_PODMAN, "busy box", false},
        {RUNTIME_PODMAN, "busybox\n--privileged", false},
        {RUNTIME_PODMAN, "b\xc3\xbcsybox", false},
        {RUNTIME_PODMAN, "busybox@sha256:short", false},
        {RUNTIME_PODMAN, "host:port/x", false},
        {RUNTIME_PODMAN, "localhost:5000/x", true},
        {RUNTIME_PODMAN, "dir:x", false},                 /* transports read host files */
        {RUNTIME_PODMAN, "oci-archive:x.tar", false},
        {RUNTIME_PODMAN, "docker-archive:5000/x", false},
        {RUNTIME_PODMAN, "docker://dofile:cker.i1", true}, /* a tag, found by fuzz_image_ref */
        {RUNTIME_APPTAINER, "sif:x", false},
        {RUNTIME_PODMAN, "", false},
        {RUNTIME_APPTAINER, "/cvmfs/images/py.sif", true},
        {RUNTIME_APPTAINER, "oras://ghcr.io/a/b:1", true},
        {RUNTIME_APPTAINER, "library://user/col/img:tag", true},
        {RUNTIME_APPTAINER, "/images/../etc/shadow", false},
        {RUNTIME_APPTAINER, "/images/./x", false},
        {RUNTIME_APPTAINER, "file:///etc/shadow", false},
        {RUNTIME_APPTAINER, "docker://--privileged", false},
        {RUNTIME_SINGULARITY, "shub://a/b", true},
        {RUNTIME_CHARLIECLOUD, "/var/tmp/images/alpine", true},
        {RUNTIME_CHARLIECLOUD, "alpine:3.17", true},
        {RUNTIME_CHARLIECLOUD, "docker://alpine", false},
        {RUNTIME_ENROOT, "/scratch/pytorch+23.10.sqsh", true},
        {RUNTIME_ENROOT, "--rw", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (rn_runtime_image_ref_valid(cases[i].kind, cases[i].ref) != cases[i].valid)
            fail_msg("%s \"%s\": expected %s", rn_runtime_kind_name(cases[i].kind), cases[i].ref,
                     cases[i].valid ? "valid" : "refused");
}

/* The image-root annotation is checked with the image, by every argv
 * builder and at /create (rn_runtime_check_images): "--privileged=" + "true"
 * never reaches podman, apptainer, ch-run or enroot as an option. */
static void test_image_root_injection(void **state)
{
    (void)state;
    static const char pod_json[] =
        "{\"metadata\":{\"name\":\"p\",\"uid\":\"" UID "\",\"annotations\":"
        "   {\"slurm-job.vk.io/image-root\":\"--privileged=\"}},"
        " \"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"true\","
        "   \"command\":[\"/bin/true\"]}]}}";
    json_error_t jerr;
    json_t *json = json_loads(pod_json, 0, &jerr);
    il_pod pod;
    char perr[256];
    assert_int_equal(il_pod_parse(json, &pod, perr, sizeof perr), 0);
    json_decref(json);
    const runtime_kind kinds[] = {RUNTIME_PODMAN, RUNTIME_APPTAINER, RUNTIME_SINGULARITY,
                                  RUNTIME_CHARLIECLOUD, RUNTIME_ENROOT};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        runtime_spec rt = {.kind = kinds[i], .path = "rt"};
        launch_spec ls;
        il_buf err = IL_BUF_INIT;
        assert_int_equal(rn_runtime_check_images(&rt, &pod, &err), -1);
        assert_non_null(strstr(il_buf_cstr(&err), "--privileged="));
        il_buf_reset(&err);
        assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], NULL, 0, &ls,
                                                &err), -1);
        assert_non_null(strstr(il_buf_cstr(&err), "is not an image reference"));
        il_buf_free(&err);
    }
    runtime_spec host = {.kind = RUNTIME_HOST};
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_runtime_check_images(&host, &pod, &err), 0);   /* no image is run */
    il_buf_free(&err);
    il_pod_free(&pod);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_argv_and_env),
        cmocka_unit_test(test_host_args_only_and_no_command),
        cmocka_unit_test(test_podman_argv),
        cmocka_unit_test(test_podman_limits),
        cmocka_unit_test(test_image_refs),
        cmocka_unit_test(test_image_root_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
