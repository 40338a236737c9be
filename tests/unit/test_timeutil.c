/* test_timeutil.c -- RFC 3339 parsing/formatting and Go's zero time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "timeutil.h"

static void test_parse_utc(void **state)
{
    (void)state;
    il_time t;
    assert_int_equal(il_time_parse("2026-01-01T10:00:00Z", &t), 0);
    assert_int_equal(t.sec, 1767261600);
    assert_int_equal(t.nsec, 0);
}

static void test_parse_offset_and_fraction(void **state)
{
    (void)state;
    il_time t;
    assert_int_equal(il_time_parse("2026-01-01T12:30:00.5+02:30", &t), 0);
    assert_int_equal(t.sec, 1767261600);
    assert_int_equal(t.nsec, 500000000);
    assert_int_equal(il_time_parse("2026-01-01T07:00:00.123456789-03:00", &t), 0);
    assert_int_equal(t.sec, 1767261600);
    assert_int_equal(t.nsec, 123456789);
}

static void test_zero_values(void **state)
{
    (void)state;
    il_time t = {5, 5};
    assert_int_equal(il_time_parse("0001-01-01T00:00:00Z", &t), 0);
    assert_true(il_time_is_zero(t));
    t = (il_time){5, 5};
    assert_int_equal(il_time_parse("", &t), 0);
    assert_true(il_time_is_zero(t));
    assert_int_equal(il_time_to_ns(IL_TIME_ZERO), 0);
    char buf[IL_RFC3339_MAX];
    il_time_format(IL_TIME_ZERO, false, buf);
    assert_string_equal(buf, "0001-01-01T00:00:00Z");
}

static void test_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {
        "2026-01-01", "2026-01-01T10:00:00", "2026-13-01T10:00:00Z", "2026-02-29T10:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T10:00:60Z", "2026-01-01T10:00:00.Z",
        "2026-01-01T10:00:00.1234567890Z", "2026-01-01T10:00:00+0200", "2026-01-01T10:00:00Zx",
        "2026-01-01 10:00:00Z", "x026-01-01T10:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        il_time t;
        if (il_time_parse(bad[i], &t) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    il_time t;
    assert_int_equal(il_time_parse("2024-02-29T00:00:00Z", &t), 0);   /* leap year */
}

static void test_format(void **state)
{
    (void)state;
    char buf[IL_RFC3339_MAX];
    il_time t = {1767261600, 123456789};
    il_time_format(t, false, buf);
    assert_string_equal(buf, "2026-01-01T10:00:00Z");
    il_time_format(t, true, buf);
    assert_string_equal(buf, "2026-01-01T10:00:00.123456789Z");
    t.nsec = 500000000;   /* Go's RFC3339Nano drops trailing zeros */
    il_time_format(t, true, buf);
    assert_string_equal(buf, "2026-01-01T10:00:00.5Z");
    t.nsec = 0;
    il_time_format(t, true, buf);
    assert_string_equal(buf, "2026-01-01T10:00:00Z");
}

static void test_round_trip_and_clocks(void **state)
{
    (void)state;
    il_time now = il_time_now(), back;
    char buf[IL_RFC3339_MAX];
    il_time_format(now, true, buf);
    assert_int_equal(il_time_parse(buf, &back), 0);
    assert_int_equal(back.sec, now.sec);
    assert_int_equal(back.nsec, now.nsec);
    assert_int_equal(il_time_to_ns(now), now.sec * 1000000000LL + now.nsec);
    int64_t a = il_monotonic_ms(), b = il_monotonic_ms();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_utc),   cmocka_unit_test(test_parse_offset_and_fraction),
        cmocka_unit_test(test_zero_values), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_format),      cmocka_unit_test(test_round_trip_and_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
