/* test_runner_probe.c -- probes and lifecycle hooks: parsing (defaults,
 * named ports, what is refused), the probe worker's counting (thresholds,
 * verdicts, initial delay, unknown results), and the exact command an
 * exec probe or hook runs for every runtime (golden argv; apptainer,
 * charliecloud and enroot cannot run here, so this is their only test).
 * The integration tests (test_local_probes.py) run the same for real. */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pod.h"
#include "runner.h"
#include "podtest.h"

#define UID "0b1f3c1e-7c0e-4f55-9b1d-3c0f7c1a2b3c"

/* A pod whose one container "c" has the given extra JSON members. */
static int parse_pod(const char *ctr_extra, il_pod *pod)
{
    char *text = NULL;
    if (asprintf(
            &text,
            "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\",\"uid\":\"" UID "\"},"
            " \"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
            "  \"command\":[\"sleep\",\"9\"],\"ports\":[{\"name\":\"web\",\"containerPort\":8080},"
            "  {\"name\":\"bad\",\"containerPort\":0}]%s%s}]}}",
            *ctr_extra ? "," : "", ctr_extra) < 0)
        fail_msg("asprintf");
    json_error_t jerr;
    json_t *json = json_loads(text, JSON_ALLOW_NUL, &jerr);   /* for the NUL case */
    free(text);
    if (!json)
        fail_msg("bad test JSON: %s", jerr.text);
    char err[256];
    int rc = il_pod_parse(json, pod, err, sizeof(err));
    json_decref(json);
    if (rc != 0)
        fail_msg("pod does not parse: %s", err);
    return 0;
}

/* Parse the checks of a pod with ctr_extra; returns the error text ("" if ok). */
static char *checks_of(const char *ctr_extra, ctr_checks *out)
{
    il_pod pod;
    parse_pod(ctr_extra, &pod);
    il_buf err = IL_BUF_INIT;
    int rc = rn_checks_parse(&pod, &pod.containers[0], out, &err);
    il_buf probe_err = IL_BUF_INIT;
    assert_int_equal(rn_checks_validate(&pod, &probe_err) == 0, rc == 0);
    il_buf_free(&probe_err);
    char *msg = il_xstrdup(il_buf_cstr(&err));
    il_buf_free(&err);
    il_pod_free(&pod);
    return msg;
}

static void test_defaults_and_named_ports(void **state)
{
    (void)state;
    ctr_checks ck;
    char *err = checks_of("\"readinessProbe\":{\"httpGet\":{\"port\":\"web\"}},"
                          "\"livenessProbe\":{\"tcpSocket\":{\"port\":9090,\"host\":\"::1\"},"
                          "  \"periodSeconds\":0,\"initialDelaySeconds\":4},"
                          "\"startupProbe\":{\"exec\":{\"command\":[\"cat\",\"/x\"]},"
                          "  \"failureThreshold\":30,\"terminationGracePeriodSeconds\":5}",
                          &ck);
    assert_string_equal(err, "");
    free(err);
    const probe_spec *r = ck.probes[PROBE_READINESS];
    assert_non_null(r);
    assert_int_equal(r->handler.kind, HANDLER_HTTP);
    assert_int_equal(r->handler.port, 8080);
    assert_string_equal(r->handler.path, "/");
    assert_false(r->handler.https);
    assert_null(r->handler.host);
    assert_int_equal(r->period_s, 10);
    assert_int_equal(r->timeout_s, 1);
    assert_int_equal(r->success_threshold, 1);
    assert_int_equal(r->failure_threshold, 3);
    assert_int_equal(r->initial_delay_s, 0);
    assert_int_equal(r->grace_s, -1);
    const probe_spec *l = ck.probes[PROBE_LIVENESS];
    assert_int_equal(l->handler.kind, HANDLER_TCP);
    assert_string_equal(l->handler.host, "::1");
    assert_int_equal(l->period_s, 10);   /* 0 is the API server's "unset" */
    assert_int_equal(l->initial_delay_s, 4);
    const probe_spec *s = ck.probes[PROBE_STARTUP];
    assert_int_equal(s->handler.kind, HANDLER_EXEC);
    assert_int_equal(s->handler.command.n, 2);
    assert_string_equal(s->handler.command.v[1], "/x");
    assert_int_equal(s->failure_threshold, 30);
    assert_int_equal(s->grace_s, 5);
    assert_null(ck.post_start);
    assert_null(ck.pre_stop);
    rn_checks_free(&ck);
}

