/* runtimeconfig.c -- the container runtime a batch plugin's pods run in
 * on the nodes: one set of config keys for every batch backend
 * (BATCH_RUNTIME_FIELDS), turned into the runtime_spec each new pod is
 * frozen with (its runtime.json, read by the node-side supervisor). */
#include "batch.h"

#include <string.h>

int batch_runtime_check(const batch_runtime_config *rc, il_buf *err)
{
    runtime_kind kind;
    if (rn_runtime_kind_parse(rc->runtime, &kind) == 0)
        return 0;
    il_buf_printf(err, "ContainerRuntime \"%s\": expected apptainer, singularity, podman, "
                  "charliecloud, enroot or none", rc->runtime);
    return -1;
}

int batch_runtime_spec(const batch_runtime_config *rc, bool gpu, runtime_spec *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    if (rn_runtime_kind_parse(rc->runtime, &out->kind) != 0) {
        il_buf_printf(err, "unknown ContainerRuntime \"%s\"", rc->runtime);
        return -1;
    }
    const char *path = NULL;
    char **args = NULL;
    switch (out->kind) {
    case RUNTIME_HOST: break;
    case RUNTIME_PODMAN: path = rc->podman_path; args = rc->podman_args; break;
    case RUNTIME_APPTAINER: path = rc->apptainer_path; args = rc->singularity_options; break;
    case RUNTIME_SINGULARITY: path = rc->singularity_path; args = rc->singularity_options; break;
    case RUNTIME_CHARLIECLOUD: path = rc->chrun_path; args = rc->chrun_options; break;
    case RUNTIME_ENROOT: path = rc->enroot_path; args = rc->enroot_options; break;
    }
    out->path = il_xstrdup(path);
    out->bwrap_path = il_xstrdup(rc->bwrap_path);
    out->image_prefix = il_xstrdup(rc->image_prefix);
    rn_strvec_push_all(&out->args, args);
    out->gpu = gpu;
    out->no_probes = !rc->enable_probes;
    out->limits = out->kind == RUNTIME_PODMAN && rc->podman_limits;
    return 0;
}
