/* base64.c -- standard padded base64 for Secret data (see base64.h). */
#include "base64.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *il_base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = il_xmalloc((len + 2) / 3 * 4 + 1);
    char *p = out;
    for (size_t i = 0; i < len; i += 3) {
        size_t left = len - i;
        unsigned v = (unsigned)in[i] << 16;
        if (left > 1)
            v |= (unsigned)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        *p++ = alphabet[(v >> 18) & 63];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = left > 1 ? alphabet[(v >> 6) & 63] : '=';
        *p++ = left > 2 ? alphabet[v & 63] : '=';
    }
    *p = '\0';
    return out;
}

static int sextet(char c)
{
    const char *hit = c ? strchr(alphabet, c) : NULL;
    return hit ? (int)(hit - alphabet) : -1;
}

/* Copy without line breaks, so the quads below are contiguous. */
static char *strip_newlines(const char *text, size_t *n)
{
    size_t len = strlen(text);
    char *clean = il_xmalloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] != '\r' && text[i] != '\n')
            clean[k++] = text[i];
    clean[k] = '\0';
    *n = k;
    return clean;
}

unsigned char *il_base64_decode(const char *text, size_t *len)
{
    size_t n;
    char *clean = strip_newlines(text, &n);
    size_t pad = 0;
    if (n % 4 != 0) {
        free(clean);
        return NULL;
    }
    while (pad < 2 && n > 0 && clean[n - 1] == '=') {
        n--;
        pad++;
    }
    unsigned char *out = il_xmalloc(n / 4 * 3 + 3);
    size_t o = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = sextet(clean[i]);
        if (v < 0) {             /* includes '=' before the end */
            free(out);
            free(clean);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (n % 4 == 2) {
        out[o++] = (unsigned char)(acc >> 4);
    } else if (n % 4 == 3) {
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    free(clean);
    out[o] = '\0';
    *len = o;
    return out;
}
