/* plugin.h -- the plugin framework: a backend is five callbacks.
 *
 * A plugin's main() is one call, il_plugin_main(), with an il_plugin_def:
 * the framework owns the command line, the configuration file (the keys
 * every plugin has, IL_PLUGIN_BASE_FIELDS, plus the backend's own), the log
 * level, the listen address and the hidden node-side mode (--run-pod).
 * docs/plugins.md shows a whole backend built on it.
 *
 * il_plugin_serve() runs the southbound HTTP API (POST /create, GET|POST
 * /status, POST|DELETE /delete, GET /getLogs) and does the HTTP, JSON,
 * validation and error mapping, so a backend only translates pods into its
 * own language.  "Ping" is upstream's GET /status with an empty list.
 *
 * Callbacks run concurrently on connection threads and must be thread-safe.
 * A callback that fails returns an HTTP status (400 bad pod, 404 unknown,
 * 409 conflict, 500 backend error, 503 backend unavailable) and writes a
 * message a person can act on into err; 0 means success. */
#ifndef IL_PLUGIN_H
#define IL_PLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "httpd.h"
#include "pod.h"
#include "session.h"
#include "util.h"
#include "wire.h"

/* A process kubectl exec started in a container (plugin_session.c). */
typedef struct il_exec_proc {
    pid_t pid;
    int in_fd, out_fd, err_fd;
    bool tty;
    /* A relay to a remote end that serves the session itself (interlink-
     * slurm's srun step running il_exec_serve on the node): in_fd takes
     * and out_fd gives session frames, the exit frame included, passed
     * through unchanged; err_fd is the relay's own diagnostics.  It is
     * stopped by closing in_fd (the remote end then kills the command),
     * signalled only when it does not go. */
    bool framed;
} il_exec_proc;

typedef struct il_plugin_ops {
    const char *name;         /* "local", "slurm": used in logs */

    /* Submit the pod.  Idempotent: a pod UID already submitted returns its
     * existing job id.  *job_id is malloc'd by the callee.  req->caller
     * says for whom (the X-Interlink-* headers interlink adds; trust them
     * only as far as the plugin's listener is reachable by interlink alone:
     * a unix socket's permissions, or PluginTokenFile). */
    int (*create)(void *ctx, const il_create_request *req, char **job_id, il_buf *err);

    /* Status of n pods in one call.  out[i] is zeroed on entry and is for
     * pods[i]; leave out[i].uid NULL for a pod the backend does not know
     * (it is then left out of the answer).  Return non-zero only when the
     * backend cannot answer at all.  The pods carry their metadata only
     * (uid, name, namespace, annotations, labels; raw is NULL): a status
     * request is read one pod at a time and keeps no JSON tree. */
    int (*status)(void *ctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err);

    /* Stop the pod (SIGTERM, then SIGKILL after pod->grace_seconds) and
     * remove its files.  Deleting an unknown pod succeeds (idempotent). */
    int (*delete)(void *ctx, const il_pod *pod, il_buf *err);

    /* Open a log stream for one container.  Returns 0 and sets *stream, or
     * an HTTP status with err.  read: bytes, 0 at end, -1 on error, or
     * IL_STREAM_AGAIN after waiting at most ~1 s (follow mode). */
    int (*logs_open)(void *ctx, const il_log_request *req, void **stream, il_buf *err);
    ssize_t (*logs_read)(void *stream, char *buf, size_t max);
    void (*logs_close)(void *stream);

    /* Capacity and taints as a PingResponse object (new reference), or
     * NULL to answer a plain "ok".  {"status": "error", "message": M}
     * answers 503 with M: the backend cannot say what it has. */
    json_t *(*ping)(void *ctx);

    /* ---- optional: interactive sessions (NULL: the endpoint answers 501) */

    /* kubectl exec: start req->command in the container.  *proc gets the
     * process (leading its own process group) and the fds of its stdin,
     * stdout and stderr, or with req->tty a pty's master in in_fd and
     * out_fd and -1 in err_fd.  The framework owns them from then on: it
     * pumps them, sizes the terminal, kills the group when the caller
     * goes away, and reaps the process for its exit code. */
    int (*exec)(void *ctx, const il_exec_request *req, il_exec_proc *proc, il_buf *err);

    /* kubectl port-forward: a TCP connection to port in the pod's network,
     * connected, in *fd (the framework owns it). */
    int (*port_connect)(void *ctx, const il_pod *pod, int port, int *fd, il_buf *err);
} il_plugin_ops;

/* The status a callback returns for a library's failure category: 0, 400
 * (IL_FAIL_INPUT), 404 (IL_FAIL_NOT_FOUND) or 500 (IL_FAIL_IO). */
int il_plugin_status(il_fail f);

/* Serve until SIGINT or SIGTERM.  GET /metrics on the same listener
 * answers the process's metrics (prom.h) in Prometheus text format.
 * Returns the process exit status. */
int il_plugin_serve(const il_plugin_ops *ops, void *ctx, const il_httpd_opts *listen);
/* The same, accepting only callers that send "Authorization: Bearer
 * token" (interlink's SidecarTokenFile) when token is not NULL: 401 on
 * the headers otherwise, before any body is read. */
int il_plugin_serve_token(const il_plugin_ops *ops, void *ctx, const il_httpd_opts *listen,
                          const char *token);

/* POST /exec and /portforward (plugin_session.c), routed by
 * il_plugin_serve. */
void il_plugin_route_sessions(il_httpd *srv, const il_plugin_ops *ops, void *ctx);
/* One exec session on plain fds, as the framework serves it to the VK:
 * frames from in_fd, frames (the exit frame last) to out_fd.  For the
 * remote end of a framed process.  Returns the command's exit code, or -1
 * when in_fd ended first (then the command's group was killed). */
