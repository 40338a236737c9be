/* spdy.h -- SPDY/3.1 framing, the server side of what Kubernetes' streaming
 * protocols (exec, attach, port-forward) run on.
 *
 * A client (kubectl, through the API server) opens streams with SYN_STREAM
 * frames whose header blocks name them ("streamtype: stdout", "port: 80");
 * the server answers each with a SYN_REPLY and both sides exchange DATA
 * frames, FIN marking a half-close.  Header blocks are zlib-compressed with
 * one stream per direction for the whole connection, primed with the
 * dictionary the SPDY/3 draft fixes, so every block must be decoded in
 * order.  This file is only the codec: parsing frames out of a buffer,
 * (de)compressing header blocks, and appending frames to a buffer.  What
 * the streams mean is streams.c. */
#ifndef VK_SPDY_H
#define VK_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pod.h"
#include "util.h"

#define VK_SPDY_VERSION 3

/* Control frame types (section 2.6 of the draft). */
enum {
    VK_SPDY_SYN_STREAM = 1,
    VK_SPDY_SYN_REPLY = 2,
    VK_SPDY_RST_STREAM = 3,
    VK_SPDY_SETTINGS = 4,
    VK_SPDY_PING = 6,
    VK_SPDY_GOAWAY = 7,
    VK_SPDY_HEADERS = 8,
    VK_SPDY_WINDOW_UPDATE = 9,
};

#define VK_SPDY_FLAG_FIN 0x01
#define VK_SPDY_FLAG_UNIDIRECTIONAL 0x02

/* RST_STREAM status codes used here. */
#define VK_SPDY_PROTOCOL_ERROR 1
#define VK_SPDY_INVALID_STREAM 2
#define VK_SPDY_REFUSED_STREAM 3
#define VK_SPDY_CANCEL 5

/* The largest frame accepted (the format allows 16 MiB; kubectl sends
 * data in 32 KiB pieces and header blocks of a few hundred bytes). */
#define VK_SPDY_FRAME_MAX (1024 * 1024)

typedef struct vk_spdy_frame {
    bool control;
    uint16_t type;            /* control frames */
    uint8_t flags;
    uint32_t stream_id;       /* data, SYN_*, RST_STREAM, HEADERS, WINDOW_UPDATE;
                                 PING: its id; GOAWAY: the last good stream */
    uint32_t value;           /* RST_STREAM/GOAWAY status, WINDOW_UPDATE delta */
    const uint8_t *payload;   /* data; SYN_STREAM/SYN_REPLY/HEADERS: the
                                 compressed header block; points into the buffer */
    size_t len;
} vk_spdy_frame;

/* One frame from the start of buf: returns its size, 0 when buf holds
 * only part of it, or -1 with err set for a malformed frame (wrong
 * version, too large, too short for its type). */
ssize_t vk_spdy_parse(const uint8_t *buf, size_t len, vk_spdy_frame *f, char *err,
                      size_t errlen);

/* Header compression state of one connection (both directions). */
typedef struct vk_spdy_zlib vk_spdy_zlib;
vk_spdy_zlib *vk_spdy_zlib_new(void);
void vk_spdy_zlib_free(vk_spdy_zlib *z);

/* A header block into name/value pairs (*out, *n; free with
 * vk_spdy_headers_free).  A value holding several NUL-separated values
 * keeps the first.  -1 with err set when the block does not decode; the
 * connection cannot go on then (the shared zlib stream is lost). */
int vk_spdy_headers_decode(vk_spdy_zlib *z, const uint8_t *block, size_t len, il_kv **out,
                           size_t *n, char *err, size_t errlen);
void vk_spdy_headers_free(il_kv *h, size_t n);
/* The value of name (lower case, as SPDY sends names), or NULL. */
const char *vk_spdy_header(const il_kv *h, size_t n, const char *name);

/* Encoders: each appends one frame to out. */
void vk_spdy_syn_reply(vk_spdy_zlib *z, uint32_t stream, uint8_t flags, const il_kv *h,
                       size_t n, il_buf *out);
void vk_spdy_data(uint32_t stream, uint8_t flags, const void *data, size_t len, il_buf *out);
void vk_spdy_rst_stream(uint32_t stream, uint32_t status, il_buf *out);
void vk_spdy_ping(uint32_t id, il_buf *out);
void vk_spdy_goaway(uint32_t last_stream, uint32_t status, il_buf *out);

/* The SPDY/3 header dictionary (1423 bytes). */
const uint8_t *vk_spdy_dictionary(size_t *len);

#endif
