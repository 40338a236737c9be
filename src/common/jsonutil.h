/* jsonutil.h -- typed access to jansson values with path-aware errors.
 *
 * Internal to src/common (pod.c, wire.c, config.c).  Every getter treats an
 * absent key and JSON null alike, as Go's encoding/json does, and on a type
 * mismatch writes "PATH: expected a string" (PATH like
 * "spec.containers[0].command[1]") into err and returns -1.  Strings with an
 * embedded NUL are rejected so that C code never silently truncates them. */
#ifndef IL_JSONUTIL_H
#define IL_JSONUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timeutil.h"

#define IL_JPATH_MAX 256

/* "parent.key" (or "key" when parent is "") and "parent[idx]". */
void il_jpath_key(char out[IL_JPATH_MAX], const char *parent, const char *key);
void il_jpath_idx(char out[IL_JPATH_MAX], const char *parent, size_t idx);

/* Write "path: <message>" into err; always returns -1 so callers can
 * `return il_jfail(...)`. */
int il_jfail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* obj[key], or NULL when obj is not an object, the key is absent or null. */
json_t *il_jget(const json_t *obj, const char *key);

/* Check the type of a value found at path (v may be NULL = absent: these
 * return 0 and leave *out at its "absent" value: NULL, def). */
int il_jas_string(json_t *v, const char *path, const char **out, char *err, size_t errlen);
int il_jas_int(json_t *v, const char *path, int64_t def, int64_t *out, char *err, size_t errlen);
int il_jas_bool(json_t *v, const char *path, bool def, bool *out, char *err, size_t errlen);
int il_jas_object(json_t *v, const char *path, json_t **out, char *err, size_t errlen);
int il_jas_array(json_t *v, const char *path, json_t **out, char *err, size_t errlen);

/* The same for obj[key], with path = parent.key in messages. */
int il_jstring(const json_t *obj, const char *parent, const char *key, const char **out,
               char *err, size_t errlen);
/* Like il_jstring but absent/null/"" is an error: "PATH: required". */
int il_jstring_req(const json_t *obj, const char *parent, const char *key, const char **out,
                   char *err, size_t errlen);
int il_jint(const json_t *obj, const char *parent, const char *key, int64_t def, int64_t *out,
            char *err, size_t errlen);
int il_jbool(const json_t *obj, const char *parent, const char *key, bool def, bool *out,
             char *err, size_t errlen);
int il_jobject(const json_t *obj, const char *parent, const char *key, json_t **out,
               char *err, size_t errlen);
int il_jarray(const json_t *obj, const char *parent, const char *key, json_t **out,
              char *err, size_t errlen);
/* obj[key] as an RFC 3339 time (absent, null or "": the zero time). */
int il_jtime(const json_t *obj, const char *parent, const char *key, il_time *out, char *err,
             size_t errlen);

/* The first object of list (an array or NULL) whose metadata.name is name. */
json_t *il_jfind_named(const json_t *list, const char *name);

#endif
