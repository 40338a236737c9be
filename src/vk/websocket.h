/* websocket.h -- WebSocket framing (RFC 6455), the other transport of the
 * kubelet's streaming API besides SPDY (spdy.h).
 *
 * Clients that speak WebSocket (the Python and Java Kubernetes clients,
 * browsers' terminals) reach exec, attach and port-forward through the API
 * server, which passes their upgrade on unchanged; the Kubernetes channel
 * protocols then put one byte before every binary message naming its
 * channel (stdin 0, stdout 1, stderr 2, error 3, resize 4), or, in the
 * base64 variants, an ASCII digit before base64 text.  This file is only
 * the codec: the handshake's accept key, parsing (and unmasking) client
 * frames out of a buffer, appending server frames to one.  What the
 * channels mean is streams.c. */
#ifndef VK_WEBSOCKET_H
#define VK_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

enum {
    VK_WS_CONTINUATION = 0x0,
    VK_WS_TEXT = 0x1,
    VK_WS_BINARY = 0x2,
    VK_WS_CLOSE = 0x8,
    VK_WS_PING = 0x9,
    VK_WS_PONG = 0xA,
};

/* The largest frame accepted from a client. */
#define VK_WS_MAX_PAYLOAD (16u * 1024 * 1024)

typedef struct vk_ws_frame {
    int opcode;
    bool fin;
    uint8_t *payload;         /* into the parsed buffer, unmasked in place */
    size_t len;
} vk_ws_frame;

/* Sec-WebSocket-Accept for the client's Sec-WebSocket-Key; -1 when the key
 * is not the base64 of 16 bytes. */
int vk_ws_accept_key(const char *client_key, char out[29]);
/* One client frame from p (n bytes): its size, 0 when incomplete, -1 with
 * err when it breaks the protocol (unmasked, oversized, a bad control
 * frame).  The payload is unmasked in place. */
ssize_t vk_ws_parse(uint8_t *p, size_t n, vk_ws_frame *f, char *err, size_t errlen);
/* Append one unfragmented, unmasked server frame. */
void vk_ws_frame_append(il_buf *out, int opcode, const void *payload, size_t len);
/* A data message on a Kubernetes channel: the channel byte then payload
 * (binary), or the channel digit then payload in base64 (text). */
void vk_ws_channel_append(il_buf *out, bool base64, uint8_t channel, const void *payload,
                          size_t len);

#endif