int il_exec_serve(il_exec_proc *proc, int in_fd, int out_fd);
/* Start argv (envp NULL or empty: this process's environment) in a session
 * of its own with pipes, or with tty a pty of width x height (0: unknown)
 * that becomes its controlling terminal; without stdin_open (and no tty)
 * its stdin is closed at once.  0 with *proc, or -1 with err
 * (exec_spawn.c). */
int il_exec_spawn(char *const argv[], char *const envp[], bool tty, int width, int height,
                  bool stdin_open, il_exec_proc *proc, il_buf *err);

/* ---- the plugin process (plugin_main.c) ------------------------------------ */

/* The keys every plugin has: where it listens, where its data lives, how
 * much it logs.  Embed one in the plugin's config struct and put
 * IL_PLUGIN_BASE_FIELDS for it in the plugin's key table. */
typedef struct il_plugin_base {
    char *socket;             /* Socket: "unix:///path", or empty for HTTP */
    char *sidecar_url;        /* SidecarURL: HTTP listen address */
    char *sidecar_port;       /* SidecarPort */
    char *data_root;          /* DataRootFolder */
    bool verbose;             /* VerboseLogging */
    bool errors_only;         /* ErrorsOnlyLogging */
    char *log_format;         /* LogFormat: text or json */
    int64_t max_body;         /* MaxBodyBytes */
    char *token_file;         /* PluginTokenFile: callers must send this bearer token */
} il_plugin_base;

/* The il_cfg_field entries of an il_plugin_base that is member m of type;
 * data_default and data_doc: the plugin's DataRootFolder. */
#define IL_PLUGIN_BASE_FIELDS(type, m, data_default, data_doc)                                   \
    {"Socket", NULL, IL_CFG_STRING, offsetof(type, m.socket), NULL,                              \
     "listen on this unix socket (\"unix:///path\"); empty: SidecarURL + SidecarPort"},         \
    {"SidecarURL", NULL, IL_CFG_STRING, offsetof(type, m.sidecar_url), "http://127.0.0.1",       \
     "HTTP listen address when Socket is empty"},                                               \
    {"SidecarPort", "SIDECARPORT", IL_CFG_STRING, offsetof(type, m.sidecar_port), "4000",        \
     "HTTP listen port when Socket is empty"},                                                  \
    {"DataRootFolder", NULL, IL_CFG_STRING, offsetof(type, m.data_root), data_default,          \
     data_doc},                                                                                 \
    {"VerboseLogging", NULL, IL_CFG_BOOL, offsetof(type, m.verbose), "false", "debug logging"},   \
    {"ErrorsOnlyLogging", NULL, IL_CFG_BOOL, offsetof(type, m.errors_only), "false",             \
     "log errors only"},                                                                        \
    {"LogFormat", "INTERLINK_LOG_FORMAT", IL_CFG_STRING, offsetof(type, m.log_format), "text",   \
     "log line format: text, or json (one object per line: time, level, daemon, msg, "          \
     "trace_id)"},                                                                              \
    {"MaxBodyBytes", NULL, IL_CFG_SIZE, offsetof(type, m.max_body), "16Mi",                      \
     "largest accepted request body"},                                                          \
    {"PluginTokenFile", NULL, IL_CFG_STRING, offsetof(type, m.token_file), NULL,                 \
     "file holding a token every caller must send as \"Authorization: Bearer\" (interlink's "    \
     "SidecarTokenFile); for TCP listeners, where socket permissions protect nothing"}

/* A plugin: its names, its configuration, its callbacks.  Only ops, start
 * and the config fields are required. */
typedef struct il_plugin_def {
    const char *name;              /* "interlink-local": logs, --version */
    const char *summary;           /* --help: what it does, a line or two */
    const char *config_env;        /* the config file without --config: "LOCALCONFIGPATH" */
    const char *config_flag_alias; /* upstream's spelling of --config, or NULL */
    const il_cfg_field *fields;    /* every key, IL_PLUGIN_BASE_FIELDS among them */
    size_t nfields;
    size_t config_size;            /* sizeof the plugin's config struct */
    size_t base_offset;            /* offsetof(that struct, its il_plugin_base) */

    /* After the keys are loaded: check and derive what the table cannot
     * (structured keys).  0, or -1 with err: the plugin stops (exit 2). */
    int (*config_check)(void *cfg, il_buf *err);
    /* Free what config_check derived (the table's own fields are freed by
     * the framework). */
    void (*config_release)(void *cfg);

    /* Make the callbacks' context from the configuration before serving:
     * 0, or an exit status after logging why.  stop undoes it. */
    int (*start)(const void *cfg, void **ctx);
    void (*stop)(void *ctx);
    const il_plugin_ops *ops;

    /* The hidden node-side mode, `NAME --run-pod DIR [ARGS...]`, in which the
     * backend runs one pod (in a batch job, or as a detached supervisor);
     * args are what follows DIR.  Returns the exit status.  NULL: none. */
    int (*run_pod)(const char *dir, int argc, char **args);
    const char *run_pod_usage;     /* --help line for it, e.g. "[--remove-after]" */
} il_plugin_def;

/* The whole main() of a plugin: --config FILE, --verbose, --help,
 * --help-config, --version, --run-pod DIR; load the configuration, set the
 * log level, start, serve until SIGINT or SIGTERM, stop.  Returns the
 * process exit status (0 served and stopped, 1 failed, 2 bad usage or
 * configuration). */
int il_plugin_main(const il_plugin_def *def, int argc, char **argv);

#endif
