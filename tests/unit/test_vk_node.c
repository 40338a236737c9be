/* test_vk_node.c -- the Node object, ping-driven changes, patches written
 * only on change, taint ownership, and the Lease. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "util.h"

#define T0 ((il_time){1800000000, 0})
#define T1 ((il_time){1800000010, 0})
#define T2 ((il_time){1800000020, 0})
#define T0_TEXT "2027-01-15T08:00:00Z"
#define T1_TEXT "2027-01-15T08:00:10Z"
#define T2_TEXT "2027-01-15T08:00:20Z"

static vk_config cfg;

static int setup(void **state)
{
    (void)state;
    static const char text[] =
        "InterlinkURL: unix:///s\n"
        "Resources:\n  CPU: '8'\n  Memory: 32Gi\n"
        "  Accelerators:\n"
        "  - {ResourceType: nvidia.com/gpu, Model: a100, Available: 2}\n"
        "  - {ResourceType: nvidia.com/gpu, Available: 2}\n"
        "  - {ResourceType: xilinx.com/fpga, Available: 0}\n"
        "NodeLabels: ['site=cnaf']\n"
        "NodeTaints: [{Key: hpc, Value: 'yes', Effect: NoExecute}]\n"
        "PodCIDR: {Subnet: 10.10.0.0/24}\n";
    char path[] = "/tmp/il-test-node-XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(il_write_all(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    setenv("POD_IP", "10.0.0.7", 1);
    setenv("KUBELET_PORT", "10250", 1);
    vk_flags flags = {.config_path = path, .node_name = "vk-a"};
    char err[512];
    int rc = vk_config_load(&flags, &cfg, err, sizeof err);
    unlink(path);
    if (rc)
        fail_msg("%s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vk_config_free(&cfg);
    return 0;
}

static json_t *at(const json_t *root, const char *dotted)
{
    const json_t *v = root;
    char *copy = il_xstrdup(dotted), *save, *part;
    for (part = strtok_r(copy, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(part)) : json_object_get(v, part);
    free(copy);
    return (json_t *)v;
}

static const char *str(const json_t *root, const char *dotted)
{
    return json_string_value(at(root, dotted));
}

static void assert_json(const json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *s = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        fail_msg("got  %s\nwant %s", s, want_text);
    }
    json_decref(want);
}

static const json_t *condition(const json_t *status, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
        if (!strcmp(json_string_value(json_object_get(c, "type")), type))
            return c;
    return NULL;
}

static void test_initial_object(void **state)
{
    (void)state;
    vk_node n;
    vk_node_init(&n, &cfg, T0);
    json_t *node = vk_node_object(&n, T0);
    assert_string_equal(str(node, "metadata.name"), "vk-a");
    assert_json(at(node, "metadata.labels"),
                "{\"alpha.service-controller.kubernetes.io/exclude-balancer\":\"true\","
                "\"kubernetes.io/os\":\"virtual-kubelet\",\"kubernetes.io/hostname\":\"vk-a\","
                "\"kubernetes.io/role\":\"agent\","
                "\"node.kubernetes.io/exclude-from-external-load-balancers\":\"true\","
                "\"virtual-node.interlink/type\":\"virtual-kubelet\","
                "\"nvidia-gpu-type\":\"a100\",\"site\":\"cnaf\"}");
    assert_json(at(node, "spec"),
                "{\"providerID\":\"external:///vk-a\",\"podCIDR\":\"10.10.0.0/24\",\"taints\":["
                "{\"key\":\"virtual-node.interlink/"
                "no-schedule\",\"value\":\"true\",\"effect\":\"NoSchedule\"},"
                "{\"key\":\"hpc\",\"value\":\"yes\",\"effect\":\"NoExecute\"}]}");
    /* configured GPUs are summed; a zero FPGA count is left out */
    assert_json(at(node, "status.capacity"),
                "{\"cpu\":\"8\",\"memory\":\"32Gi\",\"pods\":\"10000\",\"nvidia.com/gpu\":\"4\"}");
    assert_true(json_equal(at(node, "status.capacity"), at(node, "status.allocatable")));
    assert_json(at(node, "status.addresses"),
                "[{\"type\":\"InternalIP\",\"address\":\"10.0.0.7\"},"
                "{\"type\":\"Hostname\",\"address\":\"vk-a\"}]");
    assert_json(at(node, "status.daemonEndpoints"), "{\"kubeletEndpoint\":{\"Port\":10250}}");
    assert_string_equal(str(node, "status.nodeInfo.kubeletVersion"), "v" IL_VERSION);
    const json_t *ready = condition(at(node, "status"), "Ready");
    assert_json(ready,
                "{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"KubeletNotReady\","
                "\"message\":\"waiting for the first interlink ping\","
                "\"lastHeartbeatTime\":\"" T0_TEXT "\",\"lastTransitionTime\":\"" T0_TEXT "\"}");
    assert_string_equal(str(condition(at(node, "status"), "InterlinkConnectivity"), "status"),
                        "False");
    assert_string_equal(str(condition(at(node, "status"), "MemoryPressure"), "status"), "False");
    json_decref(node);
    vk_node_free(&n);
}

