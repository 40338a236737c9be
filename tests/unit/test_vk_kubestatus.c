/* test_vk_kubestatus.c -- interLink PodStatus -> Kubernetes pod status:
 * a table of plugin reports against phase, conditions and container
 * states, then transition times, change detection and the patch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubestatus.h"
#include "util.h"

#define NOW ((il_time){1800000000, 0})
#define LATER ((il_time){1800000060, 0})
#define NOW_TEXT "2027-01-15T08:00:00Z"
#define LATER_TEXT "2027-01-15T08:01:00Z"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s: %s", jerr.text, text);
    return j;
}

/* A pod with init containers (may be "") and containers, as JSON lists of
 * names; restartPolicy; optional extra status. */
static json_t *make_pod(const char *inits, const char *mains, const char *policy,
                        const char *status)
{
    json_t *spec = json_pack("{s:s}", "restartPolicy", policy);
    const char *keys[] = {"initContainers", "containers"};
    const char *lists[] = {inits, mains};
    for (int k = 0; k < 2; k++) {
        json_t *arr = json_array();
        char *copy = il_xstrdup(lists[k]), *save, *name;
        for (name = strtok_r(copy, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
            json_t *c = json_pack("{s:s, s:s}", "name", name, "image", "busybox");
            if (!strcmp(name, "probed"))
                json_object_set_new(c, "readinessProbe", json_pack("{s:{s:[s]}}", "exec",
                                                                   "command", "true"));
            json_array_append_new(arr, c);
        }
        free(copy);
        if (json_array_size(arr))
            json_object_set_new(spec, keys[k], arr);
        else
            json_decref(arr);
    }
    return json_pack("{s:{s:s, s:s, s:s}, s:o, s:o}", "metadata", "name", "p", "namespace",
                     "default", "uid", "uid-1", "spec", spec, "status",
                     status ? parse(status) : json_object());
}

#define RUN(n) "{\"name\":\"" n "\",\"state\":{\"running\":{\"startedAt\":\"" NOW_TEXT "\"}}}"
#define WAIT(n, r) "{\"name\":\"" n "\",\"state\":{\"waiting\":{\"reason\":\"" r "\"}}}"
#define DONE(n, code, r)                                                                     \
    "{\"name\":\"" n "\",\"restartCount\":2,\"state\":{\"terminated\":{\"exitCode\":" #code \
    ",\"reason\":\"" r "\",\"startedAt\":\"" NOW_TEXT "\",\"finishedAt\":\"" LATER_TEXT "\"}}}"

static void plugin_status(const char *inits, const char *mains, il_pod_status *st)
{
    char *text = il_xasprintf("{\"name\":\"p\",\"UID\":\"uid-1\",\"namespace\":\"default\","
                              "\"JID\":\"j\",\"initContainers\":[%s],\"containers\":[%s]}",
                              inits, mains);
    json_t *j = parse(text);
    char err[256];
    if (il_pod_status_from_json(j, st, err, sizeof err) < 0)
        fail_msg("%s", err);
    json_decref(j);
    free(text);
}

static json_t *at(const json_t *root, const char *path)
{
    const json_t *v = root;
    char *copy = il_xstrdup(path), *save, *part;
    for (part = strtok_r(copy, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(part)) : json_object_get(v, part);
    free(copy);
    return (json_t *)v;
}

static const json_t *cond(const json_t *status, const char *type)
{
    size_t i, found = 0;
    json_t *c, *hit = NULL;
    json_array_foreach(json_object_get(status, "conditions"), i, c) {
        if (!strcmp(json_string_value(json_object_get(c, "type")), type)) {
            found++;
            hit = c;
        }
    }
    if (found != 1)
        fail_msg("condition %s appears %zu times", type, found);
    return hit;
}

/* "waiting:ContainerCreating", "running", "terminated:OOMKilled:137" */
static char *state_of(const json_t *cs)
{
    const json_t *s = json_object_get(cs, "state");
    const json_t *w = json_object_get(s, "waiting"), *r = json_object_get(s, "running");
    const json_t *t = json_object_get(s, "terminated");
    if (json_is_object(t))
        return il_xasprintf("terminated:%s:%lld", json_string_value(json_object_get(t, "reason")),
                            (long long)json_integer_value(json_object_get(t, "exitCode")));
    if (json_is_object(r))
        return il_xstrdup("running");
    if (json_is_object(w))
        return il_xasprintf("waiting:%s", json_string_value(json_object_get(w, "reason")));
    return il_xstrdup("?");
}

static char *states(const json_t *list)
{
    il_buf b = IL_BUF_INIT;
    il_buf_puts(&b, "");
    size_t i;
    json_t *cs;
    json_array_foreach(list, i, cs) {
        char *s = state_of(cs);
        il_buf_printf(&b, "%s%s", i ? " " : "", s);
        free(s);
    }
    return il_buf_steal(&b);
}

typedef struct ps_case {
    const char *what;
    const char *inits, *mains;         /* spec names */
    const char *policy;
    bool no_report;                    /* the plugin does not know the pod */
    const char *rep_inits, *rep_mains; /* the plugin's report */
    const char *phase;
    const char *init_states, *main_states;
    const char *initialized, *ready;   /* "True"/"False" */
    const char *ready_reason, *ready_message;
} ps_case;

static const ps_case cases[] = {
    {"not known to the plugin yet", "", "a b", "Always", true, "", "", "Pending", "",
     "waiting:ContainerCreating waiting:ContainerCreating", "True", "False",
     "ContainersNotReady", "containers with unready status: [a b]"},
    {"zero containers reported is not Succeeded", "", "a", "Never", false, "", "", "Pending", "",
     "waiting:ContainerCreating", "True", "False", "ContainersNotReady",
     "containers with unready status: [a]"},
    {"plugin's waiting reason kept", "", "a", "Never", false, "", WAIT("a", "Queued"), "Pending",
     "", "waiting:Queued", "True", "False", "ContainersNotReady", NULL},
    {"all running", "", "a b", "Always", false, "", RUN("a") "," RUN("b"), "Running", "",
     "running running", "True", "True", NULL, NULL},
    {"one of two reported, done: not Succeeded", "", "a b", "Never", false, "",
     DONE("a", 0, "Completed"), "Running", "", "terminated:Completed:0 waiting:ContainerCreating",
     "True", "False", "ContainersNotReady", "containers with unready status: [a b]"},
    {"all succeeded", "", "a b", "Never", false, "", DONE("a", 0, "") "," DONE("b", 0, "Completed"),
     "Succeeded", "", "terminated:Completed:0 terminated:Completed:0", "True", "False",
     "PodCompleted", NULL},
    {"OOMKilled kept, pod Failed", "", "a b", "Never", false, "",
     DONE("a", 137, "OOMKilled") "," DONE("b", 0, "Completed"), "Failed", "",
     "terminated:OOMKilled:137 terminated:Completed:0", "True", "False", "PodCompleted", NULL},
    {"DeadlineExceeded kept", "", "a", "OnFailure", false, "", DONE("a", 143, "DeadlineExceeded"),
     "Failed", "", "terminated:DeadlineExceeded:143", "True", "False", "PodCompleted", NULL},
    {"failure without a reason is Error", "", "a", "Never", false, "", DONE("a", 2, ""), "Failed",
     "", "terminated:Error:2", "True", "False", "PodCompleted", NULL},
    {"failed init container fails the pod", "i1 i2", "a", "Always", false, DONE("i1", 1, "Error"),
     "", "Failed", "terminated:Error:1 waiting:PodInitializing", "waiting:PodInitializing",
     "False", "False", "PodCompleted", NULL},
    {"init running", "i1", "a", "Never", false, RUN("i1"), "", "Pending", "running",
     "waiting:PodInitializing", "False", "False", "ContainersNotReady",
     "containers with unready status: [a]"},
    {"init done, main running", "i1", "a", "Never", false, DONE("i1", 0, "Completed"), RUN("a"),
     "Running", "terminated:Completed:0", "running", "True", "True", NULL, NULL},
    {"readiness probe: the plugin's ready flag", "", "probed", "Always", false, "",
     RUN("probed"), "Running", "", "running", "True", "False", "ContainersNotReady",
     "containers with unready status: [probed]"},
    {"a status for a container not in the spec is ignored", "", "a", "Never", false, "",
     RUN("ghost"), "Pending", "", "waiting:ContainerCreating", "True", "False",
     "ContainersNotReady", NULL},
};

static void check_case(const ps_case *c)
{
    json_t *pod = make_pod(c->inits, c->mains, c->policy, NULL);
    il_pod_status st;
    if (!c->no_report)
        plugin_status(c->rep_inits, c->rep_mains, &st);
    json_t *s = vk_pod_status(pod, c->no_report ? NULL : &st, NULL, NOW);
    char *init_states = states(json_object_get(s, "initContainerStatuses"));
    char *main_states = states(json_object_get(s, "containerStatuses"));
    const json_t *ready = cond(s, "Ready");
    const char *phase = json_string_value(json_object_get(s, "phase"));
    const char *rmsg = json_string_value(json_object_get(ready, "message"));
    const char *rreason = json_string_value(json_object_get(ready, "reason"));
    if (strcmp(phase, c->phase) || strcmp(init_states, c->init_states) ||
        strcmp(main_states, c->main_states) ||
        strcmp(json_string_value(json_object_get(cond(s, "Initialized"), "status")),
               c->initialized) ||
        strcmp(json_string_value(json_object_get(ready, "status")), c->ready) ||
        !json_equal(json_object_get(ready, "status"),
                    json_object_get(cond(s, "ContainersReady"), "status")) ||
        (c->ready_reason ? !rreason || strcmp(rreason, c->ready_reason) : rreason != NULL) ||
        (c->ready_message && (!rmsg || strcmp(rmsg, c->ready_message))))
        fail_msg("%s:\n got phase %s init [%s] main [%s] Ready %s\n %s",
                 c->what, phase, init_states, main_states,
                 json_dumps(ready, JSON_COMPACT), json_dumps(s, JSON_COMPACT));
    assert_string_equal(json_string_value(json_object_get(cond(s, "PodScheduled"), "status")),
                        "True");
    assert_int_equal(json_array_size(json_object_get(s, "conditions")), 4);
    free(init_states);
    free(main_states);
    json_decref(s);
    json_decref(pod);
    if (!c->no_report)
        il_pod_status_free(&st);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
}

/* Backends do not restart containers, so the policy cannot keep a pod
 * whose containers all ended alive (see il_pod_phase); same answer for all. */
static void test_restart_policies(void **state)
{
    (void)state;
    static const char *const policies[] = {"Always", "OnFailure", "Never"};
    for (size_t i = 0; i < 3; i++) {
        ps_case c = {"policy", "", "a", policies[i], false, "", DONE("a", 1, "Error"), "Failed", "",
                     "terminated:Error:1", "True", "False", "PodCompleted", NULL};
        check_case(&c);
    }
}

static void test_container_fields(void **state)
{
    (void)state;
    json_t *pod = make_pod("i", "a b", "Never", NULL);
    il_pod_status st;
    plugin_status(
        DONE("i", 0, "Completed"),
        "{\"name\":\"a\",\"containerID\":\"slurm://42\",\"restartCount\":3,"
        "\"state\":{\"terminated\":{\"exitCode\":137,\"signal\":9,\"reason\":\"OOMKilled\","
        "\"message\":\"memory limit\",\"startedAt\":\"" NOW_TEXT "\",\"finishedAt\":\"" LATER_TEXT
        "\"}}}," RUN("b"),
        &st);
    json_t *s = vk_pod_status(pod, &st, NULL, NOW);
    const json_t *a = at(s, "containerStatuses.0");
    assert_string_equal(json_string_value(at(a, "image")), "busybox");
    assert_string_equal(json_string_value(at(a, "containerID")), "slurm://42");
    assert_int_equal(json_integer_value(at(a, "restartCount")), 3);
    assert_false(json_is_true(at(a, "ready")));
    assert_false(json_is_true(at(a, "started")));
    const json_t *t = at(a, "state.terminated");
    assert_int_equal(json_integer_value(at(t, "signal")), 9);
    assert_string_equal(json_string_value(at(t, "message")), "memory limit");
    assert_string_equal(json_string_value(at(t, "startedAt")), NOW_TEXT);
    assert_string_equal(json_string_value(at(t, "finishedAt")), LATER_TEXT);
    assert_null(at(a, "state.running"));   /* one kind only, and no nulls */
    assert_null(at(a, "state.waiting"));
    const json_t *b = at(s, "containerStatuses.1");
    assert_true(json_is_true(at(b, "ready")));
    assert_true(json_is_true(at(b, "started")));
    assert_string_equal(json_string_value(at(b, "state.running.startedAt")), NOW_TEXT);
    assert_true(json_is_true(at(s, "initContainerStatuses.0.ready")));
    assert_string_equal(json_string_value(at(s, "startTime")), NOW_TEXT);
    json_decref(s);
    json_decref(pod);
    il_pod_status_free(&st);
}

static void test_transition_times(void **state)
{
    (void)state;
    json_t *pod = make_pod(
        "", "a", "Never",
        "{\"phase\":\"Pending\",\"startTime\":\"2027-01-01T00:00:00Z\","
        "\"conditions\":["
        "{\"type\":\"Ready\",\"status\":\"False\",\"lastTransitionTime\":\"" NOW_TEXT "\"},"
        "{\"type\":\"Ready\",\"status\":\"True\"},"
        "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":\"2027-01-01T00:00:"
        "00Z\"}]}");
    il_pod_status st;
    plugin_status("", WAIT("a", "Queued"), &st);
    json_t *s = vk_pod_status(pod, &st, NULL, LATER);
    assert_string_equal(json_string_value(at(cond(s, "Ready"), "lastTransitionTime")), NOW_TEXT);
    assert_string_equal(json_string_value(at(cond(s, "PodScheduled"), "lastTransitionTime")),
                        "2027-01-01T00:00:00Z");
    assert_string_equal(json_string_value(at(cond(s, "Initialized"), "lastTransitionTime")),
                        LATER_TEXT);   /* new condition: now */
    assert_string_equal(json_string_value(at(s, "startTime")), "2027-01-01T00:00:00Z");
    json_decref(s);
    il_pod_status_free(&st);

    plugin_status("", RUN("a"), &st);
    s = vk_pod_status(pod, &st, NULL, LATER);
    assert_string_equal(json_string_value(at(cond(s, "Ready"), "lastTransitionTime")),
                        LATER_TEXT);   /* False -> True */
    json_decref(s);
    il_pod_status_free(&st);
    json_decref(pod);
}

/* Write once, then nothing until something changes; what the API server
 * drops (nulls, empty strings) and conditions of other writers do not
 * count. */
static void test_change_detection_and_patch(void **state)
{
    (void)state;
    json_t *pod = make_pod("", "a", "Never", NULL);
    il_pod_status st;
    plugin_status("", RUN("a"), &st);
    json_t *patch = vk_pod_status_patch(pod, &st, NULL, NOW);
    assert_non_null(patch);
    assert_string_equal(json_string_value(at(patch, "metadata.uid")), "uid-1");
    assert_string_equal(json_string_value(at(patch, "status.phase")), "Running");

    /* The API server stores it, drops nulls and empty strings, and someone
     * adds a condition of their own. */
    json_t *stored = json_deep_copy(at(patch, "status"));
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(stored, "conditions"), i, c) {
        json_object_del(c, "lastProbeTime");
        json_object_del(c, "reason");
        json_object_del(c, "message");
    }
    json_object_del(at(stored, "containerStatuses.0.state"), "waiting");
    json_object_set_new(at(stored, "containerStatuses.0"), "imageID", json_string(""));
    json_array_append_new(json_object_get(stored, "conditions"),
                          parse("{\"type\":\"DisruptionTarget\",\"status\":\"True\"}"));
    json_object_set_new(pod, "status", stored);
    json_decref(patch);

    assert_null(vk_pod_status_patch(pod, &st, NULL, LATER));
    il_pod_status_free(&st);

    plugin_status("", DONE("a", 0, "Completed"), &st);
    patch = vk_pod_status_patch(pod, &st, NULL, LATER);
    assert_non_null(patch);
    assert_string_equal(json_string_value(at(patch, "status.phase")), "Succeeded");
    assert_string_equal(json_string_value(at(cond(at(patch, "status"), "Ready"),
                                             "lastTransitionTime")), LATER_TEXT);
    json_decref(patch);
    il_pod_status_free(&st);
    json_decref(pod);
}

/* No null anywhere in v, except at the paths listed (NULL-terminated). */
static void assert_no_nulls(const json_t *v, const char *path)
{
    const char *key;
    json_t *x;
    size_t i;
    if (json_is_null(v))
        fail_msg("null at %s", path);
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, x) {
            char *sub = il_xasprintf("%s.%s", path, key);
            assert_no_nulls(x, sub);
            free(sub);
        }
    }
    json_array_foreach(v, i, x) {
        char *sub = il_xasprintf("%s.%zu", path, i);
        assert_no_nulls(x, sub);
        free(sub);
    }
}

