/* test_vk_spdy.c -- the SPDY/3.1 codec against byte sequences laid out by
 * hand from the draft's frame diagrams, and header blocks compressed by a
 * different zlib user (Python's zlib.compressobj with the draft's
 * dictionary, as kubectl's Go client does), not by our own encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "spdy.h"

/* SYN_STREAM, stream 1, "streamtype: error": the first header block of a
 * connection, so its zlib header announces the dictionary (FDICT with
 * DICTID e3c6a7c2 at bytes 20..23). */
static const uint8_t syn_error[] = {
    0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x78, 0xbb, 0xe3, 0xc6, 0xa7, 0xc2, 0x02, 0xa6, 0x23, 0x46, 0x70, 0x3a,
    0x2b, 0x29, 0x4a, 0x4d, 0xcc, 0x85, 0x16, 0x25, 0xac, 0xa9, 0xa0, 0x80, 0x06, 0x00, 0x00,
    0x00, 0xff, 0xff};

/* The next SYN_STREAM on the same connection, stream 3, "streamtype:
 * stdout" and "port: 8080\0008081" (two values): only decodable with the
 * state the first block left. */
static const uint8_t syn_stdout[] = {
    0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02, 0x65, 0x1c, 0x0c, 0x29, 0x60, 0x62, 0x4e, 0xc9, 0x07, 0x97, 0xd1,
    0xc0, 0x22, 0xbb, 0x08, 0x44, 0x73, 0x5a, 0x18, 0x58, 0x18, 0x30, 0x00, 0x09, 0x43, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xff};

static void test_dictionary(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *d = vk_spdy_dictionary(&len);
    assert_int_equal(len, 1423);
    /* The id every SPDY/3 header stream carries in its zlib header. */
    assert_int_equal(adler32(adler32(0, NULL, 0), d, (uInt)len), 0xe3c6a7c2);
    assert_memory_equal(d, "\0\0\0\x07options\0\0\0\x04head", 15);
    assert_memory_equal(d + len - 6, "enq=0.", 6);
}

