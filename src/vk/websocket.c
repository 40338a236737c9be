/* websocket.c -- the WebSocket codec (see websocket.h). */
#include "websocket.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* The GUID RFC 6455 appends to the client's key. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int vk_ws_accept_key(const char *client_key, char out[29])
{
    size_t raw_len = 0;
    unsigned char *raw = client_key ? il_base64_decode(client_key, &raw_len) : NULL;
    bool valid = raw && raw_len == 16 && strlen(client_key) == 24;
    free(raw);
    if (!valid)
        return -1;
    char joined[24 + sizeof WS_GUID];
    memcpy(joined, client_key, 24);
    memcpy(joined + 24, WS_GUID, sizeof WS_GUID);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)joined, 24 + sizeof WS_GUID - 1, digest);
    char *text = il_base64_encode(digest, sizeof digest);
    snprintf(out, 29, "%s", text);
    free(text);
    return 0;
}

static ssize_t fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return -1;
}

ssize_t vk_ws_parse(uint8_t *p, size_t n, vk_ws_frame *f, char *err, size_t errlen)
{
    if (n < 2)
        return 0;
    f->fin = (p[0] & 0x80) != 0;
    f->opcode = p[0] & 0x0F;
    if (p[0] & 0x70)
        return fail(err, errlen, "reserved bits set (no extension was agreed)");
    if (!(p[1] & 0x80))
        return fail(err, errlen, "an unmasked client frame");
    uint64_t len = p[1] & 0x7F;
    size_t at = 2;
    if (len == 126 || len == 127) {
        size_t bytes = len == 126 ? 2 : 8;
        if (n < at + bytes)
            return 0;
        len = 0;
        for (size_t i = 0; i < bytes; i++)
            len = len << 8 | p[at + i];
        at += bytes;
    }
    bool control = f->opcode >= 0x8;
    if (control && (len > 125 || !f->fin))
        return fail(err, errlen, "a control frame over 125 bytes or fragmented");
    if (len > VK_WS_MAX_PAYLOAD)
        return fail(err, errlen, "a frame over 16 MiB");
    if (n < at + 4 + len)
        return 0;
    const uint8_t *mask = p + at;
    at += 4;
    f->payload = p + at;
    f->len = (size_t)len;
    for (size_t i = 0; i < f->len; i++)
        f->payload[i] ^= mask[i % 4];
    return (ssize_t)(at + len);
}

void vk_ws_frame_append(il_buf *out, int opcode, const void *payload, size_t len)
{
    uint8_t head[10];
    size_t h = 0;
    head[h++] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        head[h++] = (uint8_t)len;
    } else if (len <= 0xFFFF) {
        head[h++] = 126;
        head[h++] = (uint8_t)(len >> 8);
        head[h++] = (uint8_t)len;
    } else {
        head[h++] = 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            head[h++] = (uint8_t)((uint64_t)len >> shift);
    }
    il_buf_append(out, head, h);
    if (len)
        il_buf_append(out, payload, len);
}

void vk_ws_channel_append(il_buf *out, bool base64, uint8_t channel, const void *payload,
                          size_t len)
{
    il_buf msg = IL_BUF_INIT;
    if (base64) {
        char digit = (char)('0' + channel);
        char *text = il_base64_encode(payload, len);
        il_buf_append(&msg, &digit, 1);
        il_buf_puts(&msg, text);
        free(text);
    } else {
        il_buf_append(&msg, &channel, 1);
        il_buf_append(&msg, payload, len);
    }
    vk_ws_frame_append(out, base64 ? VK_WS_TEXT : VK_WS_BINARY, msg.data, msg.len);
    il_buf_free(&msg);
}