#define RUN_VERDICT(n, ready, started)                                                        \
    "{\"name\":\"" n "\",\"ready\":" ready ",\"started\":" started                        \
    ",\"state\":{\"running\":{\"startedAt\":\"" NOW_TEXT "\"}}}"

/* A plugin that sends `started` runs the probes: its ready/started are
 * the verdicts, and the pod's conditions follow them. */
static void test_plugin_probe_verdicts(void **state)
{
    (void)state;
    json_t *pod = make_pod("", "a", "Never", NULL);
    il_pod_status st;
    plugin_status("", RUN_VERDICT("a", "false", "false"), &st);
    json_t *s = vk_pod_status(pod, &st, NULL, LATER);
    assert_false(json_is_true(at(s, "containerStatuses.0.ready")));
    assert_false(json_is_true(at(s, "containerStatuses.0.started")));
    assert_string_equal(json_string_value(at(cond(s, "Ready"), "status")), "False");
    assert_string_equal(json_string_value(at(cond(s, "ContainersReady"), "reason")),
                        "ContainersNotReady");
    assert_string_equal(json_string_value(at(s, "phase")), "Running");
    /* startTime: never after the container's start, though seen later. */
    assert_string_equal(json_string_value(at(s, "startTime")), NOW_TEXT);
    assert_no_nulls(s, "status");
    json_object_set_new(pod, "status", s);
    il_pod_status_free(&st);

    plugin_status("", RUN_VERDICT("a", "false", "true"), &st);
    s = vk_pod_status(pod, &st, NULL, LATER);
    assert_true(json_is_true(at(s, "containerStatuses.0.started")));
    assert_false(json_is_true(at(s, "containerStatuses.0.ready")));
    json_decref(s);
    il_pod_status_free(&st);

    /* Ready: the stale reason and message are deleted, by the only kind
     * of null a status patch carries (a strategic merge's delete). */
    plugin_status("", RUN_VERDICT("a", "true", "true"), &st);
    json_t *patch = vk_pod_status_patch(pod, &st, NULL, LATER);
    assert_non_null(patch);
    const json_t *ready = cond(at(patch, "status"), "Ready");
    assert_string_equal(json_string_value(at(ready, "status")), "True");
    assert_true(json_is_null(json_object_get(ready, "reason")));
    assert_true(json_is_null(json_object_get(ready, "message")));
    assert_null(json_object_get(cond(at(patch, "status"), "PodScheduled"), "reason"));
    assert_true(json_is_true(at(patch, "status.containerStatuses.0.ready")));
    assert_no_nulls(at(patch, "status.containerStatuses"), "containerStatuses");
    json_decref(patch);
    il_pod_status_free(&st);

    /* Upstream's plugins send no `started`: running is ready, as before. */
    plugin_status("", RUN("a"), &st);
    s = vk_pod_status(pod, &st, NULL, LATER);
    assert_true(json_is_true(at(s, "containerStatuses.0.ready")));
    assert_true(json_is_true(at(s, "containerStatuses.0.started")));
    json_decref(s);
    il_pod_status_free(&st);
    json_decref(pod);
}

