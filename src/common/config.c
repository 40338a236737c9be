/* config.c -- fill a component's config struct from its il_cfg_field table.
 *
 * Owns the precedence rules (default < YAML file < environment), the
 * mapping from YAML values to C types, and unknown-key warnings.  Each
 * field's storage is addressed by offset into the caller's struct; the
 * strings and lists stored there are heap copies owned by the struct and
 * released by il_config_free(). */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "quantity.h"
#include "util.h"
#include "yamljson.h"

#define CONFIG_MAX_FILE (4 * 1024 * 1024)

static void *field_ptr(const il_cfg_field *f, void *target)
{
    return (char *)target + f->offset;
}

static void strlist_free(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

/* Release what the field holds and zero it. */
static void field_clear(const il_cfg_field *f, void *target)
{
    void *p = field_ptr(f, target);
    switch (f->type) {
    case IL_CFG_STRING:
        free(*(char **)p);
        *(char **)p = NULL;
        break;
    case IL_CFG_BOOL:
        *(bool *)p = false;
        break;
    case IL_CFG_INT:
    case IL_CFG_SIZE:
        *(int64_t *)p = 0;
        break;
    case IL_CFG_STRLIST:
        strlist_free(*(char ***)p);
        *(char ***)p = NULL;
        break;
    case IL_CFG_JSON:
        json_decref(*(json_t **)p);
        *(json_t **)p = NULL;
        break;
    }
}

/* Zero the field without freeing: the struct may hold garbage on entry. */
static void field_init(const il_cfg_field *f, void *target)
{
    void *p = field_ptr(f, target);
    switch (f->type) {
    case IL_CFG_STRING:  *(char **)p = NULL; break;
    case IL_CFG_BOOL:    *(bool *)p = false; break;
    case IL_CFG_INT:
    case IL_CFG_SIZE:    *(int64_t *)p = 0; break;
    case IL_CFG_STRLIST: *(char ***)p = NULL; break;
    case IL_CFG_JSON:    *(json_t **)p = NULL; break;
    }
}

static const char *type_name(il_cfg_type t)
{
    switch (t) {
    case IL_CFG_STRING:  return "string";
    case IL_CFG_BOOL:    return "bool";
    case IL_CFG_INT:     return "int";
    case IL_CFG_SIZE:    return "size";
    case IL_CFG_STRLIST: return "list";
    case IL_CFG_JSON:    return "yaml";
    }
    return "?";
}

/* ---- values from strings (defaults, environment, flags) ---------------- */

static int parse_bool(const char *s, bool *out)
{
    if (!strcasecmp(s, "true") || !strcmp(s, "1")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcmp(s, "0")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* "a,b,,c" -> {"a","b","c",NULL}: empty items are dropped. */
static char **split_list(const char *s)
{
    size_t n = 0;
    char **list = il_xcalloc(strlen(s) + 2, sizeof *list);
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len)
            list[n++] = il_xstrndup(s, len);
        s += len;
        if (*s == ',')
            s++;
    }
    list[n] = NULL;
    return list;
}

int il_config_set(const il_cfg_field *f, void *target, const char *value, char *err,
                  size_t errlen)
{
    void *p = field_ptr(f, target);
    bool b;
    int64_t i;
    switch (f->type) {
    case IL_CFG_STRING:
        field_clear(f, target);
        *(char **)p = il_xstrdup(value);
        return 0;
    case IL_CFG_BOOL:
        if (parse_bool(value, &b) < 0)
            break;
        *(bool *)p = b;
        return 0;
    case IL_CFG_INT:
        if (il_parse_int64(value, &i) < 0)
            break;
        *(int64_t *)p = i;
        return 0;
    case IL_CFG_SIZE:
        if (il_quantity_value(value, &i) < 0)
            break;
        *(int64_t *)p = i;
        return 0;
    case IL_CFG_STRLIST:
        field_clear(f, target);
        *(char ***)p = split_list(value);
        return 0;
    case IL_CFG_JSON: {
        json_t *j = json_loads(value, JSON_DECODE_ANY, NULL);
        if (!j)
            break;
        field_clear(f, target);
        *(json_t **)p = j;
        return 0;
    }
    }
    snprintf(err, errlen, "%s: invalid %s \"%s\"", f->key, type_name(f->type), value);
    return -1;
}

/* ---- values from YAML -------------------------------------------------- */

char *il_config_scalar_text(const json_t *v)
{
    if (json_is_string(v))
        return il_xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return il_xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return il_xasprintf("%.17g", json_real_value(v));
    if (json_is_boolean(v))
        return il_xstrdup(json_is_true(v) ? "true" : "false");
    return NULL;
}

static char **json_to_strlist(const json_t *v)
{
    if (!json_is_array(v))
        return NULL;
    char **list = il_xcalloc(json_array_size(v) + 1, sizeof *list);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        if (!json_is_string(item)) {
            strlist_free(list);
            return NULL;
        }
        list[i] = il_xstrdup(json_string_value(item));
    }
    return list;
}

