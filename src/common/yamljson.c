/* yamljson.c -- YAML streams to jansson values, on libyaml's event parser.
 *
 * Owns scalar resolution (which plain scalars are null, bool, int, float),
 * anchors/aliases and the guards against hostile input: a nesting depth
 * limit (the builder is recursive) and a node budget that counts alias
 * expansions, so a "billion laughs" document fails instead of producing a
 * value whose serialization would never end.
 *
 * Resolution follows YAML 1.2's core schema with one yaml.v2 (Kubernetes)
 * twist: a leading-zero integer such as 0644 is octal, because pod manifests
 * write file modes that way and kubectl reads them as octal (and, as in
 * yaml.v2, "09" is then not an integer but the float 9).  Merge keys ("<<")
 * are not expanded; YAML 1.1 booleans (yes/no/on/off) stay strings. */
#include "yamljson.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util.h"

#define YAML_MAX_DEPTH 200
#define YAML_MAX_NODES 4000000
#define YAML_MAX_FILE (64 * 1024 * 1024)

typedef struct anchor {
    char *name;
    json_t *value;        /* one reference held */
    size_t size;          /* nodes under it, charged again on every alias */
} anchor;

typedef struct builder {
    yaml_parser_t parser;
    anchor *anchors;
    size_t nanchors;
    size_t nodes;
    char *err;
    size_t errlen;
} builder;

static int fail(builder *b, const yaml_mark_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(builder *b, const yaml_mark_t *mark, const char *fmt, ...)
{
    if (!b->err || b->errlen == 0)
        return -1;
    int n = snprintf(b->err, b->errlen, "line %zu: ", mark->line + 1);
    if (n < 0 || (size_t)n >= b->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Next event, or -1 with libyaml's own message. */
static int next_event(builder *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev))
        return 0;
    const char *problem = b->parser.problem ? b->parser.problem : "malformed YAML";
    if (b->parser.context)
        return fail(b, &b->parser.problem_mark, "%s %s", b->parser.context, problem);
    return fail(b, &b->parser.problem_mark, "%s", problem);
}

/* ---- scalar resolution ------------------------------------------------- */

static bool is_null_word(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static int bool_word(const char *s)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return 0;
    return -1;
}

static bool all_digits(const char *s, const char *set)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr(set, *s))
            return false;
    return true;
}

/* Integer forms: [-+]?[0-9]+ (octal when it has a leading 0), 0x.., 0o..
 * Returns a json integer, or NULL if s is not an integer that fits. */
static json_t *resolve_int(const char *s)
{
    const char *p = s;
    bool negative = false;
    if (*p == '-' || *p == '+')
        negative = *p++ == '-';
    int base = 10;
    const char *digits = p;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        digits = p + 2;
    } else if (p[0] == '0' && p[1] == 'o') {
        base = 8;
        digits = p + 2;
    } else if (p[0] == '0' && p[1]) {
        base = 8;
        digits = p + 1;
    }
    const char *set = base == 16 ? "0123456789abcdefABCDEF" : base == 8 ? "01234567" : "0123456789";
    if (!all_digits(digits, set))
        return NULL;
    errno = 0;
    unsigned long long u = strtoull(digits, NULL, base);
    if (errno == ERANGE || u > (unsigned long long)INT64_MAX + (negative ? 1 : 0))
        return NULL;
    json_int_t v = negative ? (json_int_t)(0 - u) : (json_int_t)u;
    return json_integer(v);
}

/* [-+]? ( .digits | digits[.digits?] ) ([eE][-+]?digits)?  -> real. */
static json_t *resolve_float(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t mantissa_digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, mantissa_digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            mantissa_digits++;
    if (mantissa_digits == 0)
        return NULL;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return NULL;
    double d = strtod(s, NULL);
    return json_real(d);   /* NULL for inf/nan (JSON has neither): stays a string */
}

