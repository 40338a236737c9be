/* test_slurm_script.c -- golden tests of interlink-slurm's generated
 * artefacts: the batch script, the sbatch argv (config, resources, the
 * flags annotation and its filter), the resource rule, the state mapping,
 * sinfo parsing; and of the container command lines of the runtimes that
 * cannot be installed on the CI machine (apptainer, singularity, enroot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm.h"
#include "podtest.h"

#define UID "8c1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"

/* ---- quoting and the script ------------------------------------------- */

static void test_sh_quote(void **state)
{
    (void)state;
    il_buf b = IL_BUF_INIT;
    sh_quote(&b, "it's $(x) `y`\n\"z\"");
    assert_string_equal(il_buf_cstr(&b), "'it'\\''s $(x) `y`\n\"z\"'");
    il_buf_reset(&b);
    sh_quote(&b, "");
    assert_string_equal(il_buf_cstr(&b), "''");
    il_buf_free(&b);
}

static void test_script_shared(void **state)
{
    (void)state;
    job_script_opts o = {.bash_path = "/bin/bash", .runner_path = "/opt/il/bin/interlink-slurm",
                         .pod_dir = "/shared/pods/it's", .pod_uid = UID,
                         .command_prefix = "module load apptainer",
                         .sbatch_json = "[\"sbatch\",\"--comment=a\\nrm -rf /\"]"};
    char *text = job_script(&o);
    /* The argv comment stays one line: JSON escaped the newline. */
    assert_string_equal(text,
                        "#!/bin/bash\n"
                        "# interlink-slurm: pod " UID "\n"
                        "# sbatch argv: [\"sbatch\",\"--comment=a\\nrm -rf /\"]\n"
                        "set -e\n"
                        "pod_dir='/shared/pods/it'\\''s'\n"
                        "module load apptainer\n"
                        "exec '/opt/il/bin/interlink-slurm' --run-pod \"$pod_dir\"\n");
    free(text);
    /* A raw line break would end the comment: such a record is left out. */
    o.sbatch_json = "[\"--comment=a\nrm -rf /\"]";
    text = job_script(&o);
    assert_null(strstr(text, "rm -rf"));
    free(text);
}

static void test_script_embedded(void **state)
{
    (void)state;
    job_script_opts o = {.bash_path = "/bin/bash", .runner_path = "/il", .pod_uid = UID,
                         .archive_b64 = "QUJD", .node_local_dir = "/scratch/node"};
    char *text = job_script(&o);
    assert_string_equal(text,
                        "#!/bin/bash\n"
                        "# interlink-slurm: pod " UID "\n"
                        "set -e\n"
                        "pod_dir='/scratch/node'/'" UID "'\n"
                        "mkdir -p -- \"$pod_dir\"\n"
                        "base64 -d <<'IL_POD_ARCHIVE' | tar -xzf - -C \"$pod_dir\"\n"
                        "QUJD\n"
                        "IL_POD_ARCHIVE\n"
                        "exec '/il' --run-pod \"$pod_dir\" --remove-after\n");
    free(text);
}

/* ---- flags ------------------------------------------------------------ */

static void test_tokenize(void **state)
{
    (void)state;
    strvec t = {0};
    il_buf err = IL_BUF_INIT;
    assert_int_equal(flags_tokenize(" -p 'my part' --comment=\"a \\\"b\\\" $(x)\" x\\ y ",
                                    &t, &err), 0);
    const char *want[] = {"-p", "my part", "--comment=a \"b\" $(x)", "x y", NULL};
    podtest_assert_argv(&t, want);
    rn_strvec_free(&t);
    assert_int_equal(flags_tokenize("--comment='open", &t, &err), -1);
    rn_strvec_free(&t);
    il_buf_free(&err);
}

static int filter_as(const char *text, char **allowed, const char *account, strvec *out,
                     il_buf *err)
{
    strvec t = {0};
    int rc = flags_tokenize(text, &t, err) == 0 ? flags_filter(&t, allowed, account, out, err)
                                                 : -1;
    rn_strvec_free(&t);
    return rc;
}

static int filter(const char *text, char **allowed, strvec *out)
{
    il_buf err = IL_BUF_INIT;
    int rc = filter_as(text, allowed, NULL, out, &err);
    il_buf_free(&err);
    return rc;
}

