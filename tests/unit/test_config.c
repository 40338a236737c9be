/* test_config.c -- defaults < file < environment, types, nested and unknown keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

typedef struct {
    char *address;
    char *port;
    bool verbose;
    int64_t workers;
    int64_t max_body;
    char **allowed;
    char *cert;
    bool tls;
} test_cfg;

static const il_cfg_field fields[] = {
    {"InterlinkAddress", "ILT_ADDR", IL_CFG_STRING, offsetof(test_cfg, address),
     "unix:///tmp/il.sock", "where to listen"},
    {"InterlinkPort", "ILT_PORT", IL_CFG_STRING, offsetof(test_cfg, port), NULL, "tcp port"},
    {"VerboseLogging", "ILT_VERBOSE", IL_CFG_BOOL, offsetof(test_cfg, verbose), NULL, "debug"},
    {"Workers", "ILT_WORKERS", IL_CFG_INT, offsetof(test_cfg, workers), "4", "threads"},
    {"MaxBody", "ILT_MAXBODY", IL_CFG_SIZE, offsetof(test_cfg, max_body), "16Mi", "limit"},
    {"Allowed", "ILT_ALLOWED", IL_CFG_STRLIST, offsetof(test_cfg, allowed), NULL, "users"},
    {"TLS.CertFile", NULL, IL_CFG_STRING, offsetof(test_cfg, cert), NULL, "PEM cert"},
    {"TLS.Enabled", NULL, IL_CFG_BOOL, offsetof(test_cfg, tls), "false", "serve TLS"},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static char cfg_path[64];

static const char *write_cfg(const char *text)
{
    snprintf(cfg_path, sizeof cfg_path, "/tmp/il-test-config-XXXXXX");
    int fd = mkstemp(cfg_path);
    assert_true(fd >= 0);
    assert_int_equal(il_write_all(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return cfg_path;
}

static int teardown(void **state)
{
    (void)state;
    if (cfg_path[0])
        unlink(cfg_path);
    cfg_path[0] = '\0';
    static const char *envs[] = {"ILT_ADDR", "ILT_PORT", "ILT_VERBOSE", "ILT_WORKERS",
                                 "ILT_MAXBODY", "ILT_ALLOWED"};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        unsetenv(envs[i]);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    test_cfg cfg;
    memset(&cfg, 0xA5, sizeof cfg);   /* garbage in: load must not free it */
    char err[256];
    assert_int_equal(il_config_load(NULL, fields, NFIELDS, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.address, "unix:///tmp/il.sock");
    assert_null(cfg.port);
    assert_false(cfg.verbose);
    assert_int_equal(cfg.workers, 4);
    assert_int_equal(cfg.max_body, 16 * 1024 * 1024);
    assert_null(cfg.allowed);
    assert_null(cfg.cert);
    il_config_free(fields, NFIELDS, &cfg);
    assert_null(cfg.address);
}

