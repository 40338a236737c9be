/* test_runner_filestatus.c -- a pod's status read from its directory
 * (src/runner/filestatus.c) and the outline kept of its pod.json
 * (src/runner/podoutline.c): a status names what the pod.json on disk
 * names, whether the directory was made anew for the same UID, written
 * over, or removed behind the reader's back; and what is kept goes with
 * the pod.  Real pod directories laid out by rn_poddir_create. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "runner.h"
#include "tmptree.h"

#define UID "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
#define UID2 "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"

typedef struct fixture {
    char pods[TMPTREE_MAX];
} fixture;

static int setup(void **state)
{
    fixture *f = il_xcalloc(1, sizeof(*f));
    if (tmptree_make(f->pods, "filestatus") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tmptree_remove(f->pods);
    free(f);
    return 0;
}

/* A pod named `name` with one container per entry of ctrs (image
 * "img-<name>"), laid out as /create does. */
static void make_pod(const fixture *f, const char *uid, const char *name, const char **ctrs)
{
    json_t *arr = json_array();
    for (const char **c = ctrs; *c; c++) {
        char *image = il_xasprintf("img-%s", *c);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", *c, "image", image));
        free(image);
    }
    json_t *body = json_pack("{s:{s:{s:s, s:s, s:s}, s:{s:o}}, s:[]}", "pod", "metadata",
                             "name", name, "namespace", "default", "uid", uid, "spec",
                             "containers", arr, "container");
    il_create_request req;
    char err[512];
    if (il_create_request_parse(body, &req, err, sizeof(err)) != 0)
        fail_msg("request: %s", err);
    json_decref(body);
    runtime_spec rt = {.kind = RUNTIME_HOST, .bwrap_path = il_xstrdup("/usr/bin/bwrap")};
    bool created = false;
    int lock_fd = -1;
    il_buf perr = IL_BUF_INIT;
    if (rn_poddir_create(f->pods, &req, &rt, &created, &lock_fd, &perr) != 0)
        fail_msg("rn_poddir_create: %s", il_buf_cstr(&perr));
    assert_true(created);
    if (lock_fd >= 0)
        close(lock_fd);
    il_buf_free(&perr);
    il_create_request_free(&req);
    rn_runtime_spec_free(&rt);
}

static void remove_pod(const fixture *f, const char *uid)
{
    il_buf err = IL_BUF_INIT;
    assert_int_equal(rn_poddir_remove(f->pods, uid, &err), IL_OK);
    il_buf_free(&err);
}

/* The status's pod name and its containers as "name=image,...". */
static char *status_of(const fixture *f, const char *uid, int *rc)
{
    char *dir = rn_store_pod_dir(f->pods, uid);
    il_pod_status st = {0};
    *rc = rn_podstatus_read(dir, &st);
    free(dir);
    if (*rc != 0)
        return NULL;
    il_buf b = IL_BUF_INIT;
    il_buf_printf(&b, "%s:", st.name);
    for (size_t i = 0; i < st.n_containers; i++) {
        const il_container_status *cs = &st.containers[i];
        il_buf_printf(&b, "%s%s=%s/%s", i ? "," : "", cs->name, cs->image, cs->reason);
    }
    il_pod_status_free(&st);
    char *text = il_xstrdup(il_buf_cstr(&b));
    il_buf_free(&b);
    return text;
}

