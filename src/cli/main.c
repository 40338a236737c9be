/* main.c -- interlinkctl entry point: the usage text, the global flags
 * before the command word, and command dispatch.  The option parsing every
 * command shares is args.c's. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
    "Usage: interlinkctl [global flags] COMMAND [flags] [args]\n"
    "\n"
    "Commands:\n"
    "  apply -f FILE            create the Pods in FILE (YAML or JSON, - for stdin),\n"
    "                           with the ConfigMaps and Secrets they reference\n"
    "  get pods [NAME]          list pods (-o wide|json, -A for all namespaces)\n"
    "  describe pod NAME        show a pod and its containers' states\n"
    "  logs [-f] [-c C] NAME    print a container's log\n"
    "  delete pod NAME...       delete pods (or delete -f FILE)\n"
    "  ping                     check that interlink and its plugin answer\n"
    "  setup --backend B --interlink-host H\n"
    "                           generate certificates, configs and the cluster's\n"
    "                           kustomization for a site (setup --help)\n"
    "\n"
    "Global flags:\n"
    "  --url URL                interlink API: unix:///path or http://host:port\n"
    "                           (env INTERLINK_URL; default " CLI_DEFAULT_URL ")\n"
    "  -n, --namespace NS       namespace (default \"default\")\n"
    "  --timeout SECONDS        limit for each request (default 60)\n"
    "  --token-file FILE        send the bearer token in FILE (env INTERLINK_TOKEN_FILE)\n"
    "  --cacert FILE            CA of an https:// interlink (env INTERLINK_CACERT;\n"
    "                           default: the system's CAs)\n"
    "  --cert FILE, --key FILE  client certificate and key, PEM (env INTERLINK_CERT,\n"
    "                           INTERLINK_KEY), for an interlink that requires one\n"
    "  --insecure-skip-tls-verify  do not check interlink's certificate\n"
    "  -h, --help               this text; COMMAND --help for a command's flags\n"
    "  --version                print the version\n";

typedef int (*command_fn)(cli_ctx *ctx, int argc, char **argv);

static const struct {
    const char *name;
    command_fn fn;
} commands[] = {
    {"apply", cmd_apply},     {"create", cmd_apply}, {"get", cmd_get},
    {"describe", cmd_describe}, {"logs", cmd_logs},  {"log", cmd_logs},
    {"delete", cmd_delete},   {"ping", cmd_ping},    {"setup", cmd_setup},
};

/* Global flags before the command word: stop at the first non-option
 * ("+") so the command's own flags are left for it. */
static int parse_leading_flags(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_GLOBAL_LONGOPTS, {"version", no_argument, NULL, CLI_OPT_VERSION}, {NULL, 0, NULL, 0}};
    optind = 0;   /* 0, not 1: glibc then resets its permutation state too */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+:" CLI_GLOBAL_SHORTOPTS, longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage_text, stdout);
            return CLI_PARSE_HELP;
        }
        if (opt == CLI_OPT_VERSION) {
            printf("interlinkctl %s\n", IL_VERSION);
            return CLI_PARSE_HELP;
        }
        if (opt == '?' || opt == ':') {
            cli_err("%s flag %s (see interlinkctl --help)",
                    opt == ':' ? "missing value for" : "unknown", argv[optind - 1]);
            return CLI_PARSE_ERR;
        }
        if (cli_global_opt(ctx, opt, optarg) < 0)
            return CLI_PARSE_ERR;
    }
    return CLI_PARSE_OK;
}

int main(int argc, char **argv)
{
    /* A closed pipe (interlinkctl logs | head) must end output quietly,
     * with EPIPE on write, not kill us mid-line. */
    signal(SIGPIPE, SIG_IGN);

    const char *env_url = getenv("INTERLINK_URL");
    cli_ctx ctx = {.url = (env_url && *env_url) ? env_url : CLI_DEFAULT_URL,
                   .ns = "default",
                   .timeout_s = CLI_DEFAULT_TIMEOUT_S,
                   .token_file = getenv("INTERLINK_TOKEN_FILE"),
                   .cacert = getenv("INTERLINK_CACERT"),
                   .cert = getenv("INTERLINK_CERT"),
                   .key = getenv("INTERLINK_KEY")};
    int rc = parse_leading_flags(&ctx, argc, argv);
    if (rc != CLI_PARSE_OK)
        return CLI_PARSE_EXIT(rc);
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return 1;
    }
    char **cmd_argv = argv + optind;
    int cmd_argc = argc - optind;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, cmd_argv[0]) == 0) {
            rc = commands[i].fn(&ctx, cmd_argc, cmd_argv);
            il_httpc_free(ctx.http);
            return rc;
        }
    }
    cli_err("unknown command \"%s\" (see interlinkctl --help)", cmd_argv[0]);
    return 1;
}