static json_t *resolve_plain(const char *s)
{
    if (is_null_word(s))
        return json_null();
    int b = bool_word(s);
    if (b >= 0)
        return json_boolean(b);
    json_t *v = resolve_int(s);
    if (!v)
        v = resolve_float(s);
    return v ? v : json_string(s);
}

static json_t *scalar_value(builder *b, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool is_str_tag = tag && !strcmp(tag, YAML_STR_TAG);
    json_t *v;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || is_str_tag)
        v = json_stringn(s, len);
    else
        v = resolve_plain(s);
    if (!v)
        fail(b, &ev->start_mark, "scalar is not valid UTF-8");
    return v;
}

/* ---- anchors ----------------------------------------------------------- */

static void anchor_add(builder *b, const char *name, json_t *value, size_t size)
{
    b->anchors = il_xrealloc(b->anchors, (b->nanchors + 1) * sizeof *b->anchors);
    b->anchors[b->nanchors++] = (anchor){il_xstrdup(name), json_incref(value), size};
}

/* Latest definition wins: YAML allows redefining an anchor. */
static const anchor *anchor_find(const builder *b, const char *name)
{
    for (size_t i = b->nanchors; i-- > 0;)
        if (!strcmp(b->anchors[i].name, name))
            return &b->anchors[i];
    return NULL;
}

static void anchors_clear(builder *b)
{
    for (size_t i = 0; i < b->nanchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].value);
    }
    free(b->anchors);
    b->anchors = NULL;
    b->nanchors = 0;
}

/* ---- tree building ----------------------------------------------------- */

static json_t *build_node(builder *b, yaml_event_t *ev, int depth);

static int charge(builder *b, const yaml_mark_t *mark, size_t n)
{
    b->nodes += n;
    if (b->nodes > YAML_MAX_NODES)
        return fail(b, mark, "document too large (more than %d nodes after alias expansion)",
                    YAML_MAX_NODES);
    return 0;
}

static json_t *build_alias(builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const anchor *a = anchor_find(b, name);
    if (!a) {
        fail(b, &ev->start_mark, "unknown anchor \"%s\"", name);
        return NULL;
    }
    if (charge(b, &ev->start_mark, a->size) < 0)
        return NULL;
    return json_incref(a->value);
}

static json_t *build_sequence(builder *b, int depth)
{
    json_t *arr = json_array();
    for (;;) {
        yaml_event_t ev;
        if (next_event(b, &ev) < 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        json_t *item = build_node(b, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!item)
            break;
        json_array_append_new(arr, item);
    }
    json_decref(arr);
    return NULL;
}

/* Keys must be scalars; their text is the key whatever it resolves to
 * ("1: x" has key "1"). */
static int mapping_entry(builder *b, json_t *obj, yaml_event_t *key_ev, int depth)
{
    if (key_ev->type != YAML_SCALAR_EVENT)
        return fail(b, &key_ev->start_mark, "mapping keys must be scalars");
    const char *key = (const char *)key_ev->data.scalar.value;
    if (strlen(key) != key_ev->data.scalar.length)
        return fail(b, &key_ev->start_mark, "mapping key contains a NUL byte");
    if (json_object_get(obj, key))
        return fail(b, &key_ev->start_mark, "duplicate key \"%s\"", key);
    yaml_event_t ev;
    if (next_event(b, &ev) < 0)
        return -1;
    json_t *value = build_node(b, &ev, depth + 1);
    yaml_event_delete(&ev);
    if (!value)
        return -1;
    if (json_object_set_new(obj, key, value) < 0)
        return fail(b, &key_ev->start_mark, "mapping key is not valid UTF-8");
    return 0;
}

static json_t *build_mapping(builder *b, int depth)
{
    json_t *obj = json_object();
    for (;;) {
        yaml_event_t key_ev;
        if (next_event(b, &key_ev) < 0)
            break;
        if (key_ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&key_ev);
            return obj;
        }
        int rc = mapping_entry(b, obj, &key_ev, depth);
        yaml_event_delete(&key_ev);
        if (rc < 0)
            break;
    }
    json_decref(obj);
    return NULL;
}

