/* timeutil.c -- RFC 3339 formatting/parsing and clocks.
 *
 * Owns the mapping between Go's zero time ("0001-01-01T00:00:00Z", which
 * Kubernetes uses for "unset") and IL_TIME_ZERO, so no other file ever
 * deals with year 1. */
#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Go's time.Time{} as Unix seconds. */
#define GO_ZERO_UNIX_SEC (-62135596800LL)

il_time il_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (il_time){(int64_t)ts.tv_sec, (int32_t)ts.tv_nsec};
}

bool il_time_is_zero(il_time t)
{
    return t.sec == 0 && t.nsec == 0;
}

int64_t il_time_to_ns(il_time t)
{
    return il_time_is_zero(t) ? 0 : t.sec * 1000000000LL + t.nsec;
}

int64_t il_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With nanos, trailing zeros of the fraction are dropped (and the fraction
 * entirely when it is 0), as Go's time.RFC3339Nano does. */
void il_time_format(il_time t, bool nanos, char out[IL_RFC3339_MAX])
{
    int64_t sec = il_time_is_zero(t) ? GO_ZERO_UNIX_SEC : t.sec;
    time_t tt = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(out, IL_RFC3339_MAX, "0001-01-01T00:00:00Z");
        return;
    }
    /* Not strftime's %Y: it does not zero-pad year 1 to "0001". */
    int n = snprintf(out, IL_RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n < 0 || n >= IL_RFC3339_MAX - 12)
        return;   /* years beyond 9999 are not representable in RFC 3339 anyway */
    if (nanos && t.nsec > 0) {
        char frac[16];
        snprintf(frac, sizeof frac, ".%09d", (int)t.nsec);
        size_t flen = strlen(frac);
        while (flen > 1 && frac[flen - 1] == '0')   /* nsec > 0: stops at a digit */
            frac[--flen] = '\0';
        snprintf(out + n, (size_t)(IL_RFC3339_MAX - n), "%sZ", frac);
    } else {
        snprintf(out + n, (size_t)(IL_RFC3339_MAX - n), "Z");
    }
}

/* Parse exactly `width` decimal digits at *p; advances *p. */
static int parse_digits(const char **p, int width, int *out)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += width;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* ".123" -> nanoseconds; 1 to 9 digits, as Go accepts. */
static int parse_fraction(const char **p, int32_t *nsec)
{
    *nsec = 0;
    if (**p != '.')
        return 0;
    (*p)++;
    int ndigits = 0;
    int32_t v = 0;
    while (**p >= '0' && **p <= '9') {
        if (++ndigits > 9)
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    if (ndigits == 0)
        return -1;
    for (int i = ndigits; i < 9; i++)
        v *= 10;
    *nsec = v;
    return 0;
}

/* "Z" or "+hh:mm"/"-hh:mm" -> offset east of UTC in seconds. */
static int parse_zone(const char **p, int64_t *offset)
{
    if (**p == 'Z') {
        (*p)++;
        *offset = 0;
        return 0;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    if (!sign)
        return -1;
    (*p)++;
    int hh, mm;
    if (parse_digits(p, 2, &hh) < 0 || expect(p, ':') < 0 || parse_digits(p, 2, &mm) < 0 ||
        hh > 23 || mm > 59)
        return -1;
    *offset = sign * (hh * 3600 + mm * 60);
    return 0;
}

int il_time_parse(const char *s, il_time *out)
{
    *out = IL_TIME_ZERO;
    if (!s || !*s)
        return 0;
    const char *p = s;
    int year, mon, day, hour, min, sec;
    int32_t nsec;
    int64_t offset;
    if (parse_digits(&p, 4, &year) < 0 || expect(&p, '-') < 0 || parse_digits(&p, 2, &mon) < 0 ||
        expect(&p, '-') < 0 || parse_digits(&p, 2, &day) < 0 || expect(&p, 'T') < 0 ||
        parse_digits(&p, 2, &hour) < 0 || expect(&p, ':') < 0 || parse_digits(&p, 2, &min) < 0 ||
        expect(&p, ':') < 0 || parse_digits(&p, 2, &sec) < 0 || parse_fraction(&p, &nsec) < 0 ||
        parse_zone(&p, &offset) < 0 || *p != '\0')
        return -1;
    if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
        hour > 23 || min > 59 || sec > 59)
        return -1;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = min, .tm_sec = sec};
    int64_t unix_sec = (int64_t)timegm(&tm) - offset;
    if (unix_sec == GO_ZERO_UNIX_SEC && nsec == 0)
        return 0;
    out->sec = unix_sec;
    out->nsec = nsec;
    return 0;
}
