/* test_runner_logfile.c -- container log files (src/runner/logfile.c):
 * the records the supervisor writes (CRI-like lines, F and P, stdout and
 * stderr, lines longer than a record), and the reader behind /getLogs on
 * real files in a temporary pod directory: the original bytes back
 * exactly, Tail, Bytes (LimitBytes), SinceSeconds, SinceTime, Timestamps,
 * malformed and half-written records, invalid UTF-8, the request checks,
 * and follow mode (IL_STREAM_AGAIN while the container is quiet, the end
 * once it terminated). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "runner.h"
#include "tmptree.h"
#include "timeutil.h"

#define UID "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
#define LINE_MAX_BYTES (16 * 1024)   /* logfile.c's LOG_LINE_MAX */

typedef struct fixture {
    char pods[TMPTREE_MAX];
    char *pod_dir;
    char *ctr_dir;
    char *log;
    bool alive;               /* what the backend says about the pod */
    const char *last_words;   /* appended by the backend's liveness check */
} fixture;

static int setup(void **state)
{
    fixture *f = il_xcalloc(1, sizeof(*f));
    if (tmptree_make(f->pods, "logfile") != 0)
        return -1;
    f->pod_dir = rn_store_pod_dir(f->pods, UID);
    f->ctr_dir = rn_store_ctr_dir(f->pod_dir, "main");
    f->log = rn_store_path(f->ctr_dir, "log");
    if (il_mkdir_p(f->ctr_dir, 0755) != 0)
        return -1;
    f->alive = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tmptree_remove(f->pods);
    free(f->pod_dir);
    free(f->ctr_dir);
    free(f->log);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    il_buf b = IL_BUF_INIT;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        il_buf_append(&b, chunk, got);
    fclose(fp);
    *len = b.len;
    return il_buf_steal(&b);
}

