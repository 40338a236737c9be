/* cli.h -- what the interlinkctl source files share.
 *
 * Every command is `int cmd_NAME(cli_ctx *ctx, int argc, char **argv)`: argv
 * starts at the command word, the result is the process exit status (0 or
 * 1).  Errors are printed once, where they are detected, as
 * "interlinkctl: ..." on stderr (cli_err). */
#ifndef IL_CLI_H
#define IL_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "httpc.h"
#include "util.h"

#define CLI_DEFAULT_URL "unix:///var/run/interlink/interlink.sock"
#define CLI_DEFAULT_TIMEOUT_S 60

/* Global flags, valid before or after the command word. */
typedef struct cli_ctx {
    const char *url;          /* --url, INTERLINK_URL or CLI_DEFAULT_URL */
    const char *ns;           /* -n/--namespace, "default" */
    long timeout_s;           /* --timeout, whole-request limit */
    const char *token_file;   /* --token-file or INTERLINK_TOKEN_FILE: bearer token */
    const char *cacert;       /* --cacert or INTERLINK_CACERT: CA of an https interlink */
    const char *cert, *key;   /* --cert/--key or INTERLINK_CERT/_KEY: client certificate */
    bool insecure;            /* --insecure-skip-tls-verify */
    il_httpc *http;           /* created on first use by cli_http() */
} cli_ctx;

/* ---- args.c: flags shared by every command ------------------------------ */

/* Long options every command accepts; append to a command's table.
 * Long-only options use values from CLI_OPT_LONG_ONLY up, which no short
 * option can collide with; commands start theirs at CLI_OPT_COMMAND. */
enum { CLI_OPT_LONG_ONLY = 0x100, CLI_OPT_URL = CLI_OPT_LONG_ONLY, CLI_OPT_TIMEOUT,
       CLI_OPT_VERSION, CLI_OPT_TOKEN_FILE, CLI_OPT_CACERT, CLI_OPT_CERT, CLI_OPT_KEY,
       CLI_OPT_INSECURE, CLI_OPT_COMMAND = 0x200 };
#define CLI_GLOBAL_LONGOPTS                                  \
    {"url", required_argument, NULL, CLI_OPT_URL},           \
    {"token-file", required_argument, NULL, CLI_OPT_TOKEN_FILE}, \
    {"cacert", required_argument, NULL, CLI_OPT_CACERT},     \
    {"cert", required_argument, NULL, CLI_OPT_CERT},         \
    {"key", required_argument, NULL, CLI_OPT_KEY},           \
    {"insecure-skip-tls-verify", no_argument, NULL, CLI_OPT_INSECURE}, \
    {"namespace", required_argument, NULL, 'n'},             \
    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},   \
    {"help", no_argument, NULL, 'h'}
#define CLI_GLOBAL_SHORTOPTS "n:h"

/* args.c: apply one global flag to ctx; 1 if opt was one, 0 if not, -1 on
 * error (printed). */
int cli_global_opt(cli_ctx *ctx, int opt, const char *arg);

/* Parse argv (starting at the command word) with the command's options,
 * which must include CLI_GLOBAL_LONGOPTS and CLI_GLOBAL_SHORTOPTS.  Global
 * flags are handled here; every other option goes to on_opt(opt, optarg,
 * state), which returns 0, or -1 after printing an error.  Positional
 * arguments are left in argv[optind..argc). */
enum { CLI_PARSE_ERR = -1, CLI_PARSE_OK = 0, CLI_PARSE_HELP = 1 };
typedef int (*cli_opt_fn)(int opt, const char *arg, void *state);
int cli_parse(cli_ctx *ctx, int argc, char **argv, const char *shortopts,
              const struct option *longopts, cli_opt_fn on_opt, void *state, const char *usage);
/* on_opt for commands with no flags of their own (never called). */
int cli_no_opts(int opt, const char *arg, void *state);
/* Exit status for a cli_parse result that is not CLI_PARSE_OK. */
#define CLI_PARSE_EXIT(rc) ((rc) == CLI_PARSE_HELP ? 0 : 1)

void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Strict decimal integer >= min; prints "--flag: ..." on failure. */
int cli_parse_long(const char *flag, const char *s, long min, long *out);

/* ---- client.c: talking to the interlink API server ---------------------- */

il_httpc *cli_http(cli_ctx *ctx);
/* One JSON request.  On a 200 returns 0 and, if body_out is not NULL, the
 * parsed body (NULL when empty).  Anything else prints an error starting
 * with `what` ("create pod/x") and returns -1. */
