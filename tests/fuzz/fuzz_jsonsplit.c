/* fuzz_jsonsplit.c -- the array splitter against jansson: whatever jansson
 * reads as an array splits into exactly its elements, each parsing alone to
 * the same value; and whatever splits into elements that each parse is an
 * array jansson reads with as many. */
#include "fuzz.h"

#include <jansson.h>

#include "jsonsplit.h"

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
    while (split && (got = il_json_split_next(&s, &elem, &len, err, sizeof err)) == 1) {
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
    json_decref(whole);
    return 0;
}
