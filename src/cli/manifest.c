/* manifest.c -- `apply -f FILE` input: read YAML or JSON documents (JSON is
 * YAML), flatten `kind: List`, check the Pods, ConfigMaps and Secrets
 * enough to give messages that point at a document and line, and turn
 * Secret stringData into base64 data as the Kubernetes API server does. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "cli.h"
#include "yamljson.h"

#define MANIFEST_MAX_BYTES (64u << 20)

/* First line of every non-empty YAML document, so messages about a parsed
 * document can name the line it starts on.  il_yaml_load_all skips empty
 * documents; so does this. */
typedef struct doc_lines {
    int *first;               /* first content line of document i (1-based) */
    size_t n;
} doc_lines;

static bool is_content_line(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len || line[i] == '#')
        return false;
    return !(len - i >= 3 && strncmp(line + i, "...", 3) == 0);   /* document end marker */
}

static bool is_doc_start(const char *line, size_t len)
{
    return len >= 3 && strncmp(line, "---", 3) == 0 &&
           (len == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
}

static void scan_doc_lines(const char *data, size_t len, doc_lines *out)
{
    size_t cap = 8;
    out->first = il_xmalloc(cap * sizeof(int));
    out->n = 0;
    bool have_content = false;   /* current document already counted */
    int lineno = 0;
    size_t next;
    for (size_t pos = 0; pos < len; pos = next) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;
        next = pos + line_len + 1;
        lineno++;
        if (is_doc_start(line, line_len)) {
            have_content = false;
            line += 3;   /* "--- {json}" has content on the marker line */
            line_len -= 3;
        }
        if (!have_content && is_content_line(line, line_len)) {
            if (out->n == cap)
                out->first = il_xrealloc(out->first, (cap *= 2) * sizeof(int));
            out->first[out->n++] = lineno;
            have_content = true;
        }
    }
}

static int read_input(const char *file, il_buf *out)
{
    if (strcmp(file, "-") != 0) {
        if (il_read_file(file, MANIFEST_MAX_BYTES, out) == 0)
            return 0;
        cli_err("cannot read %s: %s", file, strerror(errno));
        return -1;
    }
    char chunk[65536];
    ssize_t n;
    while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || out->len + (size_t)n > MANIFEST_MAX_BYTES) {
            cli_err("cannot read standard input: %s", n < 0 ? strerror(errno) : "too large");
            return -1;
        }
        il_buf_append(out, chunk, (size_t)n);
    }
    return 0;
}

typedef struct loader {
    cli_manifest *m;
    const char *file;
    const char *default_ns;
} loader;

static const char *display_name(const char *file)
{
    return strcmp(file, "-") == 0 ? "<stdin>" : file;
}

static void where(const char *file, int doc, int line, char *out, size_t outlen)
{
    if (line > 0)
        snprintf(out, outlen, "%s: document %d: line %d: ", display_name(file), doc, line);
    else
        snprintf(out, outlen, "%s: document %d: ", display_name(file), doc);
}

void cli_object_where(const cli_object *o, char *out, size_t outlen)
{
    where(o->file, o->doc, o->line, out, outlen);
}

const char *cli_manifest_source(const cli_manifest *m)
{
    return m->n_files == 1 ? display_name(m->first_file) : "the given files";
}

