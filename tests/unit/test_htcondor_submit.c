/* test_htcondor_submit.c -- interlink-htcondor's generated submit
 * description and what it reads back: the resource rule, the annotations
 * behind their allow-lists, hostile values ($(), $(Macro), quotes, newlines,
 * "+Attr = ..." injections, leading '-'), ClassAd string quoting, the
 * requirements check, condor_q -json parsing, condor_status parsing, and
 * the tools' argv (runuser, -name, -pool). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "htcondor.h"
#include "podtest.h"

#define UID "8c1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
#define DIR "/data/pods/" UID

static htc_config config(void)
{
    static char *groups[] = {"physics", "cms.prod", NULL};
    static char *attrs[] = {"WantOS", "Flavour", NULL};
    return (htc_config){.cpu_default = 1, .memory_default_mb = 0, .vacate_extra_s = 10,
                        .accounting_groups = groups, .allowed_attributes = attrs};
}

/* A pod with one container and these annotations (a JSON object text). */
static void pod_with(const char *annotations, il_pod *pod)
{
    char *text = il_xasprintf(
        "{\"metadata\": {\"name\": \"p\", \"uid\": \"" UID "\", \"annotations\": %s},"
        " \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"busybox\"}]}}",
        annotations);
    podtest_parse(text, pod);
    free(text);
}

/* The submit text for the pod, or NULL (err set) when refused. */
static char *submit_for(const htc_config *cfg, const il_pod *pod, il_buf *err)
{
    htc_request req;
    il_buf out = IL_BUF_INIT;
    if (htc_pod_request(cfg, pod, &req, err) != 0 ||
        htc_submit_text(cfg, pod, DIR, &req, &out, err) != 0) {
        il_buf_free(&out);
        return NULL;
    }
    return il_buf_steal(&out);
}

static void test_golden_resources(void **state)
{
    (void)state;
    htc_config cfg = config();
    il_pod pod;
    podtest_parse(
        "{\"metadata\": {\"name\": \"p\", \"uid\": \"" UID "\"},"
        " \"spec\": {\"terminationGracePeriodSeconds\": 5,"
        "  \"initContainers\": [{\"name\": \"i\", \"image\": \"x\", \"resources\": {\"limits\":"
        "    {\"memory\": \"300Mi\", \"cpu\": \"3\"}}}],"
        "  \"containers\": [{\"name\": \"a\", \"image\": \"x\", \"resources\": {\"requests\":"
        "    {\"cpu\": \"1500m\", \"memory\": \"100Mi\", \"ephemeral-storage\": \"1Mi\","
        "     \"nvidia.com/gpu\": \"1\"}}},"
        "   {\"name\": \"b\", \"image\": \"x\", \"resources\": {\"limits\":"
        "    {\"cpu\": \"2\", \"memory\": \"100M\", \"ephemeral-storage\": \"1Ki\"}}}]}}", &pod);
    il_buf err = IL_BUF_INIT;
    char *text = submit_for(&cfg, &pod, &err);
    assert_non_null(text);
    /* cpus: max(1.5 + 2 -> 4, 3); memory: max(100Mi + 100M -> 196 MB, 300Mi -> 300). */
    assert_string_equal(text,
                        "# interlink-htcondor: pod " UID "\n"
                        "universe = vanilla\n"
                        "executable = " DIR "/job.sh\n"
                        "initialdir = " DIR "\n"
                        "output = " DIR "/job.out\n"
                        "error = " DIR "/job.err\n"
                        "should_transfer_files = NO\n"
                        "transfer_executable = false\n"
                        "getenv = false\n"
                        "kill_sig = SIGTERM\n"
                        "job_max_vacate_time = 15\n"
                        "request_cpus = 4\n"
                        "request_memory = 300\n"
                        "request_disk = 1025\n"
                        "request_gpus = 1\n"
                        "+InterLinkPodUID = \"" UID "\"\n"
                        "queue 1\n");
    free(text);
    il_pod_free(&pod);
    il_buf_free(&err);
}

