/* test_vk_kubelet.c -- the kubelet API's authorization rule: group
 * system:masters, or a user named in KubeletAllowedUsers (by default the
 * API server's kubelet client). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "kubelet.h"

static vk_user user(const char *name, const char *group)
{
    vk_user u = {.via = "test"};
    snprintf(u.name, sizeof u.name, "%s", name);
    if (group)
        snprintf(u.groups[u.n_groups++], sizeof u.groups[0], "%s", group);
    return u;
}

static void test_default_rule(void **state)
{
    (void)state;
    vk_user apiserver = user("kube-apiserver-kubelet-client", "kubeadm:cluster-admins");
    vk_user master = user("alice", "system:masters");
    vk_user sa = user("system:serviceaccount:default:default", "system:serviceaccounts");
    assert_true(vk_authz_allowed(&apiserver, NULL));
    assert_true(vk_authz_allowed(&master, NULL));
    assert_false(vk_authz_allowed(&sa, NULL));
    char *none[] = {NULL};
    assert_true(vk_authz_allowed(&apiserver, none));   /* an empty list is the default */
}

static void test_allow_list(void **state)
{
    (void)state;
    char *allowed[] = {"metrics-scraper", NULL};
    vk_user scraper = user("metrics-scraper", NULL);
    vk_user apiserver = user("kube-apiserver-kubelet-client", NULL);
    vk_user master = user("bob", "system:masters");
    assert_true(vk_authz_allowed(&scraper, allowed));
    assert_false(vk_authz_allowed(&apiserver, allowed));   /* the list replaces the default */
    assert_true(vk_authz_allowed(&master, allowed));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_rule),
        cmocka_unit_test(test_allow_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