/* Build the node that starts with *ev (owned by the caller).  Returns a
 * new reference or NULL with the error set. */
static json_t *build_node(builder *b, yaml_event_t *ev, int depth)
{
    if (depth > YAML_MAX_DEPTH) {
        fail(b, &ev->start_mark, "nesting deeper than %d levels", YAML_MAX_DEPTH);
        return NULL;
    }
    if (ev->type == YAML_ALIAS_EVENT)
        return build_alias(b, ev);
    if (charge(b, &ev->start_mark, 1) < 0)
        return NULL;
    size_t nodes_before = b->nodes;
    const yaml_char_t *anchor_name = NULL;
    json_t *v = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor_name = ev->data.scalar.anchor;
        v = scalar_value(b, ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor_name = ev->data.sequence_start.anchor;
        v = build_sequence(b, depth);
        break;
    case YAML_MAPPING_START_EVENT:
        anchor_name = ev->data.mapping_start.anchor;
        v = build_mapping(b, depth);
        break;
    default:
        fail(b, &ev->start_mark, "unexpected YAML event");
        return NULL;
    }
    if (v && anchor_name)
        anchor_add(b, (const char *)anchor_name, v, b->nodes - nodes_before + 1);
    return v;
}

/* One document after its DOCUMENT-START event: root node + DOCUMENT-END. */
static json_t *build_document(builder *b)
{
    yaml_event_t ev;
    if (next_event(b, &ev) < 0)
        return NULL;
    json_t *root = build_node(b, &ev, 0);
    yaml_event_delete(&ev);
    if (!root)
        return NULL;
    if (next_event(b, &ev) < 0) {
        json_decref(root);
        return NULL;
    }
    yaml_event_delete(&ev);   /* DOCUMENT-END: the parser guarantees it */
    anchors_clear(b);         /* anchors do not cross documents */
    return root;
}

json_t *il_yaml_load_all(const char *data, size_t len, char *err, size_t errlen)
{
    builder b = {.err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    yaml_parser_initialize(&b.parser);
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)data, len);
    json_t *docs = json_array();
    for (;;) {
        yaml_event_t ev;
        if (next_event(&b, &ev) < 0)
            goto fail;
        yaml_event_type_t type = ev.type;
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            break;
        if (type != YAML_DOCUMENT_START_EVENT)
            continue;   /* STREAM-START */
        json_t *doc = build_document(&b);
        if (!doc)
            goto fail;
        if (json_is_null(doc))
            json_decref(doc);
        else
            json_array_append_new(docs, doc);
    }
    anchors_clear(&b);
    yaml_parser_delete(&b.parser);
    return docs;
fail:
    anchors_clear(&b);
    yaml_parser_delete(&b.parser);
    json_decref(docs);
    return NULL;
}

json_t *il_yaml_load_file_all(const char *path, char *err, size_t errlen)
{
    il_buf buf = IL_BUF_INIT;
    if (il_read_file(path, YAML_MAX_FILE, &buf) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        il_buf_free(&buf);
        return NULL;
    }
    json_t *docs = il_yaml_load_all(il_buf_cstr(&buf), buf.len, err, errlen);
    il_buf_free(&buf);
    return docs;
}

json_t *il_yaml_load_one(const char *data, size_t len, char *err, size_t errlen)
{
    json_t *docs = il_yaml_load_all(data, len, err, errlen);
    if (!docs)
        return NULL;
    json_t *doc = NULL;
    if (json_array_size(docs) == 0) {
        doc = json_object();
    } else if (json_array_size(docs) == 1) {
        doc = json_incref(json_array_get(docs, 0));
    } else {
        snprintf(err, errlen, "line 1: expected a single YAML document, found %zu",
                 json_array_size(docs));
    }
    json_decref(docs);
    return doc;
}
