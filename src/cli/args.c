/* args.c -- what every interlinkctl command shares for its command line:
 * option parsing with the global flags allowed anywhere, numbers, and the
 * one way to say what went wrong. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
int cli_global_opt(cli_ctx *ctx, int opt, const char *arg)
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
            int handled = cli_global_opt(ctx, opt, optarg);
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
