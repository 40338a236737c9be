/* ping.c -- `interlinkctl ping`: POST /pinglink, which interlink relays to
 * the plugin as an empty status call; print the plugin's PingResponse
 * (status, capacity, taints) or its plain-text answer. */
#include <stdio.h>

#include "cli.h"

static const char ping_usage[] =
    "Usage: interlinkctl ping\n"
    "\n"
    "Check that interlink and its plugin answer, and show the capacity the\n"
    "plugin reports.\n";

static void print_resources(json_t *resources)
{
    static const char *const keys[] = {"cpu", "memory", "pods"};
    for (size_t i = 0; i < 3; i++) {
        const char *value = json_string_value(json_object_get(resources, keys[i]));
        if (value)
            printf("%-13s %s\n", keys[i], value);
    }
    size_t i;
    json_t *acc;
    json_array_foreach(json_object_get(resources, "accelerators"), i, acc) {
        printf("%-13s %s=%s\n", i ? "" : "accelerators",
               json_string_value(json_object_get(acc, "resourceType")),
               json_string_value(json_object_get(acc, "available")));
    }
}

static void print_taints(json_t *taints)
{
    size_t i;
    json_t *t;
    json_array_foreach(taints, i, t) {
        const char *value = json_string_value(json_object_get(t, "value"));
        printf("%-13s %s%s%s:%s\n", i ? "" : "taints", json_string_value(json_object_get(t, "key")),
               value && *value ? "=" : "", value ? value : "",
               json_string_value(json_object_get(t, "effect")));
    }
}

int cmd_ping(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_GLOBAL_LONGOPTS, {NULL, 0, NULL, 0}};
    int prc =
        cli_parse(ctx, argc, argv, CLI_GLOBAL_SHORTOPTS, longopts, cli_no_opts, NULL, ping_usage);
    if (prc != CLI_PARSE_OK)
        return CLI_PARSE_EXIT(prc);
    if (optind < argc) {
        cli_err("ping: takes no arguments");
        return 1;
    }
    il_buf body = IL_BUF_INIT;
    if (cli_call_raw(ctx, "POST", "/pinglink", NULL, "ping", &body) != 0)
        return 1;
    /* Plugins that predate PingResponse answer with plain text. */
    json_t *answer = json_loadb(il_buf_cstr(&body), body.len, 0, NULL);
    const char *status = json_string_value(json_object_get(answer, "status"));
    if (!json_is_object(answer) && body.len > 0)
        status = il_buf_cstr(&body);
    printf("%-13s %s\n", "interlink", ctx->url);
    printf("%-13s %s\n", "status", status && *status ? status : "ok");
    print_resources(json_object_get(answer, "resources"));
    print_taints(json_object_get(answer, "taints"));
    json_decref(answer);
    il_buf_free(&body);
    return 0;
}
