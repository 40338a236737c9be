/* fuzz_jsonsplit.c -- the array splitter against jansson: whatever jansson
 * reads as an array splits into exactly its elements, each parsing alone to
 * the same value; and whatever splits into elements that each parse is an
 * array jansson reads with as many.  Fed in pieces (their size from the
 * first byte), the splitter finds the same elements and the same end. */
#include "fuzz.h"

#include <jansson.h>
#include <string.h>

#include "jsonsplit.h"

/* The elements of text fed in pieces of step bytes, joined by a NUL each,
 * into out; the last result (0 or -1). */
static int split_pieces(const char *text, size_t size, size_t step, il_buf *out)
{
    il_json_split_stream f;
    il_json_split_stream_init(&f);
    size_t at = 0;
    const char *elem;
    size_t len;
    char err[256];
    int got;
    for (;;) {
        bool eof = at == size;
        while ((got = il_json_split_stream_next(&f, eof, &elem, &len, err, sizeof err)) == 1) {
            il_buf_append(out, elem, len);
            il_buf_append(out, "", 1);
        }
        if (got < 0 || eof)
            break;
        size_t take = size - at < step ? size - at : step;
        il_json_split_stream_add(&f, text + at, take);
        at += take;
    }
    il_json_split_stream_free(&f);
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *whole = json_loadb(text, size, JSON_DECODE_ANY, NULL);
    il_json_split s;
    bool split = il_json_split_begin(&s, text, size) == 0;
    if (json_is_array(whole))
        FUZZ_ASSERT(split);
    size_t n = 0;
    bool all_parse = split;
    const char *elem;
    size_t len;
    char err[256];
    int got = split ? 1 : -1;
    il_buf elems = IL_BUF_INIT, pieces = IL_BUF_INIT;
    while (split && (got = il_json_split_next(&s, &elem, &len, err, sizeof err)) == 1) {
        il_buf_append(&elems, elem, len);
        il_buf_append(&elems, "", 1);
        json_t *one = json_loadb(elem, len, JSON_DECODE_ANY, NULL);
        if (json_is_array(whole))
            FUZZ_ASSERT(one && json_equal(one, json_array_get(whole, n)));
        all_parse = all_parse && one;
        json_decref(one);
        n++;
    }
    if (json_is_array(whole))
        FUZZ_ASSERT(got == 0 && n == json_array_size(whole));
    if (split && got == 0 && all_parse)
        FUZZ_ASSERT(json_is_array(whole) && json_array_size(whole) == n);
    if (size > 0) {   /* the same in pieces; an error ends it as the whole text's does */
        int piecewise = split_pieces(text, size, 1 + data[0] % 17, &pieces);
        FUZZ_ASSERT(piecewise == (got < 0 ? -1 : 0));
        FUZZ_ASSERT(got < 0 || (pieces.len == elems.len &&
                                (elems.len == 0 || !memcmp(pieces.data, elems.data, elems.len))));
    }
    il_buf_free(&elems);
    il_buf_free(&pieces);
    json_decref(whole);
    return 0;
}
