/* logs.c -- `interlinkctl logs`: find the pod's uid through GET /pods,
 * send upstream's LogStruct to GET /getLogs and copy the body to stdout as
 * it arrives, so -f follows the container live until it ends. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "timeutil.h"
#include "wire.h"

static const char logs_usage[] =
    "Usage: interlinkctl logs [flags] NAME\n"
    "\n"
    "  -c, --container NAME     container (needed when the pod has several)\n"
    "  -f, --follow             keep streaming until the container ends\n"
    "      --tail N             last N lines (-1 = all)\n"
    "      --limit-bytes N      at most N bytes\n"
    "      --since DURATION     newer than a relative duration like 10s, 5m or 1h30m\n"
    "      --since-time TIME    newer than an RFC 3339 time\n"
    "      --timestamps         prefix each line with its time\n"
    "  -p, --previous           the previous instance of the container\n";

enum { OPT_TAIL = CLI_OPT_COMMAND, OPT_LIMIT_BYTES, OPT_SINCE, OPT_SINCE_TIME, OPT_TIMESTAMPS };

typedef struct logs_args {
    const char *container;
    long tail, limit_bytes;
    int64_t since_seconds;
    il_time since_time;
    bool follow, timestamps, previous;
} logs_args;

/* Go's time.ParseDuration for the units people use, rounded up to whole
 * seconds as kubectl does. */
static int parse_duration(const char *text, int64_t *seconds)
{
    static const struct { const char *unit; double scale; } units[] = {
        {"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
    double total = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 0)
            return -1;
        size_t i, n = sizeof units / sizeof units[0];
        for (i = 0; i < n; i++)   /* two-letter units first: "ms" is not "m" + "s" */
            if (strncmp(end, units[i].unit, strlen(units[i].unit)) == 0)
                break;
        if (i == n)
            return -1;
        total += v * units[i].scale;
        p = end + strlen(units[i].unit);
    }
    if (p == text || total <= 0 || total > 1e15)
        return -1;
    *seconds = (int64_t)total;
    if ((double)*seconds < total)   /* round up without libm */
        (*seconds)++;
    return 0;
}

static int logs_opt(int opt, const char *arg, void *state)
{
    logs_args *a = state;
    switch (opt) {
    case 'c': a->container = arg; return 0;
    case 'f': a->follow = true; return 0;
    case 'p': a->previous = true; return 0;
    case OPT_TIMESTAMPS: a->timestamps = true; return 0;
    case OPT_TAIL: return cli_parse_long("--tail", arg, -1, &a->tail);
    case OPT_LIMIT_BYTES: return cli_parse_long("--limit-bytes", arg, 1, &a->limit_bytes);
    case OPT_SINCE:
        if (parse_duration(arg, &a->since_seconds) == 0)
            return 0;
        cli_err("--since: \"%s\" is not a duration like 10s, 5m or 1h30m", arg);
        return -1;
    case OPT_SINCE_TIME:
        if (il_time_parse(arg, &a->since_time) == 0 && !il_time_is_zero(a->since_time))
            return 0;
        cli_err("--since-time: \"%s\" is not an RFC 3339 time like 2026-01-02T15:04:05Z", arg);
        return -1;
    default: return -1;
    }
}

/* "[a b]" from a JSON list of containers, for kubectl's messages. */
static char *container_names(json_t *containers)
{
    il_buf out = IL_BUF_INIT;
    il_buf_puts(&out, "[");
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        il_buf_printf(&out, "%s%s", i ? " " : "", name ? name : "?");
    }
    il_buf_puts(&out, "]");
    return il_buf_steal(&out);
}

static bool has_container(json_t *containers, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c) {
        const char *cname = json_string_value(json_object_get(c, "name"));
        if (cname && strcmp(cname, name) == 0)
            return true;
    }
    return false;
}

/* -c, else kubectl's default-container annotation, else the only
 * container; else an error listing the choices.  Borrowed from pod. */
static const char *pick_container(json_t *pod, const char *wanted)
{
    json_t *spec = json_object_get(pod, "spec");
    json_t *containers = json_object_get(spec, "containers");
    json_t *inits = json_object_get(spec, "initContainers");
    const char *pod_name =
        json_string_value(json_object_get(json_object_get(pod, "metadata"), "name"));
    if (!wanted) {
        wanted = json_string_value(json_object_get(
            json_object_get(json_object_get(pod, "metadata"), "annotations"),
            "kubectl.kubernetes.io/default-container"));
    }
    if (!wanted && json_array_size(containers) == 1)
        wanted = json_string_value(json_object_get(json_array_get(containers, 0), "name"));
    if (wanted && (has_container(containers, wanted) || has_container(inits, wanted)))
        return wanted;
    char *names = container_names(containers), *init_names = container_names(inits);
    char *choices = il_xasprintf("%s%s%s", names,
                                 json_array_size(inits) ? " or one of the init containers: " : "",
                                 json_array_size(inits) ? init_names : "");
    if (wanted)
        cli_err("container %s is not valid for pod %s (choose one of: %s)", wanted, pod_name,
                choices);
    else
        cli_err("a container name must be specified for pod %s, choose one of: %s (use -c NAME)",
                pod_name, choices);
    free(choices);
    free(names);
    free(init_names);
    return NULL;
}