static void test_hooks(void **state)
{
    (void)state;
    ctr_checks ck;
    char *err = checks_of(
        "\"lifecycle\":{\"postStart\":{\"httpGet\":{\"port\":81,\"path\":\"hook\","
        "  \"scheme\":\"HTTPS\",\"httpHeaders\":[{\"name\":\"X-A\",\"value\":\"it's $(x)\"}]}},"
        "\"preStop\":{\"sleep\":{\"seconds\":3}}}",
        &ck);
    assert_string_equal(err, "");
    free(err);
    assert_non_null(ck.post_start);
    assert_int_equal(ck.post_start->kind, HANDLER_HTTP);
    assert_true(ck.post_start->https);
    assert_string_equal(ck.post_start->path, "/hook");   /* the kubelet adds the slash too */
    assert_int_equal(ck.post_start->headers.n, 1);
    assert_string_equal(ck.post_start->headers.v[0], "X-A: it's $(x)");
    assert_int_equal(ck.pre_stop->kind, HANDLER_SLEEP);
    assert_int_equal(ck.pre_stop->sleep_seconds, 3);
    for (int k = 0; k < PROBE_KINDS; k++)
        assert_null(ck.probes[k]);
    rn_checks_free(&ck);
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *extra, *want;
    } cases[] = {
        {"\"readinessProbe\":{\"httpGet\":{\"port\":\"nope\"}}",
         "spec.containers[0].readinessProbe.httpGet.port: \"nope\" is not the name of a port"},
        {"\"readinessProbe\":{\"httpGet\":{\"port\":\"bad\"}}", "is not the name of a port"},
        {"\"readinessProbe\":{\"httpGet\":{\"port\":70000}}", "out of range"},
        {"\"readinessProbe\":{\"httpGet\":{}}", "httpGet.port: required"},
        {"\"readinessProbe\":{\"httpGet\":{\"port\":1,\"scheme\":\"FTP\"}}", "HTTP or HTTPS"},
        {"\"readinessProbe\":{\"httpGet\":{\"port\":1,\"path\":\"/a\\nb\"}}", "control characters"},
        {"\"readinessProbe\":{\"httpGet\":{\"port\":1,\"host\":\"x/y@z\"}}", "not a host name"},
        {"\"readinessProbe\":{\"httpGet\":{\"port\":1,\"httpHeaders\":[{\"name\":\"A:B\",\"value\":"
         "\"v\"}]}}",
         "invalid header"},
        {"\"readinessProbe\":{\"httpGet\":{\"port\":1,\"httpHeaders\":[{\"name\":\"A\",\"value\":"
         "\"v\\r\\nX: y\"}]}}",
         "invalid header"},
        {"\"livenessProbe\":{\"grpc\":{\"port\":1}}",
         "livenessProbe.grpc: grpc probes are not supported"},
        {"\"livenessProbe\":{\"sleep\":{\"seconds\":1}}", "sleep probes are not supported"},
        {"\"livenessProbe\":{}", "must specify a handler type"},
        {"\"livenessProbe\":{\"exec\":{\"command\":[\"a\"]},\"tcpSocket\":{\"port\":1}}",
         "more than 1 handler type"},
        {"\"livenessProbe\":{\"exec\":{\"command\":[]}}", "exec.command: required"},
        {"\"livenessProbe\":{\"exec\":{\"command\":[\"a\",1]}}", "array of strings"},
        {"\"livenessProbe\":{\"exec\":{\"command\":[\"a\"]},\"successThreshold\":2}", "must be 1"},
        {"\"startupProbe\":{\"exec\":{\"command\":[\"a\"]},\"periodSeconds\":-1}", "periodSeconds"},
        {"\"readinessProbe\":{\"exec\":{\"command\":[\"a\"]},\"terminationGracePeriodSeconds\":3}",
         "not be set for readiness"},
        {"\"readinessProbe\":[]", "readinessProbe: expected an object"},
        {"\"lifecycle\":{\"preStop\":{\"sleep\":{}}}", "sleep.seconds: required"},
        {"\"lifecycle\":{\"postStart\":\"x\"}", "postStart: expected an object"},
        {"\"lifecycle\":{\"postStart\":{\"exec\":{\"command\":[\"a\\u0000b\"]}}}", "NUL"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ctr_checks ck;
        char *err = checks_of(cases[i].extra, &ck);
        if (!strstr(err, cases[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].extra, err, cases[i].want);
        for (int k = 0; k < PROBE_KINDS; k++)
            assert_null(ck.probes[k]);   /* nothing half-parsed is left */
        free(err);
    }
}

/* ---- the worker's counting ---------------------------------------------- */

static probe_spec spec_of(int64_t delay, int64_t period, int64_t success, int64_t failure)
{
    probe_spec p = {.initial_delay_s = delay, .period_s = period, .timeout_s = 1,
                    .success_threshold = success, .failure_threshold = failure, .grace_s = -1};
    return p;
}

static void test_sched_readiness(void **state)
{
    (void)state;
    probe_spec p = spec_of(3, 2, 2, 3);
    probe_sched ps;
    rn_probe_sched_init(&ps, &p, PROBE_READINESS, 1000, 0);
    assert_false(ps.verdict);                 /* not ready until proven */
    assert_int_equal(ps.next_ms, 4000);       /* started + initialDelaySeconds */
    assert_false(rn_probe_sched_record(&ps, PROBE_SUCCESS, 4000));
    assert_int_equal(ps.next_ms, 6000);       /* a period after the run began */
    assert_false(rn_probe_sched_record(&ps, PROBE_UNKNOWN, 6000));   /* counts for nothing */
    assert_true(rn_probe_sched_record(&ps, PROBE_SUCCESS, 8000));    /* second success in a row */
    assert_true(ps.verdict);
    assert_false(rn_probe_sched_record(&ps, PROBE_FAILURE, 10000));
    assert_false(rn_probe_sched_record(&ps, PROBE_FAILURE, 12000));
    assert_false(rn_probe_sched_record(&ps, PROBE_SUCCESS, 14000));  /* resets the failures */
    assert_false(rn_probe_sched_record(&ps, PROBE_FAILURE, 16000));
    assert_false(rn_probe_sched_record(&ps, PROBE_FAILURE, 18000));
    assert_true(rn_probe_sched_record(&ps, PROBE_FAILURE, 20000));
    assert_false(ps.verdict);
    assert_true(
        rn_probe_sched_gave_up(&ps)); /* the supervisor acts on this for liveness/startup only */
}

static void test_sched_liveness_and_startup(void **state)
{
    (void)state;
    probe_spec p = spec_of(0, 1, 1, 2);
    probe_sched live;
    rn_probe_sched_init(&live, &p, PROBE_LIVENESS, 5000, 9000);
    assert_true(live.verdict);                /* alive until proven otherwise */
    assert_int_equal(live.next_ms, 9000);     /* not before the startup probe passed */
    assert_false(rn_probe_sched_record(&live, PROBE_FAILURE, 9000));
    assert_false(rn_probe_sched_gave_up(&live));
    assert_true(rn_probe_sched_record(&live, PROBE_FAILURE, 10000));
    assert_true(rn_probe_sched_gave_up(&live));

    probe_sched start;
    rn_probe_sched_init(&start, &p, PROBE_STARTUP, 0, 0);
    assert_false(start.verdict);              /* not started */
    assert_false(rn_probe_sched_record(&start, PROBE_FAILURE, 0));
    assert_false(rn_probe_sched_gave_up(&start));
    assert_true(rn_probe_sched_record(&start, PROBE_SUCCESS, 1000));
    assert_true(start.verdict);
    assert_false(rn_probe_sched_gave_up(&start));
    rn_probe_sched_init(&start, &p, PROBE_STARTUP, 0, 0);
    assert_false(rn_probe_sched_record(&start, PROBE_FAILURE, 0));
    assert_false(rn_probe_sched_record(&start, PROBE_FAILURE, 1000)); /* verdict stays "not yet" */
    assert_true(rn_probe_sched_gave_up(&start));                        /* ... but it gave up */
}

/* ---- exec commands, per runtime ------------------------------------------ */

static const char *const hostile_cmd[] = {"/bin/sh", "-c", "echo \"$1\" `id` $(id)", "sh",
                                          "it's\n\xc3\xbc;--", NULL};

static void exec_for(runtime_kind kind, const char *working_dir_extra, const char *const *want,
                     bool want_env)
{
    il_pod pod;
    parse_pod(working_dir_extra, &pod);
    runtime_spec rt = {.kind = kind, .path = "/usr/bin/podman"};
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_check_exec_argv(&rt, &pod, &pod.containers[0], 4242,
                                        (char *const *)hostile_cmd, &ls, &err),
                     0);
    podtest_assert_argv(&ls.argv, want);
    /* The container's environment (HOSTNAME is the pod's) for nsenter;
     * podman exec takes the container's own. */
    assert_int_equal(rn_strvec_contains(&ls.envp, "HOSTNAME=p"), want_env);
    rn_launch_spec_free(&ls);
    il_buf_free(&err);
    il_pod_free(&pod);
}

