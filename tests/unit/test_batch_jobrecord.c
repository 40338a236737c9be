/* test_batch_jobrecord.c -- job.json read through its memo
 * (src/batch/jobrecord.c, src/runner/podmemo.c): a read returns what the
 * file on disk says whether the id was committed in place, a final state
 * renamed over it, the record written over behind the reader's back, or
 * the directory removed; and what is kept goes with the pod. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "runner.h"
#include "tmptree.h"

typedef struct fixture {
    char pods[TMPTREE_MAX];
    char *dir;                /* a pod directory */
    char *record;             /* its job.json */
} fixture;

static int setup(void **state)
{
    fixture *f = il_xcalloc(1, sizeof(*f));
    if (tmptree_make(f->pods, "jobrecord") != 0)
        return -1;
    f->dir = il_xasprintf("%s/pod", f->pods);
    f->record = il_xasprintf("%s/job.json", f->dir);
    if (mkdir(f->dir, 0755) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rn_memo_forget_pod(f->dir);
    tmptree_remove(f->pods);
    free(f->dir);
    free(f->record);
    free(f);
    return 0;
}

/* job.json as the create lock: made empty, committed in place. */
static int make_lock(const fixture *f)
{
    int fd = open(f->record, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    return fd;
}

/* The id read, "" for none; *state the final state or "". */
static char *read_id(const fixture *f, char state[32])
{
    job_info final;
    char *id = job_record_read(f->dir, &final);
    snprintf(state, 32, "%s", final.state ? final.state : "");
    job_info_free(&final);
    char *text = il_xstrdup(id ? id : "");
    free(id);
    return text;
}

static void assert_record(const fixture *f, const char *want_id, const char *want_state)
{
    char state[32];
    char *id = read_id(f, state);
    assert_string_equal(id, want_id);
    assert_string_equal(state, want_state);
    free(id);
}

static void test_commit_then_final_state(void **state)
{
    fixture *f = *state;
    int fd = make_lock(f);
    assert_record(f, "", "");   /* a create still submitting */
    assert_int_equal(job_record_kept(), 0);
    assert_int_equal(job_record_commit(fd, f->pods, f->dir, "1234"), 0);
    assert_record(f, "1234", "");
    assert_record(f, "1234", "");
    assert_int_equal(job_record_kept(), 1);
    job_info final = {.id = il_xstrdup("1234"), .state = il_xstrdup("COMPLETED"),
                      .reason = il_xstrdup("None"), .exit_status = 256,
                      .start = {1700000000, 0}, .end = {1700000060, 5}};
    assert_int_equal(job_record_write(f->dir, "1234", &final), 0);
    for (int i = 0; i < 2; i++) {   /* read from the file, then from the memo */
        job_info got;
        char *id = job_record_read(f->dir, &got);
        assert_string_equal(id, "1234");
        assert_string_equal(got.state, "COMPLETED");
        assert_string_equal(got.reason, "None");
        assert_int_equal(got.exit_status, 256);
        assert_int_equal(got.start.sec, 1700000000);
        assert_int_equal(got.end.sec, 1700000060);
        free(id);
        job_info_free(&got);
    }
    free(job_record_read(f->dir, NULL));   /* without a final wanted */
    job_info_free(&final);
    close(fd);
}

/* A record of the same size written in place, as a copy brought back over
 * it would be: the same inode, another modification time. */
static void test_written_over_in_place_is_read_again(void **state)
{
    fixture *f = *state;
    int fd = make_lock(f);
    assert_int_equal(job_record_commit(fd, f->pods, f->dir, "1111"), 0);
    assert_record(f, "1111", "");
    struct stat before, after;
    assert_int_equal(stat(f->record, &before), 0);
    const char *other = "{\"jobId\":\"2222\"}\n";
    assert_int_equal(pwrite(fd, other, strlen(other), 0), (ssize_t)strlen(other));
    /* The next tick of the file system's clock, whatever its grain. */
    struct timespec later[2] = {before.st_atim, before.st_mtim};
    later[1].tv_sec += 1;
    assert_int_equal(futimens(fd, later), 0);
    assert_int_equal(stat(f->record, &after), 0);
    assert_true(before.st_ino == after.st_ino && before.st_size == after.st_size);
    assert_record(f, "2222", "");
    close(fd);
}

static void test_removed_directory_is_forgotten(void **state)
{
    fixture *f = *state;
    int fd = make_lock(f);
    assert_int_equal(job_record_commit(fd, f->pods, f->dir, "77"), 0);
    close(fd);
    assert_record(f, "77", "");
    assert_int_equal(job_record_kept(), 1);
    assert_int_equal(unlink(f->record), 0);   /* gone behind the reader's back */
    assert_record(f, "", "");
    assert_int_equal(job_record_kept(), 0);
    /* Made anew for the same pod: the new record, never the one kept. */
    fd = make_lock(f);
    assert_int_equal(job_record_commit(fd, f->pods, f->dir, "78"), 0);
    close(fd);
    assert_record(f, "78", "");
    rn_memo_forget_pod(f->dir);   /* what rn_poddir_remove does */
    assert_int_equal(job_record_kept(), 0);
    assert_record(f, "78", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_then_final_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_written_over_in_place_is_read_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_removed_directory_is_forgotten, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
