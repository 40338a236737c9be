/* main.c -- interlink-htcondor: command line and the plugin callbacks table.
 *
 * Two modes: the plugin server (default), and `--run-pod DIR`, which the
 * job's job.sh execs on the execute node: the shared supervisor
 * (libilrunner) runs the pod in DIR in the foreground, so the job lives
 * exactly as long as the pod, and exits with the pod's outcome. */
#include "htcondor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "plugin.h"

static const il_plugin_ops htc_ops = {
    .name = "htcondor",
    .create = htc_create,
    .status = htc_status,
    .delete = htc_delete,
    .logs_open = htc_logs_open,
    .logs_read = logs_read,
    .logs_close = logs_close,
    .ping = htc_ping,
};

static const runner_cli cli = {
    .name = "interlink-htcondor",
    .usage = "usage: interlink-htcondor [--config FILE] [--verbose]\n"
             "       interlink-htcondor --help | --help-config | --version\n"
             "       interlink-htcondor --run-pod DIR   (in the job)\n\n"
             "Runs offloaded pods as HTCondor jobs, one job per pod.\n"
             "The config file defaults to $HTCONDORCONFIGPATH.\n",
    .config_env = "HTCONDORCONFIGPATH",
    .config_flag_alias = NULL,
    .print_config = htc_config_print_help,
};

static int serve(const htc_config *cfg)
{
    htc_ctx ctx = {.cfg = cfg};
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
        htc_recover(&ctx);
        il_info("runtime %s, data in %s, runner %s, jobs submitted as %s", cfg->runtime,
                cfg->data_root, ctx.runner_path,
                cfg->submit_user && cfg->submit_user[0] ? cfg->submit_user : "this user");
        rc = runner_serve(&htc_ops, &ctx, cfg->socket, cfg->sidecar_url, cfg->sidecar_port,
                          cfg->max_body);
    }
    free(ctx.pods_dir);
    free(ctx.runner_path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--run-pod") == 0) {
        il_log_set_ident("interlink-htcondor-pod");
        return runner_supervise(argv[2], -1);
    }
    il_log_set_ident("interlink-htcondor");
    const char *config_path;
    bool verbose_flag;
    int exit_status = runner_parse_cli(&cli, argc, argv, &config_path, &verbose_flag);
    if (exit_status >= 0)
        return exit_status;
    htc_config cfg;
    char err[512];
    if (htc_config_load(config_path, &cfg, err, sizeof(err)) != 0) {
        il_error("%s", err);
        htc_config_free(&cfg);
        return 2;
    }
    runner_set_log_level(cfg.verbose || verbose_flag, cfg.errors_only);
    int rc = serve(&cfg);
    htc_config_free(&cfg);
    return rc;
}
