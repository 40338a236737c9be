/* test_slurm_identity.c -- IdentityMapFile (batch identity.c, slurm billing.c): loading and its
 * refusals, user before groups, unmapped callers refused with 403, the
 * comment made safe for the sbatch argv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slurm.h"

static json_t *load_map(const char *yaml, il_buf *err)
{
    char path[] = "/tmp/il-test-idmap-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    json_t *map = identity_map_load(path, err);
    unlink(path);
    return map;
}

static const char *const good =
    "users:\n"
    "  alice: {Account: acct-a, QoS: normal, Partition: batch}\n"
    "groups:\n"
    "  physics: {Account: acct-phys}\n"
    "  chem: {Account: acct-chem}\n";

static char *joined(const strvec *v)
{
    il_buf b = IL_BUF_INIT;
    for (size_t i = 0; i < v->n; i++)
        il_buf_printf(&b, "%s%s", i ? " | " : "", v->v[i]);
    return il_buf_steal(&b);
}

static void resolves(json_t *map, il_caller caller, int want_rc, const char *want_flags)
{
    slurm_config cfg = {.ident.map = map};
    slurm_identity id;
    il_buf err = IL_BUF_INIT;
    int rc = slurm_identity_resolve(&cfg, &caller, &id, &err);
    assert_int_equal(rc, want_rc);
    if (rc == 0) {
        char *flags = joined(&id.flags);
        assert_string_equal(flags, want_flags);
        free(flags);
        assert_false(id.who.as_user);
    } else {
        assert_non_null(strstr(il_buf_cstr(&err), want_flags));
    }
    slurm_identity_free(&id);
    il_buf_free(&err);
}

static void test_user_then_groups_then_refused(void **state)
{
    (void)state;
    il_buf err = IL_BUF_INIT;
    json_t *map = load_map(good, &err);
    assert_non_null(map);
    resolves(map, (il_caller){"alice", "physics", "team-a"}, 0,
             "--comment=interlink user=alice tenant=team-a | --account=acct-a | --qos=normal | "
             "--partition=batch");
    resolves(map, (il_caller){"bob", "other,chem,physics", "t"}, 0,
             "--comment=interlink user=bob tenant=t | --account=acct-chem");
    resolves(map, (il_caller){"carol", "other", "t"}, 403,
             "user \"carol\" (groups: other) is not mapped");
    resolves(map, (il_caller){NULL, NULL, NULL}, 403, "no caller identity");
    resolves(map, (il_caller){"", NULL, NULL}, 403, "no caller identity");
    json_decref(map);
    il_buf_free(&err);
}

static void test_comment_is_safe_and_without_map_nothing_is_refused(void **state)
{
    (void)state;
    resolves(NULL, (il_caller){"ev il$(id)\n--uid=0", NULL, "a b"}, 0,
             "--comment=interlink user=ev_il__id__--uid_0 tenant=a_b");
    resolves(NULL, (il_caller){"x@example.org", NULL, NULL}, 0,
             "--comment=interlink user=x@example.org");
    resolves(NULL, (il_caller){NULL, NULL, NULL}, 0, "");
}

static void test_bad_maps_are_refused_at_load(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"users: {alice: acct-a}\n", "users.alice must be a mapping"},
        {"users: {alice: {Account: -x}}\n", "users.alice.Account: expected a name"},
        {"users: {alice: {Account: \"a b\"}}\n", "expected a name"},
        {"users: {alice: {Acount: a}}\n", "unknown key (Account"},
        {"people: {}\n", "unknown key people"},
        {"- a\n", "expected a mapping"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        il_buf err = IL_BUF_INIT;
        json_t *map = load_map(bad[i][0], &err);
        assert_null(map);
        if (!strstr(il_buf_cstr(&err), bad[i][1]))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i][0], il_buf_cstr(&err), bad[i][1]);
        il_buf_free(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_then_groups_then_refused),
        cmocka_unit_test(test_comment_is_safe_and_without_map_nothing_is_refused),
        cmocka_unit_test(test_bad_maps_are_refused_at_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
