/* test_slurm_rest.c -- golden tests of the slurmrestd job description
 * (rest.c): sbatch's argv, option by option, into v0.0.38 job properties;
 * what has no exact JSON form is refused (the pod then goes to sbatch),
 * and hostile values stay data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "slurm.h"

/* argv -> the job as compact JSON with sorted keys, or NULL (why in *why). */
static char *mapped(const char *const *argv, char **why)
{
    json_t *job = NULL;
    il_buf w = IL_BUF_INIT;
    char *text = NULL;
    if (rest_job_from_argv((char *const *)argv, &job, &w) == 0)
        text = json_dumps(job, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(job);
    if (why)
        *why = il_xstrdup(il_buf_cstr(&w));
    il_buf_free(&w);
    return text;
}

static void test_the_plugins_own_argv(void **state)
{
    (void)state;
    const char *argv[] = {"sbatch", "--parsable", "--job-name=8c1e", "--output=/d/job.out",
                          "--chdir=/d", "--partition=debug", "--account=a", "--qos=normal",
                          "--time=1-02:03:04", "--cpus-per-task=3", "--mem=2048M",
                          "--gres=gpu:2", "--comment=interlink caller alice", "/d/job.sh", NULL};
    char *json = mapped(argv, NULL);
    assert_non_null(json);
    assert_string_equal(json,
                        "{\"account\":\"a\",\"comment\":\"interlink caller alice\","
                        "\"cpus_per_task\":3,\"current_working_directory\":\"/d\","
                        "\"gres\":\"gpu:2\",\"memory_per_node\":2048,\"name\":\"8c1e\","
                        "\"partition\":\"debug\",\"qos\":\"normal\","
                        "\"standard_output\":\"/d/job.out\",\"time_limit\":1564}");
    free(json);
}

static void test_values_as_sbatch_reads_them(void **state)
{
    (void)state;
    struct {
        const char *arg, *json;
    } cases[] = {
        {"--time=90", "{\"time_limit\":90}"},
        {"--time=1:30", "{\"time_limit\":2}"},          /* M:S, seconds round up */
        {"--time=2:00:00", "{\"time_limit\":120}"},     /* H:M:S */
        {"--time=1-0", "{\"time_limit\":1440}"},        /* D-H */
        {"--time=0-1:1", "{\"time_limit\":61}"},        /* D-H:M */
        {"--mem=1G", "{\"memory_per_node\":1024}"},
        {"--mem=1500K", "{\"memory_per_node\":2}"},
        {"--mem=7", "{\"memory_per_node\":7}"},
        {"--mem-per-cpu=3g", "{\"memory_per_cpu\":3072}"},
        {"--hold", "{\"hold\":true}"},
        {"--no-requeue", "{\"requeue\":false}"},
        {"--nice", "{\"nice\":100}"},
        {"--nice=7", "{\"nice\":7}"},
        {"--ntasks=4", "{\"tasks\":4}"},
        {"--constraint=a&b", "{\"constraints\":\"a&b\"}"},
        /* data, never shell or an option of anything */
        {"--comment=$(rm -rf /) `x` 'q' \"d\"\n--uid=0 ünï",
         "{\"comment\":\"$(rm -rf /) `x` 'q' \\\"d\\\"\\n--uid=0 \\u00FCn\\u00EF\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {"sbatch", cases[i].arg, "/d/job.sh", NULL};
        json_t *job = NULL;
        il_buf why = IL_BUF_INIT;
        assert_int_equal(rest_job_from_argv((char *const *)argv, &job, &why), 0);
        char *got = json_dumps(job, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        if (strcmp(got, cases[i].json) != 0)
            fail_msg("%s: got %s, want %s", cases[i].arg, got, cases[i].json);
        free(got);
        json_decref(job);
        il_buf_free(&why);
    }
}

static void test_no_exact_form_is_refused(void **state)
{
    (void)state;
    const char *refused[] = {
        "--exclusive", "--nodes=1", "--export=NONE", "--begin=now+60", "--uid=0",
        "--time=UNLIMITED", "--time=-1", "--time=1:2:3:4", "--time=", "--time=1-",
        "--time=99999999999", "--time=1::2", "--mem=1X", "--mem=", "--mem=G",
        "--mem=99999999999999", "--mem=1GB", "--cpus-per-task=-1", "--cpus-per-task=2.5",
        "--cpus-per-task=4294967297", "--nice=-5", "--hold=yes", "--partition",
        "--partition=", "-p", "debug", "--output-file=x", "--ntask=2",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const char *argv[] = {"sbatch", "--hold", refused[i], "/d/job.sh", NULL};
        char *why = NULL;
        char *json = mapped(argv, &why);
        if (json)
            fail_msg("%s was mapped: %s", refused[i], json);
        assert_non_null(strstr(why, refused[i]));
        free(why);
    }
    const char *no_script[] = {"sbatch", NULL};
    char *why = NULL;
    assert_null(mapped(no_script, &why));
    free(why);
}

static void test_config_values_checked(void **state)
{
    (void)state;
    slurm_config cfg = {.submit_mode = "rest", .rest_url = "http://127.0.0.1:6820",
                        .rest_fallback = "sbatch"};
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rest_config_check(&cfg, &err), 0);
    cfg.rest_url = "unix:///run/slurmrestd.sock";
    assert_int_equal(rest_config_check(&cfg, &err), 0);
    cfg.rest_url = "127.0.0.1:6820";
    assert_int_equal(rest_config_check(&cfg, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "SlurmrestdURL"));
    cfg.rest_url = "http://x";
    cfg.submit_mode = "REST";
    il_buf_reset(&err);
    assert_int_equal(rest_config_check(&cfg, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "SubmitMode"));
    cfg.submit_mode = "sbatch";
    cfg.rest_fallback = "drop";
    il_buf_reset(&err);
    assert_int_equal(rest_config_check(&cfg, &err), -1);
    assert_non_null(strstr(il_buf_cstr(&err), "SlurmrestdFallback"));
    il_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_plugins_own_argv),
        cmocka_unit_test(test_values_as_sbatch_reads_them),
        cmocka_unit_test(test_no_exact_form_is_refused),
        cmocka_unit_test(test_config_values_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