static void test_defaults_and_unknown_resource(void **state)
{
    (void)state;
    htc_config cfg = config();
    cfg.cpu_default = 2;
    cfg.memory_default_mb = 512;
    il_pod pod;
    pod_with("{}", &pod);
    htc_request req;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(htc_pod_request(&cfg, &pod, &req, &err), 0);
    assert_int_equal(req.cpus, 2);
    assert_int_equal(req.memory_mb, 512);
    assert_int_equal(req.disk_kb, 0);
    assert_int_equal(req.gpus, 0);
    il_pod_free(&pod);
    podtest_parse("{\"metadata\": {\"name\": \"p\", \"uid\": \"" UID "\"}, \"spec\": "
                  "{\"containers\": [{\"name\": \"c\", \"image\": \"x\", \"resources\": "
                  "{\"limits\": {\"example.com/fpga\": \"1\"}}}]}}", &pod);
    assert_int_equal(htc_pod_request(&cfg, &pod, &req, &err), 400);
    assert_non_null(strstr(il_buf_cstr(&err), "example.com/fpga"));
    il_pod_free(&pod);
    il_buf_free(&err);
}

static void test_classad_string(void **state)
{
    (void)state;
    il_buf b = IL_BUF_INIT;
    assert_int_equal(htc_classad_string(&b, "it's \"q\" ünï ✓ -x `y` +A = 1"), 0);
    assert_string_equal(il_buf_cstr(&b), "\"it's \\\"q\\\" ünï ✓ -x `y` +A = 1\"");
    const char *refused[] = {"$(HOME)", "$(DOLLAR)", "a$$(Name)b", "x\ny", "x\rq", "tab\there",
                             "del\x7f", "$ENV(PATH)", "a\\", "a\\\"b"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        il_buf_reset(&b);
        assert_int_equal(htc_classad_string(&b, refused[i]), -1);
        assert_int_equal(b.len, 0);
    }
    il_buf_free(&b);
}

static void test_expression_check(void **state)
{
    (void)state;
    il_buf err = IL_BUF_INIT;
    const char *good[] = {"OpSysAndVer == \"AlmaLinux9\"", "(Memory > 10) && (Cpus >= 2)",
                          "regexp(\"a)b(\", Name)", "Name =!= \"-x ) ( +A = 1\""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(htc_check_expression(good[i], &err), 0);
    const char *bad[] = {"true) || (true", "(x", "x)", "Name == \"open", "$(Requirements)",
                         "a\n+Owner = \"root\"", "x // comment", "x /* c */", "", "  ",
                         "$$(Memory) > 1", "Name == \"a\\\\\" || (true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        il_buf_reset(&err);
        assert_int_equal(htc_check_expression(bad[i], &err), -1);
        assert_non_null(strstr(il_buf_cstr(&err), "requirements"));
    }
    il_buf_free(&err);
}

/* Every line of an accepted submit text is a known command: nothing a pod
 * wrote can have started a line of its own. */
static void assert_known_lines(const char *text)
{
    const char *known[] = {"# interlink-htcondor: pod ", "universe = ", "executable = ",
                           "initialdir = ", "output = ", "error = ", "should_transfer_files = ",
                           "transfer_executable = ", "getenv = ", "kill_sig = ",
                           "job_max_vacate_time = ", "request_cpus = ", "request_memory = ",
                           "request_disk = ", "request_gpus = ", "accounting_group = ",
                           "requirements = (", "+WantOS = ", "+Flavour = ",
                           "+InterLinkPodUID = ", "queue 1"};
    char *copy = il_xstrdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strncasecmp(line, known[i], strlen(known[i])) == 0;
        if (!ok || strchr(line, '$') || line[strlen(line) - 1] == '\\')
            fail_msg("unexpected submit line: %s", line);
    }
    free(copy);
}

static void test_annotations_accepted(void **state)
{
    (void)state;
    htc_config cfg = config();
    cfg.allow_requirements = true;
    cfg.requirements = "OpSys == \"LINUX\"";
    il_pod pod;
    pod_with("{\"htcondor-job.vk.io/accounting-group\": \"cms.prod\","
             " \"htcondor-job.vk.io/requirements\": \"Memory > 100\","
             " \"htcondor-job.vk.io/attributes\": \"{\\\"wantos\\\": \\\"el9 \\\\\\\"x\\\\\\\" "
             "+Owner = 1\\\", \\\"Flavour\\\": 3, \\\"WantOS\\\": true}\"}", &pod);
    il_buf err = IL_BUF_INIT;
    char *text = submit_for(&cfg, &pod, &err);
    if (!text)
        fail_msg("refused: %s", il_buf_cstr(&err));
    assert_non_null(strstr(text, "\naccounting_group = cms.prod\n"));
    assert_non_null(strstr(text, "\nrequirements = (OpSys == \"LINUX\") && (Memory > 100)\n"));
    assert_non_null(strstr(text, "\n+wantos = \"el9 \\\"x\\\" +Owner = 1\"\n"));
    assert_non_null(strstr(text, "\n+Flavour = 3\n"));
    assert_non_null(strstr(text, "\n+WantOS = true\n"));
    assert_known_lines(text);
    free(text);
    il_pod_free(&pod);
    il_buf_free(&err);
}

