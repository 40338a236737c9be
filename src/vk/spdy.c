/* spdy.c -- the SPDY/3.1 codec: frames and compressed header blocks.
 *
 * Frames are parsed in place (a frame points into the caller's buffer) and
 * encoded by appending to an il_buf, so the connection loop in streams.c
 * owns all buffering.  zlib does the header compression; the dictionary is
 * spelt out below as the draft presents it (65 length-prefixed words, then
 * a run of common values) and assembled once. */
#include "spdy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- the dictionary ------------------------------------------------------ */

static const char *const dict_words[] = {
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
    "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
    "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma",
    "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after", "server", "te",
    "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin",
};

static const char dict_tail[] =
    "1001012012022052063003023033043053063074024054064074084094104114124134144154164175025045"
    "05203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401"
    " Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 S"
    "ervice UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, We"
    "d, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xm"
    "l,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdc"
    "hcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

#define DICT_LEN 1423

static uint8_t dict[DICT_LEN];
static pthread_once_t dict_once = PTHREAD_ONCE_INIT;

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void dict_build(void)
{
    size_t at = 0;
    for (size_t i = 0; i < sizeof dict_words / sizeof dict_words[0]; i++) {
        size_t n = strlen(dict_words[i]);
        put32(dict + at, (uint32_t)n);
        memcpy(dict + at + 4, dict_words[i], n);
        at += 4 + n;
    }
    memcpy(dict + at, dict_tail, sizeof dict_tail - 1);
}

const uint8_t *vk_spdy_dictionary(size_t *len)
{
    pthread_once(&dict_once, dict_build);
    *len = DICT_LEN;
    return dict;
}

/* ---- frames ------------------------------------------------------------- */

/* The payload size each control frame must have at least. */
static size_t control_min(uint16_t type)
{
    switch (type) {
    case VK_SPDY_SYN_STREAM: return 10;
    case VK_SPDY_SYN_REPLY: case VK_SPDY_HEADERS: case VK_SPDY_PING: case VK_SPDY_SETTINGS:
        return 4;
    case VK_SPDY_RST_STREAM: case VK_SPDY_GOAWAY: case VK_SPDY_WINDOW_UPDATE: return 8;
    default: return 0;
    }
}

static void parse_control(const uint8_t *p, size_t len, vk_spdy_frame *f)
{
    switch (f->type) {
    case VK_SPDY_SYN_STREAM:
        f->stream_id = get32(p) & 0x7fffffff;
        f->value = get32(p + 4) & 0x7fffffff;   /* associated stream */
        f->payload = p + 10;
        f->len = len - 10;
        break;
    case VK_SPDY_SYN_REPLY:
    case VK_SPDY_HEADERS:
        f->stream_id = get32(p) & 0x7fffffff;
        f->payload = p + 4;
        f->len = len - 4;
        break;
    case VK_SPDY_RST_STREAM:
    case VK_SPDY_GOAWAY:
    case VK_SPDY_WINDOW_UPDATE:
        f->stream_id = get32(p) & 0x7fffffff;
        f->value = get32(p + 4) & (f->type == VK_SPDY_WINDOW_UPDATE ? 0x7fffffff : 0xffffffff);
        break;
    case VK_SPDY_PING:
        f->stream_id = get32(p);
        break;
    default:   /* SETTINGS and unknown types: the payload as it is */
        f->payload = p;
        f->len = len;
    }
}

ssize_t vk_spdy_parse(const uint8_t *buf, size_t len, vk_spdy_frame *f, char *err, size_t errlen)
{
    if (len < 8)
        return 0;
    memset(f, 0, sizeof *f);
    size_t plen = (size_t)buf[5] << 16 | (size_t)buf[6] << 8 | buf[7];
    if (plen > VK_SPDY_FRAME_MAX) {
        snprintf(err, errlen, "frame of %zu bytes (limit %d)", plen, VK_SPDY_FRAME_MAX);
        return -1;
    }
    f->control = buf[0] & 0x80;
    f->flags = buf[4];
    if (f->control) {
        unsigned version = ((unsigned)buf[0] & 0x7f) << 8 | buf[1];
        f->type = (uint16_t)(buf[2] << 8 | buf[3]);
        if (version != VK_SPDY_VERSION) {
            snprintf(err, errlen, "SPDY version %u (expected %d)", version, VK_SPDY_VERSION);
            return -1;
        }
        if (plen < control_min(f->type)) {
            snprintf(err, errlen, "control frame type %u of %zu bytes is too short", f->type,
                     plen);
            return -1;
        }
    } else {
        f->stream_id = get32(buf) & 0x7fffffff;
    }
    if (len < 8 + plen)
        return 0;
    if (f->control) {
        parse_control(buf + 8, plen, f);
    } else {
        f->payload = buf + 8;
        f->len = plen;
    }
    return (ssize_t)(8 + plen);
}

