/* test_pod.c -- pod parsing: the happy path and every validation message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pod.h"

static const char base_pod_json[] =
    "{\"metadata\":{\"name\":\"hello\",\"namespace\":\"team-a\","
    "  \"uid\":\"0b1f3c1e-7c0e-4f55-9b1d-3c0f7c1a2b3c\","
    "  \"annotations\":{\"JobID\":\"12345\",\"x\":\"y\"},\"labels\":{\"app\":\"web\"}},"
    " \"spec\":{\"restartPolicy\":\"Never\",\"terminationGracePeriodSeconds\":5,"
    "  \"initContainers\":[{\"name\":\"init\",\"image\":\"busybox\",\"command\":[\"true\"]}],"
    "  \"containers\":[{\"name\":\"main\",\"image\":\"docker://ubuntu\",\"command\":[\"sleep\"],"
    "    \"args\":[\"60\",\"x\"],\"workingDir\":\"/w\",\"imagePullPolicy\":\"Always\","
    "    \"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\"},"
    "            {\"name\":\"C\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}],"
    "    \"volumeMounts\":[{\"name\":\"cfg\",\"mountPath\":\"/etc/cfg\",\"readOnly\":true},"
    "                      {\"name\":\"scratch\",\"mountPath\":\"/tmp/s\",\"subPath\":\"a/b\"}],"
    "    \"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"},"
    "      \"limits\":{\"cpu\":2,\"memory\":1048576,\"ephemeral-storage\":\"1G\","
    "                  \"nvidia.com/gpu\":\"1\",\"example.com/fpga\":1.5}}},"
    "   {\"name\":\"side\",\"image\":\"\"}],"
    "  \"volumes\":[{\"name\":\"cfg\",\"configMap\":{\"name\":\"my-cm\",\"defaultMode\":420,"
    "      \"optional\":true,\"items\":[{\"key\":\"k\",\"path\":\"dir/k.txt\",\"mode\":256}]}},"
    "    {\"name\":\"scratch\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"64Mi\"}},"
    "    {\"name\":\"sec\",\"secret\":{\"secretName\":\"s1\"}},"
    "    {\"name\":\"proj\",\"projected\":{\"defaultMode\":292,\"sources\":[]}},"
    "    {\"name\":\"dapi\",\"downwardAPI\":{\"items\":[]}},"
    "    {\"name\":\"host\",\"hostPath\":{\"path\":\"/data\"}},"
    "    {\"name\":\"claim\",\"persistentVolumeClaim\":{\"claimName\":\"c\"}}]}}";

static json_t *base_pod(void)
{
    json_error_t jerr;
    json_t *pod = json_loads(base_pod_json, 0, &jerr);
    if (!pod)
        fail_msg("base pod: %s", jerr.text);
    return pod;
}

/* Set (or delete, when value is NULL) the node at a dotted path whose
 * numeric parts index arrays: "spec.containers.0.name". */
static void set_path(json_t *root, const char *path, json_t *value)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *node = root;
    char *save = NULL, *part = strtok_r(buf, ".", &save);
    for (;;) {
        char *next = strtok_r(NULL, ".", &save);
        bool is_index = part[0] >= '0' && part[0] <= '9';
        if (!next) {
            if (is_index && value && (size_t)atoi(part) == json_array_size(node))
                json_array_append_new(node, value);
            else if (is_index && value)
                json_array_set_new(node, (size_t)atoi(part), value);
            else if (is_index)
                json_array_remove(node, (size_t)atoi(part));
            else if (value)
                json_object_set_new(node, part, value);
            else
                json_object_del(node, part);
            return;
        }
        node = is_index ? json_array_get(node, (size_t)atoi(part)) : json_object_get(node, part);
        assert_non_null(node);
        part = next;
    }
}

