/* env.c -- container environment as the virtual kubelet sends it: every
 * valueFrom (configMapKeyRef, secretKeyRef, fieldRef) replaced by a plain
 * value and envFrom flattened into env entries, so a backend never needs
 * the Kubernetes API.  Kubernetes' precedence: envFrom sources in order
 * (a later source wins), then explicit env, which wins over all of them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void add_context(cli_resolver *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_context(cli_resolver *r, const char *fmt, ...)
{
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char *old = il_xstrdup(r->err);
    snprintf(r->err, r->errlen, "%s%s", prefix, old);
    free(old);
}

/* One valueFrom: a new JSON string, NULL for an optional reference that
 * is missing (the variable is then left out, as Kubernetes does), or NULL
 * with *failed set. */
static json_t *value_from(cli_resolver *r, json_t *from, bool *failed)
{
    static const struct { const char *field, *kind; } refs[] = {
        {"configMapKeyRef", "ConfigMap"}, {"secretKeyRef", "Secret"}};
    for (size_t i = 0; i < 2; i++) {
        json_t *ref = json_object_get(from, refs[i].field);
        if (!ref)
            continue;
        char *value = NULL;
        size_t len = 0;
        int rc = cli_ref_value(r, refs[i].kind, json_string_value(json_object_get(ref, "name")),
                               json_string_value(json_object_get(ref, "key")),
                               json_is_true(json_object_get(ref, "optional")), &value, &len);
        *failed = rc == CLI_REF_ERR;
        /* An environment variable ends at its first NUL anyway. */
        json_t *text = rc == CLI_REF_FOUND ? json_string(value) : NULL;
        free(value);
        if (rc == CLI_REF_FOUND && !text) {
            snprintf(r->err, r->errlen, "%s value is not UTF-8 text", refs[i].kind);
            *failed = true;
        }
        return text;
    }
    const char *field = json_string_value(json_object_get(json_object_get(from, "fieldRef"), "fieldPath"));
    char *value = field ? cli_field_ref_value(r, field) : NULL;
    if (!field)
        snprintf(r->err, r->errlen, "valueFrom: only configMapKeyRef, secretKeyRef and fieldRef are supported");
    *failed = value == NULL;
    json_t *text = value ? json_string(value) : NULL;
    free(value);
    return text;
}

/* Variables of envFrom sources into vars (name -> value), prefix applied. */
static int collect_env_from(cli_resolver *r, json_t *sources, json_t *vars)
{
    size_t i;
    json_t *src;
    json_array_foreach(sources, i, src) {
        json_t *ref = json_object_get(src, "configMapRef");
        const char *kind = ref ? "ConfigMap" : "Secret";
        if (!ref && !(ref = json_object_get(src, "secretRef")))
            continue;
        const char *name = json_string_value(json_object_get(ref, "name"));
        int rc;
        const cli_object *o =
            cli_ref_object(r, kind, name, json_is_true(json_object_get(ref, "optional")), &rc);
        if (rc == CLI_REF_ERR) {
            add_context(r, "envFrom: ");
            return -1;
        }
        const char *prefix = json_string_value(json_object_get(src, "prefix"));
        const char *key;
        json_t *ignored;
        json_object_foreach(o ? json_object_get(o->obj, "data") : NULL, key, ignored) {
            char *value = NULL;
            size_t len = 0;
            cli_ref_value(r, kind, name, key, false, &value, &len);
            char *var = il_xasprintf("%s%s", prefix ? prefix : "", key);
            json_t *text = json_string(value);
            if (text)
                json_object_set_new(vars, var, text);
            free(var);
            free(value);
        }
    }
    return 0;
}

/* Explicit env entries, resolved, appended to out; their names removed
 * from from_vars since explicit env wins. */
static int resolve_explicit(cli_resolver *r, json_t *env, json_t *from_vars, json_t *out)
{
    size_t i;
    json_t *var;
    json_array_foreach(env, i, var) {
        const char *name = json_string_value(json_object_get(var, "name"));
        json_t *from = json_object_get(var, "valueFrom");
        if (name)
            json_object_del(from_vars, name);
        if (!name || !from) {   /* plain values pass; il_pod_parse checks shapes */
            json_array_append(out, var);
            continue;
        }
        bool failed = false;
        json_t *value = value_from(r, from, &failed);
        if (failed) {
            add_context(r, "env %s: ", name);
            return -1;
        }
        if (value)
            json_array_append_new(out, json_pack("{s:s, s:o}", "name", name, "value", value));
    }
    return 0;
}

int cli_resolve_env(cli_resolver *r, json_t *container)
{
    json_t *from_vars = json_object();
    json_t *explicit_vars = json_array();
    int rc = collect_env_from(r, json_object_get(container, "envFrom"), from_vars);
    if (rc == 0)
        rc = resolve_explicit(r, json_object_get(container, "env"), from_vars, explicit_vars);
    if (rc == 0) {
        json_t *env = json_array();
        const char *name;
        json_t *value;
        json_object_foreach(from_vars, name, value)
            json_array_append_new(env, json_pack("{s:s, s:O}", "name", name, "value", value));
        json_array_extend(env, explicit_vars);
        if (json_array_size(env) > 0)
            json_object_set_new(container, "env", env);
        else
            json_decref(env);
        json_object_del(container, "envFrom");
    } else {
        const char *cname = json_string_value(json_object_get(container, "name"));
        add_context(r, "container %s: ", cname ? cname : "?");
    }
    json_decref(from_vars);
    json_decref(explicit_vars);
    return rc;
}