static void assert_filtered(const char *text, char **allowed, const char *const *want)
{
    strvec out = {0};
    il_buf err = IL_BUF_INIT;
    if (filter_as(text, allowed, "proj", &out, &err) != 0)
        fail_msg("refused %s: %s", text, il_buf_cstr(&err));
    podtest_assert_argv(&out, want);
    rn_strvec_free(&out);
    il_buf_free(&err);
}

static void test_filter_canonical(void **state)
{
    (void)state;
    const char *plain[] = {"--partition=debug", "--cpus-per-task=4", "--time=10", "--hold",
                           "--mem-per-cpu=2G", NULL};
    assert_filtered("-p debug -c4 --time 10 -H --mem-per-cpu=2G", NULL, plain);
    /* Bundled short options, unique abbreviations, values that look like
     * options (getopt_long takes the next word whatever it is). */
    const char *bundled[] = {"--hold", "--cpus-per-task=4", "--partition=gpu",
                             "--time-min=5", "--partition=-x", "--nice", "--nice=10", NULL};
    assert_filtered("-Hc4 --part gpu --time-m=5 -p -x --nice --nice=10", NULL, bundled);
    /* The mapped account is the one --account a pod may name. */
    const char *account[] = {"--account=proj", "--account=proj", NULL};
    assert_filtered("--accou=proj -Aproj", NULL, account);
}

/* Each of these reads a file on the submit host, changes who or where the
 * job runs, needs privilege, breaks the plugin's job, or is not an option
 * as sbatch would read it. */
