/* failure.c -- what a failed SLURM client command (sbatch, scancel,
 * squeue) means for our caller: try again later, or never.
 *
 * The SLURM clients exit 1 for every error, so the exit status alone only
 * separates "did not run to an answer" (our deadline killed it, a signal)
 * from "answered with an error"; the error itself is in the message.  The
 * messages below are the ones SLURM prints when the controller cannot be
 * reached or is busy (its "slurm_strerror" texts and the clients' own
 * prefixes).  A message we do not know is permanent: a refused job retried
 * forever would never tell the user why it does not run. */
#include "slurm.h"

#include <string.h>
#include <strings.h>

typedef struct failure_pattern {
    const char *text;         /* a case-insensitive substring of stderr */
    slurm_failure kind;
} failure_pattern;

/* First match wins, so the specific texts come before the generic ones. */
static const failure_pattern patterns[] = {
    /* the controller is down, restarting or unreachable */
    {"Unable to contact slurm controller", SLURM_FAILURE_TRANSIENT},
    {"Unexpected missing socket error", SLURM_FAILURE_TRANSIENT},
    {"Socket timed out on send/recv", SLURM_FAILURE_TRANSIENT},
    {"Socket timed out", SLURM_FAILURE_TRANSIENT},
    {"Zero Bytes were transmitted or received", SLURM_FAILURE_TRANSIENT},
    {"Communication connection failure", SLURM_FAILURE_TRANSIENT},
    {"Connection refused", SLURM_FAILURE_TRANSIENT},
    {"Connection reset by peer", SLURM_FAILURE_TRANSIENT},
    {"Connection timed out", SLURM_FAILURE_TRANSIENT},
    {"Transport endpoint is not connected", SLURM_FAILURE_TRANSIENT},
    {"Network is unreachable", SLURM_FAILURE_TRANSIENT},
    {"No route to host", SLURM_FAILURE_TRANSIENT},
    {"slurmctld not responding", SLURM_FAILURE_TRANSIENT},
    {"Slurm backup controller in standby mode", SLURM_FAILURE_TRANSIENT},
    {"Slurm temporarily unable to accept job", SLURM_FAILURE_TRANSIENT},
    {"Resource temporarily unavailable", SLURM_FAILURE_TRANSIENT},
    {"Job violates accounting/QOS policy (job submit limit", SLURM_FAILURE_TRANSIENT},
    /* munged down or restarting: no credential, no request */
    {"Munge encode failed", SLURM_FAILURE_TRANSIENT},
    {"Unable to create auth credential", SLURM_FAILURE_TRANSIENT},
    {"Protocol authentication error", SLURM_FAILURE_TRANSIENT},
    /* the request itself is wrong: retrying changes nothing */
    {"invalid partition", SLURM_FAILURE_PERMANENT},
    {"Invalid account", SLURM_FAILURE_PERMANENT},
    {"Invalid qos", SLURM_FAILURE_PERMANENT},
    {"unrecognized option", SLURM_FAILURE_PERMANENT},
    {"invalid option", SLURM_FAILURE_PERMANENT},
    {"Requested node configuration is not available", SLURM_FAILURE_PERMANENT},
    {"Invalid generic resource", SLURM_FAILURE_PERMANENT},
    {"Requested time limit is invalid", SLURM_FAILURE_PERMANENT},
    {"Access/permission denied", SLURM_FAILURE_PERMANENT},
};

slurm_failure slurm_failure_classify(int status, const char *message)
{
    if (status == 0)
        return SLURM_FAILURE_NONE;
    /* -1: not started or killed at our deadline; >128: killed by a signal.
     * Either way SLURM never answered. */
    if (status < 0 || status > 128)
        return SLURM_FAILURE_TRANSIENT;
    for (size_t i = 0; message && i < sizeof(patterns) / sizeof(patterns[0]); i++)
        if (strcasestr(message, patterns[i].text))
            return patterns[i].kind;
    return SLURM_FAILURE_PERMANENT;
}

int slurm_failure_http(slurm_failure kind)
{
    return kind == SLURM_FAILURE_NONE ? 200 : kind == SLURM_FAILURE_TRANSIENT ? 503 : 400;
}
