/* plugin_main.c -- the process around a plugin's callbacks.
 *
 * Owns what every backend would otherwise repeat in its main(): the command
 * line (--config/--verbose/--help/--help-config/--version, and the hidden
 * --run-pod DIR mode a backend runs on the node side), loading the
 * configuration into the plugin's own struct, the log level, the listen
 * address (a unix Socket, else SidecarURL + SidecarPort), and start and
 * stop around serving.  A backend supplies an il_plugin_def and nothing
 * else. */
#include "plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void print_usage(const il_plugin_def *def, FILE *out)
{
    fprintf(out,
            "usage: %s [--config FILE] [--verbose]\n"
            "       %s --help | --help-config | --version\n",
            def->name, def->name);
    if (def->run_pod)
        fprintf(out, "       %s --run-pod DIR %s  (node side: runs one pod)\n", def->name,
                def->run_pod_usage ? def->run_pod_usage : "");
    fprintf(out, "\n%s\n", def->summary ? def->summary : "");
    if (def->config_env)
        fprintf(out, "The config file defaults to $%s.\n", def->config_env);
}

/* Parse the flags.  Returns -1 to go on (config_path: the file, or NULL),
 * else the exit status (--help, --version, a bad flag). */
static int parse_cli(const il_plugin_def *def, int argc, char **argv, const char **config_path,
                     bool *verbose)
{
    *config_path = def->config_env ? getenv(def->config_env) : NULL;
    *verbose = false;
    for (int i = 1; i < argc; i++) {
        bool config_flag = strcmp(argv[i], "--config") == 0 ||
                           (def->config_flag_alias && strcmp(argv[i], def->config_flag_alias) == 0);
        if (config_flag && i + 1 < argc) {
            *config_path = argv[++i];
        } else if (strcmp(argv[i], "--verbose") == 0) {
            *verbose = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            print_usage(def, stdout);
            return 0;
        } else if (strcmp(argv[i], "--help-config") == 0) {
            il_config_print_help(stdout, def->fields, def->nfields);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", def->name, IL_VERSION);
            return 0;
        } else {
            print_usage(def, stderr);
            return 2;
        }
    }
    if (*config_path && !(*config_path)[0])
        *config_path = NULL;
    return -1;
}

/* Fill cfg from the file and the environment, then the backend's checks.
 * 0, or -1 after logging why. */
static int load_config(const il_plugin_def *def, const char *path, void *cfg)
{
    char err[512];
    if (il_config_load(path, def->fields, def->nfields, cfg, err, sizeof(err)) != 0) {
        il_error("%s", err);
        return -1;
    }
    if (!def->config_check)
        return 0;
    il_buf msg = IL_BUF_INIT;
    int rc = def->config_check(cfg, &msg);
    if (rc != 0)
        il_error("%s%s%s", path ? path : "", path ? ": " : "", il_buf_cstr(&msg));
    il_buf_free(&msg);
    return rc;
}

static int serve(const il_plugin_def *def, const il_plugin_base *base, void *ctx)
{
    bool unix_socket = base->socket && base->socket[0];
    il_httpd_opts listen = {
        .address = unix_socket ? base->socket : base->sidecar_url,
        .port = unix_socket ? NULL : base->sidecar_port,
        .max_body = base->max_body,
    };
    il_buf text = IL_BUF_INIT;
    const char *token = NULL;
    if (base->token_file && *base->token_file) {
        if (il_read_file(base->token_file, 64 * 1024, &text) == 0 && text.len)
            token = il_trim(text.data);
        if (!token || !*token) {
            il_error("PluginTokenFile %s: cannot read it, or it is empty", base->token_file);
            il_buf_free(&text);
            return 1;
        }
    } else if (!unix_socket) {
        il_warn("no PluginTokenFile: anyone who can reach %s port %s may create, read and "
                "delete pods, in the name of any user", listen.address,
                listen.port ? listen.port : "");
    }
    int rc = il_plugin_serve_token(def->ops, ctx, &listen, token);
    il_buf_free(&text);
    return rc;
}

static int run(const il_plugin_def *def, const char *config_path, bool verbose_flag)
{
    void *cfg = il_xcalloc(1, def->config_size);
    const il_plugin_base *base = (const il_plugin_base *)((const char *)cfg + def->base_offset);
    int rc = 2;
    if (load_config(def, config_path, cfg) == 0) {
        if (verbose_flag || base->verbose)
            il_log_set_level(IL_LOG_DEBUG);
        else if (base->errors_only)
            il_log_set_level(IL_LOG_ERROR);
        void *ctx = NULL;
        if (il_log_use_format(base->log_format) != 0) {
            il_error("%s: LogFormat must be text or json", config_path ? config_path : "config");
            rc = 2;
        } else {
            rc = def->start(cfg, &ctx);
        }
        if (rc == 0) {
            rc = serve(def, base, ctx);
            if (def->stop)
                def->stop(ctx);
        }
    }
    if (def->config_release)
        def->config_release(cfg);
    il_config_free(def->fields, def->nfields, cfg);
    free(cfg);
    return rc;
}

int il_plugin_main(const il_plugin_def *def, int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--run-pod") == 0) {
        if (!def->run_pod || argc < 3) {
            print_usage(def, stderr);
            return 2;
        }
        static char ident[128];   /* the log keeps the pointer */
        snprintf(ident, sizeof(ident), "%s-pod", def->name);
        il_log_set_ident(ident);
        return def->run_pod(argv[2], argc - 3, argv + 3);
    }
    il_log_set_ident(def->name);
    const char *config_path;
    bool verbose_flag;
    int rc = parse_cli(def, argc, argv, &config_path, &verbose_flag);
    if (rc >= 0)
        return rc;
    return run(def, config_path, verbose_flag);
}
