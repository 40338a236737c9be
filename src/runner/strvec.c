/* strvec.c -- growable NULL-terminated string vectors (argv, envp).
 *
 * Every string is owned by the vector; v is always NULL-terminated once
 * anything was pushed, so it can go straight to execve(). */
#include "runner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void strvec_take(strvec *sv, char *s)
{
    if (sv->n + 2 > sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 16;
        sv->v = il_xrealloc(sv->v, sv->cap * sizeof(*sv->v));
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

void rn_strvec_push(strvec *sv, const char *s)
{
    strvec_take(sv, il_xstrdup(s));
}

void rn_strvec_pushf(strvec *sv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int rc = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (rc < 0)
        abort();   /* only fails on out of memory, like il_xasprintf */
    strvec_take(sv, s);
}

void rn_strvec_push_all(strvec *sv, char *const *items)
{
    for (; items && *items; items++)
        rn_strvec_push(sv, *items);
}

bool rn_strvec_contains(const strvec *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

void rn_strvec_setenv(strvec *sv, const char *name, const char *value)
{
    size_t name_len = strlen(name);
    char *entry = il_xasprintf("%s=%s", name, value);
    for (size_t i = 0; i < sv->n; i++) {
        if (strncmp(sv->v[i], name, name_len) == 0 && sv->v[i][name_len] == '=') {
            free(sv->v[i]);
            sv->v[i] = entry;
            return;
        }
    }
    strvec_take(sv, entry);
}

void rn_strvec_free(strvec *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

json_t *rn_strvec_to_json(const strvec *sv)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < sv->n; i++)
        json_array_append_new(arr, json_string(sv->v[i]));
    return arr;
}

int rn_strvec_from_json(json_t *arr, strvec *out)
{
    if (!json_is_array(arr))
        return -1;
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        if (!json_is_string(item)) {
            rn_strvec_free(out);
            return -1;
        }
        rn_strvec_push(out, json_string_value(item));
    }
    return 0;
}