static int size_from_json(const json_t *v, int64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    return json_is_string(v) ? il_quantity_value(json_string_value(v), out) : -1;
}

static int apply_json(const il_cfg_field *f, void *target, const json_t *v, const char *file,
                      char *err, size_t errlen)
{
    void *p = field_ptr(f, target);
    const char *expected = NULL;
    switch (f->type) {
    case IL_CFG_STRING: {
        char *s = il_config_scalar_text(v);
        if (!s) {
            expected = "a string";
            break;
        }
        field_clear(f, target);
        *(char **)p = s;
        return 0;
    }
    case IL_CFG_BOOL:
        if (!json_is_boolean(v)) {
            expected = "a boolean";
            break;
        }
        *(bool *)p = json_is_true(v);
        return 0;
    case IL_CFG_INT:
        if (!json_is_integer(v)) {
            expected = "an integer";
            break;
        }
        *(int64_t *)p = json_integer_value(v);
        return 0;
    case IL_CFG_SIZE:
        if (size_from_json(v, (int64_t *)p) < 0)
            expected = "a size (bytes or a quantity such as \"16Mi\")";
        else
            return 0;
        break;
    case IL_CFG_STRLIST: {
        char **list = json_to_strlist(v);
        if (!list) {
            expected = "a list of strings";
            break;
        }
        field_clear(f, target);
        *(char ***)p = list;
        return 0;
    }
    case IL_CFG_JSON:
        field_clear(f, target);
        *(json_t **)p = json_deep_copy(v);
        return 0;
    }
    snprintf(err, errlen, "%s: %s: expected %s", file, f->key, expected);
    return -1;
}

/* Walk a dotted key through nested mappings.  *out is NULL when a level is
 * absent or null; a level that is not a mapping is an error. */
static int lookup_dotted(const json_t *root, const char *key, const char *file,
                         const json_t **out, char *err, size_t errlen)
{
    const json_t *node = root;
    const char *part = key;
    *out = NULL;
    for (;;) {
        size_t len = strcspn(part, ".");
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)len, part);
        const json_t *child = json_object_get(node, name);
        if (!child || json_is_null(child))
            return 0;
        if (!part[len]) {
            *out = child;
            return 0;
        }
        if (!json_is_object(child)) {
            snprintf(err, errlen, "%s: %.*s: expected a mapping", file,
                     (int)(part - key + (ptrdiff_t)len), key);
            return -1;
        }
        node = child;
        part += len + 1;
    }
}

/* ---- unknown keys ------------------------------------------------------ */

typedef enum { KEY_UNKNOWN, KEY_FIELD, KEY_PARENT } key_kind;

static key_kind classify_key(const char *path, const il_cfg_field *fields, size_t nfields)
{
    size_t len = strlen(path);
    key_kind kind = KEY_UNKNOWN;
    for (size_t i = 0; i < nfields; i++) {
        if (!strcmp(fields[i].key, path))
            return KEY_FIELD;
        if (!strncmp(fields[i].key, path, len) && fields[i].key[len] == '.')
            kind = KEY_PARENT;
    }
    return kind;
}

