/* quantity.c -- Kubernetes resource quantities to integers.
 *
 * Grammar (k8s.io/apimachinery resource.ParseQuantity):
 *   quantity = [sign] digits ["." digits] [suffix]
 *   suffix   = n | u | m | "" | k | M | G | T | P | E     (decimal SI)
 *            | Ki | Mi | Gi | Ti | Pi | Ei                 (binary)
 *            | (e|E) [sign] digits                         (decimal exponent)
 *
 * The value is computed exactly on a decimal digit string: the mantissa's
 * digits are multiplied by 2^binary_exponent in place, the decimal exponent
 * only moves the decimal point, and the result is rounded up.  No floating
 * point is involved, so "0.1" + "Ki" or 30-digit fractions are exact and
 * overflow is detected, never wrapped. */
#include "quantity.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Exponents beyond this are clamped: the result is then certainly 0/1 or
 * an overflow, and clamping keeps the point arithmetic in range. */
#define MAX_EXP 400

typedef struct {
    bool negative;
    char *digits;     /* mantissa digits without the point; heap, owned */
    size_t ndigits;
    size_t start;     /* digits[start..ndigits) are significant (headroom before) */
    long point;       /* decimal point position, counted from digits[start] */
    int dec_exp;
    int bin_exp;
} decimal;

/* Suffix at s -> decimal and binary exponents.  Returns 0 or -1. */
static int parse_suffix(const char *s, int *dec_exp, int *bin_exp)
{
    static const struct { const char *sfx; int dec, bin; } table[] = {
        {"", 0, 0},   {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0},  {"k", 3, 0},
        {"M", 6, 0},  {"G", 9, 0},  {"T", 12, 0}, {"P", 15, 0},  {"E", 18, 0},
        {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
        {"Ei", 0, 60},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(s, table[i].sfx) == 0) {
            *dec_exp = table[i].dec;
            *bin_exp = table[i].bin;
            return 0;
        }
    }
    if (*s != 'e' && *s != 'E')
        return -1;
    s++;
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!*s)
        return -1;
    long e = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (e < MAX_EXP)
            e = e * 10 + (*s - '0');
    }
    *dec_exp = (int)(sign * (e > MAX_EXP ? MAX_EXP : e));
    *bin_exp = 0;
    return 0;
}

/* Split s into sign, digits and suffix.  Leaves room for bin_exp doublings
 * in front of the digits (each doubling adds at most one digit). */
static int parse_number(const char *s, decimal *d)
{
    memset(d, 0, sizeof *d);
    if (*s == '+' || *s == '-')
        d->negative = *s++ == '-';
    size_t len = strlen(s);
    const size_t headroom = 64;
    d->digits = il_xmalloc(headroom + len + 1);
    d->start = d->ndigits = headroom;
    bool seen_point = false;
    long int_digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            d->digits[d->ndigits++] = *s;
            if (!seen_point)
                int_digits++;
        } else if (*s == '.' && !seen_point) {
            seen_point = true;
        } else {
            break;
        }
    }
    if (d->ndigits == d->start || parse_suffix(s, &d->dec_exp, &d->bin_exp) < 0)
        return -1;
    d->point = int_digits;
    return 0;
}

/* digits *= 2, in place, growing to the left. */
static void double_digits(decimal *d)
{
    int carry = 0;
    for (size_t i = d->ndigits; i-- > d->start;) {
        int v = (d->digits[i] - '0') * 2 + carry;
        d->digits[i] = (char)('0' + v % 10);
        carry = v / 10;
    }
    if (carry) {
        d->digits[--d->start] = (char)('0' + carry);
        d->point++;
    }
}

/* ceil(value) into *out; -1 on overflow of int64_t. */
static int round_up(decimal *d, int64_t *out)
{
    while (d->start < d->ndigits && d->digits[d->start] == '0') {
        d->start++;
        d->point--;
    }
    long point = d->point + d->dec_exp;
    size_t n = d->ndigits - d->start;
    if (n == 0) {
        *out = 0;
        return 0;
    }
    if (point > 19)
        return -1;
    uint64_t v = 0;
    for (long i = 0; i < point; i++) {
        int digit = (size_t)i < n ? d->digits[d->start + (size_t)i] - '0' : 0;
        if (v > ((uint64_t)INT64_MAX - (uint64_t)digit) / 10)
            return -1;
        v = v * 10 + (uint64_t)digit;
    }
    bool fraction = false;
    for (size_t i = point > 0 ? (size_t)point : 0; i < n; i++)
        fraction |= d->digits[d->start + i] != '0';
    if (fraction) {
        if (v == (uint64_t)INT64_MAX)
            return -1;
        v++;
    }
    *out = (int64_t)v;
    return 0;
}

/* value * 10^extra_exp, rounded up. */
static int quantity_scaled(const char *s, int extra_exp, int64_t *out)
{
    if (!s)
        return -1;
    decimal d;
    int64_t v = 0;
    int rc = parse_number(s, &d);
    if (rc == 0) {
        d.dec_exp += extra_exp;
        for (int i = 0; i < d.bin_exp; i++)
            double_digits(&d);
        rc = round_up(&d, &v);
        if (rc == 0 && d.negative && v != 0)
            rc = -1;   /* "-0" is a valid zero; any other negative is not */
    }
    free(d.digits);
    if (rc == 0)
        *out = v;
    return rc;
}

int il_quantity_milli(const char *s, int64_t *out)
{
    return quantity_scaled(s, 3, out);
}

int il_quantity_value(const char *s, int64_t *out)
{
    return quantity_scaled(s, 0, out);
}
