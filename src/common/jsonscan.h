/* jsonscan.h -- a few members of a JSON object's text, without a tree.
 *
 * A /status request carries whole pods (1.6 KB each from a virtual kubelet,
 * 16 MB at 10,000 pods) of which interlink needs four strings; building a
 * jansson tree of each pod to read them was half of interlink's CPU per
 * call.  il_json_scan reads the text once, checks it the way jansson reads
 * it, and says where the wanted members are.
 *
 * It is conservative.  It says yes (0) only to text that json_loadb(text,
 * len, JSON_DECODE_ANY) reads without error and where its tree holds what
 * the scan reports.  Where the two could differ or it cannot be sure, it
 * says no (-1): invalid JSON, but also an escaped key in an object on the
 * way to a wanted member (it might spell a wanted key), a wanted member
 * given twice (jansson keeps the last), an integer of more than 18 digits
 * or a real that might overflow, nesting
 * deeper than IL_JSON_SCAN_DEPTH.  A caller then parses the text with
 * jansson as before, for the same result and the same error. */
#ifndef IL_JSONSCAN_H
#define IL_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

#define IL_JSON_SCAN_DEPTH 64

typedef enum il_jscan_kind {
    IL_JSCAN_ABSENT,           /* not in the text */
    IL_JSCAN_NULL,
    IL_JSCAN_STRING,
    IL_JSCAN_OBJECT,
    IL_JSCAN_OTHER             /* a number, true, false or an array */
} il_jscan_kind;

typedef struct il_jscan_member {
    const char *path;          /* in: keys from the top object joined by '.', e.g.
                                * "metadata.uid"; every parent ("metadata") must
                                * be wanted too, so that a repeated parent is seen */
    il_jscan_kind kind;        /* out, and the rest for its kind: */
    const char *value;         /* a string's bytes between its quotes, an object's
                                * text from '{' to '}' (borrowed) */
    size_t len;
    bool escaped;              /* the string has a '\' escape: value is not its text */
    bool strings_only;         /* an object whose every member is a string or null */
} il_jscan_member;

/* Scan text[0..len) (one JSON value, whitespace around it allowed) for the
 * n wanted members.  0 when jansson reads the text as the scan did (members
 * filled in, ABSENT when not there, also when the top value is no object);
 * -1 when the text is not JSON or the scan is unsure (see above). */
int il_json_scan(const char *text, size_t len, il_jscan_member *want, size_t n);

/* A wanted member's string as a new NUL-terminated copy; NULL unless it is
 * an unescaped string. */
char *il_jscan_strdup(const il_jscan_member *m);

#endif
