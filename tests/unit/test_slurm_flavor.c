/* test_slurm_flavor.c -- golden tests of interlink-slurm's upstream keys:
 * Flavors (loading, filtering, choice per pod, precedence in the sbatch
 * argv, CPU/memory defaults), DefaultUID/UID/runAsUser, Taints and the
 * ResourceScriptPath answer, ExportPodData, and the runtime annotations
 * (singularity-/enroot- options and mounts, mpi-flags) as argv items. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slurm.h"
#include "podtest.h"

#define UID "8c1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
/* Words: it's | $(touch /tmp/il-pwned) | `id` | é | --x=a"b */
#define HOSTILE "\"it's\" \"$(touch /tmp/il-pwned)\" '`id`' \xc3\xa9\n--x=\"a\\\"b\""

static int load_config(const char *yaml, slurm_config *cfg, char *err, size_t errlen)
{
    char path[] = "/tmp/il-test-flavor-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    il_buf msg = IL_BUF_INIT;
    int rc = slurm_config_load(path, cfg, &msg);
    snprintf(err, errlen, "%s", il_buf_cstr(&msg));
    il_buf_free(&msg);
    unlink(path);
    return rc;
}

static const char *const flavors_yaml =
    "Partition: cpu\n"
    "Account: proj\n"
    "DefaultFlavor: small\n"
    "Flavors:\n"
    "  - Name: small\n"
    "    Description: default\n"
    "    CPUDefault: 2\n"
    "    MemoryDefault: 1Gi\n"
    "    SlurmFlags: [\"--qos=short\", \"-p debug\"]\n"
    "  - Name: gpu2\n"
    "    SlurmFlags: [\"--gres=gpu:2\", \"--partition=gpu\", \"--mem=64G\"]\n"
    "  - Name: gpu1\n"
    "    SlurmFlags: [\"--gres=gpu:a100:1\", \"--partition=gpu\"]\n"
    "  - Name: admin\n"
    "    SlurmFlags: [\"--uid=0\", \"--export=NONE\"]\n";

/* A pod with annotations (a JSON object text) and container resources. */
static void make_pod(const char *annotations, const char *resources, il_pod *pod)
{
    char *text = il_xasprintf(
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"" UID "\","
        "\"annotations\":%s},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"img\","
        "\"command\":[\"/bin/true\"],\"resources\":%s}]}}",
        annotations, resources);
    podtest_parse(text, pod);
    free(text);
}

/* ---- loading ------------------------------------------------------------ */

