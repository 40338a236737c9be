/* local.h -- internals of interlink-local, the embedded default backend.
 *
 * The plugin runs pods on this host.  It is stateless: everything about a
 * pod lives in its directory DataRootFolder/pods/<uid>/:
 *
 *   pod.json                  the RetrievedPodData of /create, verbatim
 *   runtime.json              runtime settings frozen at create time
 *   supervisor.json           pid + /proc start time of the pod's supervisor
 *   supervisor.log            the supervisor's own stderr
 *   stop.json                 {"grace": N} written by /delete before SIGTERM
 *   volumes/<volume>/         materialized volumes (configMap, secret, ...)
 *   containers/<name>/state.json   waiting | running | terminated
 *   containers/<name>/log          CRI-format log: "<ts> <stream> <P|F> <bytes>\n"
 *
 * A detached supervisor process (this binary in `--supervise DIR` mode)
 * runs the containers and is the only writer of state.json and log after
 * create; /status, /getLogs and /delete only read those files, so a plugin
 * restart (or kill -9) loses nothing. */
#ifndef IL_LOCAL_H
#define IL_LOCAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pod.h"
#include "util.h"
#include "wire.h"

/* ---- configuration (main.c) ------------------------------------------- */

typedef struct local_config {
    char *socket;
    char *sidecar_url;
    char *sidecar_port;
    char *data_root;
    char *runtime;
    char *podman_path;
    char *bwrap_path;
    char **podman_args;
    bool verbose;
    bool errors_only;
    int64_t max_body;
} local_config;

typedef struct local_ctx {
    const local_config *cfg;
    char *pods_dir;           /* DataRootFolder/pods */
    char *self_exe;           /* this binary, re-executed as the supervisor */
} local_ctx;

/* ---- string vectors (strvec.c) ---------------------------------------- */

/* A growable NULL-terminated array of owned strings (argv, envp). */
typedef struct strvec {
    char **v;
    size_t n;
    size_t cap;
} strvec;

void strvec_push(strvec *sv, const char *s);
void strvec_pushf(strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set "NAME=value", replacing an existing NAME (environment semantics). */
void strvec_setenv(strvec *sv, const char *name, const char *value);
void strvec_free(strvec *sv);
json_t *strvec_to_json(const strvec *sv);
int strvec_from_json(json_t *arr, strvec *out);    /* -1 if not an array of strings */

/* ---- pod directory store (store.c) ------------------------------------ */

/* Runtime settings frozen into the pod directory at create time, so that
 * a config change never confuses a running pod's supervisor or delete. */
typedef struct runtime_spec {
    bool podman;              /* false: host processes under bwrap */
    char *podman_path;
    char *bwrap_path;
    strvec podman_args;
} runtime_spec;

void runtime_spec_free(runtime_spec *rt);
int runtime_spec_write(const char *pod_dir, const local_config *cfg);
int runtime_spec_read(const char *pod_dir, runtime_spec *out, char *err, size_t errlen);

bool store_is_dns_label(const char *s);
char *store_pod_dir(const local_ctx *ctx, const char *uid);             /* caller frees */
char *store_ctr_dir(const char *pod_dir, const char *name);             /* caller frees */
char *store_job_id(const char *uid);                                    /* caller frees */
/* The stored create request (pod.json), parsed; -1 if missing/invalid. */
int store_read_request(const char *pod_dir, il_create_request *out, char *err, size_t errlen);

/* Container state files: name/image are not stored (they come from the
 * pod); pid is the process group of the running container, 0 if none. */
int state_write(const char *ctr_dir, const il_container_status *st, pid_t pid);
int state_read(const char *ctr_dir, il_container_status *st, pid_t *pid);
void state_set(il_container_status *st, il_state_kind kind, const char *reason,
               const char *message);

/* The supervisor record and its liveness check: a pid alone is not enough
 * (pids are reused after a reboot), so the /proc start time is kept too. */
int supervisor_record_write(const char *pod_dir, pid_t pid);
/* 1 alive, 0 gone, -1 no record yet (*pid set when a record exists). */
int supervisor_alive(const char *pod_dir, pid_t *pid);
/* The supervisor ran the pod to its end (a gone supervisor is then no loss). */
int supervisor_mark_done(const char *pod_dir);
bool supervisor_done(const char *pod_dir);

/* ---- volumes (volumes.c) ---------------------------------------------- */

/* Write every volume's files under pod_dir/volumes/ (create time). */
int volumes_materialize(const il_create_request *req, const char *pod_dir, il_buf *err);

typedef struct mount_spec {
    char *source;             /* host path */
    char *dest;               /* absolute path in the container */
    bool read_only;
} mount_spec;

/* The container's mounts, subPaths resolved (created when missing, as
 * the kubelet does).  Returns 0 or -1 with err set. */
int volumes_mounts(const il_pod *pod, const il_container *c, const char *pod_dir,
                   mount_spec **out, size_t *n, il_buf *err);
void mounts_free(mount_spec *m, size_t n);
/* Checks shared by create: absolute, no "." / ".." components, no NUL. */
bool volumes_valid_mount_path(const char *path);
bool volumes_valid_sub_path(const char *path);

/* ---- sandbox: argv for each runtime (sandbox.c) ----------------------- */

typedef struct launch_spec {
    strvec argv;
    strvec envp;              /* empty: inherit the supervisor's environment */
} launch_spec;

/* How to start container c.  Returns 0, or -1 with a CreateContainerError
 * message in err (no command, bad mount, ...). */
int sandbox_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                    const char *pod_dir, launch_spec *out, il_buf *err);
void launch_spec_free(launch_spec *ls);
char *sandbox_container_id(const runtime_spec *rt, const il_pod *pod, const char *name);
/* Ask a running container to stop (SIGTERM, or `podman stop -t grace`);
 * returns how many processes were asked, 0 meaning "none yet, ask again".
 * sandbox_kill kills it outright.  pgid is the container's process group. */
