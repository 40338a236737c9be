/* test_log.c -- the JSON log format: one object per line whatever the
 * message holds (quotes, backslashes, newlines, control bytes, UTF-8), the
 * trace id only while one is set, the level filter as in text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

/* Everything il_log writes while fn runs, from a pipe in place of stderr. */
static char *capture(void (*fn)(void))
{
    int fds[2], saved = dup(STDERR_FILENO);
    assert_int_equal(pipe(fds), 0);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    static char buf[65536];
    ssize_t n, len = 0;
    while ((n = read(fds[0], buf + len, sizeof buf - 1 - (size_t)len)) > 0)
        len += n;
    close(fds[0]);
    buf[len] = '\0';
    return buf;
}

static void write_lines(void)
{
    il_log_set_format(IL_LOG_JSON);
    il_info("quote \" backslash \\ newline\nand tab\t bell\a: \xc3\xa9t\xc3\xa9");
    il_log_set_trace_id("0af7651916cd43dd8448eb211c80319c");
    il_warn("inside a trace");
    il_log_set_trace_id(NULL);
    il_debug("filtered out at info");
    il_error("after the trace \xff\xc3(\xed\xa0\x80\xc0\xaf");
    il_log_set_format(IL_LOG_TEXT);
}

static void test_json_lines(void **state)
{
    (void)state;
    il_log_set_ident("il-test");
    char *out = capture(write_lines);
    const char *expect[][3] = {
        {"info", "quote \" backslash \\ newline\nand tab\t bell\a: \xc3\xa9t\xc3\xa9", NULL},
        {"warn", "inside a trace", "0af7651916cd43dd8448eb211c80319c"},
        {"error", "after the trace \xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd"
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", NULL},
    };
    char *save = NULL;
    size_t i = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        assert_true(i < 3);
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j)
            fail_msg("not JSON: %s (%s)", line, e.text);
        assert_string_equal(json_string_value(json_object_get(j, "level")), expect[i][0]);
        assert_string_equal(json_string_value(json_object_get(j, "msg")), expect[i][1]);
        assert_string_equal(json_string_value(json_object_get(j, "daemon")), "il-test");
        const char *trace = json_string_value(json_object_get(j, "trace_id"));
        if (expect[i][2])
            assert_string_equal(trace, expect[i][2]);
        else
            assert_null(json_object_get(j, "trace_id"));
        const char *t = json_string_value(json_object_get(j, "time"));
        assert_int_equal(strlen(t), 24);   /* 2026-12-06T08:50:42.120Z */
        assert_int_equal(t[23], 'Z');
        json_decref(j);
    }
    assert_int_equal(i, 3);
}

static void test_format_names(void **state)
{
    (void)state;
    il_log_format f;
    assert_int_equal(il_log_parse_format("json", &f), 0);
    assert_int_equal(f, IL_LOG_JSON);
    assert_int_equal(il_log_parse_format("TEXT", &f), 0);
    assert_int_equal(f, IL_LOG_TEXT);
    assert_int_equal(il_log_parse_format("yaml", &f), -1);
    assert_int_equal(il_log_parse_format(NULL, &f), -1);
    assert_int_equal(il_log_use_format("logfmt"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_format_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