/* Every status carries the pod's address (podIP, podIPs, hostIP), and a
 * status the API server has stored with it is not rewritten: the node's
 * address is what an offloaded pod is reached at without a tunnel. */
static void test_addresses(void **state)
{
    (void)state;
    json_t *pod = make_pod("", "a", "Never", NULL);
    il_pod_status st;
    plugin_status("", RUN("a"), &st);
    json_t *patch = vk_pod_status_patch(pod, &st, "10.9.8.7", NOW);
    assert_non_null(patch);
    assert_string_equal(json_string_value(at(patch, "status.podIP")), "10.9.8.7");
    assert_string_equal(json_string_value(at(patch, "status.hostIP")), "10.9.8.7");
    assert_string_equal(json_string_value(at(patch, "status.podIPs.0.ip")), "10.9.8.7");
    assert_int_equal(json_array_size(at(patch, "status.podIPs")), 1);   /* nothing to replace */
    assert_null(at(patch, "status.hostIPs"));
    json_object_set(pod, "status", at(patch, "status"));
    json_decref(patch);
    /* a second address written by another client is a change, and the
     * VK's list replaces the stored one */
    json_array_append_new(at(pod, "status.podIPs"), json_pack("{s:s}", "ip", "fd00::1"));
    patch = vk_pod_status_patch(pod, &st, "10.9.8.7", LATER);
    assert_non_null(patch);
    assert_string_equal(json_string_value(at(patch, "status.podIPs.0.ip")), "10.9.8.7");
    assert_string_equal(json_string_value(at(patch, "status.podIPs.1.$patch")), "replace");
    assert_int_equal(json_array_size(at(patch, "status.podIPs")), 2);
    json_decref(patch);
    json_array_remove(at(pod, "status.podIPs"), 1);
    assert_null(vk_pod_status_patch(pod, &st, "10.9.8.7", LATER));
    patch = vk_pod_status_patch(pod, &st, "10.9.8.8", LATER);   /* PodIP reconfigured */
    assert_non_null(patch);
    assert_string_equal(json_string_value(at(patch, "status.podIP")), "10.9.8.8");
    json_decref(patch);
    il_pod_status_free(&st);
    json_decref(pod);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_restart_policies),
        cmocka_unit_test(test_container_fields),
        cmocka_unit_test(test_transition_times),
        cmocka_unit_test(test_change_detection_and_patch),
        cmocka_unit_test(test_plugin_probe_verdicts),
        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
