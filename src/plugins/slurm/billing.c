/* billing.c -- what SLURM is told about whose job a pod is: every job's
 * --comment names the caller and tenant (for accounting), and with an
 * IdentityMapFile (batch.h) the caller's Account, QoS and Partition
 * become the last flags of the sbatch command line, so the pod's own flags
 * cannot override them; UnixUser is the batch library's business. */
#include "slurm.h"

#include <string.h>

int slurm_identity_resolve(const slurm_config *cfg, const il_caller *caller,
                           slurm_identity *out, il_buf *err)
{
    memset(out, 0, sizeof *out);
    int rc = identity_resolve(cfg->ident.map, caller, &out->who, err);
    if (rc != 0)
        return rc;
    if (caller && caller->user && *caller->user) {
        il_buf comment = IL_BUF_INIT;
        identity_comment(caller, &comment);
        rn_strvec_pushf(&out->flags, "--comment=%s", il_buf_cstr(&comment));
        il_buf_free(&comment);
    }
    const char *const keys[][2] = {{"Account", "account"}, {"QoS", "qos"},
                                   {"Partition", "partition"}};
    for (size_t i = 0; i < 3; i++) {
        const char *v = identity_value(&out->who, keys[i][0]);
        if (v)
            rn_strvec_pushf(&out->flags, "--%s=%s", keys[i][1], v);
    }
    return 0;
}

void slurm_identity_free(slurm_identity *id)
{
    rn_strvec_free(&id->flags);
}
