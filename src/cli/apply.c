/* apply.c -- `interlinkctl apply -f FILE`: every Pod in the files becomes
 * one POST /create, built as the virtual kubelet builds it (manifestrefs.c).
 * Everything is loaded and checked before the first request, so a mistake
 * in the last document does not leave the first pods half applied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char apply_usage[] =
    "Usage: interlinkctl apply -f FILE [-f FILE...]\n"
    "\n"
    "Create the Pods in FILE (YAML or JSON; several documents and kind: List\n"
    "work; - reads standard input).  ConfigMaps and Secrets in the same files\n"
    "are sent with the pods whose volumes or env reference them.  Applying a\n"
    "pod that already exists reuses its uid, so the backend keeps its job.\n";

#define APPLY_MAX_FILES 64

typedef struct apply_args {
    const char *files[APPLY_MAX_FILES];
    size_t n_files;
} apply_args;

static int apply_opt(int opt, const char *arg, void *state)
{
    apply_args *a = state;
    if (opt != 'f')
        return -1;
    if (a->n_files == APPLY_MAX_FILES) {
        cli_err("apply: at most %d files", APPLY_MAX_FILES);
        return -1;
    }
    a->files[a->n_files++] = arg;
    return 0;
}

/* A create request ready to send, and what to say about it. */
typedef struct pending_pod {
    char *label;              /* "pod/NAME" */
    json_t *request;
    bool existed;
    bool failed;
} pending_pod;

/* The uid to send: the file's, the existing pod's (idempotent apply), or new. */
static const char *choose_uid(const cli_object *o, json_t *existing, char fresh[37], bool *existed)
{
    const char *uid =
        json_string_value(json_object_get(json_object_get(o->obj, "metadata"), "uid"));
    json_t *entry = cli_find_pod(existing, o->ns, o->name);
    *existed = entry != NULL;
    if (uid && *uid)
        return uid;
    uid = json_string_value(json_object_get(entry, "UID"));
    if (uid && *uid)
        return uid;
    il_uuid4(fresh);
    return fresh;
}

static int prepare_pods(const cli_manifest *m, json_t *existing, pending_pod *out, size_t *n)
{
    for (size_t i = 0; i < m->n_objects; i++) {
        const cli_object *o = &m->objects[i];
        if (strcmp(o->kind, "Pod") != 0)
            continue;
        char fresh[37], err[1024], where[512];
        bool existed;
        const char *uid = choose_uid(o, existing, fresh, &existed);
        json_t *request = cli_build_create_request(m, o, uid, err, sizeof err);
        if (!request) {
            cli_object_where(o, where, sizeof where);
            cli_err("%spod/%s: %s", where, o->name, err);
            return -1;
        }
        out[*n].label = il_xasprintf("pod/%s", o->name);
        out[*n].request = request;
        out[*n].existed = existed;
        (*n)++;
    }
    return 0;
}

static int send_pod(cli_ctx *ctx, const pending_pod *p)
{
    char *what = il_xasprintf("create %s", p->label);
    json_t *answer = NULL;
    int rc = cli_call(ctx, "POST", "/create", p->request, what, &answer);
    free(what);
    if (rc != 0)
        return -1;
    const char *job = json_string_value(json_object_get(answer, "PodJID"));
    if (!job) {
        cli_err("create %s: the server's answer has no PodJID", p->label);
        json_decref(answer);
        return -1;
    }
    printf("%s %s (job %s)\n", p->label, p->existed ? "unchanged" : "created", job);
    fflush(stdout);
    json_decref(answer);
    return 0;
}

/* Build every request first, then send them all. */
static int apply_manifest(cli_ctx *ctx, const cli_manifest *m)
{
    size_t n_pods = 0, prepared = 0;
    for (size_t i = 0; i < m->n_objects; i++)
        n_pods += strcmp(m->objects[i].kind, "Pod") == 0;
    if (n_pods == 0) {
        cli_err("apply: no Pod in %s", cli_manifest_source(m));
        return 1;
    }
    json_t *existing = cli_list_pods(ctx, NULL);
    if (!existing)
        return 1;
    pending_pod *pods = il_xcalloc(n_pods, sizeof(pending_pod));
    int rc = prepare_pods(m, existing, pods, &prepared);
    for (size_t i = 0; rc == 0 && i < prepared; i++)
        pods[i].failed = send_pod(ctx, &pods[i]) != 0;   /* keep going, as kubectl does */
    for (size_t i = 0; i < prepared; i++) {
        rc |= pods[i].failed;
        free(pods[i].label);
        json_decref(pods[i].request);
    }
    free(pods);
    json_decref(existing);
    return rc == 0 ? 0 : 1;
}

int cmd_apply(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"filename", required_argument, NULL, 'f'}, CLI_GLOBAL_LONGOPTS, {NULL, 0, NULL, 0}};
    apply_args args = {.n_files = 0};
    int prc = cli_parse(ctx, argc, argv, "f:" CLI_GLOBAL_SHORTOPTS, longopts, apply_opt, &args,
                        apply_usage);
    if (prc != CLI_PARSE_OK)
        return CLI_PARSE_EXIT(prc);
    if (args.n_files == 0 || optind < argc) {
        cli_err("apply: %s (usage: interlinkctl apply -f FILE)",
                args.n_files == 0 ? "-f FILE is required" : "unexpected argument");
        return 1;
    }
    cli_manifest manifest;
    cli_manifest_init(&manifest);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < args.n_files; i++)
        rc = cli_manifest_add_file(&manifest, args.files[i], ctx->ns);
    if (rc == 0)
        rc = apply_manifest(ctx, &manifest);
    cli_manifest_free(&manifest);
    return rc == 0 ? 0 : 1;
}