/* Warn about every key of obj (at dotted prefix) that no field uses. */
static void warn_unknown(const json_t *obj, const char *prefix, const il_cfg_field *fields,
                         size_t nfields, const char *file)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v) {
        char *path = *prefix ? il_xasprintf("%s.%s", prefix, name) : il_xstrdup(name);
        key_kind kind = classify_key(path, fields, nfields);
        if (kind == KEY_UNKNOWN)
            il_warn("config %s: unknown key %s (ignored)", file, path);
        else if (kind == KEY_PARENT && json_is_object(v))
            warn_unknown(v, path, fields, nfields, file);
        free(path);
    }
}

/* ---- load -------------------------------------------------------------- */

static int load_file(const char *path, const il_cfg_field *fields, size_t nfields,
                     void *target, char *err, size_t errlen)
{
    il_buf buf = IL_BUF_INIT;
    if (il_read_file(path, CONFIG_MAX_FILE, &buf) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        il_buf_free(&buf);
        return -1;
    }
    char yerr[256];
    json_t *root = il_yaml_load_one(il_buf_cstr(&buf), buf.len, yerr, sizeof yerr);
    il_buf_free(&buf);
    if (!root) {
        snprintf(err, errlen, "%s: %s", path, yerr);
        return -1;
    }
    int rc = 0;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: expected a mapping at the top level", path);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < nfields; i++) {
        const json_t *v;
        rc = lookup_dotted(root, fields[i].key, path, &v, err, errlen);
        if (rc == 0 && v)
            rc = apply_json(&fields[i], target, v, path, err, errlen);
    }
    if (rc == 0)
        warn_unknown(root, "", fields, nfields, path);
    json_decref(root);
    return rc;
}

static int load_env(const il_cfg_field *fields, size_t nfields, void *target, char *err,
                    size_t errlen)
{
    for (size_t i = 0; i < nfields; i++) {
        const char *value = fields[i].env ? getenv(fields[i].env) : NULL;
        if (!value || !*value)
            continue;
        char ferr[256];
        if (il_config_set(&fields[i], target, value, ferr, sizeof ferr) < 0) {
            snprintf(err, errlen, "environment %s: %s", fields[i].env, ferr);
            return -1;
        }
    }
    return 0;
}

int il_config_load(const char *path, const il_cfg_field *fields, size_t nfields, void *target,
                   char *err, size_t errlen)
{
    for (size_t i = 0; i < nfields; i++)
        field_init(&fields[i], target);
    for (size_t i = 0; i < nfields; i++) {
        if (fields[i].def && il_config_set(&fields[i], target, fields[i].def, err, errlen) < 0)
            goto fail;   /* a bad default is a programming error; report it */
    }
    if (path && load_file(path, fields, nfields, target, err, errlen) < 0)
        goto fail;
    if (load_env(fields, nfields, target, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    il_config_free(fields, nfields, target);
    return -1;
}

void il_config_free(const il_cfg_field *fields, size_t nfields, void *target)
{
    for (size_t i = 0; i < nfields; i++)
        field_clear(&fields[i], target);
}

void il_config_print_help(FILE *out, const il_cfg_field *fields, size_t nfields)
{
    int wkey = 3, wenv = 3, wdef = 7;
    for (size_t i = 0; i < nfields; i++) {
        int k = (int)strlen(fields[i].key);
        int e = fields[i].env ? (int)strlen(fields[i].env) : 1;
        int d = fields[i].def ? (int)strlen(fields[i].def) + 2 : 1;
        wkey = k > wkey ? k : wkey;
        wenv = e > wenv ? e : wenv;
        wdef = d > wdef ? d : wdef;
    }
    fprintf(out, "%-*s  %-*s  %-6s  %-*s  %s\n", wkey, "KEY", wenv, "ENV", "TYPE", wdef,
            "DEFAULT", "DESCRIPTION");
    for (size_t i = 0; i < nfields; i++) {
        const il_cfg_field *f = &fields[i];
        char *def = f->def ? il_xasprintf("\"%s\"", f->def) : il_xstrdup("-");
        fprintf(out, "%-*s  %-*s  %-6s  %-*s  %s\n", wkey, f->key, wenv, f->env ? f->env : "-",
                type_name(f->type), wdef, def, f->doc ? f->doc : "");
        free(def);
    }
}
