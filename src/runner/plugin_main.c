/* plugin_main.c -- the command line and server start-up every pod-running
 * plugin shares (interlink-local, interlink-slurm): --config/--verbose/
 * --help/--help-config/--version, the log level from the config, and the
 * listen address (a unix Socket, else SidecarURL + SidecarPort). */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int runner_parse_cli(const runner_cli *cli, int argc, char **argv, const char **config_path,
                     bool *verbose)
{
    *config_path = getenv(cli->config_env);
    *verbose = false;
    for (int i = 1; i < argc; i++) {
        bool config_flag = strcmp(argv[i], "--config") == 0 ||
                           (cli->config_flag_alias && strcmp(argv[i], cli->config_flag_alias) == 0);
        if (config_flag && i + 1 < argc) {
            *config_path = argv[++i];
        } else if (strcmp(argv[i], "--verbose") == 0) {
            *verbose = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            fputs(cli->usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--help-config") == 0) {
            cli->print_config();
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", cli->name, IL_VERSION);
            return 0;
        } else {
            fputs(cli->usage, stderr);
            return 2;
        }
    }
    if (*config_path && !(*config_path)[0])
        *config_path = NULL;
    return -1;
}

void runner_set_log_level(bool verbose, bool errors_only)
{
    if (verbose)
        il_log_set_level(IL_LOG_DEBUG);
    else if (errors_only)
        il_log_set_level(IL_LOG_ERROR);
}

int runner_serve(const il_plugin_ops *ops, void *ctx, const char *socket, const char *url,
                 const char *port, int64_t max_body, const char *token_file)
{
    bool unix_socket = socket && socket[0];
    il_httpd_opts listen = {
        .address = unix_socket ? socket : url,
        .port = unix_socket ? NULL : port,
        .max_body = max_body,
    };
    il_buf text = IL_BUF_INIT;
    const char *token = NULL;
    if (token_file && *token_file) {
        if (il_read_file(token_file, 64 * 1024, &text) == 0 && text.len)
            token = il_trim(text.data);
        if (!token || !*token) {
            il_error("PluginTokenFile %s: cannot read it, or it is empty", token_file);
            il_buf_free(&text);
            return 1;
        }
    } else if (!unix_socket) {
        il_warn("no PluginTokenFile: anyone who can reach %s port %s may create, read and "
                "delete pods, in the name of any user", url, port ? port : "");
    }
    int rc = il_plugin_serve_token(ops, ctx, &listen, token);
    il_buf_free(&text);
    return rc;
}
