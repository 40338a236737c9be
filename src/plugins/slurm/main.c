/* main.c -- interlink-slurm: command line and the plugin callbacks table.
 *
 * Two modes: the plugin server (default), and `--run-pod DIR`, which the
 * generated job script execs on the compute node: the shared supervisor
 * (libilrunner) runs the pod in DIR in the foreground, so the job lives
 * exactly as long as the pod, and exits with the pod's outcome. */
#include "slurm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "plugin.h"

static const il_plugin_ops slurm_ops = {
    .name = "slurm",
    .create = slurm_create,
    .status = slurm_status,
    .delete = slurm_delete,
    .logs_open = slurm_logs_open,
    .logs_read = logs_read,
    .logs_close = logs_close,
    .ping = slurm_ping,
};

static const runner_cli cli = {
    .name = "interlink-slurm",
    .usage = "usage: interlink-slurm [--config FILE] [--verbose]\n"
             "       interlink-slurm --help | --help-config | --version\n"
             "       interlink-slurm --run-pod DIR [--remove-after]   (in the job script)\n\n"
             "Runs offloaded pods as SLURM batch jobs, one job per pod.\n"
             "The config file defaults to $SLURMCONFIGPATH.\n",
    .config_env = "SLURMCONFIGPATH",
    .config_flag_alias = "-SlurmConfigpath",
    .print_config = slurm_config_print_help,
};

static int run_pod(int argc, char **argv)
{
    il_log_set_ident("interlink-slurm-pod");
    const char *dir = argv[2];
    bool remove_after = argc > 3 && strcmp(argv[3], "--remove-after") == 0;
    int rc = runner_supervise(dir, -1);
    if (remove_after)
        il_rm_rf(dir);
    return rc;
}

static int serve(const slurm_config *cfg)
{
    slurm_ctx ctx = {.cfg = cfg};
    ctx.runner_path = cfg->runner_path && cfg->runner_path[0] ? il_xstrdup(cfg->runner_path)
                                                             : runner_self_exe();
    ctx.pods_dir = il_xasprintf("%s/pods", cfg->data_root);
    int rc = 1;
    if (!ctx.runner_path) {
        il_error("cannot find my own executable: %s", strerror(errno));
    } else if (il_mkdir_p(ctx.pods_dir, 0755) != 0) {
        il_error("cannot create %s: %s", ctx.pods_dir, strerror(errno));
    } else {
        poddir_remove_stale(ctx.pods_dir);
        slurm_recover(&ctx);
        il_info("runtime %s, data in %s (%s filesystem), runner %s", cfg->runtime, cfg->data_root,
                cfg->shared_fs ? "shared" : "non-shared", ctx.runner_path);
        rc = runner_serve(&slurm_ops, &ctx, cfg->socket, cfg->sidecar_url, cfg->sidecar_port,
                          cfg->max_body);
    }
    free(ctx.pods_dir);
    free(ctx.runner_path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--run-pod") == 0)
        return run_pod(argc, argv);
    il_log_set_ident("interlink-slurm");
    const char *config_path;
    bool verbose_flag;
    int exit_status = runner_parse_cli(&cli, argc, argv, &config_path, &verbose_flag);
    if (exit_status >= 0)
        return exit_status;
    slurm_config cfg;
    char err[512];
    if (slurm_config_load(config_path, &cfg, err, sizeof(err)) != 0) {
        il_error("%s", err);
        slurm_config_free(&cfg);
        return 2;
    }
    runner_set_log_level(cfg.verbose || verbose_flag, cfg.errors_only);
    if (il_log_use_format(cfg.log_format) != 0) {
        il_error("%s: LogFormat must be text or json", config_path);
        slurm_config_free(&cfg);
        return 2;
    }
    int rc = serve(&cfg);
    slurm_config_free(&cfg);
    return rc;
}