static void test_flavors_load(void **state)
{
    (void)state;
    slurm_config cfg;
    char err[512];
    if (load_config(flavors_yaml, &cfg, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    assert_int_equal(cfg.n_flavors, 4);
    assert_string_equal(cfg.flavors[0].name, "small");
    assert_int_equal(cfg.flavors[0].cpu_milli, 2000);
    assert_int_equal(cfg.flavors[0].memory_bytes, 1024 * 1024 * 1024);
    const char *small[] = {"--qos=short", "--partition=debug", NULL};
    podtest_assert_argv(&cfg.flavors[0].flags, small);
    assert_int_equal(cfg.flavors[0].gpus, 0);
    assert_int_equal(cfg.flavors[1].gpus, 2);
    assert_int_equal(cfg.flavors[2].gpus, 1);
    /* The admin may use the identity/escape flags a pod may not. */
    const char *admin[] = {"--uid=0", "--export=NONE", NULL};
    podtest_assert_argv(&cfg.flavors[3].flags, admin);
    assert_true(cfg.export_pod_data);
    assert_true(cfg.allow_runtime_options);
    assert_string_equal(cfg.mpiexec_path, "mpiexec");
    slurm_config_free(&cfg);
}

static void expect_load_error(const char *yaml, const char *needle)
{
    slurm_config cfg;
    char err[512] = "";
    assert_int_equal(load_config(yaml, &cfg, err, sizeof(err)), -1);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    slurm_config_free(&cfg);
}

static void test_flavors_refused(void **state)
{
    (void)state;
    expect_load_error("Flavors: [{Name: x, SlurmFlags: [\"--output=/tmp/x\"]}]",
                      "Flavors x: SlurmFlags: --output is set by interlink-slurm itself");
    expect_load_error("Flavors: [{Name: x, SlurmFlags: [\"-o /tmp/x\"]}]", "--output");
    expect_load_error("Flavors: [{Name: x, SlurmFlags: [\"--job-n=y\"]}]", "--job-name");
    expect_load_error("Flavors: [{Name: x, SlurmFlags: [\"bare\"]}]", "not a known sbatch option");
    expect_load_error("Flavors: [{Name: x, SlurmFlags: [\"--comment='open\"]}]", "unterminated");
    expect_load_error("Flavors: [{Name: x, SlurmFlags: \"--qos=a\"}]", "expected a list");
    expect_load_error("Flavors: [{Name: x}, {Name: x}]", "defined twice");
    expect_load_error("Flavors: [{Description: nameless}]", "Flavors[0]");
    expect_load_error("Flavors: {Name: x}", "Flavors: expected a list");
    expect_load_error("Flavors: [{Name: x, CPUDefault: lots}]", "CPUDefault");
    expect_load_error("Flavors: [{Name: x, MemoryDefault: -1Gi}]", "MemoryDefault");
    expect_load_error("Flavors: [{Name: x}]\nDefaultFlavor: y", "DefaultFlavor y");
    expect_load_error("Flavors: [{Name: x, UID: 65534}]", "Flavors x: UID 65534");
    expect_load_error("DefaultUID: 65534", "DefaultUID 65534");
    expect_load_error("DefaultUID: nobody", "expected a number");
    expect_load_error("Taints: [{Key: k, Effect: Sometimes}]", "Taints[0]");
    expect_load_error("Taints: [{Value: v, Effect: NoSchedule}]", "Taints[0]");
    expect_load_error("Taints: {Key: k}", "Taints: expected a list");
    /* Our own uid is what every job runs as anyway: accepted. */
    char *own = il_xasprintf("DefaultUID: %d\nFlavors: [{Name: x, UID: %d}]\n", (int)geteuid(),
                             (int)geteuid());
    slurm_config cfg;
    char err[512];
    if (load_config(own, &cfg, err, sizeof(err)) != 0)
        fail_msg("own uid: %s", err);
    slurm_config_free(&cfg);
    free(own);
}

/* ---- choice and precedence ------------------------------------------------ */

static const char *chosen(const slurm_config *cfg, const char *annotations,
                          const char *resources)
{
    il_pod pod;
    make_pod(annotations, resources, &pod);
    const slurm_flavor *f;
    il_buf err = IL_BUF_INIT;
    int rc = flavor_for_pod(cfg, &pod, &f, &err);
    il_buf_free(&err);
    il_pod_free(&pod);
    return rc != 0 ? "(error)" : f ? f->name : "(none)";
}

static void test_flavor_choice(void **state)
{
    (void)state;
    slurm_config cfg;
    char err[512];
    if (load_config(flavors_yaml, &cfg, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    assert_string_equal(chosen(&cfg, "{}", "{}"), "small");
    assert_string_equal(chosen(&cfg, "{\"slurm-job.vk.io/flavor\":\"gpu1\"}", "{}"), "gpu1");
    assert_string_equal(chosen(&cfg, "{}", "{\"limits\":{\"nvidia.com/gpu\":\"1\"}}"), "gpu1");
    assert_string_equal(chosen(&cfg, "{}", "{\"limits\":{\"amd.com/gpu\":\"2\"}}"), "gpu2");
    /* No exact match: the first flavor with any GPU. */
    assert_string_equal(chosen(&cfg, "{}", "{\"limits\":{\"nvidia.com/gpu\":\"3\"}}"), "gpu2");
    /* An explicit flavor wins over the GPU choice. */
    assert_string_equal(chosen(&cfg, "{\"slurm-job.vk.io/flavor\":\"small\"}",
                               "{\"limits\":{\"nvidia.com/gpu\":\"1\"}}"), "small");
    il_pod pod;
    make_pod("{\"slurm-job.vk.io/flavor\":\"huge\"}", "{}", &pod);
    const slurm_flavor *f;
    il_buf e = IL_BUF_INIT;
    assert_int_equal(flavor_for_pod(&cfg, &pod, &f, &e), -1);
    assert_string_equal(il_buf_cstr(&e), "slurm-job.vk.io/flavor: unknown flavor \"huge\" "
                                         "(known: small, gpu2, gpu1, admin)");
    il_buf_free(&e);
    il_pod_free(&pod);
    slurm_config_free(&cfg);
    /* No flavors, no default: none. */
    slurm_config none;
    assert_int_equal(load_config("Partition: x\n", &none, err, sizeof(err)), 0);
    assert_string_equal(chosen(&none, "{}", "{\"limits\":{\"nvidia.com/gpu\":\"1\"}}"), "(none)");
    slurm_config_free(&none);
}

/* The sbatch flags of a pod under flavors_yaml (argv from index 4 on). */
static void flags_for(const char *annotations, const char *resources, const char *const *want)
{
    slurm_config cfg;
    char err[512];
    if (load_config(flavors_yaml, &cfg, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    il_pod pod;
    make_pod(annotations, resources, &pod);
    const slurm_flavor *f;
    job_resources res;
    il_buf e = IL_BUF_INIT;
    strvec argv = {0}, tail = {0};
    assert_int_equal(flavor_for_pod(&cfg, &pod, &f, &e), 0);
    if (job_resources_for_flavor(&pod, cfg.gres_resources, f, &res, &e) != 0)
        fail_msg("resources: %s", il_buf_cstr(&e));
    assert_int_equal(sbatch_argv(&cfg, &pod, f, "/d/" UID, &res, &argv, &e), 0);
    for (size_t i = 5; i < argv.n; i++)   /* sbatch --parsable --job-name --output --chdir */
        rn_strvec_push(&tail, argv.v[i]);
    podtest_assert_argv(&tail, want);
    rn_strvec_free(&argv);
    rn_strvec_free(&tail);
    job_resources_free(&res);
    il_buf_free(&e);
    il_pod_free(&pod);
    slurm_config_free(&cfg);
}

static void test_flavor_precedence(void **state)
{
    (void)state;
    /* config < flavor (its -p replaces Partition); CPUDefault/MemoryDefault
     * apply when no container gives cpu/memory (upstream ignores them). */
    const char *def[] = {"--account=proj", "--qos=short", "--partition=debug",
                         "--cpus-per-task=2", "--mem=1024M", NULL};
    flags_for("{}", "{}", def);
    /* A container's own amounts beat the flavor's defaults. */
    const char *own[] = {"--account=proj", "--qos=short", "--partition=debug",
                         "--cpus-per-task=1", "--mem=512M", NULL};
    flags_for("{}", "{\"limits\":{\"cpu\":\"500m\",\"memory\":\"512Mi\"}}", own);
    /* GPU flavor: its --mem stays (no amount computed), the computed --gres
     * replaces its own; the annotation beats everything. */
    const char *gpu[] = {"--account=proj", "--partition=gpu", "--mem=64G", "--gres=gpu:2", NULL};
    flags_for("{}", "{\"limits\":{\"nvidia.com/gpu\":\"2\"}}", gpu);
    const char *ann[] = {"--account=proj", "--gres=gpu:2", "--partition=other",
                         "--mem-per-cpu=2G", NULL};
    flags_for("{\"slurm-job.vk.io/flags\":\"-p other --mem-per-cpu=2G\"}",
              "{\"limits\":{\"nvidia.com/gpu\":\"2\"}}", ann);
    /* amd.com/gpu has no GRES mapping by default: the GPU flavor asks for
     * the GPUs, and the runtime still gets its GPU switch. */
    const char *amd[] = {"--account=proj", "--gres=gpu:a100:1", "--partition=gpu", NULL};
    flags_for("{}", "{\"limits\":{\"amd.com/gpu\":\"1\"}}", amd);
}

static void test_run_as_user(void **state)
{
    (void)state;
    il_buf err = IL_BUF_INIT;
    il_pod pod;
    podtest_parse("{\"metadata\":{\"name\":\"p\",\"uid\":\"" UID "\"},\"spec\":{"
              "\"securityContext\":{\"runAsUser\":65534},"
              "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}", &pod);
    assert_int_equal(uid_check(&pod, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "spec.securityContext.runAsUser 65534"));
    il_pod_free(&pod);
    il_buf_reset(&err);
    podtest_parse("{\"metadata\":{\"name\":\"p\",\"uid\":\"" UID "\"},\"spec\":{"
              "\"securityContext\":{},\"containers\":[{\"name\":\"c\",\"image\":\"i\","
              "\"securityContext\":{\"runAsUser\":65534}}]}}", &pod);
    assert_int_equal(uid_check(&pod, &err), -1);
    il_pod_free(&pod);
    char *own = il_xasprintf("{\"metadata\":{\"name\":\"p\",\"uid\":\"" UID "\"},\"spec\":{"
                             "\"securityContext\":{\"runAsUser\":%d},"
                             "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}",
                             (int)geteuid());
    podtest_parse(own, &pod);
    free(own);
    assert_int_equal(uid_check(&pod, &err), 0);
    il_pod_free(&pod);
    il_buf_free(&err);
}

/* ---- ping --------------------------------------------------------------- */

static void test_ping_taints_and_script(void **state)
{
    (void)state;
    il_buf err = IL_BUF_INIT;
    json_t *list = json_loads("[{\"Key\":\"site/maint\",\"Value\":\"yes\","
                              "\"Effect\":\"NoExecute\"},"
                              "{\"Key\":\"interlink.slurm/partition-unavailable\","
                              "\"Effect\":\"PreferNoSchedule\"}]", 0, NULL);
    json_t *taints = ping_taints_load(list, &err);
    assert_non_null(taints);
    json_t *resp = ping_from_sinfo("debug*|down|idle|16|24105|(null)\n", NULL);
    ping_add_taints(resp, taints);
    /* The configured key replaced the computed taint of the same key. */
    char *text = json_dumps(json_object_get(resp, "taints"), JSON_COMPACT);
    assert_string_equal(text, "[{\"key\":\"site/maint\",\"value\":\"yes\","
                              "\"effect\":\"NoExecute\"},"
                              "{\"key\":\"interlink.slurm/partition-unavailable\",\"value\":\"\","
                              "\"effect\":\"PreferNoSchedule\"}]");
    free(text);
    json_decref(resp);
    json_decref(list);

    resp = ping_from_script("{\"resources\":{\"cpu\":\"8\",\"memory\":\"16Gi\",\"accelerators\":"
                            "[{\"resourceType\":\"nvidia.com/gpu\",\"available\":\"2\"}]},"
                            "\"taints\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]}", &err);
    assert_non_null(resp);
    assert_string_equal(json_string_value(json_object_get(resp, "status")), "ok");
    ping_add_taints(resp, taints);
    assert_int_equal(json_array_size(json_object_get(resp, "taints")), 3);
    json_decref(resp);
    json_decref(taints);
    const char *bad[] = {"", "not json", "[1]", "{\"status\":3}",
                         "{\"resources\":{\"cpu\":8}}", "{\"resources\":[]}",
                         "{\"resources\":{\"accelerators\":[{\"available\":2}]}}",
                         "{\"taints\":[{\"key\":\"k\",\"effect\":\"Bad\"}]}",
                         "{\"taints\":{}}", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        il_buf_reset(&err);
        json_t *r = ping_from_script(bad[i], &err);
        if (r)
            fail_msg("accepted %s", bad[i]);
        assert_true(err.len > 0);
    }
    il_buf_free(&err);
}

/* ---- ExportPodData ---------------------------------------------------------- */

static void test_pod_data_strip(void **state)
{
    (void)state;
    json_t *body = json_loads(
        "{\"pod\":{\"metadata\":{\"name\":\"p\",\"uid\":\"" UID "\"},\"spec\":{"
        "\"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"cm\"}},"
        "{\"name\":\"sec\",\"secret\":{\"secretName\":\"s\"}},{\"name\":\"scratch\","
        "\"emptyDir\":{}},{\"name\":\"tok\",\"projected\":{\"sources\":[]}}],"
        "\"initContainers\":[{\"name\":\"i\",\"image\":\"x\",\"volumeMounts\":["
        "{\"name\":\"sec\",\"mountPath\":\"/s\"}]}],"
        "\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"volumeMounts\":["
        "{\"name\":\"cfg\",\"mountPath\":\"/c\"},{\"name\":\"scratch\",\"mountPath\":\"/t\"},"
        "{\"name\":\"tok\",\"mountPath\":\"/var/run/secrets/tok\"}]}]}},"
        "\"container\":[{\"name\":\"c\",\"configMaps\":[{\"metadata\":{\"name\":\"cm\"},"
        "\"data\":{\"k\":\"SECRETISH\"}}]}]}", 0, NULL);
    il_create_request req, out;
    char msg[256];
    il_buf err = IL_BUF_INIT;
    if (il_create_request_parse(body, &req, msg, sizeof(msg)) != 0)
        fail_msg("%s", msg);
    assert_int_equal(pod_data_strip(&req, &out, &err), 0);
    assert_int_equal(out.pod.n_volumes, 1);
    assert_string_equal(out.pod.volumes[0].name, "scratch");
    assert_int_equal(out.pod.init_containers[0].n_mounts, 0);
    assert_int_equal(out.pod.containers[0].n_mounts, 1);
    assert_string_equal(out.pod.containers[0].mounts[0].mount_path, "/t");
    char *text = json_dumps(out.raw, JSON_COMPACT);
    assert_null(strstr(text, "SECRETISH"));
    free(text);
    /* The original request is untouched. */
    assert_int_equal(req.pod.n_volumes, 4);
    il_create_request_free(&out);
    il_create_request_free(&req);
    json_decref(body);
    il_buf_free(&err);
}

/* ---- runtime annotations ---------------------------------------------------- */

static int annotated_runtime(const char *yaml, const char *annotations, runtime_spec *rt,
                             il_buf *err)
{
    slurm_config cfg;
    char cerr[512];
    if (load_config(yaml, &cfg, cerr, sizeof(cerr)) != 0)
        fail_msg("load: %s", cerr);
    il_pod pod;
    make_pod(annotations, "{}", &pod);
    assert_int_equal(batch_runtime_spec(&cfg.rt, false, rt, err), 0);
    int rc = slurm_runtime_annotations(&cfg, &pod, rt, err);
    il_pod_free(&pod);
    slurm_config_free(&cfg);
    return rc;
}

static void test_runtime_annotations(void **state)
{
    (void)state;
    runtime_spec rt;
    il_buf err = IL_BUF_INIT;
    json_t *annotations = json_pack(
        "{s:s, s:s, s:s}", "slurm-job.vk.io/singularity-options",
        "--cleanenv --hostname 'a b' " HOSTILE, "slurm-job.vk.io/singularity-mounts",
        "--bind /scratch:/scratch", "slurm-job.vk.io/enroot-options", "--root");
    char *ann = json_dumps(annotations, 0);
    json_decref(annotations);
    assert_int_equal(annotated_runtime("ContainerRuntime: apptainer\n", ann, &rt, &err), 0);
    /* Defaults, then mounts, then options, word by word, nothing expanded. */
    const char *want[] = {"--no-eval", "--containall", "--bind", "/scratch:/scratch",
                          "--cleanenv", "--hostname", "a b", "it's", "$(touch /tmp/il-pwned)",
                          "`id`", "\xc3\xa9", "--x=a\"b", NULL};
    podtest_assert_argv(&rt.args, want);
    assert_int_equal(rt.mpi.n, 0);
    /* Golden: they reach apptainer's argv before the image. */
    il_pod pod;
    make_pod("{}", "{}", &pod);
    launch_spec ls;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], NULL, 0, &ls, &err),
                     0);
    const char *line[] = {"apptainer", "exec", "--no-eval", "--containall", "--bind",
                          "/scratch:/scratch", "--cleanenv", "--hostname", "a b", "it's",
                          "$(touch /tmp/il-pwned)", "`id`", "\xc3\xa9", "--x=a\"b",
                          "docker://img", "/bin/true", NULL};
    podtest_assert_argv(&ls.argv, line);
    rn_launch_spec_free(&ls);
    rn_runtime_spec_free(&rt);
    /* enroot takes its own annotations only. */
    assert_int_equal(annotated_runtime("ContainerRuntime: enroot\n", ann, &rt, &err), 0);
    const char *en[] = {"--rw", "--root", NULL};
    podtest_assert_argv(&rt.args, en);
    rn_runtime_spec_free(&rt);
    /* Refused by the admin. */
    assert_int_equal(annotated_runtime("AllowRuntimeOptions: false\n", ann, &rt, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "AllowRuntimeOptions is false"));
    rn_runtime_spec_free(&rt);
    il_buf_reset(&err);
    assert_int_equal(annotated_runtime("", "{\"slurm-job.vk.io/singularity-options\":\"'x\"}",
                                       &rt, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "singularity-options: unterminated"));
    rn_runtime_spec_free(&rt);
    il_pod_free(&pod);
    il_buf_free(&err);
    free(ann);
}

/* mpiexec runs outside the container: only placement, binding, environment
 * and output options, unless the admin lists more (AllowedMpiFlags). */
static void test_mpi_flags_allow_list(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "--mca plm_rsh_agent /tmp/evil",       /* a program to start the ranks with */
        "-mca plm_rsh_agent /tmp/evil",
        "--hostfile /etc/passwd",              /* reads a file of the node */
        "--app /tmp/appfile", "--prefix=/tmp/x", "--launch-agent /tmp/x",
        "/bin/sh -c id",                       /* a bare word: the program mpiexec runs */
        "--bind-to core /bin/sh",
        "-np 64",                              /* the plugin sets -np */
        "--bind-to",                           /* a value option without its value */
        "-genv A",
        "--bind-tox=core",
    };
    runtime_spec rt;
    il_buf err = IL_BUF_INIT;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        json_t *ann = json_pack("{s:s}", "slurm-job.vk.io/mpi-flags", refused[i]);
        char *text = json_dumps(ann, 0);
        il_buf_reset(&err);
        if (annotated_runtime("ContainerRuntime: none\n", text, &rt, &err) != -1)
            fail_msg("mpi-flags \"%s\" was accepted", refused[i]);
        assert_non_null(strstr(il_buf_cstr(&err), "slurm-job.vk.io/mpi-flags"));
        rn_runtime_spec_free(&rt);
        free(text);
        json_decref(ann);
    }
    /* Accepted: the allow-list, with values in both spellings. */
    assert_int_equal(annotated_runtime("ContainerRuntime: none\n",
                                       "{\"slurm-job.vk.io/mpi-flags\":\"--map-by=ppr:1:node "
                                       "--bind-to core -genv A 'b c' --report-bindings\"}",
                                       &rt, &err), 0);
    rn_runtime_spec_free(&rt);
    /* The admin's AllowedMpiFlags widen it. */
    assert_int_equal(annotated_runtime("ContainerRuntime: none\nAllowedMpiFlags: [--mca]\n",
                                       "{\"slurm-job.vk.io/mpi-flags\":\"--mca btl self\"}",
                                       &rt, &err), 0);
    rn_runtime_spec_free(&rt);
    il_buf_free(&err);
}

static void test_mpi_flags(void **state)
{
    (void)state;
    runtime_spec rt;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(annotated_runtime("ContainerRuntime: none\nMpiexecPath: /opt/mpi/mpiexec\n",
                                       "{\"slurm-job.vk.io/mpi-flags\":\"--bind-to none "
                                       "-x 'A=$(id) b'\"}", &rt, &err), 0);
    const char *mpi[] = {"/opt/mpi/mpiexec", "--bind-to", "none", "-x", "A=$(id) b", NULL};
    podtest_assert_argv(&rt.mpi, mpi);
    /* Frozen into runtime.json and back. */
    char dir[] = "/tmp/il-test-mpi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(rn_runtime_spec_write(dir, &rt), 0);
    runtime_spec back;
    assert_int_equal(rn_runtime_spec_read(dir, &back, NULL), 0);
    podtest_assert_argv(&back.mpi, mpi);
    il_rm_rf(dir);
    il_pod pod;
    podtest_parse("{\"metadata\":{\"name\":\"p\",\"uid\":\"" UID "\"},\"spec\":{"
              "\"initContainers\":[{\"name\":\"i\",\"image\":\"x\",\"command\":[\"/bin/true\"]}],"
              "\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"command\":[\"/bin/echo\"],"
              "\"args\":[\"$SLURM_NTASKS\"]}]}}", &pod);
    launch_spec ls;
    setenv("SLURM_NTASKS", "4", 1);
    assert_int_equal(rn_sandbox_command_mounts(&back, &pod, &pod.containers[0], NULL, 0, &ls, &err),
                     0);
    const char *want[] = {"/opt/mpi/mpiexec", "-np", "4", "--bind-to", "none", "-x", "A=$(id) b",
                          "bwrap", NULL};
    strvec head = {0};
    for (size_t i = 0; i < 8; i++)
        rn_strvec_push(&head, ls.argv.v[i]);
    podtest_assert_argv(&head, want);
    assert_string_equal(ls.argv.v[ls.argv.n - 1], "$SLURM_NTASKS");   /* never expanded */
    rn_strvec_free(&head);
    rn_launch_spec_free(&ls);
    /* Init containers run once, not per rank. */
    assert_int_equal(rn_sandbox_command_mounts(&back, &pod, &pod.init_containers[0], NULL, 0, &ls,
                                            &err), 0);
    assert_string_equal(ls.argv.v[0], "bwrap");
    rn_launch_spec_free(&ls);
    const char *bad[] = {NULL, "", "two", "0", "-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (bad[i])
            setenv("SLURM_NTASKS", bad[i], 1);
        else
            unsetenv("SLURM_NTASKS");
        il_buf_reset(&err);
        assert_int_equal(rn_sandbox_command_mounts(&back, &pod, &pod.containers[0], NULL, 0, &ls,
                                                &err), -1);
        assert_non_null(strstr(il_buf_cstr(&err), "--ntasks"));
    }
    unsetenv("SLURM_NTASKS");
    rn_runtime_spec_free(&back);
    rn_runtime_spec_free(&rt);
    /* podman: every rank would be the same named container. */
    assert_int_equal(annotated_runtime("ContainerRuntime: podman\n",
                                       "{\"slurm-job.vk.io/mpi-flags\":\"\"}", &rt, &err), -1);
    rn_runtime_spec_free(&rt);
    il_pod_free(&pod);
    il_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flavors_load),
        cmocka_unit_test(test_flavors_refused),
        cmocka_unit_test(test_flavor_choice),
        cmocka_unit_test(test_flavor_precedence),
        cmocka_unit_test(test_run_as_user),
        cmocka_unit_test(test_ping_taints_and_script),
        cmocka_unit_test(test_pod_data_strip),
        cmocka_unit_test(test_runtime_annotations),
        cmocka_unit_test(test_mpi_flags),
        cmocka_unit_test(test_mpi_flags_allow_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