static void test_syn_streams_share_one_zlib_stream(void **state)
{
    (void)state;
    vk_spdy_zlib *z = vk_spdy_zlib_new();
    vk_spdy_frame f;
    char err[128];
    il_kv *h;
    size_t n;

    assert_int_equal(vk_spdy_parse(syn_error, sizeof syn_error, &f, err, sizeof err),
                     sizeof syn_error);
    assert_true(f.control);
    assert_int_equal(f.type, VK_SPDY_SYN_STREAM);
    assert_int_equal(f.stream_id, 1);
    assert_int_equal(f.flags, 0);
    assert_int_equal(vk_spdy_headers_decode(z, f.payload, f.len, &h, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(vk_spdy_header(h, n, "streamtype"), "error");
    vk_spdy_headers_free(h, n);

    assert_int_equal(vk_spdy_parse(syn_stdout, sizeof syn_stdout, &f, err, sizeof err),
                     sizeof syn_stdout);
    assert_int_equal(f.stream_id, 3);
    assert_int_equal(vk_spdy_headers_decode(z, f.payload, f.len, &h, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(vk_spdy_header(h, n, "streamtype"), "stdout");
    assert_string_equal(vk_spdy_header(h, n, "port"), "8080");   /* first of two values */
    assert_null(vk_spdy_header(h, n, "requestid"));
    vk_spdy_headers_free(h, n);
    vk_spdy_zlib_free(z);

    /* Without the first block's state the second one cannot decode. */
    z = vk_spdy_zlib_new();
    vk_spdy_parse(syn_stdout, sizeof syn_stdout, &f, err, sizeof err);
    assert_int_equal(vk_spdy_headers_decode(z, f.payload, f.len, &h, &n, err, sizeof err), -1);
    vk_spdy_zlib_free(z);
}

static void test_parse_data_ping_and_partial(void **state)
{
    (void)state;
    /* DATA: stream 3, FIN, length 2, "hi"; followed by the start of a PING. */
    static const uint8_t buf[] = {0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x02, 'h', 'i',
                                  0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00,
                                  0x00, 0x07};
    vk_spdy_frame f;
    char err[128];
    assert_int_equal(vk_spdy_parse(buf, sizeof buf, &f, err, sizeof err), 10);
    assert_false(f.control);
    assert_int_equal(f.stream_id, 3);
    assert_int_equal(f.flags, VK_SPDY_FLAG_FIN);
    assert_int_equal(f.len, 2);
    assert_memory_equal(f.payload, "hi", 2);
    for (size_t cut = 0; cut < 12; cut++)   /* any prefix of the PING: wait */
        assert_int_equal(vk_spdy_parse(buf + 10, cut, &f, err, sizeof err), 0);
    assert_int_equal(vk_spdy_parse(buf + 10, 12, &f, err, sizeof err), 12);
    assert_int_equal(f.type, VK_SPDY_PING);
    assert_int_equal(f.stream_id, 7);

    /* RST_STREAM stream 5 CANCEL; WINDOW_UPDATE stream 1 +65536. */
    static const uint8_t rst[] = {0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08,
                                  0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x05};
    assert_int_equal(vk_spdy_parse(rst, sizeof rst, &f, err, sizeof err), 16);
    assert_int_equal(f.type, VK_SPDY_RST_STREAM);
    assert_int_equal(f.stream_id, 5);
    assert_int_equal(f.value, VK_SPDY_CANCEL);
    static const uint8_t wu[] = {0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08,
                                 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00};
    assert_int_equal(vk_spdy_parse(wu, sizeof wu, &f, err, sizeof err), 16);
    assert_int_equal(f.type, VK_SPDY_WINDOW_UPDATE);
    assert_int_equal(f.value, 65536);
}

static void test_malformed(void **state)
{
    (void)state;
    vk_spdy_frame f;
    char err[128];
    static const uint8_t v2[] = {0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1};
    assert_int_equal(vk_spdy_parse(v2, sizeof v2, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "version 2"));
    static const uint8_t huge[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff};
    assert_int_equal(vk_spdy_parse(huge, sizeof huge, &f, err, sizeof err), -1);
    static const uint8_t short_rst[] = {0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04,
                                        0, 0, 0, 1};
    assert_int_equal(vk_spdy_parse(short_rst, sizeof short_rst, &f, err, sizeof err), -1);

    /* A header block that claims more pairs than it holds, and garbage. */
    vk_spdy_zlib *z = vk_spdy_zlib_new();
    il_kv *h;
    size_t n;
    static const uint8_t garbage[] = {0x78, 0xbb, 0xe3, 0xc6, 0xa7, 0xc2, 0xff, 0xff, 0xff};
    assert_int_equal(vk_spdy_headers_decode(z, garbage, sizeof garbage, &h, &n, err, sizeof err),
                     -1);
    vk_spdy_zlib_free(z);
}

/* SYN_REPLY as the diagram lays it out, its block inflated here with
 * plain zlib and the dictionary. */
static void test_syn_reply_and_small_frames(void **state)
{
    (void)state;
    vk_spdy_zlib *z = vk_spdy_zlib_new();
    il_buf out = IL_BUF_INIT;
    il_kv hdr[] = {{"streamtype", "stdout"}};
    vk_spdy_syn_reply(z, 3, VK_SPDY_FLAG_FIN, hdr, 1, &out);
    const uint8_t *p = (const uint8_t *)out.data;
    assert_memory_equal(p, "\x80\x03\x00\x02\x01", 5);
    size_t plen = (size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7];
    assert_int_equal(plen, out.len - 8);
    assert_memory_equal(p + 8, "\x00\x00\x00\x03", 4);
    assert_memory_equal(p + 14, "\xe3\xc6\xa7\xc2", 4);   /* DICTID */

    z_stream in = {0};
    uint8_t plain[256];
    size_t dlen;
    const uint8_t *d = vk_spdy_dictionary(&dlen);
    assert_int_equal(inflateInit(&in), Z_OK);
    in.next_in = (Bytef *)p + 12;
    in.avail_in = (uInt)(plen - 4);
    in.next_out = plain;
    in.avail_out = sizeof plain;
    assert_int_equal(inflate(&in, Z_SYNC_FLUSH), Z_NEED_DICT);
    assert_int_equal(inflateSetDictionary(&in, d, (uInt)dlen), Z_OK);
    int rc = inflate(&in, Z_SYNC_FLUSH);
    assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
    static const uint8_t want[] = {0, 0, 0, 1, 0, 0, 0, 10, 's', 't', 'r', 'e', 'a', 'm', 't',
                                   'y', 'p', 'e', 0, 0, 0, 6, 's', 't', 'd', 'o', 'u', 't'};
    assert_int_equal(sizeof plain - in.avail_out, sizeof want);
    assert_memory_equal(plain, want, sizeof want);
    inflateEnd(&in);

    il_buf_reset(&out);
    vk_spdy_data(5, VK_SPDY_FLAG_FIN, "abc", 3, &out);
    vk_spdy_ping(9, &out);
    vk_spdy_rst_stream(7, VK_SPDY_REFUSED_STREAM, &out);
    vk_spdy_goaway(11, 0, &out);
    static const uint8_t frames[] = {
        0, 0, 0, 5, 1, 0, 0, 3, 'a', 'b', 'c',
        0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 9,
        0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 3,
        0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 11, 0, 0, 0, 0};
    assert_int_equal(out.len, sizeof frames);
    assert_memory_equal(out.data, frames, sizeof frames);
    il_buf_free(&out);
    vk_spdy_zlib_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_syn_streams_share_one_zlib_stream),
        cmocka_unit_test(test_parse_data_ping_and_partial),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_syn_reply_and_small_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