static void test_exec_commands(void **state)
{
    (void)state;
    const char *const podman[] = {"/usr/bin/podman", "exec", "il-" UID "-c", "/bin/sh", "-c",
                                  "echo \"$1\" `id` $(id)", "sh", "it's\n\xc3\xbc;--", NULL};
    exec_for(RUNTIME_PODMAN, "", podman, false);
    const char *const host[] = {"nsenter", "--target=4242", "--preserve-credentials",
                                "--root", "--wd=/proc/4242/root/", "--", "/bin/sh", "-c",
                                "echo \"$1\" `id` $(id)", "sh", "it's\n\xc3\xbc;--", NULL};
    exec_for(RUNTIME_HOST, "", host, true);
    const char *const host_wd[] = {"nsenter", "--target=4242", "--preserve-credentials",
                                   "--root", "--wd=/proc/4242/root/data dir", "--", "/bin/sh",
                                   "-c", "echo \"$1\" `id` $(id)", "sh", "it's\n\xc3\xbc;--",
                                   NULL};
    exec_for(RUNTIME_HOST, "\"workingDir\":\"/data dir\"", host_wd, true);
    const char *const image_wd[] = {"nsenter", "--target=4242", "--preserve-credentials",
                                    "--root", "--wd", "--", "/bin/sh", "-c",
                                    "echo \"$1\" `id` $(id)", "sh", "it's\n\xc3\xbc;--", NULL};
    exec_for(RUNTIME_APPTAINER, "", image_wd, true);
    exec_for(RUNTIME_SINGULARITY, "", image_wd, true);
    exec_for(RUNTIME_CHARLIECLOUD, "", image_wd, true);
    exec_for(RUNTIME_ENROOT, "", image_wd, true);
    const char *const enroot_wd[] = {"nsenter", "--target=4242", "--preserve-credentials",
                                     "--root", "--wd=/proc/4242/root/w", "--", "/bin/sh",
                                     "-c", "echo \"$1\" `id` $(id)", "sh",
                                     "it's\n\xc3\xbc;--", NULL};
    exec_for(RUNTIME_ENROOT, "\"workingDir\":\"/w\"", enroot_wd, true);
}

