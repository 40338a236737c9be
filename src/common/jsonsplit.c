/* jsonsplit.c -- the elements of a JSON array as byte ranges (see
 * jsonsplit.h). */
#include "jsonsplit.h"

#include <stdio.h>
#include <string.h>

static size_t skip_space(const char *t, size_t len, size_t p)
{
    while (p < len && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r'))
        p++;
    return p;
}

/* Where the value starting at p ends (exclusive): after its closing
 * bracket or quote, or at the ',', ']' or whitespace after a scalar.
 * Returns p itself when no value starts there and 0 when the value runs
 * past the end of the text (a string or bracket left open). */
static size_t value_end(const char *t, size_t len, size_t p)
{
    size_t depth = 0;
    bool in_string = false;
    for (; p < len; p++) {
        char c = t[p];
        if (in_string) {
            if (c == '\\')
                p++;   /* the escaped byte cannot end the string */
            else if (c == '"') {
                in_string = false;
                if (depth == 0)
                    return p + 1;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
            break;
        case ',':
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            if (depth == 0)
                return p;
            break;
        default:
            break;
        }
    }
    return in_string || depth > 0 ? 0 : len;
}

int il_json_split_begin(il_json_split *s, const char *text, size_t len)
{
    *s = (il_json_split){.text = text, .len = len};
    size_t p = skip_space(text, len, 0);
    if (p >= len || text[p] != '[')
        return -1;
    s->pos = p + 1;
    return 0;
}

/* At the closing bracket p: only whitespace may follow. */
static int finish(il_json_split *s, size_t p, char *err, size_t errlen)
{
    p = skip_space(s->text, s->len, p + 1);
    if (p < s->len) {
        snprintf(err, errlen, "unexpected text after the array at byte %zu", p);
        return -1;
    }
    s->done = true;
    return 0;
}

int il_json_split_next(il_json_split *s, const char **elem, size_t *len, char *err,
                       size_t errlen)
{
    if (s->done)
        return 0;
    const char *t = s->text;
    size_t p = skip_space(t, s->len, s->pos);
    if (p < s->len && t[p] == ']')
        return finish(s, p, err, errlen);
    if (s->count > 0) {
        if (p >= s->len || t[p] != ',') {
            snprintf(err, errlen, "expected ',' or ']' after element %zu (byte %zu)",
                     s->count - 1, p);
            return -1;
        }
        p = skip_space(t, s->len, p + 1);
    }
    size_t end = value_end(t, s->len, p);
    if (end <= p) {
        snprintf(err, errlen, p >= s->len || end == 0 ? "array cut short in element %zu"
                                                      : "missing element %zu (byte %zu)",
                 s->count, p);
        return -1;
    }
    *elem = t + p;
    *len = end - p;
    s->pos = end;
    s->count++;
    return 1;
}

/* ---- as the text arrives ------------------------------------------------------ */

void il_json_split_stream_init(il_json_split_stream *f)
{
    *f = (il_json_split_stream){.buf = IL_BUF_INIT};
}

/* Drop what was returned already, then append: the buffer holds at most
 * the element being received and one chunk. */
void il_json_split_stream_add(il_json_split_stream *f, const char *data, size_t len)
{
    size_t drop = !f->begun ? 0 : f->sp.done ? f->end : f->sp.pos;
    if (drop > 0) {
        memmove(f->buf.data, f->buf.data + drop, f->buf.len - drop);
        f->buf.len -= drop;
        f->sp.pos -= f->sp.done ? 0 : drop;
        f->end -= f->sp.done ? drop : 0;
    }
    il_buf_append(&f->buf, data, len);
}

static bool all_space(const char *t, size_t len, size_t p)
{
    return skip_space(t, len, p) == len;
}

int il_json_split_stream_next(il_json_split_stream *f, bool eof, const char **elem,
                              size_t *len, char *err, size_t errlen)
{
    const char *t = f->buf.data;
    size_t n = f->buf.len;
    if (!f->begun) {
        if (il_json_split_begin(&f->sp, t, n) == 0)
            f->begun = true;
        else if (!eof && all_space(t, n, 0))
            return 0;
        else {
            snprintf(err, errlen, "not a JSON array");
            return -1;
        }
    }
    if (f->sp.done) {   /* only whitespace may follow, however it comes */
        if (all_space(t, n, f->end))
            return 0;
        snprintf(err, errlen, "unexpected text after the array");
        return -1;
    }
    il_json_split at = f->sp;
    f->sp.text = t;
    f->sp.len = n;
    int r = il_json_split_next(&f->sp, elem, len, err, errlen);
    if (r == 0) {   /* the ']' is at the first non-space byte from the last element */
        f->end = skip_space(t, n, at.pos) + 1;
        return 0;
    }
    /* Not yet decidable: the text may continue (an element or the ']' not
     * whole, or a scalar that the next byte would lengthen). */
    bool open_end = r == 1 && *elem + *len == t + n && !memchr("}]\"", (*elem)[*len - 1], 3);
    if (!eof && (r < 0 || open_end)) {
        f->sp = at;
        return 0;
    }
    return r;
}

void il_json_split_stream_free(il_json_split_stream *f)
{
    il_buf_free(&f->buf);
}

/* ---- joining ------------------------------------------------------------------ */

void il_json_join_add(il_buf *b, const char *elem, size_t len)
{
    il_buf_append(b, b->len ? "," : "[", 1);
    il_buf_append(b, elem, len);
}

static int append_dump(const char *chunk, size_t len, void *b)
{
    il_buf_append(b, chunk, len);
    return 0;
}

void il_json_join_add_json(il_buf *b, const json_t *json)
{
    il_buf_append(b, b->len ? "," : "[", 1);
    json_dump_callback(json, append_dump, b, JSON_COMPACT | JSON_ENCODE_ANY);
}

void il_json_join_end(il_buf *b)
{
    il_buf_append(b, b->len ? "]" : "[]", b->len ? 1 : 2);
}
