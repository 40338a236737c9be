/* delete.c -- `interlinkctl delete pod NAME...` (or -f FILE): find each pod
 * through GET /pods and send its stored JSON to DELETE /delete, as the
 * virtual kubelet sends the full pod. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char delete_usage[] =
    "Usage: interlinkctl delete pod NAME... | delete -f FILE\n"
    "\n"
    "  -f, --filename FILE      delete the Pods defined in FILE\n"
    "      --ignore-not-found   a pod that does not exist is not an error\n";

enum { OPT_IGNORE_NOT_FOUND = CLI_OPT_COMMAND };

typedef struct delete_args {
    const char *file;
    bool ignore_not_found;
} delete_args;

static int delete_opt(int opt, const char *arg, void *state)
{
    delete_args *a = state;
    if (opt == 'f')
        a->file = arg;
    else if (opt == OPT_IGNORE_NOT_FOUND)
        a->ignore_not_found = true;
    else
        return -1;
    return 0;
}

static int delete_one(cli_ctx *ctx, json_t *pods, const char *ns, const char *name,
                      const delete_args *a) {
    json_t *entry = cli_find_pod(pods, ns, name);
    if (!entry) {
        if (a->ignore_not_found)
            return 0;
        cli_err("pod \"%s\" not found in namespace \"%s\"", name, ns);
        return 1;
    }
    char *what = il_xasprintf("delete pod/%s", name);
    int rc = cli_call(ctx, "DELETE", "/delete", json_object_get(entry, "pod"), what, NULL);
    free(what);
    if (rc != 0)
        return 1;
    printf("pod/%s deleted\n", name);
    fflush(stdout);
    return 0;
}

static int delete_from_file(cli_ctx *ctx, json_t *pods, const delete_args *a)
{
    cli_manifest m;
    cli_manifest_init(&m);
    int rc = cli_manifest_add_file(&m, a->file, ctx->ns) == 0 ? 0 : 1;
    for (size_t i = 0; rc == 0 && i < m.n_objects; i++) {
        const cli_object *o = &m.objects[i];
        if (strcmp(o->kind, "Pod") == 0)
            rc |= delete_one(ctx, pods, o->ns, o->name, a);
    }
    cli_manifest_free(&m);
    return rc;
}

int cmd_delete(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"ignore-not-found", no_argument, NULL, OPT_IGNORE_NOT_FOUND},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0}};
    delete_args args = {NULL, false};
    int prc = cli_parse(ctx, argc, argv, "f:" CLI_GLOBAL_SHORTOPTS, longopts, delete_opt, &args,
                        delete_usage);
    if (prc != CLI_PARSE_OK)
        return CLI_PARSE_EXIT(prc);
    bool by_name = argc - optind >= 2 &&
                   (strcmp(argv[optind], "pod") == 0 || strcmp(argv[optind], "pods") == 0);
    if (by_name == (args.file != NULL)) {
        cli_err("delete: usage: interlinkctl delete pod NAME... or interlinkctl delete -f FILE");
        return 1;
    }
    json_t *pods = cli_list_pods(ctx, NULL);
    if (!pods)
        return 1;
    int rc = 0;
    if (args.file)
        rc = delete_from_file(ctx, pods, &args);
    for (int i = optind + 1; by_name && i < argc; i++)
        rc |= delete_one(ctx, pods, ctx->ns, argv[i], &args);
    json_decref(pods);
    return rc;
}
