/* test_session.c -- the exec/port-forward session wire between the VK,
 * interlink and plugins: frames laid out by hand, and requests that must
 * be refused before they reach a backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "session.h"

static void test_frames(void **state)
{
    (void)state;
    il_buf out = IL_BUF_INIT;
    il_session_frame(&out, IL_SESSION_STDOUT, "hi", 2);
    il_session_frame(&out, IL_SESSION_STDIN, NULL, 0);   /* stdin closed */
    static const uint8_t want[] = {1, 0, 0, 0, 2, 'h', 'i', 0, 0, 0, 0, 0};
    assert_int_equal(out.len, sizeof want);
    assert_memory_equal(out.data, want, sizeof want);

    int type;
    const uint8_t *p;
    size_t n;
    for (size_t cut = 0; cut < 7; cut++)
        assert_int_equal(il_session_parse(want, cut, &type, &p, &n), 0);
    assert_int_equal(il_session_parse(want, sizeof want, &type, &p, &n), 7);
    assert_int_equal(type, IL_SESSION_STDOUT);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "hi", 2);
    assert_int_equal(il_session_parse(want + 7, 5, &type, &p, &n), 5);
    assert_int_equal(type, IL_SESSION_STDIN);
    assert_int_equal(n, 0);

    static const uint8_t unknown[] = {9, 0, 0, 0, 0};
    assert_int_equal(il_session_parse(unknown, sizeof unknown, &type, &p, &n), -1);
    static const uint8_t huge[] = {1, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(il_session_parse(huge, sizeof huge, &type, &p, &n), -1);
    il_buf_free(&out);
}

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

#define POD "\"pod\":{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"," \
            "\"uid\":\"3dd7e0da-1289-4475-8b0a-de19494adff9\"}}"

static void test_exec_request_round_trip(void **state)
{
    (void)state;
    char *cmd[] = {"sh", "-c", "echo \"$(id)\"; `x`\n-rf ..", NULL};
    il_exec_request r = {.pod = {.name = "p", .ns = "ns",
                                 .uid = "3dd7e0da-1289-4475-8b0a-de19494adff9"},
                         .container = "c", .command = cmd, .stdin_open = true, .tty = true};
    json_t *j = il_exec_request_to_json(&r);
    json_object_set_new(j, "width", json_integer(120));
    json_object_set_new(j, "height", json_integer(40));
    il_exec_request back;
    char err[256];
    assert_int_equal(il_exec_request_parse(j, &back, err, sizeof err), 0);
    assert_string_equal(back.pod.uid, r.pod.uid);
    assert_string_equal(back.container, "c");
    for (int i = 0; i < 3; i++)   /* words pass through as words, never as shell */
        assert_string_equal(back.command[i], cmd[i]);
    assert_null(back.command[3]);
    assert_true(back.stdin_open && back.tty);
    assert_int_equal(back.width, 120);
    assert_int_equal(back.height, 40);
    il_exec_request_free(&back);
    json_decref(j);
}

/* attach -i: no command, the container's own stdin; refused as attach when
 * the command is not a list, and an exec without a command stays refused. */
static void test_attach_request(void **state)
{
    (void)state;
    il_exec_request r = {.pod = {.name = "p", .ns = "ns",
                                 .uid = "3dd7e0da-1289-4475-8b0a-de19494adff9"},
                         .container = "c", .stdin_open = true, .tty = true, .attach = true};
    json_t *j = il_exec_request_to_json(&r);
    il_exec_request back;
    char err[256];
    assert_int_equal(il_exec_request_parse(j, &back, err, sizeof err), 0);
    assert_true(back.attach && back.tty && back.stdin_open);
    assert_null(back.command[0]);
    il_exec_request_free(&back);
    json_decref(j);
    j = parse("{" POD ",\"container\":\"c\",\"attach\":true}");
    assert_int_equal(il_exec_request_parse(j, &back, err, sizeof err), 0);
    assert_true(back.attach);
    il_exec_request_free(&back);
    json_decref(j);
    j = parse("{" POD ",\"container\":\"c\",\"attach\":true,\"command\":\"ls\"}");
    assert_int_equal(il_exec_request_parse(j, &back, err, sizeof err), -1);
    json_decref(j);
    j = parse("{" POD ",\"container\":\"c\",\"attach\":false,\"command\":[]}");
    assert_int_equal(il_exec_request_parse(j, &back, err, sizeof err), -1);
    json_decref(j);
    r.attach = false;   /* a plain exec's body says nothing of attach */
    char *cmd[] = {"ls", NULL};
    r.command = cmd;
    j = il_exec_request_to_json(&r);
    assert_null(json_object_get(j, "attach"));
    json_decref(j);
}

static void test_bad_requests(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{" POD ",\"container\":\"c\"}",                              /* no command */
        "{" POD ",\"container\":\"c\",\"command\":[]}",
        "{" POD ",\"container\":\"c\",\"command\":[\"ls\",7]}",
        "{" POD ",\"command\":[\"ls\"]}",                             /* no container */
        "{\"container\":\"c\",\"command\":[\"ls\"]}",                 /* no pod */
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = parse(bad[i]);
        il_exec_request r;
        assert_int_equal(il_exec_request_parse(j, &r, err, sizeof err), -1);
        json_decref(j);
    }
    /* A terminal size out of range is ignored, not trusted. */
    json_t *j = parse("{" POD ",\"container\":\"c\",\"command\":[\"ls\"],\"tty\":true,"
                      "\"width\":99999999999,\"height\":-3}");
    il_exec_request r;
    assert_int_equal(il_exec_request_parse(j, &r, err, sizeof err), 0);
    assert_int_equal(r.width, 0);
    assert_int_equal(r.height, 0);
    il_exec_request_free(&r);
    json_decref(j);

    static const char *const ports[] = {"{" POD ",\"port\":0}", "{" POD ",\"port\":65536}",
                                        "{" POD ",\"port\":\"80\"}", "{\"port\":80}"};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        il_pod pod;
        int port;
        j = parse(ports[i]);
        assert_int_equal(il_portforward_parse(j, &pod, &port, err, sizeof err), -1);
        json_decref(j);
    }
    il_pod pod;
    int port;
    j = il_portforward_to_json("p", "ns", "3dd7e0da-1289-4475-8b0a-de19494adff9", 8080);
    assert_int_equal(il_portforward_parse(j, &pod, &port, err, sizeof err), 0);
    assert_int_equal(port, 8080);
    assert_string_equal(pod.name, "p");
    il_pod_free(&pod);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_exec_request_round_trip),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_attach_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
