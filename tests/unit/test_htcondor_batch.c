/* test_htcondor_batch.c -- many pods per condor_submit (batch.c): the batch
 * key of a job.sub (its directory and UID as the list's macros), the
 * batch description (golden), that expanding a template gives each pod's
 * own job.sub back, that pods differing in anything else never share a
 * template, and the parsing of condor_submit -terse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htcondor.h"
#include "podtest.h"

#define UID_A "8c1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
#define UID_B "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"
#define PODS "/data/pods/"

/* job.sub of a pod with this uid, CPU request and annotations (JSON). */
static char *sub_for(const char *uid, const char *cpu, const char *annotations, bool ft)
{
    static char *groups[] = {"physics", NULL};
    htc_config cfg = {.cpu_default = 1, .vacate_extra_s = 10, .accounting_groups = groups,
                      .file_transfer = ft};
    char *text = il_xasprintf(
        "{\"metadata\": {\"name\": \"p\", \"uid\": \"%s\", \"annotations\": %s},"
        " \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"busybox\","
        " \"resources\": {\"requests\": {\"cpu\": \"%s\"}}}]}}", uid, annotations, cpu);
    il_pod pod;
    podtest_parse(text, &pod);
    free(text);
    char *dir = il_xasprintf(PODS "%s", uid);
    htc_request req;
    il_buf out = IL_BUF_INIT, err = IL_BUF_INIT;
    assert_int_equal(htc_pod_request(&cfg, &pod, &req, &err), 0);
    assert_int_equal(htc_submit_text(&cfg, &pod, dir, &req, &out, &err), 0);
    il_buf_free(&err);
    il_pod_free(&pod);
    free(dir);
    return il_buf_steal(&out);
}

static char *template_of(const char *sub, const char *uid)
{
    char *dir = il_xasprintf(PODS "%s", uid);
    char *t = htc_batch_template(sub, dir, uid);
    free(dir);
    return t;
}

/* The template with one pod's values put back, as condor_submit expands it. */
static char *expand(const char *tmpl, const char *uid)
{
    il_buf a = IL_BUF_INIT, b = IL_BUF_INIT;
    char *dir = il_xasprintf(PODS "%s", uid);
    const char *p = tmpl, *m;
    while ((m = strstr(p, "$(IL_PodDir)")) != NULL) {
        il_buf_append(&a, p, (size_t)(m - p));
        il_buf_puts(&a, dir);
        p = m + strlen("$(IL_PodDir)");
    }
    il_buf_puts(&a, p);
    p = il_buf_cstr(&a);
    while ((m = strstr(p, "$(IL_PodUid)")) != NULL) {
        il_buf_append(&b, p, (size_t)(m - p));
        il_buf_puts(&b, uid);
        p = m + strlen("$(IL_PodUid)");
    }
    il_buf_puts(&b, p);
    il_buf_free(&a);
    free(dir);
    return il_buf_steal(&b);
}

static void test_golden_batch(void **state)
{
    (void)state;
    char *a = sub_for(UID_A, "2", "{}", false), *b = sub_for(UID_B, "2", "{}", false);
    char *ta = template_of(a, UID_A), *tb = template_of(b, UID_B);
    assert_non_null(ta);
    assert_string_equal(ta, tb);
    char *dirs[] = {PODS UID_A, PODS UID_B}, *uids[] = {UID_A, UID_B};
    il_buf out = IL_BUF_INIT;
    htc_batch_text(ta, dirs, uids, 2, &out);
    assert_string_equal(il_buf_cstr(&out),
                        "# interlink-htcondor: pod $(IL_PodUid)\n"
                        "universe = vanilla\n"
                        "executable = $(IL_PodDir)/job.sh\n"
                        "initialdir = $(IL_PodDir)\n"
                        "output = $(IL_PodDir)/job.out\n"
                        "error = $(IL_PodDir)/job.err\n"
                        "should_transfer_files = NO\n"
                        "transfer_executable = false\n"
                        "getenv = false\n"
                        "kill_sig = SIGTERM\n"
                        "job_max_vacate_time = 40\n"
                        "request_cpus = 2\n"
                        "+InterLinkPodUID = \"$(IL_PodUid)\"\n"
                        "queue IL_PodDir,IL_PodUid from (\n"
                        PODS UID_A " " UID_A "\n"
                        PODS UID_B " " UID_B "\n"
                        ")\n");
    char *back = expand(ta, UID_B);
    assert_string_equal(back, b);   /* each proc is exactly its pod's job.sub */
    free(back);
    il_buf_free(&out);
    free(a);
    free(b);
    free(ta);
    free(tb);
}

/* Pods that differ in anything but directory and UID get different
 * templates: a batch never gives one pod's settings to another. */
static void test_templates_differ(void **state)
{
    (void)state;
    char *base = sub_for(UID_A, "1", "{}", false);
    char *subs[] = {
        sub_for(UID_B, "2", "{}", false),
        sub_for(UID_B, "1", "{\"htcondor-job.vk.io/accounting-group\": \"physics\"}", false),
        sub_for(UID_B, "1", "{}", true),
    };
    char *t0 = template_of(base, UID_A);
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        char *t = template_of(subs[i], UID_B);
        assert_non_null(t);
        assert_string_not_equal(t, t0);
        char *back = expand(t, UID_B);
        assert_string_equal(back, subs[i]);
        free(back);
        free(t);
        free(subs[i]);
    }
    /* What cannot be batched: a '$' of its own, no trailing queue 1. */
    assert_null(htc_batch_template("x = $(y)\nqueue 1\n", PODS UID_A, UID_A));
    assert_null(htc_batch_template("x = 1\nqueue 2\n", PODS UID_A, UID_A));
    free(t0);
    free(base);
}

static void test_parse_submitted(void **state)
{
    (void)state;
    char *ids[8] = {0};
    assert_int_equal(htc_parse_submitted("17.0 - 17.2\n", 8, ids), 3);
    assert_string_equal(ids[0], "17.0");
    assert_string_equal(ids[2], "17.2");
    for (int i = 0; i < 3; i++)
        free(ids[i]);
    assert_int_equal(htc_parse_submitted("5.0 - 5.0\n6.0 - 6.1\n", 8, ids), 3);
    assert_string_equal(ids[1], "6.0");
    for (int i = 0; i < 3; i++)
        free(ids[i]);
    assert_int_equal(htc_parse_submitted("", 8, ids), 0);
    const char *bad[] = {"17.0 - 18.2\n", "17.3 - 17.1\n", "x.0 - x.1\n", "17.0\n",
                         "17.0 - 17.9\n" /* more than max */, "-1.0 - -1.0\n",
                         "99999999999999999999.0 - 99999999999999999999.1\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(htc_parse_submitted(bad[i], 8, ids), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_batch),
        cmocka_unit_test(test_templates_differ),
        cmocka_unit_test(test_parse_submitted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
