/* main.c -- interlink-htcondor: the plugin definition.
 *
 * Two modes, both run by the plugin framework (plugin.h): the plugin server
 * (default), and `--run-pod DIR`, which the job's job.sh execs on the
 * execute node: the shared supervisor (libilrunner) runs the pod in DIR in
 * the foreground, so the job lives exactly as long as the pod, and exits
 * with the pod's outcome. */
#include "htcondor.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const il_plugin_ops htc_ops = {
    .name = "htcondor",
    .create = htc_create,
    .status = htc_status,
    .delete = htc_delete,
    .logs_open = htc_logs_open,
    .logs_read = rn_logs_read,
    .logs_close = rn_logs_close,
    .ping = htc_ping,
};

static int run_pod(const char *dir, int argc, char **args)
{
    (void)argc;
    (void)args;
    return rn_supervise(dir, -1);
}

static void stop(void *vctx)
{
    htc_ctx *ctx = vctx;
    free(ctx->pods_dir);
    free(ctx->runner_path);
    htc_batcher_free(ctx->batcher);
    free(ctx);
}

static int start(const void *vcfg, void **out)
{
    const htc_config *cfg = vcfg;
    htc_ctx *ctx = il_xcalloc(1, sizeof(*ctx));
    ctx->cfg = cfg;
    ctx->batcher = htc_batcher_new();
    if ((ctx->runner_path = rn_runner_path(cfg->rt.runner_path)) &&
        (ctx->pods_dir = rn_pods_dir_open(cfg->base.data_root, 0755))) {
        htc_recover(ctx);
        il_info("runtime %s, data in %s, runner %s, jobs submitted as %s", cfg->rt.runtime,
                cfg->base.data_root, ctx->runner_path,
                cfg->submit_user && cfg->submit_user[0] ? cfg->submit_user : "this user");
        *out = ctx;
        return 0;
    }
    stop(ctx);
    return 1;
}

int main(int argc, char **argv)
{
    il_plugin_def def = {
        .name = "interlink-htcondor",
        .summary = "Runs offloaded pods as HTCondor jobs, one job per pod.",
        .config_env = "HTCONDORCONFIGPATH",
        .fields = htc_config_fields,
        .nfields = htc_config_nfields,
        .config_size = sizeof(htc_config),
        .base_offset = offsetof(htc_config, base),
        .config_check = htc_config_check,
        .config_release = htc_config_release,
        .start = start,
        .stop = stop,
        .ops = &htc_ops,
        .run_pod = run_pod,
    };
    return il_plugin_main(&def, argc, argv);
}