static void test_file_and_env_precedence(void **state)
{
    (void)state;
    const char *path = write_cfg("InterlinkAddress: http://0.0.0.0\n"
                                 "InterlinkPort: 3000\n"          /* number into a string */
                                 "VerboseLogging: true\n"
                                 "Workers: 8\n"
                                 "MaxBody: 1Gi\n"
                                 "Allowed: [alice, bob]\n"
                                 "TLS:\n  CertFile: /etc/cert.pem\n  Enabled: true\n");
    test_cfg cfg;
    char err[256];
    setenv("ILT_WORKERS", "16", 1);
    setenv("ILT_ALLOWED", "carol,,dave", 1);
    setenv("ILT_PORT", "", 1);   /* empty: not an override */
    assert_int_equal(il_config_load(path, fields, NFIELDS, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.address, "http://0.0.0.0");
    assert_string_equal(cfg.port, "3000");
    assert_true(cfg.verbose);
    assert_int_equal(cfg.workers, 16);                    /* env beats file */
    assert_int_equal(cfg.max_body, 1073741824);
    assert_string_equal(cfg.allowed[0], "carol");
    assert_string_equal(cfg.allowed[1], "dave");
    assert_null(cfg.allowed[2]);
    assert_string_equal(cfg.cert, "/etc/cert.pem");
    assert_true(cfg.tls);
    /* Command-line flags come last, through il_config_set. */
    assert_int_equal(il_config_set(&fields[0], &cfg, "unix:///run/x.sock", err, sizeof err), 0);
    assert_string_equal(cfg.address, "unix:///run/x.sock");
    assert_int_equal(il_config_set(&fields[3], &cfg, "12x", err, sizeof err), -1);
    assert_string_equal(err, "Workers: invalid int \"12x\"");
    assert_int_equal(cfg.workers, 16);
    il_config_free(fields, NFIELDS, &cfg);
}

static void expect_error(const char *yaml, const char *suffix)
{
    const char *path = write_cfg(yaml);
    test_cfg cfg;
    char err[256], want[256];
    assert_int_equal(il_config_load(path, fields, NFIELDS, &cfg, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: %s", path, suffix);
    assert_string_equal(err, want);
    assert_null(cfg.address);   /* freed on failure */
    unlink(path);
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("InterlinkAddress: [a]\n", "InterlinkAddress: expected a string");
    expect_error("VerboseLogging: yes please\n", "VerboseLogging: expected a boolean");
    expect_error("Workers: \"8\"\n", "Workers: expected an integer");
    expect_error("Workers: 1.5\n", "Workers: expected an integer");
    expect_error("MaxBody: lots\n",
                 "MaxBody: expected a size (bytes or a quantity such as \"16Mi\")");
    expect_error("MaxBody: -1\n",
                 "MaxBody: expected a size (bytes or a quantity such as \"16Mi\")");
    expect_error("Allowed: [a, 1]\n", "Allowed: expected a list of strings");
    expect_error("Allowed: a\n", "Allowed: expected a list of strings");
    expect_error("TLS: yes\n", "TLS: expected a mapping");
    expect_error("- a\n- b\n", "expected a mapping at the top level");
    expect_error("a: 1\na: 2\n", "line 2: duplicate key \"a\"");
}

static void test_env_errors_and_bools(void **state)
{
    (void)state;
    test_cfg cfg;
    char err[256];
    setenv("ILT_VERBOSE", "maybe", 1);
    assert_int_equal(il_config_load(NULL, fields, NFIELDS, &cfg, err, sizeof err), -1);
    assert_string_equal(err, "environment ILT_VERBOSE: VerboseLogging: invalid bool \"maybe\"");
    static const char *truthy[] = {"true", "TRUE", "1"};
    for (size_t i = 0; i < 3; i++) {
        setenv("ILT_VERBOSE", truthy[i], 1);
        assert_int_equal(il_config_load(NULL, fields, NFIELDS, &cfg, err, sizeof err), 0);
        assert_true(cfg.verbose);
        il_config_free(fields, NFIELDS, &cfg);
    }
    setenv("ILT_VERBOSE", "0", 1);
    setenv("ILT_MAXBODY", "512Ki", 1);
    assert_int_equal(il_config_load(NULL, fields, NFIELDS, &cfg, err, sizeof err), 0);
    assert_false(cfg.verbose);
    assert_int_equal(cfg.max_body, 512 * 1024);
    il_config_free(fields, NFIELDS, &cfg);
}

/* Run a load with stderr captured into buf. */
static void load_capturing_stderr(const char *path, char *buf, size_t len)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    test_cfg cfg;
    char err[256];
    int rc = il_config_load(path, fields, NFIELDS, &cfg, err, sizeof err);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(rc, 0);
    il_config_free(fields, NFIELDS, &cfg);
    rewind(tmp);
    size_t n = fread(buf, 1, len - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
}

static void test_unknown_keys_warn(void **state)
{
    (void)state;
    const char *path = write_cfg("InterlinkAddress: x\nSidecarURL: y\n"
                                 "TLS: {Enabled: false, Bogus: 1}\nVerboseLogging: ~\n");
    char out[4096], want[512];
    load_capturing_stderr(path, out, sizeof out);
    snprintf(want, sizeof want, "config %s: unknown key SidecarURL (ignored)", path);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "config %s: unknown key TLS.Bogus (ignored)", path);
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "InterlinkAddress"));
    assert_null(strstr(out, "TLS.Enabled"));
}

static void test_missing_file(void **state)
{
    (void)state;
    test_cfg cfg;
    char err[256];
    assert_int_equal(il_config_load("/nonexistent/il.yaml", fields, NFIELDS, &cfg, err,
                                    sizeof err), -1);
    assert_string_equal(err, "/nonexistent/il.yaml: No such file or directory");
}

static void test_print_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    il_config_print_help(f, fields, NFIELDS);
    fclose(f);
    assert_non_null(strstr(text, "KEY"));
    /* Columns are aligned: ENV starts at the same offset on every line. */
    const char *header_env = strstr(text, "ENV");
    const char *line = strstr(text, "\nTLS.CertFile");
    assert_non_null(line);
    line++;
    size_t col = (size_t)(header_env - text);
    assert_memory_equal(line + col, "-", 1);
    assert_non_null(strstr(text, "\"16Mi\""));
    assert_non_null(strstr(text, "ILT_WORKERS"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_file_and_env_precedence, teardown),
        cmocka_unit_test_teardown(test_wrong_types, teardown),
        cmocka_unit_test_teardown(test_env_errors_and_bools, teardown),
        cmocka_unit_test_teardown(test_unknown_keys_warn, teardown),
        cmocka_unit_test_teardown(test_missing_file, teardown),
        cmocka_unit_test_teardown(test_print_help, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
