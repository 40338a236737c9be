/* main.c -- interlink-local: command line, configuration, and the plugin
 * callbacks table.
 *
 * Two modes: the plugin server (default), and `--supervise DIR`, the hidden
 * mode /create re-executes this binary in to supervise one pod (see
 * supervisor.c).  Configuration is declared once in `fields` below, which
 * also prints --help-config. */
#include "local.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "plugin.h"

#define CFG(member) offsetof(local_config, member)

static const il_cfg_field fields[] = {
    {"Socket", NULL, IL_CFG_STRING, CFG(socket), NULL,
     "listen on this unix socket (\"unix:///path\"); empty: SidecarURL + SidecarPort"},
    {"SidecarURL", NULL, IL_CFG_STRING, CFG(sidecar_url), "http://127.0.0.1",
     "HTTP listen address when Socket is empty"},
    {"SidecarPort", "SIDECARPORT", IL_CFG_STRING, CFG(sidecar_port), "4000",
     "HTTP listen port when Socket is empty"},
    {"DataRootFolder", NULL, IL_CFG_STRING, CFG(data_root), "/var/lib/interlink-local",
     "pod directories, states and logs (survive plugin restarts)"},
    {"ContainerRuntime", NULL, IL_CFG_STRING, CFG(runtime), "host",
     "\"host\": processes under bubblewrap (image ignored); \"podman\": podman run"},
    {"PodmanPath", NULL, IL_CFG_STRING, CFG(podman_path), "podman", "podman executable"},
    {"BwrapPath", NULL, IL_CFG_STRING, CFG(bwrap_path), "bwrap", "bubblewrap executable"},
    {"PodmanArgs", NULL, IL_CFG_STRLIST, CFG(podman_args), RUNNER_DEFAULT_PODMAN_ARGS,
     "extra `podman run` arguments (default sets ulimits that work without CAP_SYS_RESOURCE)"},
    {"PodmanLimits", NULL, IL_CFG_BOOL, CFG(podman_limits), "true",
     "podman: enforce the containers' CPU and memory limits (--cpus, --memory, no swap "
     "beyond it); false where podman cannot set cgroup limits (rootless without "
     "delegation).  OOM kills are reported OOMKilled either way"},
    {"VerboseLogging", NULL, IL_CFG_BOOL, CFG(verbose), "false", "debug logging"},
    {"ErrorsOnlyLogging", NULL, IL_CFG_BOOL, CFG(errors_only), "false", "log errors only"},
    {"MaxBodyBytes", NULL, IL_CFG_SIZE, CFG(max_body), "16Mi", "largest accepted request body"},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const il_plugin_ops local_ops = {
    .name = "local",
    .create = local_create,
    .status = local_status,
    .delete = local_delete,
    .logs_open = local_logs_open,
    .logs_read = logs_read,
    .logs_close = logs_close,
    .ping = local_ping,
    .exec = local_exec,
    .port_connect = local_port_connect,
};

static void print_config(void)
{
    il_config_print_help(stdout, fields, NFIELDS);
}

static const runner_cli cli = {
    .name = "interlink-local",
    .usage = "usage: interlink-local [--config FILE] [--verbose]\n"
             "       interlink-local --help | --help-config | --version\n\n"
             "Runs offloaded pods on this host (bubblewrap or podman).\n"
             "The config file defaults to $LOCALCONFIGPATH.\n",
    .config_env = "LOCALCONFIGPATH",
    .print_config = print_config,
};

/* The runtime every new pod is frozen with (runtime.json). */
static int runtime_from_config(const local_config *cfg, runtime_spec *rt)
{
    memset(rt, 0, sizeof(*rt));
    if (runtime_kind_parse(cfg->runtime, &rt->kind) != 0 ||
        (rt->kind != RUNTIME_HOST && rt->kind != RUNTIME_PODMAN)) {
        il_error("ContainerRuntime must be \"host\" or \"podman\", not \"%s\"", cfg->runtime);
        return -1;
    }
    rt->path = il_xstrdup(cfg->podman_path);
    rt->bwrap_path = il_xstrdup(cfg->bwrap_path);
    strvec_push_all(&rt->args, cfg->podman_args);
    rt->limits = rt->kind == RUNTIME_PODMAN && cfg->podman_limits;
    return 0;
}

static int serve(const local_config *cfg)
{
    local_ctx ctx = {.cfg = cfg};
    if (runtime_from_config(cfg, &ctx.runtime) != 0)
        return 2;
    ctx.self_exe = runner_self_exe();
    ctx.pods_dir = il_xasprintf("%s/pods", cfg->data_root);
    int rc = 1;
    if (!ctx.self_exe) {
        il_error("cannot find my own executable: %s", strerror(errno));
    } else if (il_mkdir_p(ctx.pods_dir, 0700) != 0) {
        il_error("cannot create %s: %s", ctx.pods_dir, strerror(errno));
    } else {
        poddir_remove_stale(ctx.pods_dir);
        il_info("runtime %s, data in %s", cfg->runtime, cfg->data_root);
        rc = runner_serve(&local_ops, &ctx, cfg->socket, cfg->sidecar_url, cfg->sidecar_port,
                          cfg->max_body);
    }
    free(ctx.pods_dir);
    free(ctx.self_exe);
    runtime_spec_free(&ctx.runtime);
    return rc;
}

static int supervise(int argc, char **argv)
{
    const char *dir = NULL;
    int ready_fd = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--supervise") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--ready-fd") == 0 && i + 1 < argc)
            ready_fd = atoi(argv[++i]);
        else if (strcmp(argv[i], "--verbose") == 0)
            il_log_set_level(IL_LOG_DEBUG);
    }
    if (!dir)
        return 2;
    /* Detach: the plugin reaps this first process at once; the child, in a
     * session of its own, is reparented to init and outlives the plugin. */
    pid_t child = fork();
    if (child != 0)
        _exit(child < 0 ? 1 : 0);
    setsid();
    il_log_set_ident("interlink-local-supervisor");
    runner_supervise(dir, ready_fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--supervise") == 0)
        return supervise(argc, argv);
    il_log_set_ident("interlink-local");
    const char *config_path;
    bool verbose_flag;
    int exit_status = runner_parse_cli(&cli, argc, argv, &config_path, &verbose_flag);
    if (exit_status >= 0)
        return exit_status;
    local_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[512];
    if (il_config_load(config_path, fields, NFIELDS, &cfg, err, sizeof(err)) != 0) {
        il_error("%s", err);
        return 2;
    }
    runner_set_log_level(cfg.verbose || verbose_flag, cfg.errors_only);
    int rc = serve(&cfg);
    il_config_free(fields, NFIELDS, &cfg);
    return rc;
}