/* Upstream's LogStruct, through the model's own serializer. */
static char *log_request_body(json_t *entry, const char *container, const logs_args *a)
{
    il_log_request req = {
        .ns = il_xstrdup(json_string_value(json_object_get(entry, "namespace"))),
        .pod_uid = il_xstrdup(json_string_value(json_object_get(entry, "UID"))),
        .pod_name = il_xstrdup(json_string_value(json_object_get(entry, "name"))),
        .container = il_xstrdup(container),
        .tail = a->tail > 0 ? a->tail : 0,
        .limit_bytes = a->limit_bytes,
        .timestamps = a->timestamps,
        .follow = a->follow,
        .previous = a->previous,
        .since_seconds = a->since_seconds,
        .since_time = a->since_time,
    };
    json_t *json = il_log_request_to_json(&req);
    char *body = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    il_log_request_free(&req);
    return body;
}

/* Copy the body to stdout as it comes; a reader that went away (| head)
 * ends the copy quietly. */
static int copy_stream(il_httpc_stream *s, const char *what)
{
    char buf[16384];
    for (;;) {
        ssize_t n = il_httpc_stream_read(s, buf, sizeof buf);
        if (n == IL_STREAM_AGAIN)   /* follow mode, nothing new yet */
            continue;
        if (n == 0)
            return 0;
        if (n < 0) {
            cli_err("%s: the log stream broke off", what);
            return -1;
        }
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0) {
            if (errno == EPIPE)
                return 0;
            cli_err("%s: cannot write the log: %s", what, strerror(errno));
            return -1;
        }
    }
}

/* A failed answer's body is the server's message: read it for the error. */
static void report_stream_error(cli_ctx *ctx, il_httpc_stream *s, long status, const char *what)
{
    il_buf body = IL_BUF_INIT;
    char buf[4096];
    ssize_t n;
    while (body.len < 65536 && (n = il_httpc_stream_read(s, buf, sizeof buf)) != 0) {
        if (n > 0)
            il_buf_append(&body, buf, (size_t)n);
        else if (n != IL_STREAM_AGAIN)
            break;
    }
    cli_report_failure(ctx, what, status, NULL, false, il_buf_cstr(&body), body.len);
    il_buf_free(&body);
}

static int stream_logs(cli_ctx *ctx, const char *body, const char *what)
{
    il_httpc *http = cli_http(ctx);
    if (!http)
        return -1;
    long status = 0;
    char err[256] = "";
    il_httpc_stream *s = il_httpc_stream_open(http, "GET", "/getLogs", NULL, body, strlen(body),
                                              &status, NULL, err, sizeof err);
    if (!s) {
        cli_report_failure(ctx, what, 0, err, false, NULL, 0);
        return -1;
    }
    int rc = 0;
    if (status != 200) {
        report_stream_error(ctx, s, status, what);
        rc = -1;
    } else {
        rc = copy_stream(s, what);
    }
    il_httpc_stream_close(s);
    return rc;
}

int cmd_logs(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"container", required_argument, NULL, 'c'},
        {"follow", no_argument, NULL, 'f'},
        {"previous", no_argument, NULL, 'p'},
        {"tail", required_argument, NULL, OPT_TAIL},
        {"limit-bytes", required_argument, NULL, OPT_LIMIT_BYTES},
        {"since", required_argument, NULL, OPT_SINCE},
        {"since-time", required_argument, NULL, OPT_SINCE_TIME},
        {"timestamps", no_argument, NULL, OPT_TIMESTAMPS},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0}};
    logs_args args = {.tail = -1};
    int prc = cli_parse(ctx, argc, argv, "c:fp" CLI_GLOBAL_SHORTOPTS, longopts, logs_opt, &args,
                        logs_usage);
    if (prc != CLI_PARSE_OK)
        return CLI_PARSE_EXIT(prc);
    if (argc - optind != 1) {
        cli_err("logs: %s (usage: interlinkctl logs [-f] [-c CONTAINER] NAME)",
                argc == optind ? "which pod? give its NAME" : "give exactly one pod NAME");
        return 1;
    }
    if (args.since_seconds && !il_time_is_zero(args.since_time)) {
        cli_err("logs: --since and --since-time cannot be used together");
        return 1;
    }
    const char *name = argv[optind];
    if (strncmp(name, "pod/", 4) == 0)
        name += 4;
    json_t *entry = cli_get_pod(ctx, name);
    const char *container =
        entry ? pick_container(json_object_get(entry, "pod"), args.container) : NULL;
    int rc = 1;
    if (container) {
        char *body = log_request_body(entry, container, &args);
        char *what = il_xasprintf("logs of pod/%s container %s", name, container);
        rc = stream_logs(ctx, body, what) == 0 ? 0 : 1;
        free(what);
        free(body);
    }
    json_decref(entry);
    return rc;
}