static size_t frame_begin(il_buf *out, uint16_t type, uint8_t flags)
{
    uint8_t h[8] = {0x80, VK_SPDY_VERSION, (uint8_t)(type >> 8), (uint8_t)type, flags, 0, 0, 0};
    size_t at = out->len;
    il_buf_append(out, h, sizeof h);
    return at;
}

/* Fill in the length of the frame that starts at `at`. */
static void frame_end(il_buf *out, size_t at)
{
    size_t plen = out->len - at - 8;
    uint8_t *p = (uint8_t *)out->data + at;
    p[5] = (uint8_t)(plen >> 16);
    p[6] = (uint8_t)(plen >> 8);
    p[7] = (uint8_t)plen;
}

static void append32(il_buf *out, uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    il_buf_append(out, b, 4);
}

void vk_spdy_data(uint32_t stream, uint8_t flags, const void *data, size_t len, il_buf *out)
{
    uint8_t h[8];
    put32(h, stream & 0x7fffffff);
    h[4] = flags;
    h[5] = (uint8_t)(len >> 16);
    h[6] = (uint8_t)(len >> 8);
    h[7] = (uint8_t)len;
    il_buf_append(out, h, sizeof h);
    if (len)
        il_buf_append(out, data, len);
}

static void two_words(uint16_t type, uint32_t a, uint32_t b, il_buf *out)
{
    size_t at = frame_begin(out, type, 0);
    append32(out, a);
    append32(out, b);
    frame_end(out, at);
}

void vk_spdy_rst_stream(uint32_t stream, uint32_t status, il_buf *out)
{
    two_words(VK_SPDY_RST_STREAM, stream & 0x7fffffff, status, out);
}

void vk_spdy_goaway(uint32_t last_stream, uint32_t status, il_buf *out)
{
    two_words(VK_SPDY_GOAWAY, last_stream & 0x7fffffff, status, out);
}

void vk_spdy_ping(uint32_t id, il_buf *out)
{
    size_t at = frame_begin(out, VK_SPDY_PING, 0);
    append32(out, id);
    frame_end(out, at);
}

/* ---- header blocks ------------------------------------------------------- */

struct vk_spdy_zlib {
    z_stream in, out;
    bool in_ok, out_ok;
};

vk_spdy_zlib *vk_spdy_zlib_new(void)
{
    vk_spdy_zlib *z = il_xcalloc(1, sizeof *z);
    size_t dlen;
    const uint8_t *d = vk_spdy_dictionary(&dlen);
    z->in_ok = inflateInit(&z->in) == Z_OK;
    z->out_ok = deflateInit(&z->out, Z_DEFAULT_COMPRESSION) == Z_OK &&
                deflateSetDictionary(&z->out, d, (uInt)dlen) == Z_OK;
    return z;
}

void vk_spdy_zlib_free(vk_spdy_zlib *z)
{
    if (!z)
        return;
    inflateEnd(&z->in);
    deflateEnd(&z->out);
    free(z);
}