int sandbox_stop(const runtime_spec *rt, const il_pod *pod, const char *name, pid_t pgid,
                 int64_t grace);
void sandbox_kill(pid_t pgid);
/* Remove runtime leftovers (podman containers) after the pod is gone. */
void sandbox_cleanup(const runtime_spec *rt, const il_pod *pod);
/* Start argv in its own process group, stdin on /dev/null, stdout/stderr
 * on out_fd/err_fd (-1: /dev/null), fd3 (if >= 0) as fd 3, envp NULL =
 * inherit.  Returns 0 or an errno value (exec failures included). */
int sandbox_spawn(char *const argv[], char *const envp[], int out_fd, int err_fd, int fd3,
                  pid_t *pid);
/* Run argv to completion with stdio on /dev/null; returns the wait status or -1. */
int sandbox_run_quiet(char *const argv[]);

/* ---- log files (logfile.c) -------------------------------------------- */

/* Capture side: one per container stream, turns bytes into records. */
typedef struct log_writer {
    int fd;                   /* the container's log file, O_APPEND */
    const char *stream;       /* "stdout" / "stderr" */
    il_buf line;              /* bytes of the current, unfinished line */
} log_writer;

void log_writer_feed(log_writer *w, const char *data, size_t len);
void log_writer_flush(log_writer *w);   /* at EOF: the partial line as a P record */
void log_writer_free(log_writer *w);

int logs_open(void *ctx, const il_log_request *req, void **stream, il_buf *err);
ssize_t logs_read(void *stream, char *buf, size_t max);
void logs_close(void *stream);

/* ---- callbacks (create.c, status.c, delete.c) ------------------------- */

int local_create(void *ctx, const il_create_request *req, char **job_id, il_buf *err);
int local_status(void *ctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err);
int local_delete(void *ctx, const il_pod *pod, il_buf *err);
json_t *local_ping(void *ctx);
/* Status of one stored pod; fills *out (uid NULL if unknown). */
void status_of_pod(const char *pod_dir, il_pod_status *out);

/* ---- the supervisor (supervisor.c) ------------------------------------ */

int supervisor_main(const char *pod_dir, int ready_fd);

#endif
