/* test_slurm_nodeexec.c -- the exec pump that interlink-slurm's node side
 * runs over srun's stdin and stdout (il_exec_serve on plain fds), with
 * commands started by il_exec_spawn: the frames in and out, stdin close,
 * a terminal's size and resize, the exit code, and the command killed when
 * its input ends first (the plugin gone). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "plugin.h"

/* Frames written into a pipe as the plugin would send them. */
static int input(const char *const *frames, const int *types, size_t n, bool end)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    il_buf b = IL_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        il_session_frame(&b, types[i], frames[i], strlen(frames[i]));
    assert_int_equal(write(p[1], b.data, b.len), (ssize_t)b.len);
    il_buf_free(&b);
    if (end)
        close(p[1]);
    return p[0];
}

/* Everything of type from the frames in buf. */
static void collect(const il_buf *buf, int type, il_buf *out, bool *exit_seen)
{
    for (size_t at = 0; at < buf->len;) {
        int t;
        const uint8_t *p;
        size_t n;
        ssize_t used = il_session_parse((const uint8_t *)buf->data + at, buf->len - at, &t, &p,
                                        &n);
        assert_true(used > 0);
        if (t == type)
            il_buf_append(out, p, n);
        if (t == IL_SESSION_EXIT)
            *exit_seen = true;
        at += (size_t)used;
    }
}

/* Serve argv with the given input; returns il_exec_serve's result and the
 * output frames in *out. */
static int serve(char *argv[], bool tty, int in_fd, il_buf *out)
{
    il_exec_proc proc;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(il_exec_spawn(argv, NULL, tty, 80, 24, true, &proc, &err), 0);
    il_buf_free(&err);
    int o[2];
    assert_int_equal(pipe(o), 0);
    int rc = il_exec_serve(&proc, in_fd, o[1]);
    close(o[1]);
    close(in_fd);
    char chunk[4096];
    ssize_t n;
    while ((n = read(o[0], chunk, sizeof chunk)) > 0)
        il_buf_append(out, chunk, (size_t)n);
    close(o[0]);
    return rc;
}

static void test_output_stdin_close_and_exit_code(void **state)
{
    (void)state;
    char *argv[] = {"sh", "-c", "cat; echo err >&2; exit 3", NULL};
    const char *frames[] = {"abc", "def\n", ""};   /* the empty frame closes stdin */
    int types[] = {IL_SESSION_STDIN, IL_SESSION_STDIN, IL_SESSION_STDIN};
    il_buf out = IL_BUF_INIT, so = IL_BUF_INIT, se = IL_BUF_INIT, ex = IL_BUF_INIT;
    assert_int_equal(serve(argv, false, input(frames, types, 3, false), &out), 3);
    bool seen = false;
    collect(&out, IL_SESSION_STDOUT, &so, &seen);
    collect(&out, IL_SESSION_STDERR, &se, &seen);
    collect(&out, IL_SESSION_EXIT, &ex, &seen);
    assert_true(seen);
    assert_string_equal(il_buf_cstr(&so), "abcdef\n");
    assert_string_equal(il_buf_cstr(&se), "err\n");
    assert_string_equal(il_buf_cstr(&ex), "{\"exitCode\":3}");
    il_buf_free(&out);
    il_buf_free(&so);
    il_buf_free(&se);
    il_buf_free(&ex);
}

static void test_tty_size_and_resize(void **state)
{
    (void)state;
    char *argv[] = {"sh", "-c", "stty size; read x; stty size; exit 4", NULL};
    const char *frames[] = {"{\"Width\":100,\"Height\":30}", "go\r"};
    int types[] = {IL_SESSION_RESIZE, IL_SESSION_STDIN};
    il_buf out = IL_BUF_INIT, so = IL_BUF_INIT;
    assert_int_equal(serve(argv, true, input(frames, types, 2, false), &out), 4);
    bool seen = false;
    collect(&out, IL_SESSION_STDOUT, &so, &seen);
    assert_true(seen);
    /* The first size is the one asked at the start or already the resize
     * (the frames were all there before the command ran); the last is the
     * resize's. */
    const char *text = il_buf_cstr(&so);
    assert_non_null(strstr(text, "30 100\r\n"));
    assert_true(strstr(text, "24 80\r\n") || strstr(text, "30 100\r\n30 100\r\n"));
    il_buf_free(&out);
    il_buf_free(&so);
}

static void test_input_ended_first_kills_the_command(void **state)
{
    (void)state;
    char *argv[] = {"sleep", "4714", NULL};
    il_exec_proc proc;
    il_buf err = IL_BUF_INIT;
    assert_int_equal(il_exec_spawn(argv, NULL, false, 0, 0, true, &proc, &err), 0);
    il_buf_free(&err);
    int in = input(NULL, NULL, 0, true);   /* the plugin went away */
    int o[2];
    assert_int_equal(pipe(o), 0);
    assert_int_equal(il_exec_serve(&proc, in, o[1]), -1);
    errno = 0;
    assert_int_equal(kill(proc.pid, 0), -1);   /* killed and reaped */
    assert_int_equal(errno, ESRCH);
    char c;
    close(o[1]);
    assert_int_equal(read(o[0], &c, 1), 0);   /* no exit frame: nobody to read it */
    close(o[0]);
    close(in);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_stdin_close_and_exit_code),
        cmocka_unit_test(test_tty_size_and_resize),
        cmocka_unit_test(test_input_ended_first_kills_the_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