/* Inflate the whole block (the sender flushed at its end) into plain. */
static int inflate_block(vk_spdy_zlib *z, const uint8_t *block, size_t len, il_buf *plain)
{
    if (!z->in_ok)
        return -1;
    z->in.next_in = (Bytef *)block;
    z->in.avail_in = (uInt)len;
    uint8_t chunk[4096];
    while (z->in.avail_in > 0) {
        z->in.next_out = chunk;
        z->in.avail_out = sizeof chunk;
        int rc = inflate(&z->in, Z_SYNC_FLUSH);
        if (rc == Z_NEED_DICT) {
            size_t dlen;
            const uint8_t *d = vk_spdy_dictionary(&dlen);
            if (inflateSetDictionary(&z->in, d, (uInt)dlen) != Z_OK)
                return -1;
            continue;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -1;
        il_buf_append(plain, chunk, sizeof chunk - z->in.avail_out);
        if (plain->len > VK_SPDY_FRAME_MAX)
            return -1;
        if (rc == Z_BUF_ERROR && z->in.avail_out != 0)
            return -1;   /* no progress although there is room: corrupt */
    }
    /* Output still pending inside zlib (the block expanded past chunk). */
    for (;;) {
        z->in.next_out = chunk;
        z->in.avail_out = sizeof chunk;
        int rc = inflate(&z->in, Z_SYNC_FLUSH);
        size_t got = sizeof chunk - z->in.avail_out;
        il_buf_append(plain, chunk, got);
        if (got == 0 || (rc != Z_OK && rc != Z_BUF_ERROR) || plain->len > VK_SPDY_FRAME_MAX)
            return rc == Z_OK || rc == Z_BUF_ERROR ? 0 : -1;
    }
}

/* The count, then length-prefixed name and value per pair. */
static int split_pairs(const uint8_t *p, size_t len, il_kv **out, size_t *n)
{
    if (len < 4)
        return -1;
    uint32_t count = get32(p);
    if (count > len / 8)   /* each pair takes 8 bytes at least */
        return -1;
    il_kv *h = il_xcalloc(count + 1, sizeof *h);
    size_t at = 4, i;
    for (i = 0; i < count; i++) {
        char *parts[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            if (len - at < 4 || get32(p + at) > len - at - 4)
                break;
            size_t l = get32(p + at);
            parts[k] = il_xstrndup((const char *)p + at + 4, l);   /* stops at a NUL */
            at += 4 + l;
        }
        h[i].key = parts[0];
        h[i].value = parts[1];
        if (!parts[1])
            break;
    }
    if (i < count) {
        vk_spdy_headers_free(h, i + 1);
        return -1;
    }
    *out = h;
    *n = count;
    return 0;
}

int vk_spdy_headers_decode(vk_spdy_zlib *z, const uint8_t *block, size_t len, il_kv **out,
                           size_t *n, char *err, size_t errlen)
{
    il_buf plain = IL_BUF_INIT;
    *out = NULL;
    *n = 0;
    int rc = inflate_block(z, block, len, &plain);
    if (rc < 0)
        snprintf(err, errlen, "header block does not decompress");
    else if ((rc = split_pairs((const uint8_t *)plain.data, plain.len, out, n)) < 0)
        snprintf(err, errlen, "header block is malformed");
    il_buf_free(&plain);
    return rc;
}

void vk_spdy_headers_free(il_kv *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++) {
        free(h[i].key);
        free(h[i].value);
    }
    free(h);
}

const char *vk_spdy_header(const il_kv *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].key && !strcmp(h[i].key, name))
            return h[i].value;
    return NULL;
}

void vk_spdy_syn_reply(vk_spdy_zlib *z, uint32_t stream, uint8_t flags, const il_kv *h,
                       size_t n, il_buf *out)
{
    il_buf plain = IL_BUF_INIT;
    append32(&plain, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        append32(&plain, (uint32_t)strlen(h[i].key));
        il_buf_puts(&plain, h[i].key);
        append32(&plain, (uint32_t)strlen(h[i].value));
        il_buf_puts(&plain, h[i].value);
    }
    size_t at = frame_begin(out, VK_SPDY_SYN_REPLY, flags);
    append32(out, stream & 0x7fffffff);
    z->out.next_in = (Bytef *)plain.data;
    z->out.avail_in = (uInt)plain.len;
    uint8_t chunk[1024];
    do {
        z->out.next_out = chunk;
        z->out.avail_out = sizeof chunk;
        if (!z->out_ok || deflate(&z->out, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
            break;   /* cannot happen with a valid stream; the peer will say so */
        il_buf_append(out, chunk, sizeof chunk - z->out.avail_out);
    } while (z->out.avail_out == 0);
    frame_end(out, at);
    il_buf_free(&plain);
}