static const char ping_json[] =
    "{\"status\":\"ok\",\"resources\":{\"cpu\":\"256\",\"memory\":\"1024Gi\",\"pods\":\"1000\","
    "\"accelerators\":[{\"resourceType\":\"nvidia.com/gpu\",\"available\":\"8\"},"
    "{\"resourceType\":\"amd.com/gpu\",\"available\":\"2\"},{\"resourceType\":\"\"}]},"
    "\"taints\":[{\"key\":\"hpc/maintenance\",\"value\":\"true\",\"effect\":\"NoSchedule\"},"
    "{\"key\":\"virtual-node.interlink/no-schedule\",\"effect\":\"NoExecute\"}]}";

static void test_ping_updates_everything(void **state)
{
    (void)state;
    vk_node n;
    vk_node_init(&n, &cfg, T0);
    vk_node_ping_ok(&n, ping_json, strlen(ping_json), T1);
    json_t *node = vk_node_object(&n, T1);
    assert_json(at(node, "status.capacity"),
                "{\"cpu\":\"256\",\"memory\":\"1024Gi\",\"pods\":\"1000\","
                "\"nvidia.com/gpu\":\"8\",\"amd.com/gpu\":\"2\"}");
    /* plugin taints reach spec; it cannot override the system taint */
    assert_int_equal(json_array_size(at(node, "spec.taints")), 3);
    assert_string_equal(str(node, "spec.taints.2.key"), "hpc/maintenance");
    assert_string_equal(json_string_value(json_object_get(at(node, "metadata.annotations"),
                                                          VK_PING_ANNOTATION)), ping_json);
    const json_t *ready = condition(at(node, "status"), "Ready");
    assert_string_equal(str(ready, "status"), "True");
    assert_string_equal(str(ready, "reason"), "KubeletReady");
    assert_string_equal(str(ready, "lastTransitionTime"), T1_TEXT);
    json_decref(node);

    /* Same answer later: the transition time stays. */
    vk_node_ping_ok(&n, ping_json, strlen(ping_json), T2);
    json_t *st = vk_node_status(&n, T2);
    assert_string_equal(str(condition(st, "Ready"), "lastTransitionTime"), T1_TEXT);
    assert_string_equal(str(condition(st, "Ready"), "lastHeartbeatTime"), T2_TEXT);
    json_decref(st);

    /* taints absent: unchanged; empty: cleared */
    vk_node_ping_ok(&n, "{}", 2, T2);
    assert_int_equal(n.n_plugin_taints, 1);
    assert_string_equal(n.cpu, "256");
    vk_node_ping_ok(&n, "{\"taints\":[]}", 13, T2);
    assert_int_equal(n.n_plugin_taints, 0);
    vk_node_free(&n);
}

/* A plugin's condition (a drained SLURM node, with SLURM's reason) is
 * shown on the Node while the plugin reports it; kubelet-owned types are
 * not the plugin's to set. */
