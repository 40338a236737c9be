/* get.c -- `interlinkctl get pods`: the kubectl-style table (or JSON) of
 * what GET /pods returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char get_usage[] =
    "Usage: interlinkctl get pods [NAME...] [-o wide|json|name] [-A]\n"
    "\n"
    "  -o, --output FORMAT      wide adds JOB ID and UID; json prints the server's entries;\n"
    "                           name prints pod/NAME lines\n"
    "  -A, --all-namespaces     pods of every namespace\n";

typedef enum { OUT_TABLE, OUT_WIDE, OUT_JSON, OUT_NAME } output_format;

typedef struct get_args {
    output_format format;
    bool all_namespaces;
} get_args;

static int get_opt(int opt, const char *arg, void *state)
{
    get_args *a = state;
    if (opt == 'A') {
        a->all_namespaces = true;
        return 0;
    }
    if (opt != 'o')
        return -1;
    static const char *const names[] = {"", "wide", "json", "name"};
    for (size_t i = 1; i < 4; i++) {
        if (strcmp(arg, names[i]) == 0) {
            a->format = (output_format)i;
            return 0;
        }
    }
    cli_err("get: unknown output format \"%s\" (use wide, json or name)", arg);
    return -1;
}

static bool is_pods_word(const char *word)
{
    return strcmp(word, "pods") == 0 || strcmp(word, "pod") == 0 || strcmp(word, "po") == 0;
}

static void add_pod_row(cli_table *t, json_t *entry, const get_args *a)
{
    char ready[32], status[128], restarts[16], age[32];
    cli_pod_ready_text(entry, ready, sizeof ready);
    cli_pod_status_text(entry, status, sizeof status);
    snprintf(restarts, sizeof restarts, "%d", cli_pod_restarts(entry));
    cli_age_text(json_object_get(entry, "createdAt"), age, sizeof age);
    const char *cells[8];
    size_t n = 0;
    if (a->all_namespaces)
        cells[n++] = json_string_value(json_object_get(entry, "namespace"));
    cells[n++] = json_string_value(json_object_get(entry, "name"));
    cells[n++] = ready;
    cells[n++] = status;
    cells[n++] = restarts;
    cells[n++] = age;
    if (a->format == OUT_WIDE) {
        cells[n++] = json_string_value(json_object_get(entry, "JID"));
        cells[n++] = json_string_value(json_object_get(entry, "UID"));
    }
    cli_table_add(t, cells);
}

static void print_table(json_t *pods, const get_args *a)
{
    const char *header[8];
    size_t n = 0;
    if (a->all_namespaces)
        header[n++] = "NAMESPACE";
    static const char *const base[] = {"NAME", "READY", "STATUS", "RESTARTS", "AGE"};
    for (size_t i = 0; i < 5; i++)
        header[n++] = base[i];
    if (a->format == OUT_WIDE) {
        header[n++] = "JOB ID";
        header[n++] = "UID";
    }
    cli_table *t = cli_table_new(n);
    cli_table_add(t, header);
    size_t i;
    json_t *entry;
    json_array_foreach(pods, i, entry) add_pod_row(t, entry, a);
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static void print_pods(json_t *pods, const get_args *a)
{
    size_t i;
    json_t *entry;
    switch (a->format) {
    case OUT_JSON:
        json_dumpf(pods, stdout, JSON_INDENT(2));
        putchar('\n');
        break;
    case OUT_NAME:
        json_array_foreach(pods, i, entry)
            printf("pod/%s\n", json_string_value(json_object_get(entry, "name")));
        break;
    default:
        print_table(pods, a);
    }
}

/* Keep only the named pods, in the order named; a missing one is an error. */
static json_t *select_named(cli_ctx *ctx, json_t *all, char **names, int n)
{
    json_t *picked = json_array();
    for (int i = 0; i < n; i++) {
        json_t *entry = cli_find_pod(all, ctx->ns, names[i]);
        if (!entry) {
            cli_err("pod \"%s\" not found in namespace \"%s\"", names[i], ctx->ns);
            json_decref(picked);
            return NULL;
        }
        json_array_append(picked, entry);
    }
    return picked;
}

int cmd_get(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"all-namespaces", no_argument, NULL, 'A'},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0}};
    get_args args = {.format = OUT_TABLE};
    int prc = cli_parse(ctx, argc, argv, "o:A" CLI_GLOBAL_SHORTOPTS, longopts, get_opt, &args,
                        get_usage);
    if (prc != CLI_PARSE_OK)
        return CLI_PARSE_EXIT(prc);
    if (optind >= argc) {
        cli_err("get: which resource? (interlinkctl get pods)");
        return 1;
    }
    if (!is_pods_word(argv[optind])) {
        cli_err("get: unknown resource type \"%s\" (interlinkctl knows pods)", argv[optind]);
        return 1;
    }
    int n_names = argc - optind - 1;
    if (n_names > 0 && args.all_namespaces) {
        cli_err("get: a pod name cannot be combined with -A (use -n NAMESPACE)");
        return 1;
    }
    json_t *pods = cli_list_pods(ctx, args.all_namespaces ? NULL : ctx->ns);
    if (pods && n_names > 0) {
        json_t *picked = select_named(ctx, pods, argv + optind + 1, n_names);
        json_decref(pods);
        pods = picked;
    }
    if (!pods)
        return 1;
    if (json_array_size(pods) == 0 && args.format != OUT_JSON) {
        if (args.all_namespaces)
            fprintf(stderr, "No pods found.\n");
        else
            fprintf(stderr, "No pods found in namespace %s.\n", ctx->ns);
    } else {
        print_pods(pods, &args);
    }
    json_decref(pods);
    return 0;
}
