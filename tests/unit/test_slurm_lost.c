/* test_slurm_lost.c -- what the operator is told when SLURM loses jobs
 * (slurmctld killed: "Duplicate jobid", a drained node): SLURM's reason in
 * a lost pod's message, and a node condition in the ping while a node of
 * the partition cannot take jobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "slurm.h"

static void test_lost_message_has_slurm_reason(void **state)
{
    (void)state;
    il_pod_status st = {0};
    st.n_containers = 1;
    st.containers = il_xcalloc(1, sizeof(il_container_status));
    st.containers[0].name = il_xstrdup("main");
    rn_state_set(&st.containers[0], IL_STATE_RUNNING, NULL, NULL);
    job_mark_lost(&st, "41", "n1 drained: Duplicate jobid");
    assert_string_equal(st.containers[0].reason, "Lost");   /* still Lost */
    assert_int_equal(st.containers[0].exit_code, 137);
    assert_non_null(strstr(st.containers[0].message, "job 41"));
    assert_non_null(strstr(st.containers[0].message, "SLURM reports: n1 drained: Duplicate jobid"));
    il_pod_status_free(&st);
}

static void test_ping_condition_for_drained_node(void **state)
{
    (void)state;
    json_t *ping = ping_from_sinfo("debug*|up|drained|4|1000|(null)|n1|Duplicate jobid\n"
                                   "debug*|up|idle|4|1000|(null)|n2|none\n"
                                   "other|up|down|4|1000|(null)|n3|not ours\n", NULL);
    json_t *conds = json_object_get(ping, "conditions");
    assert_int_equal(json_array_size(conds), 1);
    json_t *c = json_array_get(conds, 0);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "SlurmNodesUnavailable");
    assert_string_equal(json_string_value(json_object_get(c, "status")), "True");
    assert_string_equal(json_string_value(json_object_get(c, "reason")), "SomeNodesUnavailable");
    assert_string_equal(json_string_value(json_object_get(c, "message")),
                        "n1 drained: Duplicate jobid");
    assert_int_equal(json_array_size(json_object_get(ping, "taints")), 0);   /* n2 works */
    json_decref(ping);
    /* The whole partition drained: the taint and the condition.  A reason
     * with '|' in it stays whole. */
    ping = ping_from_sinfo("debug*|up|drained|4|1000|(null)|n1|Kill task failed|x\n", NULL);
    c = json_array_get(json_object_get(ping, "conditions"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "reason")), "NoUsableNode");
    assert_string_equal(json_string_value(json_object_get(c, "message")),
                        "n1 drained: Kill task failed|x");
    assert_int_equal(json_array_size(json_object_get(ping, "taints")), 1);
    json_decref(ping);
    /* All well: no condition. */
    ping = ping_from_sinfo("debug*|up|idle|4|1000|(null)|n1|none\n", NULL);
    assert_null(json_object_get(ping, "conditions"));
    json_decref(ping);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lost_message_has_slurm_reason),
        cmocka_unit_test(test_ping_condition_for_drained_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
