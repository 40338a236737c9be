/* test_vk_config.c -- interlink-vk configuration: upstream keys, defaults,
 * the kubelet environment, labels/taints/accelerators, flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vkconfig.h"

static char path[64];

static const char *write_cfg(const char *text)
{
    snprintf(path, sizeof path, "/tmp/il-test-vkcfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(il_write_all(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static int teardown(void **state)
{
    (void)state;
    if (path[0])
        unlink(path);
    path[0] = '\0';
    static const char *envs[] = {"KUBELET_PORT", "KUBELET_URL", "POD_IP", "NODENAME",
                                 "CONFIGPATH"};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        unsetenv(envs[i]);
    return 0;
}

static int load(const char *text, const char *node, vk_config *cfg, char *err, size_t errlen)
{
    vk_flags flags = {.config_path = text ? write_cfg(text) : NULL, .node_name = node};
    int rc = vk_config_load(&flags, cfg, err, errlen);
    if (text)
        unlink(path);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    vk_config cfg;
    char err[512];
    assert_int_equal(load("InterlinkURL: unix:///run/il.sock\n", "vk1", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.node_name, "vk1");
    assert_string_equal(cfg.cpu, "100");
    assert_string_equal(cfg.memory, "3000G");
    assert_string_equal(cfg.pods, "10000");
    assert_int_equal(cfg.kubelet_port, 5820);
    assert_string_equal(cfg.kubelet_address, "0.0.0.0");
    assert_null(cfg.pod_ip);
    assert_string_equal(cfg.csr_signer, "kubernetes.io/kubelet-serving");
    assert_int_equal(cfg.lease_duration_s, 40);
    assert_int_equal(cfg.ping_interval_s, 10);
    assert_int_equal(cfg.status_interval_s, 5);
    assert_int_equal(cfg.n_labels, 0);
    assert_int_equal(cfg.n_taints, 0);
    assert_int_equal(cfg.n_accelerators, 0);
    vk_config_free(&cfg);
}

/* An upstream VK config (helm's shape, with keys we do not use). */
static void test_upstream_file(void **state)
{
    (void)state;
    setenv("KUBELET_PORT", "10250", 1);
    setenv("POD_IP", "10.1.2.3", 1);
    vk_config cfg;
    char err[512];
    int rc = load("InterlinkURL: http://interlink\n"
                  "InterlinkPort: 3000\n"
                  "VKTokenFile: /opt/interlink/token\n"
                  "VerboseLogging: true\nErrorsOnlyLogging: false\n"
                  "ServiceAccount: vk\nNamespace: interlink\nVKConfigPath: /x\n"
                  "ExportPodData: true\n"
                  "HTTP: {Insecure: true, CaCert: /etc/ca.der}\n"
                  "KubeletHTTP: {Insecure: true}\n"
                  "Resources:\n  CPU: '64'\n  Memory: 256Gi\n  Pods: '100'\n"
                  "  Accelerators:\n"
                  "  - {ResourceType: nvidia.com/gpu, Model: a100, Available: 4}\n"
                  "  - {ResourceType: xilinx.com/fpga, Available: '2'}\n"
                  "  - {ResourceType: amd.com/gpu}\n"
                  "NodeLabels: ['site=cnaf', 'empty=']\n"
                  "NodeTaints:\n"
                  "- {Key: hpc, Value: 'true', Effect: noexecute}\n"
                  "- {Key: queue}\n",
                  "vk2", &cfg, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_string_equal(cfg.interlink_url, "http://interlink");
    assert_string_equal(cfg.interlink_port, "3000");
    assert_string_equal(cfg.token_file, "/opt/interlink/token");
    assert_true(cfg.verbose);
    assert_true(cfg.http_insecure);
    assert_string_equal(cfg.http_ca_cert, "/etc/ca.der");
    assert_string_equal(cfg.cpu, "64");
    assert_string_equal(cfg.memory, "256Gi");
    assert_int_equal(cfg.kubelet_port, 10250);
    assert_string_equal(cfg.pod_ip, "10.1.2.3");

    assert_int_equal(cfg.n_accelerators, 3);
    assert_string_equal(cfg.accelerators[0].type, "nvidia.com/gpu");
    assert_string_equal(cfg.accelerators[0].model, "a100");
    assert_int_equal(cfg.accelerators[0].available, 4);
    assert_string_equal(cfg.accelerators[1].model, "");
    assert_int_equal(cfg.accelerators[1].available, 2);
    assert_int_equal(cfg.accelerators[2].available, 0);

    assert_int_equal(cfg.n_labels, 2);
    assert_string_equal(cfg.labels[0].key, "site");
    assert_string_equal(cfg.labels[0].value, "cnaf");
    assert_string_equal(cfg.labels[1].value, "");

    assert_int_equal(cfg.n_taints, 2);
    assert_string_equal(cfg.taints[0].key, "hpc");
    assert_string_equal(cfg.taints[0].value, "true");
    assert_string_equal(cfg.taints[0].effect, "NoExecute");
    assert_string_equal(cfg.taints[1].value, "");
    assert_string_equal(cfg.taints[1].effect, "NoSchedule");
    vk_config_free(&cfg);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct { const char *text; const char *node; const char *msg;
    } cases[] = {
        {"InterlinkURL: unix:///s\n", NULL, "node name is not set"},
        {"InterlinkPort: 3000\n", "n", "InterlinkURL is not set"},
        {"InterlinkURL: unix:///s\nNodeLabels: [novalue]\n", "n", "NodeLabels[0]: \"novalue\""},
        {"InterlinkURL: unix:///s\nNodeLabels: ['=v']\n", "n", "is not key=value"},
        {"InterlinkURL: unix:///s\nNodeTaints: [{Key: a, Effect: Sometimes}]\n", "n",
         "NodeTaints[0]: Effect: \"Sometimes\" is not NoSchedule"},
        {"InterlinkURL: unix:///s\nNodeTaints: [{Value: a}]\n", "n",
         "NodeTaints[0]: Key: required"},
        {"InterlinkURL: unix:///s\nNodeTaints: {Key: a}\n", "n", "NodeTaints: expected a list"},
        {"InterlinkURL: unix:///s\nResources: {CPU: lots}\n", "n",
         "Resources.CPU is not a quantity"},
        {"InterlinkURL: unix:///s\nResources: {Pods: 1.5}\n", "n", "Resources.Pods"},
        {"InterlinkURL: unix:///s\nResources: {Accelerators: [{ResourceType: g, Available: "
         "'0.5'}]}\n",
         "n", "Resources.Accelerators[0]: Available: \"0.5\" is not a whole number"},
        {"InterlinkURL: unix:///s\nResources: {Accelerators: [{ResourceType: g, Available: "
         "0.5}]}\n",
         "n", "Available: expected a whole number"},
        {"InterlinkURL: unix:///s\nResources: {Accelerators: [{Available: 1}]}\n", "n",
         "Resources.Accelerators[0].ResourceType: required"},
        {"InterlinkURL: unix:///s\nResources: {Accelerators: [{ResourceType: g, Available: "
         "true}]}\n",
         "n", "Available: expected a whole number"},
        {"InterlinkURL: unix:///s\nNetwork: {EnableTunnel: true}\n", "n", "not supported"},
        {"InterlinkURL: unix:///s\nTLS: {Enabled: true}\n", "n", "TLS.CertFile"},
        {"InterlinkURL: unix:///s\nKubeletCertFile: /c\n", "n", "go together"},
        {"InterlinkURL: unix:///s\nLeaseDurationSeconds: 2\n", "n", "LeaseDurationSeconds"},
        {"InterlinkURL: unix:///s\nVerboseLogging: maybe\n", "n", "VerboseLogging: expected"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vk_config cfg;
        char err[512] = "";
        int rc = load(cases[i].text, cases[i].node, &cfg, err, sizeof err);
        if (rc != -1 || !strstr(err, cases[i].msg))
            fail_msg("case %zu: rc %d, error \"%s\", want \"%s\"", i, rc, err, cases[i].msg);
    }
    setenv("KUBELET_PORT", "99999", 1);
    vk_config cfg;
    char err[512];
    assert_int_equal(load("InterlinkURL: unix:///s\n", "n", &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "KUBELET_PORT"));
    setenv("KUBELET_PORT", "http", 1);
    assert_int_equal(load("InterlinkURL: unix:///s\n", "n", &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "environment KUBELET_PORT"));
}

static int run_flags(vk_flags *flags, const char *out_want, ...)
{
    char *argv[16] = {(char *)"interlink-vk"};
    int argc = 1;
    va_list ap;
    va_start(ap, out_want);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = (char *)a;
    va_end(ap);
    char buf[8192] = "";
    FILE *out = fmemopen(buf, sizeof buf, "w");
    int rc = vk_parse_flags(argc, argv, flags, out, out);
    fclose(out);
    if (out_want && !strstr(buf, out_want))
        fail_msg("output \"%s\" lacks \"%s\"", buf, out_want);
    return rc;
}

static void test_flags(void **state)
{
    (void)state;
    vk_flags f;
    assert_int_equal(run_flags(&f, NULL, "--config", "/c.yaml", "--nodename", "vk", "--verbose",
                               NULL), -1);
    assert_string_equal(f.config_path, "/c.yaml");
    assert_string_equal(f.node_name, "vk");
    assert_true(f.verbose);
    /* upstream's single-dash Go flags */
    assert_int_equal(run_flags(&f, NULL, "-configpath", "/u.yaml", "-nodename", "up", NULL), -1);
    assert_string_equal(f.config_path, "/u.yaml");
    assert_string_equal(f.node_name, "up");
    setenv("NODENAME", "from-env", 1);
    setenv("CONFIGPATH", "/env.yaml", 1);
    assert_int_equal(run_flags(&f, NULL, NULL), -1);
    assert_string_equal(f.node_name, "from-env");
    assert_string_equal(f.config_path, "/env.yaml");
    unsetenv("CONFIGPATH");
    unsetenv("NODENAME");
    assert_int_equal(run_flags(&f, NULL, NULL), -1);
    assert_string_equal(f.config_path, "/etc/interlink/InterLinkConfig.yaml");
    assert_null(f.node_name);

    assert_int_equal(run_flags(&f, "interlink-vk " IL_VERSION, "--version", NULL), 0);
    assert_int_equal(run_flags(&f, "usage:", "--help", NULL), 0);
    assert_int_equal(run_flags(&f, "NodeTaints", "--help-config", NULL), 0);
    assert_int_equal(run_flags(&f, "unknown or incomplete option '--bogus'", "--bogus", NULL), 2);
    assert_int_equal(run_flags(&f, "unexpected argument 'extra'", "extra", NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_upstream_file, teardown),
        cmocka_unit_test_teardown(test_errors, teardown),
        cmocka_unit_test_teardown(test_flags, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
