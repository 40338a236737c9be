/* test_vk_websocket.c -- the WebSocket codec (websocket.c): the handshake's
 * accept key (RFC 6455's own example), client frames of every length form,
 * masked and unmasked, fragments and control frames, and server frames as
 * a client would read them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "websocket.h"

static void test_accept_key(void **state)
{
    (void)state;
    char out[29];
    assert_int_equal(vk_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(vk_ws_accept_key("c2hvcnQ=", out), -1);        /* 5 bytes, not 16 */
    assert_int_equal(vk_ws_accept_key("not base64 at all!!!!!==", out), -1);
    assert_int_equal(vk_ws_accept_key(NULL, out), -1);
}

/* A client frame: FIN + opcode, masked with mask, the length in the
 * smallest form (or the form forced by len_form: 126/127). */
static size_t client_frame(uint8_t *buf, int opcode, bool fin, const void *payload, size_t len,
                           int len_form)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;
    buf[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    int form = len_form ? len_form : len < 126 ? 0 : len <= 0xFFFF ? 126 : 127;
    if (form == 0) {
        buf[h++] = (uint8_t)(0x80 | len);
    } else {
        buf[h++] = (uint8_t)(0x80 | form);
        for (int i = (form == 126 ? 2 : 8) - 1; i >= 0; i--)
            buf[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(buf + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        buf[h + i] = ((const uint8_t *)payload)[i] ^ mask[i % 4];
    return h + len;
}

static void test_parse_lengths_and_incomplete(void **state)
{
    (void)state;
    size_t sizes[] = {0, 5, 125, 126, 300, 65535, 65536, 70000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t len = sizes[k];
        uint8_t *payload = malloc(len + 1), *buf = malloc(len + 16);
        for (size_t i = 0; i < len; i++)
            payload[i] = (uint8_t)(i * 7);
        size_t n = client_frame(buf, VK_WS_BINARY, true, payload, len, 0);
        char err[64];
        vk_ws_frame f;
        for (size_t cut = 0; cut < n; cut += n / 7 + 1)   /* every prefix: wait for more */
            assert_int_equal(vk_ws_parse(buf, cut, &f, err, sizeof err), 0);
        assert_int_equal(vk_ws_parse(buf, n, &f, err, sizeof err), (ssize_t)n);
        assert_int_equal(f.opcode, VK_WS_BINARY);
        assert_true(f.fin);
        assert_int_equal(f.len, len);
        assert_memory_equal(f.payload, payload, len);   /* unmasked in place */
        free(payload);
        free(buf);
    }
}

static void test_parse_refusals(void **state)
{
    (void)state;
    uint8_t buf[300];
    char err[64];
    vk_ws_frame f;
    uint8_t unmasked[] = {0x82, 0x02, 'h', 'i'};
    assert_int_equal(vk_ws_parse(unmasked, sizeof unmasked, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "unmasked"));
    uint8_t big_ping[200] = {0};
    size_t n = client_frame(buf, VK_WS_PING, true, big_ping, 126, 0);
    assert_int_equal(vk_ws_parse(buf, n, &f, err, sizeof err), -1);
    n = client_frame(buf, VK_WS_CLOSE, false, "", 0, 0);   /* a fragmented control frame */
    assert_int_equal(vk_ws_parse(buf, n, &f, err, sizeof err), -1);
    uint8_t huge[] = {0x82, 0xFF, 0, 0, 0, 0, 0x7F, 0, 0, 0, 1, 2, 3, 4};   /* 2 GiB */
    assert_int_equal(vk_ws_parse(huge, sizeof huge, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "16 MiB"));
    uint8_t rsv[] = {0xC2, 0x80, 1, 2, 3, 4};   /* RSV1: compression nobody agreed */
    assert_int_equal(vk_ws_parse(rsv, sizeof rsv, &f, err, sizeof err), -1);
}

static void test_fragments_and_control(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = client_frame(buf, VK_WS_BINARY, false, "\x00he", 3, 0);
    n += client_frame(buf + n, VK_WS_PING, true, "p", 1, 0);   /* between fragments */
    n += client_frame(buf + n, VK_WS_CONTINUATION, true, "llo", 3, 0);
    char err[64];
    vk_ws_frame f;
    size_t at = 0;
    int want_op[] = {VK_WS_BINARY, VK_WS_PING, VK_WS_CONTINUATION};
    bool want_fin[] = {false, true, true};
    for (int i = 0; i < 3; i++) {
        ssize_t used = vk_ws_parse(buf + at, n - at, &f, err, sizeof err);
        assert_true(used > 0);
        assert_int_equal(f.opcode, want_op[i]);
        assert_int_equal(f.fin, want_fin[i]);
        at += (size_t)used;
    }
    assert_int_equal(at, n);
}

/* Server frames are unmasked, with the smallest length form. */
static void test_server_frames(void **state)
{
    (void)state;
    il_buf out = IL_BUF_INIT;
    vk_ws_channel_append(&out, false, 1, "out", 3);
    const uint8_t want[] = {0x82, 0x04, 0x01, 'o', 'u', 't'};
    assert_int_equal(out.len, sizeof want);
    assert_memory_equal(out.data, want, sizeof want);
    il_buf_reset(&out);
    vk_ws_channel_append(&out, true, 3, "{}", 2);   /* base64: "3" + "e30=" as text */
    const uint8_t want64[] = {0x81, 0x05, '3', 'e', '3', '0', '='};
    assert_int_equal(out.len, sizeof want64);
    assert_memory_equal(out.data, want64, sizeof want64);
    il_buf_reset(&out);
    char big[70000];
    memset(big, 'x', sizeof big);
    vk_ws_frame_append(&out, VK_WS_BINARY, big, 300);
    assert_int_equal((uint8_t)out.data[1], 126);
    assert_int_equal(((uint8_t)out.data[2] << 8) | (uint8_t)out.data[3], 300);
    il_buf_reset(&out);
    vk_ws_frame_append(&out, VK_WS_BINARY, big, sizeof big);
    assert_int_equal((uint8_t)out.data[1], 127);
    assert_int_equal(out.len, 10 + sizeof big);
    il_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_parse_lengths_and_incomplete),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_fragments_and_control),
        cmocka_unit_test(test_server_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