/* nsenter is told to enter only the namespaces the target does not share
 * with us: re-entering a shared one owned by the initial user namespace
 * (cgroup, net, time) needs CAP_SYS_ADMIN there, which a batch job's
 * ordinary account does not have (`--all` failed every exec, probe and
 * hook of a non-root HTCondor job). */
static void test_exec_enters_only_other_namespaces(void **state)
{
    (void)state;
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char ok = unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWUTS) == 0 ? 'y' : 'n';
        if (write(sync[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(sync[1]);
    char ok = 0;
    assert_int_equal(read(sync[0], &ok, 1), 1);
    close(sync[0]);
    il_pod pod;
    parse_pod("", &pod);
    runtime_spec rt = {.kind = RUNTIME_HOST};
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_check_exec_argv(&rt, &pod, &pod.containers[0], child,
                                        (char *const *)hostile_cmd, &ls, &err),
                     0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (ok != 'y') {
        rn_launch_spec_free(&ls);
        il_buf_free(&err);
        il_pod_free(&pod);
        skip();   /* no unprivileged user namespaces on this kernel */
    }
    char target[32], wd[64];
    snprintf(target, sizeof(target), "--target=%d", (int)child);
    snprintf(wd, sizeof(wd), "--wd=/proc/%d/root/", (int)child);
    const char *const want[] = {"nsenter", target, "--user", "--mount", "--uts",
                                "--preserve-credentials", "--root", wd, "--", "/bin/sh", "-c",
                                "echo \"$1\" `id` $(id)", "sh", "it's\n\xc3\xbc;--", NULL};
    podtest_assert_argv(&ls.argv, want);
    rn_launch_spec_free(&ls);
    il_buf_free(&err);
    il_pod_free(&pod);
}

/* Without a process to enter yet, the caller is told to try again. */
static void test_exec_no_process_yet(void **state)
{
    (void)state;
    il_pod pod;
    parse_pod("", &pod);
    runtime_spec rt = {.kind = RUNTIME_HOST};
    launch_spec ls;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_check_exec_command(&rt, &pod, &pod.containers[0], 0,
                                        (char *const *)hostile_cmd, &ls, &err), 1);
    /* Our own process group shares our mount namespace: nothing to enter. */
    assert_int_equal(rn_check_exec_command(&rt, &pod, &pod.containers[0], getpgrp(),
                                        (char *const *)hostile_cmd, &ls, &err), 1);
    il_buf_free(&err);
    il_pod_free(&pod);
}

/* ready/started are kept in state.json; files from before probes (no
 * such keys) read as "running means ready and started". */
static void test_state_file_verdicts(void **state)
{
    (void)state;
    char dir[] = "/tmp/il-test-probe-XXXXXX";
    assert_non_null(mkdtemp(dir));
    il_container_status st = {.state = IL_STATE_RUNNING, .ready = false,
                              .started = IL_STARTED_YES};
    assert_int_equal(rn_state_write(dir, &st, 42), 0);
    il_container_status back = {0};
    pid_t pid = 0;
    assert_int_equal(rn_state_read(dir, &back, &pid), 0);
    assert_int_equal(pid, 42);
    assert_false(back.ready);
    assert_int_equal(back.started, IL_STARTED_YES);
    il_container_status_free(&back);

    char *path = il_xasprintf("%s/state.json", dir);
    static const char old[] = "{\"state\":\"running\",\"exitCode\":0,\"signal\":0,\"pid\":7}";
    assert_int_equal(il_write_file_atomic(path, old, strlen(old), 0644), 0);
    memset(&back, 0, sizeof(back));
    assert_int_equal(rn_state_read(dir, &back, NULL), 0);
    assert_true(back.ready);
    assert_int_equal(back.started, IL_STARTED_UNSET);
    il_container_status_free(&back);
    unlink(path);
    free(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_named_ports),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_sched_readiness),
        cmocka_unit_test(test_sched_liveness_and_startup),
        cmocka_unit_test(test_exec_commands),
        cmocka_unit_test(test_exec_enters_only_other_namespaces),
        cmocka_unit_test(test_exec_no_process_yet),
        cmocka_unit_test(test_state_file_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