static void test_happy_path(void **state)
{
    (void)state;
    json_t *json = base_pod();
    il_pod pod;
    char err[256] = "";
    if (il_pod_parse(json, &pod, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(pod.name, "hello");
    assert_string_equal(pod.ns, "team-a");
    assert_string_equal(pod.uid, "0b1f3c1e-7c0e-4f55-9b1d-3c0f7c1a2b3c");
    assert_string_equal(il_pod_job_id(&pod), "12345");
    assert_string_equal(il_pod_annotation(&pod, "x"), "y");
    assert_null(il_pod_annotation(&pod, "nope"));
    assert_int_equal(pod.n_labels, 1);
    assert_string_equal(pod.restart_policy, "Never");
    assert_int_equal(pod.grace_seconds, 5);
    assert_ptr_equal(pod.raw, json);
    assert_int_equal(pod.n_init_containers, 1);
    assert_int_equal(pod.n_containers, 2);

    const il_container *c = il_pod_container(&pod, "main");
    assert_ptr_equal(c, &pod.containers[0]);
    assert_ptr_equal(il_pod_container(&pod, "init"), &pod.init_containers[0]);
    assert_null(il_pod_container(&pod, "ghost"));
    assert_int_equal(c->n_command, 1);
    assert_string_equal(c->command[0], "sleep");
    assert_null(c->command[1]);
    assert_int_equal(c->n_args, 2);
    assert_string_equal(c->args[1], "x");
    assert_string_equal(c->working_dir, "/w");
    assert_string_equal(c->image_pull_policy, "Always");
    assert_int_equal(c->n_env, 3);
    assert_string_equal(c->env[0].value, "1");
    assert_string_equal(c->env[1].value, "");
    assert_false(c->env[1].has_value_from);
    assert_true(c->env[2].has_value_from);
    assert_int_equal(c->n_mounts, 2);
    assert_true(c->mounts[0].read_only);
    assert_null(c->mounts[0].sub_path);
    assert_string_equal(c->mounts[1].sub_path, "a/b");

    assert_int_equal(c->resources.requests.cpu_milli, 500);
    assert_int_equal(c->resources.requests.memory_bytes, 1073741824);
    assert_int_equal(c->resources.requests.ephemeral_bytes, -1);
    assert_int_equal(c->resources.limits.cpu_milli, 2000);
    assert_int_equal(c->resources.limits.memory_bytes, 1048576);
    assert_int_equal(c->resources.limits.ephemeral_bytes, 1000000000);
    assert_int_equal(c->resources.limits.n_extended, 2);
    assert_string_equal(c->resources.limits.extended[0].key, "nvidia.com/gpu");
    assert_string_equal(c->resources.limits.extended[0].value, "1");
    assert_string_equal(c->resources.limits.extended[1].value, "2");   /* 1.5 rounds up */

    const il_container *side = il_pod_container(&pod, "side");
    assert_string_equal(side->image, "");
    assert_null(side->command);
    assert_int_equal(side->resources.limits.cpu_milli, -1);

    assert_int_equal(pod.n_volumes, 7);
    const il_volume *v = il_pod_volume(&pod, "cfg");
    assert_int_equal(v->kind, IL_VOL_CONFIGMAP);
    assert_string_equal(v->source_name, "my-cm");
    assert_int_equal(v->default_mode, 0644);
    assert_true(v->optional);
    assert_int_equal(v->n_items, 1);
    assert_string_equal(v->items[0].path, "dir/k.txt");
    assert_int_equal(v->items[0].mode, 0400);
    v = il_pod_volume(&pod, "scratch");
    assert_int_equal(v->kind, IL_VOL_EMPTYDIR);
    assert_string_equal(v->medium, "Memory");
    assert_int_equal(v->size_limit, 64 * 1024 * 1024);
    v = il_pod_volume(&pod, "sec");
    assert_int_equal(v->kind, IL_VOL_SECRET);
    assert_string_equal(v->source_name, "s1");
    assert_int_equal(v->default_mode, -1);
    assert_false(v->optional);
    assert_int_equal(il_pod_volume(&pod, "proj")->kind, IL_VOL_PROJECTED);
    assert_int_equal(il_pod_volume(&pod, "proj")->default_mode, 0444);
    assert_int_equal(il_pod_volume(&pod, "dapi")->kind, IL_VOL_DOWNWARDAPI);
    assert_string_equal(il_pod_volume(&pod, "host")->source_name, "/data");
    assert_int_equal(il_pod_volume(&pod, "claim")->kind, IL_VOL_OTHER);
    assert_null(il_pod_volume(&pod, "nope"));

    il_pod_free(&pod);
    assert_null(pod.name);
    json_decref(json);
}

static void test_defaults(void **state)
{
    (void)state;
    json_t *json = json_loads("{\"metadata\":{\"name\":\"p\",\"uid\":\"u-1\"},"
                              "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}",
                              0, NULL);
    il_pod pod;
    char err[256];
    assert_int_equal(il_pod_parse(json, &pod, err, sizeof err), 0);
    assert_string_equal(pod.ns, "default");
    assert_string_equal(pod.restart_policy, "Always");
    assert_int_equal(pod.grace_seconds, 30);
    assert_int_equal(pod.n_volumes, 0);
    assert_int_equal(pod.n_init_containers, 0);
    assert_null(il_pod_job_id(&pod));
    il_pod_free(&pod);
    json_decref(json);
}

typedef struct {
    const char *path;
    const char *value;   /* JSON text, or NULL to delete the node */
    const char *error;
} pod_error_case;

static const pod_error_case error_cases[] = {
    {"metadata.namespace", "\"Team-A\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"-a\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"a/../b\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"..\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"a\\nb\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"$(id)\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"`id`\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"it\\u0027s\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"\\u00fcn\\u00efc\\u00f6d\\u00e9\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.namespace", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
     "metadata.namespace: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"metadata.name", "\"-n\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name", "\"a b\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name", "\"a\\nb\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name", "\"$(id)\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name", "\"`id`\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name", "\"a..b\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name", "\"../x\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name", "\"Hello\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name", "\"\\u00fc\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"metadata.name",
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
     "metadata.name: must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most "
     "253)"},
    {"spec.terminationGracePeriodSeconds", "-1",
     "spec.terminationGracePeriodSeconds: must be between 0 and 31536000 (a year)"},
    {"spec.terminationGracePeriodSeconds", "9223372036854775807",
     "spec.terminationGracePeriodSeconds: must be between 0 and 31536000 (a year)"},
    {"spec.terminationGracePeriodSeconds", "31536001",
     "spec.terminationGracePeriodSeconds: must be between 0 and 31536000 (a year)"},
    {"spec.terminationGracePeriodSeconds", "-9223372036854775807",
     "spec.terminationGracePeriodSeconds: must be between 0 and 31536000 (a year)"},
    {"spec.containers.0.volumeMounts.1.subPath", "\"a\\nb\"",
     "spec.containers[0].volumeMounts[1].subPath: must not contain control characters"},
    {"spec.containers.0.volumeMounts.1.subPath", "\"a\\tb\"",
     "spec.containers[0].volumeMounts[1].subPath: must not contain control characters"},
    {"spec.containers.0.volumeMounts.1.subPath", "\"x\\u007f\"",
     "spec.containers[0].volumeMounts[1].subPath: must not contain control characters"},
    {"spec.containers.0.volumeMounts.0.mountPath", "\"/etc/\\r\"",
     "spec.containers[0].volumeMounts[0].mountPath: must not contain control characters"},
    {"metadata.uid", NULL, "metadata.uid: required"},
    {"metadata.uid", "\"\"", "metadata.uid: required"},
    {"metadata.uid", "7", "metadata.uid: expected a string"},
    {"metadata.uid", "\"../etc\"",
     "metadata.uid: must contain only letters, digits, '-', '_' and '.'"},
    {"metadata.name", NULL, "metadata.name: required"},
    {"metadata.namespace", "[]", "metadata.namespace: expected a string"},
    {"metadata.annotations.x", "1", "metadata.annotations.x: expected a string"},
    {"metadata", "\"m\"", "metadata: expected an object"},
    {"spec", NULL, "spec: required"},
    {"spec.containers", "[]", "spec.containers: at least one container is required"},
    {"spec.containers", "{}", "spec.containers: expected an array"},
    {"spec.containers.0", "3", "spec.containers[0]: expected an object"},
    {"spec.containers.0.name", NULL, "spec.containers[0].name: required"},
    {"spec.containers.0.name", "\"Main\"",
     "spec.containers[0].name: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"spec.containers.0.name", "\"../x\"",
     "spec.containers[0].name: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"spec.containers.1.name", "\"main\"",
     "spec.containers[1].name: duplicate container name \"main\""},
    {"spec.containers.0.name", "\"init\"",
     "spec.containers[0].name: duplicate container name \"init\""},
    {"spec.containers.0.image", NULL, "spec.containers[0].image: required"},
    {"spec.containers.0.image", "false", "spec.containers[0].image: expected a string"},
    {"spec.containers.0.command.1", "5", "spec.containers[0].command[1]: expected a string"},
    {"spec.containers.0.command", "\"sleep\"", "spec.containers[0].command: expected an array"},
    {"spec.containers.0.args.0", "null", "spec.containers[0].args[0]: expected a string"},
    {"spec.containers.0.workingDir", "1", "spec.containers[0].workingDir: expected a string"},
    {"spec.containers.0.env.1.name", NULL, "spec.containers[0].env[1].name: required"},
    {"spec.containers.0.env.0.value", "1", "spec.containers[0].env[0].value: expected a string"},
    {"spec.containers.0.env.2.valueFrom", "\"x\"",
     "spec.containers[0].env[2].valueFrom: expected an object"},
    {"spec.containers.0.volumeMounts.0.name", "\"ghost\"",
     "spec.containers[0].volumeMounts[0].name: no volume named \"ghost\""},
    {"spec.containers.0.volumeMounts.0.mountPath", "\"etc/cfg\"",
     "spec.containers[0].volumeMounts[0].mountPath: must be an absolute path"},
    {"spec.containers.0.volumeMounts.0.mountPath", NULL,
     "spec.containers[0].volumeMounts[0].mountPath: required"},
    {"spec.containers.0.volumeMounts.0.readOnly", "\"yes\"",
     "spec.containers[0].volumeMounts[0].readOnly: expected a boolean"},
    {"spec.initContainers.0.volumeMounts", "[{\"name\":\"x\",\"mountPath\":\"/x\"}]",
     "spec.initContainers[0].volumeMounts[0].name: no volume named \"x\""},
    {"spec.containers.0.resources.requests.cpu", "\"lots\"",
     "spec.containers[0].resources.requests.cpu: invalid quantity \"lots\""},
    {"spec.containers.0.resources.limits.memory", "true",
     "spec.containers[0].resources.limits.memory: expected a quantity (string or number)"},
    {"spec.containers.0.resources.limits", "[]",
     "spec.containers[0].resources.limits: expected an object"},
    {"spec.volumes.1.name", "\"cfg\"", "spec.volumes[1].name: duplicate volume name \"cfg\""},
    {"spec.volumes.1.name", "\"Bad_Name\"",
     "spec.volumes[1].name: must be a DNS label (at most 63 lowercase letters, digits or '-')"},
    {"spec.volumes.0.configMap.name", NULL, "spec.volumes[0].configMap.name: required"},
    {"spec.volumes.0.configMap.defaultMode", "512",
     "spec.volumes[0].configMap.defaultMode: must be between 0 and 0777 (511)"},
    {"spec.volumes.0.configMap.items.0.key", NULL,
     "spec.volumes[0].configMap.items[0].key: required"},
    {"spec.volumes.0.configMap.items.0.mode", "\"0644\"",
     "spec.volumes[0].configMap.items[0].mode: expected an integer"},
    {"spec.volumes.0.configMap.optional", "1",
     "spec.volumes[0].configMap.optional: expected a boolean"},
    {"spec.volumes.0.configMap", "\"x\"", "spec.volumes[0].configMap: expected an object"},
    {"spec.volumes.1.emptyDir.sizeLimit", "\"1 Gi\"",
     "spec.volumes[1].emptyDir.sizeLimit: invalid quantity \"1 Gi\""},
    {"spec.volumes.2.secret.secretName", NULL, "spec.volumes[2].secret.secretName: required"},
    {"spec.volumes.5.hostPath.path", NULL, "spec.volumes[5].hostPath.path: required"},
    {"spec.restartPolicy", "\"Sometimes\"",
     "spec.restartPolicy: must be Always, OnFailure or Never, not \"Sometimes\""},
    {"spec.terminationGracePeriodSeconds", "-1",
     "spec.terminationGracePeriodSeconds: must be between 0 and 31536000 (a year)"},
    {"spec.terminationGracePeriodSeconds", "\"30\"",
     "spec.terminationGracePeriodSeconds: expected an integer"},
};

static void test_error_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const pod_error_case *tc = &error_cases[i];
        json_t *json = base_pod();
        json_t *value = tc->value ? json_loads(tc->value, JSON_DECODE_ANY, NULL) : NULL;
        set_path(json, tc->path, value);
        il_pod pod;
        memset(&pod, 0x5A, sizeof pod);
        char err[256] = "";
        int rc = il_pod_parse(json, &pod, err, sizeof err);
        if (rc != -1)
            fail_msg("case %zu (%s): accepted", i, tc->path);
        if (strcmp(err, tc->error) != 0)
            fail_msg("case %zu (%s): error \"%s\", expected \"%s\"", i, tc->path, err, tc->error);
        assert_null(pod.uid);   /* zeroed on failure, nothing to free */
        assert_int_equal(pod.n_containers, 0);
        json_decref(json);
    }
}