static int fail(const loader *ld, int doc, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(const loader *ld, int doc, int line, const char *fmt, ...)
{
    char prefix[512];
    where(ld->file, doc, line, prefix, sizeof prefix);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "interlinkctl: %s", prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* Every value of obj[field] must be a string: Kubernetes rejects an
 * unquoted `port: 8080` in ConfigMap data, and so do we, earlier. */
static int check_string_map(const loader *ld, const cli_object *o, const char *field)
{
    json_t *map = json_object_get(o->obj, field);
    if (map == NULL || json_is_null(map))
        return 0;
    if (!json_is_object(map))
        return fail(ld, o->doc, o->line, "%s %s: %s: expected a mapping of strings", o->kind,
                    o->name, field);
    const char *key;
    json_t *value;
    json_object_foreach(map, key, value) {
        if (!json_is_string(value))
            return fail(ld, o->doc, o->line, "%s %s: %s.%s: expected a string (quote the value)",
                        o->kind, o->name, field, key);
    }
    return 0;
}

/* Base64 fields must decode, or the backend would fail much later. */
static int check_base64_map(const loader *ld, const cli_object *o, const char *field)
{
    if (check_string_map(ld, o, field) != 0)
        return -1;
    const char *key;
    json_t *value;
    json_object_foreach(json_object_get(o->obj, field), key, value) {
        size_t len;
        unsigned char *bytes = il_base64_decode(json_string_value(value), &len);
        if (!bytes)
            return fail(ld, o->doc, o->line,
                        "%s %s: %s.%s: not valid base64 (use stringData for plain text)", o->kind,
                        o->name, field, key);
        free(bytes);
    }
    return 0;
}

/* What the API server does on write: stringData entries are encoded into
 * data, overriding keys of the same name, and stringData disappears. */
static int normalize_secret(const loader *ld, const cli_object *o)
{
    if (check_base64_map(ld, o, "data") != 0 || check_string_map(ld, o, "stringData") != 0)
        return -1;
    json_t *string_data = json_object_get(o->obj, "stringData");
    if (!json_is_object(string_data) || json_object_size(string_data) == 0) {
        json_object_del(o->obj, "stringData");
        return 0;
    }
    json_t *data = json_object_get(o->obj, "data");
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(o->obj, "data", data);
    }
    const char *key;
    json_t *value;
    json_object_foreach(string_data, key, value) {
        const char *text = json_string_value(value);
        char *encoded = il_base64_encode((const unsigned char *)text, strlen(text));
        json_object_set_new(data, key, json_string(encoded));
        free(encoded);
    }
    json_object_del(o->obj, "stringData");
    return 0;
}

const cli_object *cli_manifest_find(const cli_manifest *m, const char *kind, const char *ns,
                                    const char *name) {
    for (size_t i = 0; i < m->n_objects; i++) {
        const cli_object *o = &m->objects[i];
        if (strcmp(o->kind, kind) == 0 && strcmp(o->ns, ns) == 0 && strcmp(o->name, name) == 0)
            return o;
    }
    return NULL;
}

static int check_object(const loader *ld, const cli_object *o)
{
    const cli_object *twin = cli_manifest_find(ld->m, o->kind, o->ns, o->name);
    if (twin)
        return fail(ld, o->doc, o->line, "%s %s/%s is already defined in %s document %d",
                    o->kind, o->ns, o->name, display_name(twin->file), twin->doc);
    if (strcmp(o->kind, "Secret") == 0)
        return normalize_secret(ld, o);
    if (strcmp(o->kind, "ConfigMap") == 0)
        return check_string_map(ld, o, "data") || check_base64_map(ld, o, "binaryData") ? -1 : 0;
    if (!json_is_object(json_object_get(o->obj, "spec")))
        return fail(ld, o->doc, o->line, "Pod %s: spec: required, with at least one container",
                    o->name);
    return 0;
}

static int add_object(loader *ld, json_t *obj, int doc, int line)
{
    if (!json_is_object(obj))
        return fail(ld, doc, line,
                    "expected a Kubernetes object (a mapping with apiVersion and kind)");
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!kind)
        return fail(ld, doc, line, "kind: required (Pod, ConfigMap, Secret or List)");
    if (strcmp(kind, "Pod") != 0 && strcmp(kind, "ConfigMap") != 0 && strcmp(kind, "Secret") != 0)
        return fail(
            ld, doc, line,
            "kind %s is not supported (interlinkctl applies Pod, ConfigMap, Secret and List)",
            kind);
    json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (!name || !*name)
        return fail(ld, doc, line, "%s: metadata.name: required", kind);
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    cli_object o = {.obj = obj, .kind = kind, .name = name, .ns = ns && *ns ? ns : ld->default_ns,
                    .file = ld->file, .doc = doc, .line = line};
    if (check_object(ld, &o) != 0)
        return -1;
    cli_manifest *m = ld->m;
    if (m->n_objects == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->objects = il_xrealloc(m->objects, m->cap * sizeof(cli_object));
    }
    m->objects[m->n_objects++] = o;
    return 0;
}

static int add_document(loader *ld, json_t *doc_json, int doc, int line)
{
    const char *kind = json_string_value(json_object_get(doc_json, "kind"));
    if (!kind || strcmp(kind, "List") != 0)
        return add_object(ld, doc_json, doc, line);
    json_t *items = json_object_get(doc_json, "items");
    if (!json_is_array(items))
        return fail(ld, doc, line, "List: items: expected a list of objects");
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        if (add_object(ld, item, doc, line) != 0)
            return -1;
    }
    return 0;
}

/* libyaml reports "line N: problem"; say which document that is too. */
static void report_parse_error(const char *file, const doc_lines *lines, const char *err)
{
    int line = 0, consumed = 0;
    if (sscanf(err, "line %d: %n", &line, &consumed) < 1 || consumed == 0) {
        cli_err("%s: %s", display_name(file), err);
        return;
    }
    int doc = 1;
    for (size_t i = 1; i < lines->n && lines->first[i] <= line; i++)
        doc = (int)i + 1;
    cli_err("%s: document %d: line %d: %s", display_name(file), doc, line, err + consumed);
}

static int load_documents(loader *ld, const il_buf *input)
{
    doc_lines lines;
    scan_doc_lines(input->data, input->len, &lines);
    char err[512];
    json_t *docs = il_yaml_load_all(input->data, input->len, err, sizeof err);
    int rc = 0;
    if (!docs) {
        report_parse_error(ld->file, &lines, err);
        rc = -1;
    } else if (json_array_size(docs) == 0) {
        cli_err("%s: no objects found", display_name(ld->file));
        rc = -1;
    }
    bool lines_match = docs && lines.n == json_array_size(docs);
    for (size_t i = 0; rc == 0 && i < json_array_size(docs); i++)
        rc =
            add_document(ld, json_array_get(docs, i), (int)i + 1, lines_match ? lines.first[i] : 0);
    if (docs)   /* objects point into docs, also after a failure */
        json_array_append_new(ld->m->docs, docs);
    free(lines.first);
    return rc;
}

void cli_manifest_init(cli_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->docs = json_array();
}

int cli_manifest_add_file(cli_manifest *m, const char *file, const char *default_ns)
{
    if (m->n_files++ == 0)
        m->first_file = file;
    loader ld = {.m = m, .file = file, .default_ns = default_ns};
    il_buf input = IL_BUF_INIT;
    int rc = read_input(file, &input);
    il_buf_puts(&input, "");   /* an empty input still gives a C string */
    if (rc == 0)
        rc = load_documents(&ld, &input);
    il_buf_free(&input);
    return rc;
}

void cli_manifest_free(cli_manifest *m)
{
    json_decref(m->docs);
    free(m->objects);
    memset(m, 0, sizeof *m);
}
