/* main.c -- interlink-slurm: the plugin definition.
 *
 * Two modes, both run by the plugin framework (plugin.h): the plugin server
 * (default), and `--run-pod DIR`, which the generated job script execs on
 * the compute node: the shared supervisor (libilrunner) runs the pod in DIR
 * in the foreground, so the job lives exactly as long as the pod, and exits
 * with the pod's outcome.  The same mode, with --exec or --connect, is the
 * node side of kubectl exec and port-forward (nodeexec.c). */
#include "slurm.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const il_plugin_ops slurm_ops = {
    .name = "slurm",
    .create = slurm_create,
    .status = slurm_status,
    .delete = slurm_delete,
    .logs_open = slurm_logs_open,
    .logs_read = rn_logs_read,
    .logs_close = rn_logs_close,
    .ping = slurm_ping,
    .exec = slurm_exec,
    .port_connect = slurm_port_connect,
};

/* --run-pod DIR [--remove-after]: the end of every job script; --exec,
 * --attach and --connect: the node side of a session (nodeexec.c). */
static int run_pod(const char *dir, int argc, char **args)
{
    if (argc > 0 && strcmp(args[0], "--exec") == 0)
        return slurm_node_exec(dir, argc, args);
    if (argc > 0 && strcmp(args[0], "--connect") == 0)
        return slurm_node_connect(dir, argc, args);
    if (argc > 0 && strcmp(args[0], "--attach") == 0)
        return slurm_node_attach(dir, argc, args);
    bool remove_after = argc > 0 && strcmp(args[0], "--remove-after") == 0;
    int rc = rn_supervise(dir, -1);
    if (remove_after)
        il_rm_rf(dir);
    return rc;
}

static void stop(void *vctx)
{
    slurm_ctx *ctx = vctx;
    rest_close(ctx->rest);
    free(ctx->pods_dir);
    free(ctx->runner_path);
    free(ctx);
}

static int start(const void *vcfg, void **out)
{
    const slurm_config *cfg = vcfg;
    slurm_ctx *ctx = il_xcalloc(1, sizeof(*ctx));
    ctx->cfg = cfg;
    il_buf err = IL_BUF_INIT;
    if (cfg->submit_mode && strcmp(cfg->submit_mode, "rest") == 0 &&
        !(ctx->rest = rest_open(cfg, &err))) {
        il_error("SubmitMode rest: %s", il_buf_cstr(&err));
        il_buf_free(&err);
        stop(ctx);
        return 1;
    }
    il_buf_free(&err);
    if ((ctx->runner_path = rn_runner_path(cfg->rt.runner_path)) &&
        (ctx->pods_dir = rn_pods_dir_open(cfg->base.data_root, 0755))) {
        slurm_recover(ctx);
        il_info("runtime %s, data in %s (%s filesystem), runner %s", cfg->rt.runtime,
                cfg->base.data_root, cfg->shared_fs ? "shared" : "non-shared", ctx->runner_path);
        *out = ctx;
        return 0;
    }
    stop(ctx);
    return 1;
}

static const il_plugin_def slurm_plugin = {
    .name = "interlink-slurm",
    .summary = "Runs offloaded pods as SLURM batch jobs, one job per pod.",
    .config_env = "SLURMCONFIGPATH",
    .config_flag_alias = "-SlurmConfigpath",
    .fields = slurm_config_fields,
    .config_size = sizeof(slurm_config),
    .base_offset = offsetof(slurm_config, base),
    .config_check = slurm_config_check,
    .config_release = slurm_config_release,
    .start = start,
    .stop = stop,
    .ops = &slurm_ops,
    .run_pod = run_pod,
    .run_pod_usage = "[--remove-after] | --exec CONTAINER ... -- CMD... | --attach CONTAINER "
                     "| --connect PORT",
};

int main(int argc, char **argv)
{
    il_plugin_def def = slurm_plugin;
    def.nfields = slurm_config_nfields;   /* not a constant expression across files */
    return il_plugin_main(&def, argc, argv);
}