static void assert_status(const fixture *f, const char *uid, const char *want)
{
    int rc;
    char *got = status_of(f, uid, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(got, want);
    free(got);
}

static void test_status_names_what_pod_json_names(void **state)
{
    fixture *f = *state;
    make_pod(f, UID, "first", (const char *[]){"a", "b", NULL});
    assert_status(f, UID, "first:a=img-a/ContainerCreating,b=img-b/ContainerCreating");
    assert_status(f, UID, "first:a=img-a/ContainerCreating,b=img-b/ContainerCreating");
    assert_int_equal(rn_podoutline_count(), 1);
    /* The same UID laid out anew (a delete, then a create) names the new pod. */
    remove_pod(f, UID);
    assert_int_equal(rn_podoutline_count(), 0);
    make_pod(f, UID, "second", (const char *[]){"c", NULL});
    assert_status(f, UID, "second:c=img-c/ContainerCreating");
    remove_pod(f, UID);
}

static void test_pod_json_written_over_is_read_again(void **state)
{
    fixture *f = *state;
    make_pod(f, UID, "first", (const char *[]){"a", NULL});
    assert_status(f, UID, "first:a=img-a/ContainerCreating");
    /* A copy written over the file in place (a file transfer bringing the
     * directory back does that): same inode, another content. */
    make_pod(f, UID2, "other", (const char *[]){"a", "z", NULL});
    char *src = il_xasprintf("%s/%s/pod.json", f->pods, UID2);
    char *dst = il_xasprintf("%s/%s/pod.json", f->pods, UID);
    struct stat before, after;
    assert_int_equal(stat(dst, &before), 0);
    char *cmd = il_xasprintf("sed 's/%s/%s/' '%s' > '%s'", UID2, UID, src, dst);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(stat(dst, &after), 0);
    assert_true(before.st_ino == after.st_ino);
    assert_status(f, UID, "other:a=img-a/ContainerCreating,z=img-z/ContainerCreating");
    free(cmd);
    free(dst);
    free(src);
    remove_pod(f, UID);
    remove_pod(f, UID2);
    assert_int_equal(rn_podoutline_count(), 0);
}

static void test_pod_removed_behind_our_back_is_unknown(void **state)
{
    fixture *f = *state;
    make_pod(f, UID, "first", (const char *[]){"a", NULL});
    assert_status(f, UID, "first:a=img-a/ContainerCreating");
    assert_int_equal(rn_podoutline_count(), 1);
    char *dir = il_xasprintf("%s/%s", f->pods, UID);
    assert_int_equal(tmptree_remove(dir), 0);
    free(dir);
    int rc;
    assert_null(status_of(f, UID, &rc));
    assert_int_equal(rc, -1);
    assert_int_equal(rn_podoutline_count(), 0);
}

/* Readers racing a delete and a create of the same UID see one pod or the
 * other, or none, never a mix; run under ASan this also catches a reader
 * using an outline another thread dropped. */
typedef struct racer {
    const fixture *f;
    int seen_first, seen_second, seen_none, seen_mixed;
} racer;

static void *read_many(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 2000; i++) {
        int rc;
        char *got = status_of(r->f, UID, &rc);
        if (!got)
            r->seen_none++;
        else if (strcmp(got, "first:a=img-a/ContainerCreating") == 0)
            r->seen_first++;
        else if (strcmp(got, "second:b=img-b/ContainerCreating,c=img-c/ContainerCreating") == 0)
            r->seen_second++;
        else   /* cmocka's checks belong to the main thread */
            r->seen_mixed++;
        free(got);
    }
    return NULL;
}

static void test_readers_racing_delete_and_create(void **state)
{
    fixture *f = *state;
    racer r[3] = {{.f = f}, {.f = f}, {.f = f}};
    pthread_t t[3];
    make_pod(f, UID, "first", (const char *[]){"a", NULL});
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, read_many, &r[i]), 0);
    for (int round = 0; round < 30; round++) {
        remove_pod(f, UID);
        if (round % 2)
            make_pod(f, UID, "first", (const char *[]){"a", NULL});
        else
            make_pod(f, UID, "second", (const char *[]){"b", "c", NULL});
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(r[i].seen_mixed, 0);
        assert_int_equal(r[i].seen_first + r[i].seen_second + r[i].seen_none, 2000);
    }
    assert_status(f, UID, "first:a=img-a/ContainerCreating");
    remove_pod(f, UID);
    assert_int_equal(rn_podoutline_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_names_what_pod_json_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_json_written_over_is_read_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pod_removed_behind_our_back_is_unknown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readers_racing_delete_and_create, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
