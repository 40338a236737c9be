/* main.c -- interlink-local: command line, configuration, and the plugin
 * callbacks table.
 *
 * Two modes, both run by the plugin framework (plugin.h): the plugin server
 * (default), and `--run-pod DIR`, the hidden mode /create re-executes this
 * binary in to supervise one pod (see supervisor.c).  Configuration is
 * declared once in `fields` below, which also prints --help-config. */
#include "local.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define CFG(member) offsetof(local_config, member)

static const il_cfg_field fields[] = {
    IL_PLUGIN_BASE_FIELDS(local_config, base, "/var/lib/interlink-local",
                          "pod directories, states and logs (survive plugin restarts)"),
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
};

static const il_plugin_ops local_ops = {
    .name = "local",
    .create = local_create,
    .status = local_status,
    .delete = local_delete,
    .logs_open = local_logs_open,
    .logs_read = rn_logs_read,
    .logs_close = rn_logs_close,
    .ping = local_ping,
    .exec = local_exec,
    .port_connect = local_port_connect,
};

/* The runtime every new pod is frozen with (runtime.json). */
static int runtime_from_config(const local_config *cfg, runtime_spec *rt)
{
    memset(rt, 0, sizeof(*rt));
    if (rn_runtime_kind_parse(cfg->runtime, &rt->kind) != 0 ||
        (rt->kind != RUNTIME_HOST && rt->kind != RUNTIME_PODMAN)) {
        il_error("ContainerRuntime must be \"host\" or \"podman\", not \"%s\"", cfg->runtime);
        return -1;
    }
    rt->path = il_xstrdup(cfg->podman_path);
    rt->bwrap_path = il_xstrdup(cfg->bwrap_path);
    rn_strvec_push_all(&rt->args, cfg->podman_args);
    rt->limits = rt->kind == RUNTIME_PODMAN && cfg->podman_limits;
    return 0;
}

static void stop(void *vctx)
{
    local_ctx *ctx = vctx;
    free(ctx->pods_dir);
    free(ctx->self_exe);
    rn_runtime_spec_free(&ctx->runtime);
    free(ctx);
}

static int start(const void *vcfg, void **out)
{
    const local_config *cfg = vcfg;
    local_ctx *ctx = il_xcalloc(1, sizeof(*ctx));
    ctx->cfg = cfg;
    int rc = 1;
    if (runtime_from_config(cfg, &ctx->runtime) != 0) {
        rc = 2;
    } else if ((ctx->self_exe = rn_runner_path(NULL)) &&
               (ctx->pods_dir = rn_pods_dir_open(cfg->base.data_root, 0700))) {
        il_info("runtime %s, data in %s", cfg->runtime, cfg->base.data_root);
        *out = ctx;
        return 0;
    }
    stop(ctx);
    return rc;
}

/* --run-pod DIR --ready-fd N [--verbose]: what /create starts for each pod;
 * --run-pod DIR --attach CONTAINER: an attacher (exec.c).
 * The supervisor detaches: the plugin reaps this first process at once;
 * the child, in a session of its own, is reparented to init and outlives
 * the plugin. */
static int run_pod(const char *dir, int argc, char **args)
{
    if (argc == 2 && strcmp(args[0], "--attach") == 0)   /* kubectl attach -i (exec.c) */
        return rn_attach_serve(dir, args[1], 0, 1);
    int ready_fd = -1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(args[i], "--ready-fd") == 0 && i + 1 < argc)
            ready_fd = atoi(args[++i]);
        else if (strcmp(args[i], "--verbose") == 0)
            il_log_set_level(IL_LOG_DEBUG);
    }
    pid_t child = fork();
    if (child != 0)
        _exit(child < 0 ? 1 : 0);
    setsid();
    /* The plugin that waits for the ready byte may have died (kill -9):
     * writing to its pipe must fail with EPIPE, not kill the pod. */
    signal(SIGPIPE, SIG_IGN);
    int lock_fd = -1;
    int claim = rn_supervisor_claim(dir, &lock_fd);
    if (claim == 1) {
        rn_supervise(dir, ready_fd);
    } else if (claim == 0) {
        /* A retried create started us, but the pod has its supervisor. */
        il_info("%s already has a supervisor", dir);
        if (ready_fd >= 0 && il_write_all(ready_fd, "1", 1) < 0)
            il_warn("ready pipe: %s", strerror(errno));
    } else {
        il_error("claiming %s: %s", dir, strerror(errno));
    }
    if (lock_fd >= 0)
        close(lock_fd);
    return 0;
}

static const il_plugin_def local_plugin = {
    .name = "interlink-local",
    .summary = "Runs offloaded pods on this host (bubblewrap or podman).",
    .config_env = "LOCALCONFIGPATH",
    .fields = fields,
    .nfields = sizeof(fields) / sizeof(fields[0]),
    .config_size = sizeof(local_config),
    .base_offset = offsetof(local_config, base),
    .start = start,
    .stop = stop,
    .ops = &local_ops,
    .run_pod = run_pod,
    .run_pod_usage = "--ready-fd N | --attach CONTAINER",
};

int main(int argc, char **argv)
{
    return il_plugin_main(&local_plugin, argc, argv);
}