int cli_call(cli_ctx *ctx, const char *method, const char *path, json_t *body,
             const char *what, json_t **body_out);
/* The same, keeping a 200 body as it came (in *out, caller frees). */
int cli_call_raw(cli_ctx *ctx, const char *method, const char *path, json_t *body,
                 const char *what, il_buf *out);
/* Print the error for a failed call: transport failure or non-200 reply
 * whose text body is the server's message. */
void cli_report_failure(cli_ctx *ctx, const char *what, long status, const char *transport_err,
                        bool timed_out, const char *body, size_t len);

/* GET /pods for one namespace, or all when ns is NULL: a new array. */
json_t *cli_list_pods(cli_ctx *ctx, const char *ns);
/* The /pods entry named ns/name in a list (borrowed), or NULL. */
json_t *cli_find_pod(json_t *list, const char *ns, const char *name);
/* GET /pods and find ns/name; prints "pod NAME not found" when absent.
 * Returns the entry (new reference) or NULL. */
json_t *cli_get_pod(cli_ctx *ctx, const char *name);

/* ---- output.c: what tables and descriptions print ----------------------- */

/* kubectl's STATUS column for a /pods entry ("Running", "Init:0/1",
 * "Completed", "Error", "ContainerCreating"). */
void cli_pod_status_text(json_t *entry, char *out, size_t outlen);
/* kubectl's READY ("1/2") and RESTARTS columns. */
void cli_pod_ready_text(json_t *entry, char *out, size_t outlen);
int cli_pod_restarts(json_t *entry);
/* kubectl's AGE ("5s", "3m12s", "4h", "2d") of a time: unix seconds (what
 * /pods sends as createdAt) or an RFC 3339 string; "<unknown>" otherwise. */
void cli_age_text(json_t *when, char *out, size_t outlen);
/* Left-aligned columns, three spaces apart, as kubectl prints them. */
typedef struct cli_table cli_table;
cli_table *cli_table_new(size_t ncols);
void cli_table_add(cli_table *t, const char *const *cells);   /* copies the cells */
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_free(cli_table *t);

/* ---- manifest.c: documents from a file ---------------------------------- */

typedef struct cli_object {
    json_t *obj;              /* borrowed from the manifest */
    const char *kind;
    const char *name;
    const char *ns;           /* metadata.namespace or the -n default */
    const char *file;         /* as the user named it, "-" = stdin */
    int doc;                  /* 1-based document number in that file */
    int line;                 /* first line of that document, 0 if unknown */
} cli_object;

/* The objects of every file given to one command: a ConfigMap in one file
 * can serve a Pod in another, as with kubectl apply -f a -f b. */
typedef struct cli_manifest {
    json_t *docs;             /* every document of every file (keeps objects alive) */
    cli_object *objects;      /* Pods, ConfigMaps and Secrets, List items flattened */
    size_t n_objects;
    size_t cap;
    const char *first_file;
    size_t n_files;
} cli_manifest;

void cli_manifest_init(cli_manifest *m);
/* Load one more file.  Returns 0, or -1 after printing
 * "FILE: document N: line L: ..." */
int cli_manifest_add_file(cli_manifest *m, const char *file, const char *default_ns);
void cli_manifest_free(cli_manifest *m);
/* The object kind ns/name, or NULL. */
const cli_object *cli_manifest_find(const cli_manifest *m, const char *kind, const char *ns,
                                    const char *name);
/* "FILE: document N: line L: " for messages about an object. */
void cli_object_where(const cli_object *o, char *out, size_t outlen);
/* "FILE" or "the given files", for "not found in ..." */
const char *cli_manifest_source(const cli_manifest *m);

/* ---- manifestrefs.c: what the virtual kubelet does before /create ---------- */

/* Build the PodCreateRequests for pod object o with the given uid.
 * Returns a new object, or NULL with err set ("volume \"v\": ..."). */
json_t *cli_build_create_request(const cli_manifest *m, const cli_object *o, const char *uid,
                                 char *err, size_t errlen);

/* ---- commands ----------------------------------------------------------- */

int cmd_apply(cli_ctx *ctx, int argc, char **argv);
int cmd_get(cli_ctx *ctx, int argc, char **argv);
int cmd_describe(cli_ctx *ctx, int argc, char **argv);
int cmd_logs(cli_ctx *ctx, int argc, char **argv);
int cmd_delete(cli_ctx *ctx, int argc, char **argv);
int cmd_ping(cli_ctx *ctx, int argc, char **argv);
int cmd_setup(cli_ctx *ctx, int argc, char **argv);

#endif
