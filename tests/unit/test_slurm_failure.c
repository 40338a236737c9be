/* test_slurm_failure.c -- failure.c's table: which failed SLURM client
 * commands are transient (503, retried) and which permanent (400).  The
 * messages are the ones Slurm 22.05's clients print (the first lines come
 * from sbatch and squeue run against a stopped or restarting slurmctld). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "slurm.h"

static void test_transient(void **state)
{
    (void)state;
    const char *messages[] = {
        "sbatch: error: Batch job submission failed: Unable to contact slurm controller "
        "(connect failure)",
        "sbatch: error: Batch job submission failed: Unexpected missing socket error",
        "squeue: error: slurm_receive_msg: Socket timed out on send/recv operation",
        "scancel: error: Kill job error on job id 12: Socket timed out on send/recv operation",
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
        "sbatch: error: Batch job submission failed: Zero Bytes were transmitted or received",
        "squeue: error: slurm_persist_conn_open_without_init: failed to open persistent "
        "connection: Connection refused",
        "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying",
        "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
        "(job submit limit, user's size and/or time limits)",
        "sbatch: error: Munge encode failed: Failed to access \"/run/munge/munge.socket.2\"",
        "SCANCEL: ERROR: SLURMCTLD NOT RESPONDING",   /* case does not matter */
    };
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        slurm_failure kind = slurm_failure_classify(1, messages[i]);
        if (kind != SLURM_FAILURE_TRANSIENT)
            fail_msg("not transient: %s", messages[i]);
        assert_int_equal(slurm_failure_http(kind), 503);
    }
}

static void test_permanent(void **state)
{
    (void)state;
    const char *messages[] = {
        "sbatch: error: invalid partition specified: nosuch",
        "sbatch: error: Batch job submission failed: Invalid account or account/partition "
        "combination specified",
        "sbatch: error: Batch job submission failed: Invalid qos specification",
        "sbatch: unrecognized option '--frobnicate'",
        "sbatch: error: Batch job submission failed: Requested node configuration is not "
        "available",
        "sbatch: error: Invalid generic resource (gres) specification",
        "sbatch: error: Batch job submission failed: Requested time limit is invalid (missing "
        "or exceeds some limit)",
        "scancel: error: Kill job error on job id 7: Access/permission denied",
        "something SLURM never printed before",
        "",
    };
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        slurm_failure kind = slurm_failure_classify(1, messages[i]);
        if (kind != SLURM_FAILURE_PERMANENT)
            fail_msg("not permanent: %s", messages[i]);
        assert_int_equal(slurm_failure_http(kind), 400);
    }
    assert_int_equal(slurm_failure_classify(1, NULL), SLURM_FAILURE_PERMANENT);
}

static void test_exit_status(void **state)
{
    (void)state;
    assert_int_equal(slurm_failure_classify(0, "sbatch: error: anything"), SLURM_FAILURE_NONE);
    assert_int_equal(slurm_failure_http(SLURM_FAILURE_NONE), 200);
    /* -1: timed out (cmd.c killed it); 128+n: killed by a signal */
    assert_int_equal(slurm_failure_classify(-1, "invalid partition"), SLURM_FAILURE_TRANSIENT);
    assert_int_equal(slurm_failure_classify(137, ""), SLURM_FAILURE_TRANSIENT);
    assert_int_equal(slurm_failure_classify(2, "Unexpected missing socket error"),
                     SLURM_FAILURE_TRANSIENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transient),
        cmocka_unit_test(test_permanent),
        cmocka_unit_test(test_exit_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