static void test_annotations_refused(void **state)
{
    (void)state;
    const char *hostile[] = {
        /* accounting group: not listed, injection, leading '-', macro */
        "{\"htcondor-job.vk.io/accounting-group\": \"atlas\"}",
        "{\"htcondor-job.vk.io/accounting-group\": \"physics\\n+Owner = \\\"root\\\"\"}",
        "{\"htcondor-job.vk.io/accounting-group\": \"-physics\"}",
        "{\"htcondor-job.vk.io/accounting-group\": \"$(Owner)\"}",
        /* requirements: not allowed in this config */
        "{\"htcondor-job.vk.io/requirements\": \"true\"}",
        /* attributes: names off the allow-list or malformed, our own, values */
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"Owner\\\": \\\"root\\\"}\"}",
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"WantOS = 1\\\\n+Owner\\\": 1}\"}",
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"InterLinkPodUID\\\": \\\"x\\\"}\"}",
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"WantOS\\\": \\\"a\\\\n+Owner = 1\\\"}\"}",
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"WantOS\\\": \\\"$(Macro)\\\"}\"}",
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"WantOS\\\": \\\"$$(Memory)\\\"}\"}",
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"WantOS\\\": [1]}\"}",
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"WantOS\\\": null}\"}",
        "{\"htcondor-job.vk.io/attributes\": \"+WantOS = 1\"}",
        "{\"htcondor-job.vk.io/attributes\": \"{\\\"WantOS\\\": 1, \\\"WantOS\\\": 2}\"}",
    };
    htc_config cfg = config();
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        il_pod pod;
        pod_with(hostile[i], &pod);
        il_buf err = IL_BUF_INIT;
        char *text = submit_for(&cfg, &pod, &err);
        if (text)
            fail_msg("accepted %s:\n%s", hostile[i], text);
        assert_non_null(strstr(il_buf_cstr(&err), "htcondor-job.vk.io/"));
        il_buf_free(&err);
        il_pod_free(&pod);
    }
    /* AllowRequirements on: the expression must still be one balanced term. */
    cfg.allow_requirements = true;
    cfg.requirements = "Arch == \"X86_64\"";
    il_pod pod;
    pod_with("{\"htcondor-job.vk.io/requirements\": \"true) || (true\"}", &pod);
    il_buf err = IL_BUF_INIT;
    assert_null(submit_for(&cfg, &pod, &err));
    il_buf_free(&err);
    il_pod_free(&pod);
}

/* What IdentityMapFile decided (identity.c): the mapped accounting group,
 * which the annotation may repeat but not change, and the caller. */
static void test_identity_lines(void **state)
{
    (void)state;
    htc_config cfg = config();
    il_pod pod;
    pod_with("{\"htcondor-job.vk.io/accounting-group\": \"physics\"}", &pod);
    htc_request req;
    il_buf out = IL_BUF_INIT, err = IL_BUF_INIT;
    assert_int_equal(htc_pod_request(&cfg, &pod, &req, &err), 0);
    req.accounting_group = "physics";
    req.caller = "alice@example.org";
    req.tenant = "team-a";
    assert_int_equal(htc_submit_text(&cfg, &pod, DIR, &req, &out, &err), 0);
    assert_non_null(strstr(il_buf_cstr(&out), "\naccounting_group = physics\n"));
    assert_non_null(strstr(il_buf_cstr(&out), "\n+InterLinkUser = \"alice@example.org\"\n"
                                              "+InterLinkTenant = \"team-a\"\n"
                                              "+InterLinkPodUID = "));
    il_buf_reset(&out);
    req.accounting_group = "cms.prod";   /* mapped elsewhere: the pod may not pick */
    assert_int_equal(htc_submit_text(&cfg, &pod, DIR, &req, &out, &err), 400);
    assert_non_null(strstr(il_buf_cstr(&err), "your accounting group is cms.prod"));
    il_buf_free(&out);
    il_buf_free(&err);
    il_pod_free(&pod);
}