static void test_ping_conditions(void **state)
{
    (void)state;
    vk_node n;
    vk_node_init(&n, &cfg, T0);
    static const char drained[] =
        "{\"conditions\":[{\"type\":\"SlurmNodesUnavailable\",\"status\":\"True\","
        "\"reason\":\"NoUsableNode\",\"message\":\"n1 drained: Duplicate jobid\"},"
        "{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"x\",\"message\":\"x\"}]}";
    vk_node_ping_ok(&n, drained, strlen(drained), T1);
    vk_node_ping_ok(&n, drained, strlen(drained), T2);
    json_t *st = vk_node_status(&n, T2);
    const json_t *c = condition(st, "SlurmNodesUnavailable");
    assert_non_null(c);
    assert_string_equal(str(c, "status"), "True");
    assert_string_equal(str(c, "reason"), "NoUsableNode");
    assert_string_equal(str(c, "message"), "n1 drained: Duplicate jobid");
    assert_string_equal(str(c, "lastTransitionTime"), T1_TEXT);
    assert_string_equal(str(condition(st, "Ready"), "status"), "True");
    json_decref(st);
    vk_node_ping_ok(&n, "{}", 2, T2);   /* the node is back: no condition */
    st = vk_node_status(&n, T2);
    assert_null(condition(st, "SlurmNodesUnavailable"));
    json_decref(st);
    vk_node_free(&n);
}

static void test_ping_bad_values_and_text(void **state)
{
    (void)state;
    vk_node n;
    vk_node_init(&n, &cfg, T0);
    static const char bad[] =
        "{\"resources\":{\"cpu\":\"lots\",\"pods\":\"1.5\",\"memory\":\"2Gi\","
        "\"accelerators\":[{\"resourceType\":\"g\",\"available\":\"0.5\"}]},"
        "\"taints\":[{\"key\":\"a\",\"effect\":\"Whenever\"},{\"key\":\"b\"}]}";
    vk_node_ping_ok(&n, bad, strlen(bad), T1);
    assert_string_equal(n.cpu, "8");       /* kept */
    assert_string_equal(n.pods, "10000");  /* kept */
    assert_string_equal(n.memory, "2Gi");
    assert_int_equal(n.n_accels, 0);       /* the list replaced the set; its one entry was bad */
    assert_int_equal(n.n_plugin_taints, 1);
    assert_string_equal(n.plugin_taints[0].key, "b");

    vk_node_ping_ok(&n, "pong", 4, T2);   /* an older plugin's plain text */
    assert_true(n.ready.status);
    assert_string_equal(n.ping_body, "pong");
    assert_int_equal(n.n_plugin_taints, 1);
    vk_node_free(&n);
}

static void test_status_patch_only_on_change(void **state)
{
    (void)state;
    vk_node n;
    vk_node_init(&n, &cfg, T0);
    json_t *first = vk_node_status_patch(&n, NULL, T0);
    assert_non_null(first);
    json_t *written = json_incref(json_object_get(first, "status"));
    json_decref(first);

    assert_null(vk_node_status_patch(&n, written, T1));   /* only heartbeats differ */

    vk_node_ping_ok(&n, ping_json, strlen(ping_json), T1);
    json_t *p = vk_node_status_patch(&n, written, T1);
    assert_non_null(p);
    assert_string_equal(str(condition(at(p, "status"), "Ready"), "status"), "True");
    json_decref(written);
    written = json_incref(at(p, "status"));
    json_decref(p);

    vk_node_ping_failed(&n, "502: plugin unreachable", T2);
    p = vk_node_status_patch(&n, written, T2);
    const json_t *ready = condition(at(p, "status"), "Ready");
    assert_string_equal(str(ready, "status"), "False");
    assert_string_equal(str(ready, "reason"), "InterlinkPingFailed");
    assert_string_equal(str(ready, "message"), "interlink ping failed: 502: plugin unreachable");
    assert_string_equal(str(ready, "lastTransitionTime"), T2_TEXT);
    json_decref(written);
    written = json_incref(at(p, "status"));
    json_decref(p);

    /* A GPU type that the plugin stops reporting is removed. */
    static const char fewer[] = "{\"resources\":{\"accelerators\":"
                                "[{\"resourceType\":\"nvidia.com/gpu\",\"available\":\"8\"}]}}";
    vk_node_ping_ok(&n, fewer, strlen(fewer), T2);
    p = vk_node_status_patch(&n, written, T2);
    assert_true(json_is_null(json_object_get(at(p, "status.capacity"), "amd.com/gpu")));
    assert_true(json_is_null(json_object_get(at(p, "status.allocatable"), "amd.com/gpu")));
    assert_string_equal(json_string_value(json_object_get(at(p, "status.capacity"),
                                                          "nvidia.com/gpu")), "8");
    json_decref(p);
    json_decref(written);
    vk_node_free(&n);
}

