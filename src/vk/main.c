/* main.c -- interlink-vk: flags, configuration and credentials, then the
 * loops (vk.c) until SIGTERM or SIGINT. */
#include <stdio.h>

#include "daemon.h"
#include "memory.h"
#include "kubeconfig.h"
#include "log.h"
#include "trace.h"
#include "vk.h"
#include "vkconfig.h"

int main(int argc, char **argv)
{
    il_log_set_ident("interlink-vk");
    vk_flags flags;
    int early = vk_parse_flags(argc, argv, &flags, stdout, stderr);
    if (early >= 0)
        return early;
    vk_config cfg;
    vk_kubeconfig kc;
    char err[1024];
    if (vk_config_load(&flags, &cfg, err, sizeof err) < 0) {
        il_error("%s", err);
        return 1;
    }
    if (cfg.verbose)
        il_log_set_level(IL_LOG_DEBUG);
    else if (cfg.errors_only)
        il_log_set_level(IL_LOG_ERROR);
    il_log_use_format(cfg.log_format);   /* validated by vk_config_load */
    int rc = 1;
    if (vk_kubeconfig_load(&kc, err, sizeof err) < 0) {
        il_error("%s", err);
    } else {
        il_daemon_init_signals();   /* before any thread starts */
        il_memory_init();
        vk *v = vk_new(&cfg, &kc, err, sizeof err);
        if (!v) {
            il_error("%s", err);
        } else {
            il_info("node %s: API server %s (%s), interlink %s", cfg.node_name,
                    vk_kube_server(v->kube), kc.source, vk_interlink_url(v->il));
            il_trace_init("interlink-vk");
            rc = vk_run(v);
            il_trace_shutdown();
            vk_free(v);
        }
        vk_kubeconfig_free(&kc);
    }
    vk_config_free(&cfg);
    return rc;
}
