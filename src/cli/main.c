/* main.c -- interlinkctl entry point: global flags, command dispatch,
 * usage text, and the option/number parsing every command shares. */
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

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("interlinkctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("interlinkctl: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_long(const char *flag, const char *s, long min, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE) {
        cli_err("%s: \"%s\" is not a whole number", flag, s);
        return -1;
    }
    if (v < min) {
        cli_err("%s: must be at least %ld, got %ld", flag, min, v);
        return -1;
    }
    *out = v;
    return 0;
}

/* Handle one global flag; returns 1 if opt was one, 0 if not, -1 on error. */
static int global_opt(cli_ctx *ctx, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_URL: ctx->url = arg; return 1;
    case 'n':
        if (*arg == '\0') {
            cli_err("--namespace must not be empty");
            return -1;
        }
        ctx->ns = arg;
        return 1;
    case CLI_OPT_TIMEOUT: return cli_parse_long("--timeout", arg, 1, &ctx->timeout_s) == 0 ? 1 : -1;
    case CLI_OPT_TOKEN_FILE: ctx->token_file = arg; return 1;
    case CLI_OPT_CACERT: ctx->cacert = arg; return 1;
    case CLI_OPT_CERT: ctx->cert = arg; return 1;
    case CLI_OPT_KEY: ctx->key = arg; return 1;
    case CLI_OPT_INSECURE: ctx->insecure = true; return 1;
    default: return 0;
    }
}

/* getopt's own messages name the program oddly and cannot say which
 * command was meant, so opterr = 0 and we print our own.  A leading ':'
 * in the option string makes a missing value ':' instead of '?'. */
static void bad_option(char **argv, int opt)
{
    const char *cmd = argv[0];
    if (opt == ':')
        cli_err("%s: flag %s needs a value", cmd, argv[optind - 1]);
    else if (optopt != 0)
        cli_err("%s: unknown flag -%c (see interlinkctl %s --help)", cmd, optopt, cmd);
    else
        cli_err("%s: unknown flag %s (see interlinkctl %s --help)", cmd, argv[optind - 1], cmd);
}

int cli_parse(cli_ctx *ctx, int argc, char **argv, const char *shortopts,
              const struct option *longopts, cli_opt_fn on_opt, void *state, const char *usage) {
    char *optstring = il_xasprintf(":%s", shortopts);
    int rc = CLI_PARSE_OK;
    int opt;
    optind = 0;   /* 0, not 1: glibc then resets its permutation state too */
    opterr = 0;
    while (rc == CLI_PARSE_OK && (opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            rc = CLI_PARSE_HELP;
        } else if (opt == '?' || opt == ':') {
            bad_option(argv, opt);
            rc = CLI_PARSE_ERR;
        } else {
            int handled = global_opt(ctx, opt, optarg);
            if (handled < 0 || (handled == 0 && on_opt(opt, optarg, state) != 0))
                rc = CLI_PARSE_ERR;
        }
    }
    free(optstring);
    return rc;
}

int cli_no_opts(int opt, const char *arg, void *state)
{
    (void)opt, (void)arg, (void)state;
    return -1;
}

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
        if (global_opt(ctx, opt, optarg) < 0)
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