static void test_meta_patch_keeps_foreign_taints(void **state)
{
    (void)state;
    vk_node n;
    vk_node_init(&n, &cfg, T0);
    vk_node_ping_ok(&n, ping_json, strlen(ping_json), T1);
    json_t *cur = vk_node_object(&n, T1);
    json_object_set_new(json_object_get(cur, "metadata"), "resourceVersion", json_string("41"));
    assert_null(vk_node_meta_patch(&n, cur));   /* the server already shows it */

    /* The node controller adds its taint; the plugin drops its own. */
    json_array_append_new(at(cur, "spec.taints"),
                          json_pack("{s:s, s:s, s:s}", "key", "node.kubernetes.io/unreachable",
                                    "effect", "NoExecute", "timeAdded", T1_TEXT));
    vk_node_ping_ok(&n, "{\"taints\":[]}", 13, T2);
    json_t *p = vk_node_meta_patch(&n, cur);
    assert_non_null(p);
    assert_string_equal(str(p, "metadata.resourceVersion"), "41");
    assert_null(at(p, "metadata.labels"));
    assert_json(at(p, "spec.taints"),
                "[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\","
                "\"timeAdded\":\"" T1_TEXT "\"},"
                "{\"key\":\"virtual-node.interlink/"
                "no-schedule\",\"value\":\"true\",\"effect\":\"NoSchedule\"},"
                "{\"key\":\"hpc\",\"value\":\"yes\",\"effect\":\"NoExecute\"}]");
    json_decref(p);

    /* A label someone changed is put back; others are left alone. */
    json_object_set_new(at(cur, "metadata.labels"), "site", json_string("elsewhere"));
    json_object_set_new(at(cur, "metadata.labels"), "team", json_string("x"));
    p = vk_node_meta_patch(&n, cur);
    assert_json(at(p, "metadata.labels"), "{\"site\":\"cnaf\"}");
    json_decref(p);
    json_decref(cur);
    vk_node_free(&n);
}

static void test_lease(void **state)
{
    (void)state;
    char buf[IL_RFC3339_MAX];
    vk_micro_time((il_time){1800000000, 123456789}, buf);
    assert_string_equal(buf, "2027-01-15T08:00:00.123456Z");
    vk_micro_time(T0, buf);
    assert_string_equal(buf, "2027-01-15T08:00:00.000000Z");
    json_t *l = vk_lease_object("vk-a", "uid-1", 40, T1);
    assert_json(l,
                "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                "\"metadata\":{\"name\":\"vk-a\",\"namespace\":\"kube-node-lease\","
                "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"vk-a\","
                "\"uid\":\"uid-1\"}]},"
                "\"spec\":{\"holderIdentity\":\"vk-a\",\"leaseDurationSeconds\":40,"
                "\"renewTime\":\"2027-01-15T08:00:10.000000Z\"}}");
    json_decref(l);
    l = vk_lease_object("vk-a", NULL, 40, T1);
    assert_null(at(l, "metadata.ownerReferences"));
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_object),
        cmocka_unit_test(test_ping_updates_everything),
        cmocka_unit_test(test_ping_bad_values_and_text),
        cmocka_unit_test(test_ping_conditions),
        cmocka_unit_test(test_status_patch_only_on_change),
        cmocka_unit_test(test_meta_patch_keeps_foreign_taints),
        cmocka_unit_test(test_lease),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
