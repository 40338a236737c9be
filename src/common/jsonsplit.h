/* jsonsplit.h -- the elements of a JSON array as byte ranges, unparsed.
 *
 * A 10,000-pod /status body is a few megabytes of text but tens of
 * megabytes as a jansson tree (about 13 bytes of heap per byte of JSON).
 * Splitting the array first lets a caller parse, check and drop one element
 * at a time, and forward an element's bytes as received.
 *
 * The splitter checks the array's own syntax ('[', elements separated by
 * ',', ']', nothing but whitespace after it) and finds where each element
 * ends by tracking strings and brackets only: whether an element is valid
 * JSON is for the caller's parser to say (json_loadb on the range). */
#ifndef IL_JSONSPLIT_H
#define IL_JSONSPLIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef struct il_json_split {
    const char *text;
    size_t len;
    size_t pos;               /* after '[' or after the last element */
    size_t count;             /* elements returned so far */
    bool done;
} il_json_split;

/* Start on text (not NUL-terminated; borrowed until the last call).
 * Returns 0 when it begins, after whitespace, with '['; -1 otherwise (the
 * text is not an array; the caller decides what to tell). */
int il_json_split_begin(il_json_split *s, const char *text, size_t len);
/* The next element, without surrounding whitespace: 1 with *elem and *len;
 * 0 after the closing ']'; -1 with err when the array is malformed (a
 * missing ',' or ']', an element cut short, text after the array). */
int il_json_split_next(il_json_split *s, const char **elem, size_t *len, char *err,
                       size_t errlen);


/* ---- as the text arrives ------------------------------------------------- */

/* The same over a text received in pieces (an answer read from a stream):
 * the elements are taken as soon as they are whole, and only the bytes of
 * the one not yet whole are kept, so a list of megabytes is never in
 * memory at once.  Whether the array is well formed is known for sure only
 * at its end: an error may be reported late, after earlier elements were
 * returned. */
typedef struct il_json_split_stream {
    il_buf buf;               /* the text not yet returned (and one element returned) */
    il_json_split sp;         /* over buf */
    bool begun;               /* '[' seen */
    size_t end;               /* when sp.done: where the text after ']' starts in buf */
} il_json_split_stream;

void il_json_split_stream_init(il_json_split_stream *f);
/* Append the next len bytes of the text.  An element returned before is
 * no longer valid. */
void il_json_split_stream_add(il_json_split_stream *f, const char *data, size_t len);
/* The next whole element (1, as il_json_split_next: valid until the next
 * add), 0 when more text is needed or, at eof (no more text will come),
 * after the closing ']'; -1 with err when the text is not an array or is
 * malformed. */
int il_json_split_stream_next(il_json_split_stream *f, bool eof, const char **elem,
                              size_t *len, char *err, size_t errlen);
void il_json_split_stream_free(il_json_split_stream *f);


/* ---- the other way: an array from its elements' text -------------------- */


/* Append '[' (b empty) or ',' and then len bytes of an element's JSON. */
void il_json_join_add(il_buf *b, const char *elem, size_t len);
/* The same with json serialized compactly, as json_dumps(JSON_COMPACT). */
void il_json_join_add_json(il_buf *b, const json_t *json);
/* Close the array: "]", or "[]" when nothing was added. */
void il_json_join_end(il_buf *b);

#endif