static void append_raw(const fixture *f, const char *text, size_t len)
{
    int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(il_write_all(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Append a record with the given time (seconds relative to now). */
static void append_record(const fixture *f, int64_t rel_s, const char *stream, char tag,
                          const char *data)
{
    il_time t = il_time_now();
    t.sec += rel_s;
    char ts[IL_RFC3339_MAX];
    il_time_format(t, true, ts);
    char *rec = il_xasprintf("%s %s %c %s\n", ts, stream, tag, data);
    append_raw(f, rec, strlen(rec));
    free(rec);
}

/* Feed chunks (NULL-terminated) through a writer of the given stream. */
static void feed(const fixture *f, const char *stream, const char *const *chunks, bool flush)
{
    int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    log_writer w = {.fd = fd, .stream = stream};
    for (size_t i = 0; chunks[i]; i++)
        rn_log_writer_feed(&w, chunks[i], strlen(chunks[i]));
    if (flush)
        rn_log_writer_flush(&w);
    rn_log_writer_free(&w);
    close(fd);
}

static void append_record(const fixture *f, int64_t rel_s, const char *stream, char tag,
                          const char *data);

/* The backend's liveness check; it may write a last record first (the
 * race of a container writing while it ends). */
static bool alive_cb(const char *pod_dir, void *ctx)
{
    (void)pod_dir;
    fixture *f = ctx;
    if (f->last_words) {
        append_record(f, 0, "stdout", 'F', f->last_words);
        f->last_words = NULL;
    }
    return f->alive;
}

static il_log_request request(void)
{
    return (il_log_request){.ns = "default", .pod_uid = UID, .pod_name = "p",
                            .container = "main"};
}

static void *open_stream(fixture *f, const il_log_request *req)
{
    void *s = NULL;
    il_buf err = IL_BUF_INIT;
    int rc = rn_logs_open_in(f->pods, req, alive_cb, f, &s, &err);
    if (rc != 0)
        fail_msg("rn_logs_open_in: %d %s", rc, il_buf_cstr(&err));
    il_buf_free(&err);
    return s;
}

/* Read to the end (not for follow streams that stay open). */
static char *read_all(void *s, size_t *len)
{
    il_buf out = IL_BUF_INIT;
    char buf[777];   /* odd size: answers split anywhere */
    ssize_t n;
    while ((n = rn_logs_read(s, buf, sizeof(buf))) > 0)
        il_buf_append(&out, buf, (size_t)n);
    assert_int_equal(n, 0);
    *len = out.len;
    return il_buf_steal(&out);
}

/* The whole log as the reader gives it for req. */
static char *logs_of(fixture *f, const il_log_request *req)
{
    void *s = open_stream(f, req);
    size_t len;
    char *text = read_all(s, &len);
    rn_logs_close(s);
    return text;
}

/* ---- writing ------------------------------------------------------------ */

/* "<RFC3339Nano> <stream> <F|P> <bytes>": a newline ends an F record,
 * whatever the chunks; the rest at EOF is a P record. */
static void test_record_format(void **state)
{
    fixture *f = *state;
    const char *out[] = {"hel", "lo\nwor", "ld\n\nlast", NULL};
    feed(f, "stdout", out, true);
    const char *err[] = {"oops\n", NULL};
    feed(f, "stderr", err, true);

    size_t len;
    char *text = slurp(f->log, &len);
    static const char *want[][3] = {{"stdout", "F", "hello"}, {"stdout", "F", "world"},
                                    {"stdout", "F", ""},      {"stdout", "P", "last"},
                                    {"stderr", "F", "oops"}};
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    for (size_t i = 0; i < 5; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        char ts[64], stream[16], tag[4];
        int data_at = 0;
        assert_int_equal(sscanf(line, "%63s %15s %3s %n", ts, stream, tag, &data_at), 3);
        il_time t;
        assert_int_equal(il_time_parse(ts, &t), 0);
        assert_non_null(strchr(ts, '.'));   /* nanoseconds kept */
        assert_true(ts[strlen(ts) - 1] == 'Z');
        int64_t now = il_time_now().sec;
        assert_true(t.sec <= now && t.sec >= now - 60);
        assert_string_equal(stream, want[i][0]);
        assert_string_equal(tag, want[i][1]);
        /* "%n" skips the blank after the tag; an empty F record has none left */
        const char *data = line + strlen(ts) + strlen(stream) + 4;
        assert_string_equal(data, want[i][2]);
    }
    assert_null(line);
    free(text);
}

/* A line longer than a record is split into P records and one F record;
 * the reader joins them back. */
static void test_huge_line(void **state)
{
    fixture *f = *state;
    size_t big = 2 * LINE_MAX_BYTES + 1234;
    char *line = il_xmalloc(big + 2);
    for (size_t i = 0; i < big; i++)
        line[i] = (char)('a' + i % 26);
    line[big] = '\n';
    line[big + 1] = '\0';
    const char *chunks[] = {line, "after\n", NULL};
    feed(f, "stdout", chunks, true);

    size_t len;
    char *text = slurp(f->log, &len);
    int p = 0, full = 0;
    for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *tag = strstr(l, " stdout ") + strlen(" stdout ");
        if (*tag == 'P') {
            p++;
            assert_int_equal(strchr(l, '\n') - (tag + 2), LINE_MAX_BYTES);
        } else {
            full++;
        }
    }
    assert_int_equal(p, 2);
    assert_int_equal(full, 2);
    free(text);

    il_log_request req = request();
    char *got = logs_of(f, &req);
    char *want = il_xasprintf("%safter\n", line);
    assert_string_equal(got, want);
    free(want);
    free(got);

    /* Tail counts lines, not records. */
    req.tail = 2;
    got = logs_of(f, &req);
    assert_int_equal(strlen(got), big + 1 + strlen("after\n"));
    free(got);
    free(line);
}

/* ---- reading -------------------------------------------------------------- */

/* Both streams, in the order written; a last line without a newline comes
 * back without one; invalid UTF-8 and odd bytes pass through untouched. */
static void test_round_trip(void **state)
{
    fixture *f = *state;
    const char *a[] = {"one\n", NULL};
    const char *b[] = {"two\n", NULL};
    const char *c[] = {"bad \xff\xfe utf-8 \xc3\x28 and \t tabs\r\n", "end", NULL};
    feed(f, "stdout", a, false);
    feed(f, "stderr", b, false);
    feed(f, "stdout", c, true);
    il_log_request req = request();
    char *got = logs_of(f, &req);
    assert_string_equal(got, "one\ntwo\nbad \xff\xfe utf-8 \xc3\x28 and \t tabs\r\nend");
    free(got);
}

static void test_timestamps(void **state)
{
    fixture *f = *state;
    static const char recs[] = "2024-01-02T03:04:05.123456789Z stdout P par\n"
                               "2024-01-02T03:04:06.5Z stdout F tial\n"
                               "2024-01-02T03:04:07Z stderr F next\n";
    append_raw(f, recs, sizeof(recs) - 1);
    il_log_request req = request();
    req.timestamps = true;
    char *got = logs_of(f, &req);
    /* The time of a line is the time of its first record; as written. */
    assert_string_equal(got, "2024-01-02T03:04:05.123456789Z partial\n"
                             "2024-01-02T03:04:07Z next\n");
    free(got);
}

static void test_tail(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 10; i++) {
        char *line = il_xasprintf("line %d\n", i);
        const char *chunks[] = {line, NULL};
        feed(f, i % 2 ? "stderr" : "stdout", chunks, false);
        free(line);
    }
    il_log_request req = request();
    req.tail = 3;
    char *got = logs_of(f, &req);
    assert_string_equal(got, "line 7\nline 8\nline 9\n");
    free(got);
    req.tail = 1;
    got = logs_of(f, &req);
    assert_string_equal(got, "line 9\n");
    free(got);
    req.tail = 10;
    got = logs_of(f, &req);
    assert_non_null(strstr(got, "line 0\n"));
    free(got);
    req.tail = 1000;   /* more than there are: everything */
    got = logs_of(f, &req);
    assert_int_equal(strncmp(got, "line 0\nline 1\n", 14), 0);
    free(got);
}

static void test_limit_bytes(void **state)
{
    fixture *f = *state;
    const char *chunks[] = {"abcdef\n", "ghijkl\n", NULL};
    feed(f, "stdout", chunks, false);
    il_log_request req = request();
    req.limit_bytes = 9;
    char *got = logs_of(f, &req);
    assert_string_equal(got, "abcdef\ngh");
    free(got);
    req.limit_bytes = 7;   /* the limit at a record's end */
    got = logs_of(f, &req);
    assert_string_equal(got, "abcdef\n");
    free(got);
    req.limit_bytes = 1000;
    got = logs_of(f, &req);
    assert_string_equal(got, "abcdef\nghijkl\n");
    free(got);
    /* Timestamps count against the limit (they are part of the answer). */
    req.limit_bytes = 5;
    req.timestamps = true;
    got = logs_of(f, &req);
    assert_int_equal(strlen(got), 5);
    assert_int_equal(strncmp(got, "20", 2), 0);
    free(got);
}

static void test_since(void **state)
{
    fixture *f = *state;
    append_record(f, -300, "stdout", 'F', "old");
    append_record(f, -200, "stdout", 'P', "old-");   /* a line started before... */
    append_record(f, -5, "stdout", 'F', "continued");  /* ...ends after: it is old */
    append_record(f, -4, "stderr", 'F', "recent");
    append_record(f, -1, "stdout", 'F', "newest");

    il_log_request req = request();
    req.since_seconds = 100;
    char *got = logs_of(f, &req);
    assert_string_equal(got, "recent\nnewest\n");
    free(got);

    req.since_seconds = 0;
    req.since_time = il_time_now();
    req.since_time.sec -= 250;
    got = logs_of(f, &req);
    assert_string_equal(got, "old-continued\nrecent\nnewest\n");
    free(got);

    req.tail = 1;   /* both: the last line of those since */
    got = logs_of(f, &req);
    assert_string_equal(got, "newest\n");
    free(got);

    req.tail = 0;
    req.since_time = il_time_now();
    req.since_time.sec += 60;   /* in the future: nothing */
    got = logs_of(f, &req);
    assert_string_equal(got, "");
    free(got);
}

/* Lines that are not records are skipped; a half-written last record (no
 * newline yet) is not shown until it is complete. */
static void test_malformed_and_truncated(void **state)
{
    fixture *f = *state;
    append_record(f, -1, "stdout", 'F', "good");
    static const char junk[] = "not a record at all\n"
                               "2024-13-45T99:99:99Z stdout F bad time\n"
                               "2024-01-02T03:04:05Z stdout X bad tag\n"
                               "2024-01-02T03:04:05Z stdout Fno blank\n"
                               "\n";
    append_raw(f, junk, sizeof(junk) - 1);
    append_record(f, -1, "stderr", 'F', "also good");
    char ts[IL_RFC3339_MAX];
    il_time_format(il_time_now(), true, ts);
    char *half = il_xasprintf("%s stdout F half-writ", ts);
    append_raw(f, half, strlen(half));
    free(half);

    il_log_request req = request();
    char *got = logs_of(f, &req);
    assert_string_equal(got, "good\nalso good\n");
    free(got);
    req.tail = 1;
    got = logs_of(f, &req);
    assert_string_equal(got, "also good\n");
    free(got);

    append_raw(f, "ten\n", 4);
    req.tail = 0;
    got = logs_of(f, &req);
    assert_string_equal(got, "good\nalso good\nhalf-written\n");
    free(got);
}

static void test_request_errors(void **state)
{
    fixture *f = *state;
    append_record(f, 0, "stdout", 'F', "x");
    void *s = NULL;
    il_buf err = IL_BUF_INIT;

    il_log_request req = request();
    req.pod_uid = "../../etc";
    assert_int_equal(rn_logs_open_in(f->pods, &req, alive_cb, f, &s, &err), IL_FAIL_INPUT);
    req = request();
    req.container = "../main";
    assert_int_equal(rn_logs_open_in(f->pods, &req, alive_cb, f, &s, &err), IL_FAIL_INPUT);
    il_buf_reset(&err);

    req = request();
    req.previous = true;
    assert_int_equal(rn_logs_open_in(f->pods, &req, alive_cb, f, &s, &err), IL_FAIL_INPUT);
    assert_non_null(strstr(il_buf_cstr(&err), "never restarted"));
    il_buf_reset(&err);

    req = request();
    req.container = "other";
    assert_int_equal(rn_logs_open_in(f->pods, &req, alive_cb, f, &s, &err), IL_FAIL_NOT_FOUND);
    assert_non_null(strstr(il_buf_cstr(&err), "container \"other\""));
    il_buf_reset(&err);

    req = request();
    req.pod_uid = "00000000-0000-4000-8000-000000000000";
    assert_int_equal(rn_logs_open_in(f->pods, &req, alive_cb, f, &s, &err), IL_FAIL_NOT_FOUND);
    assert_null(s);
    il_buf_free(&err);
}

/* A container declared in the pod whose log does not exist yet (a lazy
 * layout): an empty log, not a 404. */
static void test_declared_not_started(void **state)
{
    fixture *f = *state;
    json_t *body = json_pack(
        "{s:{s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s}], s:[{s:s, s:s}]}}, s:[]}", "pod", "metadata",
        "name", "p", "namespace", "default", "uid", UID, "spec", "initContainers", "name",
        "setup", "image", "busybox", "containers", "name", "main", "image", "busybox",
        "container");
    char *path = rn_store_path(f->pod_dir, "pod.json");
    assert_int_equal(rn_store_save_json(path, body), 0);
    free(path);
    json_decref(body);

    il_log_request req = request();
    req.container = "setup";
    char *got = logs_of(f, &req);
    assert_string_equal(got, "");
    free(got);

    void *s = NULL;
    il_buf err = IL_BUF_INIT;
    req.container = "undeclared";
    assert_int_equal(rn_logs_open_in(f->pods, &req, alive_cb, f, &s, &err), IL_FAIL_NOT_FOUND);
    il_buf_free(&err);
}

static void set_state(const fixture *f, il_state_kind kind)
{
    il_container_status st = {0};
    rn_state_set(&st, kind, kind == IL_STATE_TERMINATED ? "Completed" : NULL, NULL);
    assert_int_equal(rn_state_write(f->ctr_dir, &st, 0), 0);
    il_container_status_free(&st);
}

/* Follow: what is there, then IL_STREAM_AGAIN while the container is
 * quiet (about a second, so the server can check the client), new lines
 * as they come, and the end once the container terminated. */
static void test_follow(void **state)
{
    fixture *f = *state;
    set_state(f, IL_STATE_RUNNING);
    append_record(f, 0, "stdout", 'F', "first");
    il_log_request req = request();
    req.follow = true;
    void *s = open_stream(f, &req);
    char buf[256];
    ssize_t n = rn_logs_read(s, buf, sizeof(buf));
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "first\n", 6);

    int64_t t0 = il_monotonic_ms();
    assert_int_equal(rn_logs_read(s, buf, sizeof(buf)), IL_STREAM_AGAIN);
    int64_t waited = il_monotonic_ms() - t0;
    assert_true(waited >= 500 && waited < 3000);

    /* A half-written record is not handed out; once complete, it is. */
    char ts[IL_RFC3339_MAX];
    il_time_format(il_time_now(), true, ts);
    char *rec = il_xasprintf("%s stderr F second\n", ts);
    append_raw(f, rec, 10);
    assert_int_equal(rn_logs_read(s, buf, sizeof(buf)), IL_STREAM_AGAIN);
    append_raw(f, rec + 10, strlen(rec) - 10);
    free(rec);
    n = rn_logs_read(s, buf, sizeof(buf));
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "second\n", 7);

    /* Terminated: the records written before are still read, then the end. */
    append_record(f, 0, "stdout", 'F', "last");
    set_state(f, IL_STATE_TERMINATED);
    il_buf rest = IL_BUF_INIT;
    while ((n = rn_logs_read(s, buf, sizeof(buf))) > 0)
        il_buf_append(&rest, buf, (size_t)n);
    assert_int_equal(n, 0);
    assert_string_equal(il_buf_cstr(&rest), "last\n");
    il_buf_free(&rest);
    rn_logs_close(s);
}

/* Follow also ends when the backend says the pod can write no more (its
 * supervisor died before the container's state said terminated); what was
 * written while that was found out is still read. */
static void test_follow_pod_gone(void **state)
{
    fixture *f = *state;
    set_state(f, IL_STATE_RUNNING);
    append_record(f, 0, "stdout", 'F', "only");
    il_log_request req = request();
    req.follow = true;
    void *s = open_stream(f, &req);
    f->alive = false;
    f->last_words = "late";
    size_t len;
    char *got = read_all(s, &len);
    assert_string_equal(got, "only\nlate\n");
    free(got);
    rn_logs_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_and_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declared_not_started, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follow_pod_gone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