static void test_filter_refuses(void **state)
{
    (void)state;
    const char *bad[] = {
        "--bbf=/etc/shadow", "--bbf /etc/munge/munge.key", "--bb=stage_in", "--bbf",
        "--nodefile=/etc/hosts", "--nodef=/etc/hosts", "-F /etc/hosts", "-F/etc/hosts",
        "-HF/etc/hosts", "--export-file=/x", "--export=ALL", "--get-user-env",
        "--uid=0", "--gid 0", "-D /", "-D/", "--chdir=/", "--ch=/", "--priority=1",
        "--prio=9", "--nice=-5", "--nice=-1", "--nice=x", "--account=other", "-A other",
        "--account", "--propagate", "--exclusive", "--excl", "--mail-user=a@b",
        "--container=/x", "--job-name=x", "-J x", "-o /x", "--out=/x", "-Hoevil",
        "--wrap=id", "--array=1-9", "--parsable", "-W", "--clusters=other", "-M other",
        "--node=1", "--no=1", "--tim=10", "--hold=x", "--time", "-c", "--", "-", "bare",
        "-p x bare", "-Z", "--no-such-option", "-\xc3\xa9", NULL};
    for (size_t i = 0; bad[i]; i++) {
        strvec out = {0};
        il_buf err = IL_BUF_INIT;
        if (filter_as(bad[i], NULL, "proj", &out, &err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(out.n, 0);
        rn_strvec_free(&out);
        il_buf_free(&err);
    }
    /* The error names the option as sbatch would have read it. */
    strvec out = {0};
    il_buf err = IL_BUF_INIT;
    assert_int_equal(filter_as("-c 2 --bbf=/etc/shadow", NULL, NULL, &out, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "--bbf is not allowed"));
    il_buf_reset(&err);
    assert_int_equal(filter_as("-HF/etc/hosts", NULL, NULL, &out, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "--nodefile"));
    il_buf_free(&err);
    /* The admin widens the list, by full name, with or without dashes. */
    char *allowed[] = {"--uid", "chdir", "bbf", NULL};
    const char *widened[] = {"--uid=1000", "--chdir=/scratch", "--bbf=/x", NULL};
    assert_filtered("--uid=1000 -D /scratch --bbf /x", allowed, widened);
    assert_int_equal(filter("--job-name=x", allowed, &out), -1);
    rn_strvec_free(&out);
}

static void test_filter_trusted(void **state)
{
    (void)state;
    strvec t = {0}, out = {0};
    il_buf err = IL_BUF_INIT;
    assert_int_equal(flags_tokenize("--uid=0 -F /etc/nodes --exclusive --prio 5", &t, &err), 0);
    assert_int_equal(flags_filter_trusted(&t, "Flavors x", &out, &err), 0);
    const char *want[] = {"--uid=0", "--nodefile=/etc/nodes", "--exclusive", "--priority=5",
                          NULL};
    podtest_assert_argv(&out, want);
    rn_strvec_free(&t);
    rn_strvec_free(&out);
    assert_int_equal(flags_tokenize("--out=/x", &t, &err), 0);
    assert_int_equal(flags_filter_trusted(&t, "Flavors x", &out, &err), -1);
    rn_strvec_free(&t);
    rn_strvec_free(&out);
    il_buf_free(&err);
    assert_true(flags_is_option("--bbf"));
    assert_true(flags_is_option("nodefile"));
    assert_false(flags_is_option("--node"));
    assert_false(flags_is_option("bogus"));
}

/* ---- resources and the sbatch argv -------------------------------------- */

static const char resource_pod[] =
    "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\",\"uid\":\"" UID "\","
    "  \"annotations\":{\"slurm-job.vk.io/flags\":\"--mem-per-cpu=1G -p gpu\"}},"
    " \"spec\":{\"initContainers\":["
    "   "
    "{\"name\":\"i1\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":\"3\",\"memory\":"
    "\"3Gi\"}}},"
    "   {\"name\":\"i2\",\"image\":\"x\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}],"
    "  \"containers\":["
    "   "
    "{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":"
    "\"1Gi\"},"
    "      \"limits\":{\"cpu\":\"1\",\"nvidia.com/gpu\":\"1\"}}},"
    "   "
    "{\"name\":\"b\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":"
    "\"512Mi\","
    "      \"nvidia.com/gpu\":\"2\"}}}]}}";

static void test_resources_rule(void **state)
{
    (void)state;
    il_pod pod;
    podtest_parse(resource_pod, &pod);
    char *map[] = {"nvidia.com/gpu=gpu", NULL};
    job_resources r;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(job_resources_compute(&pod, map, NULL, &r, &err), 0);
    /* cpu: parallel 1 + 0.25 = 1.25 < init max 3; memory: 1.5Gi < 3Gi; gpu 1 + 2. */
    assert_int_equal(r.cpu_milli, 3000);
    assert_int_equal(r.memory_bytes, 3LL << 30);
    assert_int_equal(r.n_gres, 1);
    assert_int_equal(r.gres[0].count, 3);
    assert_true(r.gpu);
    strvec flags = {0};
    job_resources_flags(&r, &flags);
    const char *want[] = {"--cpus-per-task=3", "--mem=3072M", "--gres=gpu:3", NULL};
    podtest_assert_argv(&flags, want);
    rn_strvec_free(&flags);
    job_resources_free(&r);
    char *no_map[] = {NULL};
    assert_int_equal(job_resources_compute(&pod, no_map, NULL, &r, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "nvidia.com/gpu"));
    job_resources_free(&r);
    il_buf_free(&err);
    il_pod_free(&pod);
}

static void test_sbatch_argv(void **state)
{
    (void)state;
    il_pod pod;
    podtest_parse(resource_pod, &pod);
    char *map[] = {"nvidia.com/gpu=gpu", NULL};
    slurm_config cfg = {.sbatch_path = "sbatch", .shared_fs = true, .partition = "cpu",
                        .account = "proj", .time_limit = "1:00:00", .gres_resources = map};
    job_resources r;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(job_resources_compute(&pod, map, NULL, &r, &err), 0);
    strvec argv = {0};
    assert_int_equal(sbatch_argv(&cfg, &pod, NULL, "/d/pods/" UID, &r, &argv, &err), 0);
    /* The annotation's partition and --mem-per-cpu replace the config's
     * partition and the computed --mem. */
    const char *want[] = {"sbatch", "--parsable", "--job-name=" UID,
                          "--output=/d/pods/" UID "/job.out", "--chdir=/d/pods/" UID,
                          "--account=proj", "--time=1:00:00", "--cpus-per-task=3",
                          "--gres=gpu:3", "--mem-per-cpu=1G", "--partition=gpu", NULL};
    podtest_assert_argv(&argv, want);
    rn_strvec_free(&argv);
    job_resources_free(&r);
    il_buf_free(&err);
    il_pod_free(&pod);
}

/* ---- states ------------------------------------------------------------ */

static il_pod_status one_container(il_state_kind kind, int exit_code)
{
    il_pod_status st = {0};
    st.n_containers = 1;
    st.containers = il_xcalloc(1, sizeof(il_container_status));
    st.containers[0].name = il_xstrdup("main");
    rn_state_set(&st.containers[0], kind, kind == IL_STATE_WAITING ? "ContainerCreating" : NULL,
              NULL);
    st.containers[0].exit_code = exit_code;
    return st;
}

static void apply(const char *state, const char *reason, int exit_status, il_state_kind kind,
                  int exit_code, bool shared, il_container_status *out)
{
    il_pod_status st = one_container(kind, exit_code);
    job_info j = {.id = "7", .name = UID, .state = (char *)state, .reason = (char *)reason,
                  .exit_status = exit_status};
    job_apply_state(&st, &j, shared);
    *out = st.containers[0];
    memset(&st.containers[0], 0, sizeof(st.containers[0]));
    il_pod_status_free(&st);
}

static void test_state_mapping(void **state)
{
    (void)state;
    struct {
        const char *state;
        int exit_status;
        il_state_kind before;
        int before_code;
        il_state_kind kind;
        const char *reason;
        int code;
    } cases[] = {
        {"PENDING", 0, IL_STATE_WAITING, 0, IL_STATE_WAITING, "ContainerCreating", 0},
        {"CONFIGURING", 0, IL_STATE_WAITING, 0, IL_STATE_WAITING, "ContainerCreating", 0},
        {"RUNNING", 0, IL_STATE_WAITING, 0, IL_STATE_RUNNING, NULL, 0},
        {"COMPLETED", 0, IL_STATE_WAITING, 0, IL_STATE_TERMINATED, "Completed", 0},
        {"FAILED", 3 << 8, IL_STATE_WAITING, 0, IL_STATE_TERMINATED, "Error", 3},
        {"FAILED", 3 << 8, IL_STATE_TERMINATED, 3, IL_STATE_TERMINATED, NULL, 3},
        {"TIMEOUT", 15, IL_STATE_RUNNING, 0, IL_STATE_TERMINATED, "DeadlineExceeded", 143},
        {"TIMEOUT", 0, IL_STATE_TERMINATED, 143, IL_STATE_TERMINATED, "DeadlineExceeded", 143},
        {"DEADLINE", 0, IL_STATE_WAITING, 0, IL_STATE_TERMINATED, "DeadlineExceeded", 143},
        {"OUT_OF_MEMORY", 0, IL_STATE_RUNNING, 0, IL_STATE_TERMINATED, "OOMKilled", 137},
        {"CANCELLED", 0, IL_STATE_WAITING, 0, IL_STATE_TERMINATED, "Cancelled", 143},
        {"NODE_FAIL", 0, IL_STATE_RUNNING, 0, IL_STATE_TERMINATED, "NodeFailure", 137},
        {"PREEMPTED", 0, IL_STATE_RUNNING, 0, IL_STATE_TERMINATED, "Preempted", 143},
        {"BOOT_FAIL", 0, IL_STATE_WAITING, 0, IL_STATE_TERMINATED, "BootFailure", 128},
        {"TIMEOUT", 0, IL_STATE_TERMINATED, 0, IL_STATE_TERMINATED, NULL, 0},   /* done before */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        il_container_status cs;
        apply(cases[i].state, "Resources", cases[i].exit_status, cases[i].before,
              cases[i].before_code, false, &cs);
        if (cs.state != cases[i].kind || cs.exit_code != cases[i].code ||
            (cases[i].reason && (!cs.reason || strcmp(cs.reason, cases[i].reason) != 0)))
            fail_msg("case %zu (%s): state %d reason %s code %d", i, cases[i].state, cs.state,
                     cs.reason ? cs.reason : "(null)", cs.exit_code);
        if (!strcmp(cases[i].state, "PENDING"))
            assert_non_null(strstr(cs.message, "PENDING (reason: Resources)"));
        il_container_status_free(&cs);
    }
    assert_int_equal(job_state_phase("REQUEUED"), JOB_PENDING);
    assert_int_equal(job_state_phase("RUNNINGX"), JOB_UNKNOWN_STATE);   /* whole words only */
}

static void test_squeue_parse_and_lost(void **state)
{
    (void)state;
    job_info *jobs;
    size_t n = job_info_parse("12|TIMEOUT|TimeLimit|15|2026-01-01T10:00:00|"
                              "2026-01-01T10:01:30|" UID "|\n"
                              "13|PENDING|Priority|0|N/A|N/A|we|ird|name|\nbroken line\n", &jobs);
    assert_int_equal(n, 2);
    assert_string_equal(jobs[0].state, "TIMEOUT");
    assert_string_equal(jobs[0].name, UID);
    assert_int_equal(jobs[0].end.sec - jobs[0].start.sec, 90);
    assert_string_equal(jobs[1].name, "we|ird|name");
    assert_true(il_time_is_zero(jobs[1].start));
    for (size_t i = 0; i < n; i++)
        job_info_free(&jobs[i]);
    free(jobs);
    il_pod_status st = one_container(IL_STATE_RUNNING, 0);
    job_mark_lost(&st, "12", NULL);
    assert_string_equal(st.containers[0].reason, "Lost");
    assert_int_equal(st.containers[0].exit_code, 137);
    il_pod_status_free(&st);
}

static void test_ping_from_sinfo(void **state)
{
    (void)state;
    json_t *ok = ping_from_sinfo("debug*|up|idle|16|24105|(null)\n"
                                 "gpu|up|mixed|8|1000|gpu:a100:4(S:0-1)\n"
                                 "gpu|up|drained|8|1000|gpu:2\n", "gpu");
    char *text = json_dumps(ok, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"resources\":{\"accelerators\":[{\"available\":\"6\","
                              "\"resourceType\":\"nvidia.com/gpu\"}],\"cpu\":\"16\","
                              "\"memory\":\"2000Mi\",\"pods\":\"1000\"},\"status\":\"ok\","
                              "\"taints\":[]}");
    free(text);
    json_decref(ok);
    json_t *def = ping_from_sinfo("debug*|up|idle|16|24105|(null)\n", NULL);
    assert_int_equal(json_array_size(json_object_get(def, "taints")), 0);
    json_decref(def);
    json_t *down = ping_from_sinfo("debug*|down|idle|16|24105|(null)\n", "debug");
    json_t *taint = json_array_get(json_object_get(down, "taints"), 0);
    assert_string_equal(json_string_value(json_object_get(taint, "effect")), "NoSchedule");
    json_decref(down);
    json_t *drained = ping_from_sinfo("debug*|up|drained|16|24105|(null)\n", NULL);
    assert_int_equal(json_array_size(json_object_get(drained, "taints")), 1);
    json_decref(drained);
}

/* ---- runtimes that cannot be installed here ------------------------------ */

static const char runtime_pod[] =
    "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\",\"uid\":\"" UID "\"},"
    " \"spec\":{\"containers\":["
    "   {\"name\":\"c\",\"image\":\"ghcr.io/x/y:1\",\"command\":[\"/bin/sh\",\"-c\"],"
    "    \"args\":[\"echo $(x) 'q'\"],\"workingDir\":\"/w\","
    "    \"env\":[{\"name\":\"A\",\"value\":\"1,2 $(id)\\nb\"}]},"
    "   {\"name\":\"d\",\"image\":\"/images/y.sif\",\"args\":[\"--flag\"]}]}}";

static const mount_spec mounts[] = {{"/pods/u/volumes/cfg", "/cfg", true},
                                    {"/pods/u/volumes/work", "/work", false}};

/* The envp entries a runtime adds (the supervisor's own environment is
 * passed along first and is not part of the golden text). */
static void assert_env_tail(const strvec *envp, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    assert_true(envp->n >= n);
    strvec tail = {.v = envp->v + envp->n - n, .n = n};
    podtest_assert_argv(&tail, want);
}

static void test_apptainer_command(void **state)
{
    (void)state;
    il_pod pod;
    podtest_parse(runtime_pod, &pod);
    runtime_spec rt = {.kind = RUNTIME_APPTAINER, .path = "apptainer", .gpu = true};
    rn_strvec_push(&rt.args, "--no-eval");
    rn_strvec_push(&rt.args, "--containall");
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], mounts, 2, &ls, &err),
                     0);
    const char *want[] = {"apptainer", "exec", "--no-eval", "--containall", "--nv", "--pwd", "/w",
                          "--bind", "/pods/u/volumes/cfg:/cfg:ro", "--bind",
                          "/pods/u/volumes/work:/work:rw", "docker://ghcr.io/x/y:1", "/bin/sh",
                          "-c", "echo $(x) 'q'", NULL};
    podtest_assert_argv(&ls.argv, want);
    const char *env[] = {"APPTAINERENV_HOSTNAME=p", "APPTAINERENV_A=1,2 $(id)\nb", NULL};
    assert_env_tail(&ls.envp, env);
    rn_launch_spec_free(&ls);
    /* No command: `run` keeps the image's runscript; an absolute image stays. */
    rt.kind = RUNTIME_SINGULARITY;
    rt.gpu = false;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[1], NULL, 0, &ls, &err),
                     0);
    const char *want2[] = {"apptainer", "run", "--no-eval", "--containall", "/images/y.sif",
                           "--flag", NULL};
    podtest_assert_argv(&ls.argv, want2);
    const char *env2[] = {"SINGULARITYENV_HOSTNAME=p", NULL};
    assert_env_tail(&ls.envp, env2);
    rn_launch_spec_free(&ls);
    mount_spec comma = {"/pods/u/volumes/a,b", "/x", false};
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[1], &comma, 1, &ls, &err),
                     -1);
    rn_strvec_free(&rt.args);
    il_buf_free(&err);
    il_pod_free(&pod);
}