static void test_not_an_object(void **state)
{
    (void)state;
    il_pod pod;
    char err[256];
    json_t *arr = json_array();
    assert_int_equal(il_pod_parse(arr, &pod, err, sizeof err), -1);
    assert_string_equal(err, "pod: expected an object");
    assert_int_equal(il_pod_parse(NULL, &pod, err, sizeof err), -1);
    json_decref(arr);
}

static void test_parse_meta(void **state)
{
    (void)state;
    il_pod pod;
    char err[256];
    json_t *json = json_loads("{\"metadata\":{\"uid\":\"abc\",\"annotations\":{\"JobID\":\"7\"}}}",
                              0, NULL);
    assert_int_equal(il_pod_parse_meta(json, &pod, err, sizeof err), 0);
    assert_string_equal(pod.name, "");
    assert_string_equal(pod.ns, "default");
    assert_string_equal(il_pod_job_id(&pod), "7");
    assert_int_equal(pod.n_containers, 0);
    il_pod_free(&pod);
    /* Full parse needs a name and a spec. */
    assert_int_equal(il_pod_parse(json, &pod, err, sizeof err), -1);
    assert_string_equal(err, "metadata.name: required");
    json_decref(json);
    json = json_loads("{\"metadata\":{\"name\":\"x\"}}", 0, NULL);
    assert_int_equal(il_pod_parse_meta(json, &pod, err, sizeof err), -1);
    assert_string_equal(err, "metadata.uid: required");
    json_decref(json);
}

static void test_dns_label(void **state)
{
    (void)state;
    assert_true(il_is_dns_label("a"));
    assert_true(il_is_dns_label("default"));
    assert_true(il_is_dns_label("a-1-b"));
    assert_true(il_is_dns_label("0"));
    assert_false(il_is_dns_label(""));
    assert_false(il_is_dns_label(NULL));
    assert_false(il_is_dns_label("-a"));
    assert_false(il_is_dns_label("a-"));
    assert_false(il_is_dns_label("A"));
    assert_false(il_is_dns_label("a.b"));
    assert_false(il_is_dns_label("a_b"));
    /* 63 is the limit (one check everywhere: the runner had its own). */
    char label[65];
    memset(label, 'a', 64);
    label[64] = '\0';
    assert_false(il_is_dns_label(label));
    label[63] = '\0';
    assert_true(il_is_dns_label(label));
    assert_int_equal(il_grace_clamp(INT64_MAX), IL_GRACE_MAX_SECONDS);
    assert_int_equal(il_grace_clamp(INT64_MIN), 0);
    assert_int_equal(il_grace_clamp(30), 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),    cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_error_paths),   cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_parse_meta),    cmocka_unit_test(test_dns_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
