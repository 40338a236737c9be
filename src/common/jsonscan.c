/* jsonscan.c -- chosen members of a JSON object's text, checked the way
 * jansson reads it (see jsonscan.h).
 *
 * A recursive descent over the text that keeps nothing but the wanted
 * members' places.  Every rule below is jansson's (2.14, json_loadb with
 * JSON_DECODE_ANY), or stricter where being exact would cost more than
 * falling back to jansson: the caller's parse then gives the answer. */
#include "jsonscan.h"

#include <string.h>

#include "util.h"

typedef struct scan {
    const char *t;
    size_t len, p;
    il_jscan_member *want;
    size_t n;
} scan;

static int value(scan *s, unsigned depth, il_jscan_member *m);

static void skip_space(scan *s)
{
    while (s->p < s->len && (s->t[s->p] == ' ' || s->t[s->p] == '\t' ||
                             s->t[s->p] == '\n' || s->t[s->p] == '\r'))
        s->p++;
}

static bool at(const scan *s, char c)
{
    return s->p < s->len && s->t[s->p] == c;
}

static bool is_digit(const scan *s, size_t p)
{
    return p < s->len && s->t[p] >= '0' && s->t[p] <= '9';
}

static int hex4(const unsigned char *u, size_t avail)
{
    if (avail < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = u[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Length of the escape at u[0] == '\\', or 0 when jansson refuses it: an
 * unknown letter, bad hex, \u0000 (no JSON_ALLOW_NUL), a lone surrogate. */
static size_t escape_len(const unsigned char *u, size_t avail)
{
    if (avail < 2)
        return 0;
    if (u[1] != '\0' && strchr("\"\\/bfnrt", u[1]))
        return 2;
    if (u[1] != 'u')
        return 0;
    int v = hex4(u + 2, avail - 2);
    if (v <= 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return 0;
    if (v < 0xD800 || v > 0xDBFF)
        return 6;
    int low = avail >= 12 && u[6] == '\\' && u[7] == 'u' ? hex4(u + 8, avail - 8) : -1;
    return low >= 0xDC00 && low <= 0xDFFF ? 12 : 0;
}

/* Length of the UTF-8 sequence at u[0] >= 0x80, or 0 when jansson refuses
 * it: a stray continuation byte, an overlong form, a surrogate, a code
 * point past U+10FFFF. */
static size_t utf8_len(const unsigned char *u, size_t avail)
{
    size_t n;
    unsigned v;
    if (u[0] >= 0xC2 && u[0] <= 0xDF)
        n = 2, v = u[0] & 0x1F;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF)
        n = 3, v = u[0] & 0x0F;
    else if (u[0] >= 0xF0 && u[0] <= 0xF4)
        n = 4, v = u[0] & 0x07;
    else
        return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (u[i] < 0x80 || u[i] > 0xBF)
            return 0;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

/* The string at '"': past its closing quote; whether it had an escape. */
static int string(scan *s, bool *escaped)
{
    const unsigned char *u = (const unsigned char *)s->t;
    size_t p = s->p + 1;
    *escaped = false;
    for (;;) {
        while (p < s->len && u[p] >= 0x20 && u[p] < 0x80 && u[p] != '"' && u[p] != '\\')
            p++;
        if (p >= s->len || u[p] < 0x20)
            return -1;   /* cut short, or a control character */
        if (u[p] == '"')
            break;
        size_t n = u[p] == '\\' ? escape_len(u + p, s->len - p) : utf8_len(u + p, s->len - p);
        if (n == 0)
            return -1;
        *escaped = *escaped || u[p] == '\\';
        p += n;
    }
    s->p = p + 1;
    return 0;
}

/* A number as jansson lexes it; an integer strtoll might refuse (more
 * than 18 digits) or a real strtod might overflow is left to jansson. */
static int number(scan *s)
{
    size_t p = s->p;
    if (s->t[p] == '-')
        p++;
    size_t int_start = p;
    if (p < s->len && s->t[p] == '0') {
        if (is_digit(s, ++p))
            return -1;
    } else if (is_digit(s, p)) {
        while (is_digit(s, p))
            p++;
    } else {
        return -1;
    }
    size_t int_digits = p - int_start;
    bool real = false;
    if (p < s->len && s->t[p] == '.') {
        if (!is_digit(s, ++p))
            return -1;
        while (is_digit(s, p))
            p++;
        real = true;
    }
    if (p < s->len && (s->t[p] == 'e' || s->t[p] == 'E')) {
        p++;
        if (p < s->len && (s->t[p] == '+' || s->t[p] == '-'))
            p++;
        size_t exp_start = p;
        while (is_digit(s, p))
            p++;
        if (p == exp_start || p - exp_start > 2)
            return -1;
        real = true;
    }
    if (real ? int_digits > 200 : int_digits > 18)
        return -1;
    s->p = p;
    return 0;
}

static int literal(scan *s, const char *word)
{
    size_t n = strlen(word);
    if (s->len - s->p < n || memcmp(s->t + s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

/* The wanted member at key (klen bytes) of the object at path (plen
 * bytes; 0: the top object), or NULL. */
static il_jscan_member *wanted(scan *s, const char *path, size_t plen, const char *key,
                               size_t klen)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *w = s->want[i].path;
        if (plen > 0) {
            if (strncmp(w, path, plen) != 0 || w[plen] != '.')
                continue;
            w += plen + 1;
        }
        if (strlen(w) == klen && memcmp(w, key, klen) == 0)
            return &s->want[i];
    }
    return NULL;
}

/* The object at '{'.  Its keys are matched against the wanted paths when
 * it is the top object or a wanted member (self). */
static int object(scan *s, unsigned depth, bool top, il_jscan_member *self)
{
    bool on_path = top || self;
    const char *path = self ? self->path : "";
    size_t plen = strlen(path);
    bool strings_only = true;
    s->p++;
    skip_space(s);
    if (at(s, '}')) {
        s->p++;
    } else {
        for (;;) {
            skip_space(s);
            if (!at(s, '"'))
                return -1;
            size_t key = s->p + 1;
            bool escaped;
            if (string(s, &escaped) < 0)
                return -1;
            il_jscan_member *m = NULL;
            if (on_path) {
                if (escaped)
                    return -1;   /* it might spell a wanted key */
                m = wanted(s, path, plen, s->t + key, s->p - 1 - key);
            }
            skip_space(s);
            if (!at(s, ':'))
                return -1;
            s->p++;
            skip_space(s);
            if (s->p >= s->len)
                return -1;
            char first = s->t[s->p];
            if (value(s, depth + 1, m) < 0)
                return -1;
            strings_only = strings_only && (first == '"' || first == 'n');
            skip_space(s);
            if (at(s, ',')) {
                s->p++;
                continue;
            }
            if (!at(s, '}'))
                return -1;
            s->p++;
            break;
        }
    }
    if (self)
        self->strings_only = strings_only;
    return 0;
}

static int array(scan *s, unsigned depth)
{
    s->p++;
    skip_space(s);
    if (at(s, ']')) {
        s->p++;
        return 0;
    }
    for (;;) {
        skip_space(s);
        if (s->p >= s->len || value(s, depth + 1, NULL) < 0)
            return -1;
        skip_space(s);
        if (at(s, ']')) {
            s->p++;
            return 0;
        }
        if (!at(s, ','))
            return -1;
        s->p++;
    }
}

/* The value at s->p (not at the end); m: the wanted member it is, or NULL. */
static int value(scan *s, unsigned depth, il_jscan_member *m)
{
    if (depth > IL_JSON_SCAN_DEPTH || (m && m->kind != IL_JSCAN_ABSENT))
        return -1;   /* too deep to be sure, or a wanted member given twice */
    il_jscan_kind kind = IL_JSCAN_OTHER;
    size_t start = s->p + 1;
    bool escaped = false;
    int rc;
    switch (s->t[s->p]) {
    case '{':
        if (!m)
            return object(s, depth, false, NULL);
        m->kind = IL_JSCAN_OBJECT;   /* before its members: see a repeat in them */
        if (object(s, depth, false, m) < 0)
            return -1;
        m->value = s->t + start - 1;
        m->len = s->p - (start - 1);
        return 0;
    case '[':
        rc = array(s, depth);
        break;
    case '"':
        kind = IL_JSCAN_STRING;
        rc = string(s, &escaped);
        break;
    case 't':
        rc = literal(s, "true");
        break;
    case 'f':
        rc = literal(s, "false");
        break;
    case 'n':
        kind = IL_JSCAN_NULL;
        rc = literal(s, "null");
        break;
    default:
        rc = number(s);
        break;
    }
    if (rc == 0 && m) {
        m->kind = kind;
        if (kind == IL_JSCAN_STRING) {
            m->value = s->t + start;
            m->len = s->p - 1 - start;
            m->escaped = escaped;
        }
    }
    return rc;
}

int il_json_scan(const char *text, size_t len, il_jscan_member *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        want[i] = (il_jscan_member){.path = want[i].path};
    scan s = {.t = text, .len = len, .want = want, .n = n};
    skip_space(&s);
    if (s.p >= len)
        return -1;
    int rc = at(&s, '{') ? object(&s, 1, true, NULL) : value(&s, 1, NULL);
    if (rc < 0)
        return -1;
    skip_space(&s);
    return s.p == len ? 0 : -1;
}

char *il_jscan_strdup(const il_jscan_member *m)
{
    return m->kind == IL_JSCAN_STRING && !m->escaped ? il_xstrndup(m->value, m->len) : NULL;
}
