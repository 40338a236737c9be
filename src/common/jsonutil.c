/* jsonutil.c -- typed jansson getters with field-path error messages.
 *
 * Owns the one place where "what type did the JSON have" is checked, so the
 * pod, wire and config parsers all produce identical, path-qualified
 * messages ("spec.containers[0].command[1]: expected a string"). */
#include "jsonutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void il_jpath_key(char out[IL_JPATH_MAX], const char *parent, const char *key)
{
    if (parent && *parent)
        snprintf(out, IL_JPATH_MAX, "%s.%s", parent, key);
    else
        snprintf(out, IL_JPATH_MAX, "%s", key);
}

void il_jpath_idx(char out[IL_JPATH_MAX], const char *parent, size_t idx)
{
    snprintf(out, IL_JPATH_MAX, "%s[%zu]", parent ? parent : "", idx);
}

int il_jfail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return -1;
    int n = snprintf(err, errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

json_t *il_jget(const json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

int il_jas_string(json_t *v, const char *path, const char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return il_jfail(err, errlen, path, "expected a string");
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return il_jfail(err, errlen, path, "string contains a NUL byte");
    *out = s;
    return 0;
}

int il_jas_int(json_t *v, const char *path, int64_t def, int64_t *out, char *err, size_t errlen)
{
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return il_jfail(err, errlen, path, "expected an integer");
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int il_jas_bool(json_t *v, const char *path, bool def, bool *out, char *err, size_t errlen)
{
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return il_jfail(err, errlen, path, "expected a boolean");
    *out = json_is_true(v);
    return 0;
}

int il_jas_object(json_t *v, const char *path, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return il_jfail(err, errlen, path, "expected an object");
    *out = v;
    return 0;
}

int il_jas_array(json_t *v, const char *path, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return il_jfail(err, errlen, path, "expected an array");
    *out = v;
    return 0;
}

int il_jstring(const json_t *obj, const char *parent, const char *key, const char **out,
               char *err, size_t errlen)
{
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    return il_jas_string(il_jget(obj, key), path, out, err, errlen);
}

int il_jstring_req(const json_t *obj, const char *parent, const char *key, const char **out,
                   char *err, size_t errlen)
{
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    if (il_jas_string(il_jget(obj, key), path, out, err, errlen) < 0)
        return -1;
    if (!*out || !**out)
        return il_jfail(err, errlen, path, "required");
    return 0;
}

int il_jint(const json_t *obj, const char *parent, const char *key, int64_t def, int64_t *out,
            char *err, size_t errlen)
{
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    return il_jas_int(il_jget(obj, key), path, def, out, err, errlen);
}

int il_jbool(const json_t *obj, const char *parent, const char *key, bool def, bool *out,
             char *err, size_t errlen)
{
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    return il_jas_bool(il_jget(obj, key), path, def, out, err, errlen);
}

int il_jobject(const json_t *obj, const char *parent, const char *key, json_t **out,
               char *err, size_t errlen)
{
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    return il_jas_object(il_jget(obj, key), path, out, err, errlen);
}

int il_jarray(const json_t *obj, const char *parent, const char *key, json_t **out,
              char *err, size_t errlen)
{
    char path[IL_JPATH_MAX];
    il_jpath_key(path, parent, key);
    return il_jas_array(il_jget(obj, key), path, out, err, errlen);
}

int il_jtime(const json_t *obj, const char *parent, const char *key, il_time *out, char *err,
             size_t errlen)
{
    const char *s;
    if (il_jstring(obj, parent, key, &s, err, errlen) < 0)
        return -1;
    if (il_time_parse(s, out) < 0) {
        char path[IL_JPATH_MAX];
        il_jpath_key(path, parent, key);
        return il_jfail(err, errlen, path, "invalid RFC 3339 time \"%s\"", s);
    }
    return 0;
}

json_t *il_jfind_named(const json_t *list, const char *name)
{
    size_t i;
    json_t *item;
    if (!name)
        return NULL;
    json_array_foreach(list, i, item) {
        const char *n = json_string_value(il_jget(il_jget(item, "metadata"), "name"));
        if (n && !strcmp(n, name))
            return item;
    }
    return NULL;
}