static void test_parse_jobs(void **state)
{
    (void)state;
    job_info *jobs;
    assert_int_equal(htc_parse_jobs("", &jobs), 0);
    free(jobs);
    assert_int_equal(htc_parse_jobs("[\n]\n", &jobs), 0);
    free(jobs);
    assert_int_equal(htc_parse_jobs("Error: cannot connect", &jobs), -1);
    ssize_t n = htc_parse_jobs(
        "[{\"ClusterId\": 12, \"ProcId\": 0, \"JobStatus\": 5, \"InterLinkPodUID\": \"" UID "\","
        "  \"HoldReason\": \"Error from slot1: bad \\\"exec\\\"\", \"EnteredCurrentStatus\": 5},"
        " {\"ClusterId\": 13, \"ProcId\": 0, \"JobStatus\": 4, \"ExitCode\": 3, "
        "  \"ExitBySignal\": false, \"JobStartDate\": 100, \"EnteredCurrentStatus\": 200},"
        " {\"ClusterId\": 14, \"ProcId\": 0, \"JobStatus\": 3, \"RemoveReason\": \"via condor_rm\","
        "  \"ExitBySignal\": true, \"ExitSignal\": 9, \"CompletionDate\": 300}]", &jobs);
    assert_int_equal(n, 3);
    assert_string_equal(jobs[0].id, "12.0");
    assert_string_equal(jobs[0].name, UID);
    assert_string_equal(jobs[0].state, "Held");
    assert_string_equal(jobs[0].reason, "Error from slot1: bad \"exec\"");
    assert_string_equal(jobs[1].state, "Completed");
    assert_string_equal(jobs[1].name, "");
    assert_int_equal(jobs[1].exit_status, 3 << 8);
    assert_int_equal(jobs[1].start.sec, 100);
    assert_int_equal(jobs[1].end.sec, 200);
    assert_string_equal(jobs[2].state, "Removed");
    assert_string_equal(jobs[2].reason, "via condor_rm");
    assert_int_equal(jobs[2].exit_status, 9);
    assert_int_equal(jobs[2].end.sec, 300);
    htc_jobs_free(jobs, n);
}

static void test_ping_from_status(void **state)
{
    (void)state;
    json_t *p = htc_ping_from_status("2 24105 undefined\n1 1024 2\n");
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "resources"),
                                                          "cpu")), "3");
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "resources"),
                                                          "memory")), "25129Mi");
    json_t *acc = json_array_get(json_object_get(json_object_get(p, "resources"),
                                                 "accelerators"), 0);
    assert_string_equal(json_string_value(json_object_get(acc, "available")), "2");
    assert_int_equal(json_array_size(json_object_get(p, "taints")), 0);
    json_decref(p);
    p = htc_ping_from_status("");
    assert_int_equal(json_array_size(json_object_get(p, "taints")), 1);
    json_decref(p);
}

static void test_tool_argv(void **state)
{
    (void)state;
    htc_config cfg = config();
    cfg.submit_user = "svc";
    cfg.ident.runuser_path = "runuser";
    cfg.bin_dir = "/opt/condor/bin";
    cfg.schedd_name = "schedd@ce.example";
    cfg.pool = "cm.example:9618";
    strvec argv = {0};
    htc_tool_argv(&cfg, "condor_submit", true, false, &argv);
    podtest_assert_argv(&argv, (const char *const[]){"runuser", "-u", "svc", "--",
                                                     "/opt/condor/bin/condor_submit", "-name",
                                                     "schedd@ce.example", "-pool",
                                                     "cm.example:9618", NULL});
    rn_strvec_free(&argv);
    htc_tool_argv(&cfg, "condor_status", false, true, &argv);
    podtest_assert_argv(&argv, (const char *const[]){"/opt/condor/bin/condor_status", "-pool",
                                                     "cm.example:9618", NULL});
    rn_strvec_free(&argv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_resources),
        cmocka_unit_test(test_defaults_and_unknown_resource),
        cmocka_unit_test(test_classad_string),
        cmocka_unit_test(test_expression_check),
        cmocka_unit_test(test_annotations_accepted),
        cmocka_unit_test(test_annotations_refused),
        cmocka_unit_test(test_identity_lines),
        cmocka_unit_test(test_parse_jobs),
        cmocka_unit_test(test_ping_from_status),
        cmocka_unit_test(test_tool_argv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