static void test_enroot_command(void **state)
{
    (void)state;
    il_pod pod;
    podtest_parse(runtime_pod, &pod);
    runtime_spec rt = {.kind = RUNTIME_ENROOT, .path = "enroot", .image_prefix = "/sq/"};
    rn_strvec_push(&rt.args, "--rw");
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    /* workingDir cannot be honoured by enroot: refused, not ignored. */
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], mounts, 2, &ls, &err),
                     -1);
    assert_non_null(strstr(il_buf_cstr(&err), "workingDir"));
    free(pod.containers[0].working_dir);
    pod.containers[0].working_dir = NULL;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], mounts, 2, &ls, &err),
                     0);
    const char *want[] = {"enroot", "start", "--rw", "--mount",
                          "/pods/u/volumes/cfg /cfg none x-create=auto,rbind,ro", "--mount",
                          "/pods/u/volumes/work /work none x-create=auto,rbind", "--env",
                          "HOSTNAME", "--env", "A", "/sq/ghcr.io/x/y:1", "/bin/sh", "-c",
                          "echo $(x) 'q'", NULL};
    podtest_assert_argv(&ls.argv, want);
    bool found = false;
    for (size_t i = 0; i < ls.envp.n; i++)
        found |= strcmp(ls.envp.v[i], "A=1,2 $(id)\nb") == 0;
    assert_true(found);
    rn_launch_spec_free(&ls);
    rn_strvec_free(&rt.args);
    il_buf_free(&err);
    il_pod_free(&pod);
}

