/* recdeflate.c -- the VK's pod record texts, deflated (see recdeflate.h).
 *
 * Raw deflate (no header or checksum: the record knows the length) against
 * one dictionary for the process: the text and status of the first pod
 * stored, which every later pod of the node resembles.  z_streams are
 * expensive to set up (the deflater's tables are about 256 KiB), so idle
 * ones wait in a small pool for the next record, and are freed once a
 * whole status cycle went by without one taken (vk_recdeflate_idle): a
 * full pool is over 1 MB of heap, which a node whose pods are gone or
 * steady does not need. */
#include "recdeflate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"


#define ZDICT_MAX 32768   /* deflate's window */
#define ZPOOL 4

typedef struct zdict {
    size_t len;
    unsigned char bytes[];
} zdict;

static pthread_mutex_t zlock = PTHREAD_MUTEX_INITIALIZER;
static zdict *dict;       /* set once, kept for the life of the process */
static z_stream *pool[2][ZPOOL];   /* [0] deflaters, [1] inflaters */
static size_t pooled[2];
static bool taken[2];      /* since the last vk_recdeflate_idle */

void vk_recdeflate_dict_once(const char *text, size_t text_len, const char *status,
                             size_t status_len)
{
    pthread_mutex_lock(&zlock);
    if (!dict) {
        size_t n = text_len + status_len < ZDICT_MAX ? text_len + status_len : ZDICT_MAX;
        size_t t = text_len < n ? text_len : n;
        dict = il_xcalloc(1, sizeof *dict + n);
        memcpy(dict->bytes, text, t);
        if (n > t)
            memcpy(dict->bytes + t, status, n - t);
        dict->len = n;
    }
    pthread_mutex_unlock(&zlock);
}

static z_stream *z_take(int inflater)
{
    z_stream *z = NULL;
    pthread_mutex_lock(&zlock);
    taken[inflater] = true;
    if (pooled[inflater])
        z = pool[inflater][--pooled[inflater]];
    pthread_mutex_unlock(&zlock);
    if (z)
        return z;
    z = il_xcalloc(1, sizeof *z);
    int rc = inflater ? inflateInit2(z, -15)
                      : deflateInit2(z, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
        fprintf(stderr, "interlink-vk: zlib: no stream (%d)\n", rc);
        abort();
    }
    return z;
}

static void z_end(int inflater, z_stream *z)
{
    if (inflater)
        inflateEnd(z);
    else
        deflateEnd(z);
    free(z);
}

static void z_give(int inflater, z_stream *z)
{
    if (inflater ? inflateReset(z) : deflateReset(z)) {
        fprintf(stderr, "interlink-vk: zlib: stream reset failed\n");
        abort();
    }
    pthread_mutex_lock(&zlock);
    if (pooled[inflater] < ZPOOL) {
        pool[inflater][pooled[inflater]++] = z;
        z = NULL;
    }
    pthread_mutex_unlock(&zlock);
    if (z)
        z_end(inflater, z);
}

void vk_recdeflate_idle(void)
{
    z_stream *idle[2][ZPOOL];
    size_t n[2] = {0, 0};
    pthread_mutex_lock(&zlock);
    for (int k = 0; k < 2; k++) {
        if (!taken[k])
            while (pooled[k])
                idle[k][n[k]++] = pool[k][--pooled[k]];
        taken[k] = false;
    }
    pthread_mutex_unlock(&zlock);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < n[k]; i++)
            z_end(k, idle[k][i]);
}

unsigned char *vk_recdeflate_pack(const char *s, size_t n, size_t *zn)
{
    z_stream *z = z_take(0);
    deflateSetDictionary(z, dict->bytes, (uInt)dict->len);
    uLong cap = deflateBound(z, (uLong)n);
    unsigned char *out = il_xmalloc(cap);
    z->next_in = (Bytef *)s;
    z->avail_in = (uInt)n;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    if (deflate(z, Z_FINISH) != Z_STREAM_END) {
        fprintf(stderr, "interlink-vk: zlib: deflate did not finish\n");
        abort();
    }
    *zn = z->total_out;
    z_give(0, z);
    return out;
}

void vk_recdeflate_unpack(const unsigned char *zs, size_t zn, size_t n, il_buf *out)
{
    if (out->cap < out->len + n + 1) {
        out->data = il_xrealloc(out->data, out->len + n + 1);
        out->cap = out->len + n + 1;
    }
    z_stream *z = z_take(1);
    inflateSetDictionary(z, dict->bytes, (uInt)dict->len);
    z->next_in = (Bytef *)zs;
    z->avail_in = (uInt)zn;
    z->next_out = (Bytef *)out->data + out->len;
    z->avail_out = (uInt)n;
    if (inflate(z, Z_FINISH) != Z_STREAM_END || z->total_out != n) {
        fprintf(stderr, "interlink-vk: zlib: a pod record does not inflate\n");
        abort();   /* the record is ours and immutable: memory is corrupt */
    }
    z_give(1, z);
    out->len += n;
    out->data[out->len] = '\0';
}