static void test_charliecloud_command(void **state)
{
    (void)state;
    il_pod pod;
    podtest_parse(runtime_pod, &pod);
    runtime_spec rt = {.kind = RUNTIME_CHARLIECLOUD, .path = "ch-run", .image_prefix = "/img/"};
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_sandbox_command_mounts(&rt, &pod, &pod.containers[0], mounts, 2, &ls, &err),
                     0);
    const char *want[] = {"ch-run", "--bind=/pods/u/volumes/cfg:/cfg",
                          "--bind=/pods/u/volumes/work:/work", "--cd=/w", "/img/ghcr.io/x/y:1",
                          "--", "/bin/sh", "-c", "echo $(x) 'q'", NULL};
    podtest_assert_argv(&ls.argv, want);
    rn_launch_spec_free(&ls);
    il_buf_free(&err);
    il_pod_free(&pod);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sh_quote),
        cmocka_unit_test(test_script_shared),
        cmocka_unit_test(test_script_embedded),
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_filter_canonical),
        cmocka_unit_test(test_filter_refuses),
        cmocka_unit_test(test_resources_rule),
        cmocka_unit_test(test_filter_trusted),
        cmocka_unit_test(test_sbatch_argv),
        cmocka_unit_test(test_state_mapping),
        cmocka_unit_test(test_squeue_parse_and_lost),
        cmocka_unit_test(test_ping_from_sinfo),
        cmocka_unit_test(test_apptainer_command),
        cmocka_unit_test(test_enroot_command),
        cmocka_unit_test(test_charliecloud_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
