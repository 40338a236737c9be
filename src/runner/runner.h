/* runner.h -- libilrunner: how a pod runs, shared by every backend that
 * runs containers itself (interlink-local on this host, interlink-slurm on
 * a compute node).  Every function it exports starts with rn_, so a call
 * site says which library it calls (the plugin framework's callbacks of the
 * same names, rn_logs_read and friends, are not these).
 *
 * Everything about a pod lives in its directory PODS/<uid>/:
 *
 *   pod.json                  the RetrievedPodData of /create, verbatim
 *   runtime.json              runtime settings frozen at create time
 *   supervisor.json           pid + /proc start time of the pod's supervisor
 *   supervisor.log            the supervisor's own stderr
 *   stop.json                 {"grace": N} written by /delete before SIGTERM
 *   done                      the supervisor ran the pod to its end
 *   tunnel.json               the tunnel client's state (pods with a tunnel)
 *   volumes/<volume>/         materialized volumes (configMap, secret, ...)
 *   containers/<name>/state.json   waiting | running | terminated
 *   containers/<name>/log          CRI-format log: "<ts> <stream> <P|F> <bytes>\n"
 *
 * The supervisor (rn_supervise) runs the init containers in order, then
 * the containers in parallel, and is the only writer of state.json and log
 * after create; status and log readers only read those files, so a plugin
 * restart loses nothing.  Backends decide where the supervisor runs (a
 * detached process here, a batch job there) and how its death is judged. */
#ifndef IL_RUNNER_H
#define IL_RUNNER_H

#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "httpd.h"
#include "pod.h"
#include "util.h"
#include "wire.h"

/* ---- string vectors (strvec.c) ---------------------------------------- */

/* A growable NULL-terminated array of owned strings (argv, envp). */
typedef struct strvec {
    char **v;
    size_t n;
    size_t cap;
} strvec;

void rn_strvec_push(strvec *sv, const char *s);
void rn_strvec_pushf(strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rn_strvec_push_all(strvec *sv, char *const *items);   /* NULL-terminated, may be NULL */
/* Set "NAME=value", replacing an existing NAME (environment semantics). */
void rn_strvec_setenv(strvec *sv, const char *name, const char *value);
bool rn_strvec_contains(const strvec *sv, const char *s);
void rn_strvec_free(strvec *sv);
json_t *rn_strvec_to_json(const strvec *sv);
int rn_strvec_from_json(json_t *arr, strvec *out);    /* -1 if not an array of strings */

/* ---- runtimes and the frozen runtime spec (podfiles.c) -------------------- */

/* The default podman arguments of both plugins (config key PodmanArgs, a
 * comma-separated default; a YAML list replaces it).  Sandboxes without
 * CAP_SYS_RESOURCE cannot take podman's default rlimits (raising nofile and
 * nproc to the hard maximum: "error setting rlimit type 7/6"); explicit
 * limits within reach work. */
#define RUNNER_DEFAULT_PODMAN_ARGS "--ulimit,nofile=16384:16384,--ulimit,nproc=16384:16384"

typedef enum {
    RUNTIME_HOST,             /* processes under bubblewrap ("host", "none") */
    RUNTIME_PODMAN,
    RUNTIME_APPTAINER,
    RUNTIME_SINGULARITY,
    RUNTIME_CHARLIECLOUD,     /* ch-run on an image directory */
    RUNTIME_ENROOT,
} runtime_kind;

/* "host" and "none" are the same runtime; -1 for an unknown name. */
int rn_runtime_kind_parse(const char *name, runtime_kind *out);
const char *rn_runtime_kind_name(runtime_kind kind);

/* Runtime settings frozen into the pod directory at create time, so that
 * a config change never confuses a running pod's supervisor or delete. */
typedef struct runtime_spec {
    runtime_kind kind;
    char *path;               /* the runtime's executable (unused by host) */
    char *bwrap_path;         /* host runtime */
    strvec args;              /* extra runtime options, before the image */
    char *image_prefix;       /* prepended to relative image names; NULL = none */
    bool gpu;                 /* turn the runtime's GPU switch on */
    bool limits;              /* podman: enforce the containers' CPU and memory limits
                               * (--cpus, --memory, --memory-swap) */
    bool no_probes;           /* the supervisor ignores startup/readiness/liveness probes
                               * (interlink-slurm's EnableProbes: false); hooks still run */
    strvec mpi;               /* MPI launcher {mpiexec, flags...}; empty: none.  The pod's
                               * (non-init) containers run as `mpiexec -np $SLURM_NTASKS
                               * flags... <runtime argv>` (rn_runtime_mpi_wrap) */
} runtime_spec;

void rn_runtime_spec_free(runtime_spec *rt);
int rn_runtime_spec_write(const char *pod_dir, const runtime_spec *rt);
char *rn_runtime_spec_dump(const runtime_spec *rt);   /* runtime.json's text; caller frees */
int rn_runtime_spec_read(const char *pod_dir, runtime_spec *out, il_buf *err);

/* ---- volume files (volumefiles.c) ------------------------------------- */

/* One file to materialize inside a volume. */
typedef struct il_volume_file {
    char *path;               /* relative to the volume root, validated: no "..", not absolute */
    unsigned char *data;
    size_t len;
    int mode;                 /* items[].mode, else defaultMode, else 0644 (Kubernetes') */
} il_volume_file;

/* The files of a configMap, secret, projected or downwardAPI volume, looked
 * up in the request (ConfigMap data/binaryData, Secret data base64-decoded,
 * projected maps' data), with `items` applied.  emptyDir/hostPath give 0
 * files.  A missing object is an error unless the volume is optional.
 * Returns 0 or -1 with err set; free with rn_volume_files_free. */
int rn_volume_files(const il_create_request *req, const il_volume *vol,
                    il_volume_file **files, size_t *nfiles, il_buf *err);
void rn_volume_files_free(il_volume_file *files, size_t nfiles);

/* ---- pod directory files (podfiles.c) ------------------------------------ */

char *rn_store_pod_dir(const char *pods_dir, const char *uid);             /* caller frees */
char *rn_store_ctr_dir(const char *pod_dir, const char *name);             /* caller frees */
char *rn_store_path(const char *pod_dir, const char *file);                /* caller frees */
/* The stored create request (pod.json), parsed; -1 if missing/invalid. */
int rn_store_read_request(const char *pod_dir, il_create_request *out, il_buf *err);
/* JSON files of the pod directory, replaced atomically. */
json_t *rn_store_load_json(const char *path, size_t max, il_buf *err);   /* err may be NULL */
int rn_store_save_json(const char *path, json_t *json);

/* Container state files: name/image are not stored (they come from the
 * pod); pid is the process group of the running container, 0 if none. */
int rn_state_write(const char *ctr_dir, const il_container_status *st, pid_t pid);
int rn_state_read(const char *ctr_dir, il_container_status *st, pid_t *pid);
void rn_state_set(il_container_status *st, il_state_kind kind, const char *reason,
               const char *message);

/* The supervisor record and its liveness check: a pid alone is not enough
 * (pids are reused after a reboot), so the /proc start time is kept too.
 * Only meaningful on the host the supervisor runs on. */
int rn_supervisor_record_write(const char *pod_dir, pid_t pid);
/* 1 alive, 0 gone, -1 no record yet (*pid set when a record exists). */
int rn_supervisor_alive(const char *pod_dir, pid_t *pid);
/* Claim the pod for the calling process before it runs it, so that no pod
 * ever runs twice even when a retried create starts a second supervisor
 * (the first one's create died before it knew whether it started).
 * supervisor.lock is held for the rest of the process's life (*lock_fd,
 * close-on-exec); a pod whose supervisor.json exists was claimed before.
 * 1: ours, run it; 0: claimed by another supervisor, alive or not; -1:
 * error (errno). */
int rn_supervisor_claim(const char *pod_dir, int *lock_fd);
/* The supervisor ran the pod to its end (a gone supervisor is then no
 * loss); stopped: it ended because it was told to stop (SIGTERM: a delete,
 * or a batch system enforcing a limit), so the containers did not end by
 * themselves and a backend may know better why. */
int rn_supervisor_mark_done(const char *pod_dir, bool stopped);
bool rn_supervisor_done(const char *pod_dir);
bool rn_supervisor_stopped(const char *pod_dir);

/* This program's own executable (re-executed as the supervisor, locally
 * or on a compute node); NULL with errno set if unknown.  Caller frees. */
char *rn_self_exe(void);

/* ---- pod directories: create, remove (poddir.c) ------------------------ */

/* Everything that becomes a path component or reaches execve() is checked
 * before anything touches the disk.  Returns 0 or -1 with err set. */
int rn_poddir_validate(const il_pod *pod, il_buf *err);
/* Lay out PODS/<uid> for req: pod.json, runtime.json, every container
 * waiting with an empty log, materialized volumes.  Built under a staging
 * name and renamed into place, so of two concurrent creates of one UID
 * exactly one wins.  Returns IL_OK with *created telling whether this call
 * made the directory (false: it existed), IL_FAIL_INPUT (the pod cannot be
 * materialized) or IL_FAIL_IO (the disk failed us).  On 0, *lock_fd holds the pod's create lock
 * (an flock on create.lock, taken before the directory became visible), so
 * a concurrent duplicate waits here until the winner has finished starting
 * the pod; -1 if the pod vanished meanwhile.  The caller closes it. */
il_fail rn_poddir_create(const char *pods_dir, const il_create_request *req,
                         const runtime_spec *rt, bool *created, int *lock_fd, il_buf *err);

/* How a backend wants its pod directories made (rn_poddir_create: the
 * defaults, create.lock / eager / sync).  Every file created costs an inode
 * allocation and every fsync a disk write, on the create path of every
 * pod, so a backend that submits pods at a high rate asks for less. */
typedef struct poddir_opts {
    const char *lock_name;    /* the file whose flock is the create lock (made empty if absent) */
    bool lazy_containers;     /* no containers/<name>/ yet: the supervisor makes them when it
                               * starts; readers take a missing one as waiting, empty log */
    bool sync_files;          /* fsync each file before the directory is published */
    /* Called on the staging directory once pod.json, runtime.json and the
     * volumes are written, before the lock file is made and the rename
     * publishes it: the backend's own files.  Returns 0, or -1 with err
     * (the create fails with IL_FAIL_IO). */
    int (*finish)(const char *staging_dir, void *ctx, il_buf *err);
    void *finish_ctx;
} poddir_opts;

il_fail rn_poddir_create_opts(const char *pods_dir, const il_create_request *req,
                              const runtime_spec *rt, const poddir_opts *opts, bool *created,
                              int *lock_fd, il_buf *err);
/* Wait until no create of the pod in dir is between publishing the
 * directory and starting its supervisor (rn_poddir_create's lock, default
 * name): a delete that looked earlier would find no supervisor to stop,
 * remove the directory under the starting one and leave it running.
 * Returns the lock's fd (the caller closes it once the pod is removed), or
 * -1 when the directory has no lock file (gone meanwhile). */
int rn_poddir_wait_create(const char *dir);
/* Remove PODS/<uid>: renamed first so status never sees half a pod.
 * A missing directory is success.  Returns IL_OK or IL_FAIL_IO. */
il_fail rn_poddir_remove(const char *pods_dir, const char *uid, il_buf *err);
/* PODS/<uid> of an existing pod (caller frees), or NULL: an invalid UID
 * or no such pod (a delete of it is then a success). */
char *rn_poddir_find(const char *pods_dir, const il_pod *pod);
/* Leftovers of a crash in the middle of a create or a remove. */
void rn_poddir_remove_stale(const char *pods_dir);
/* A plugin's start-up: DATA_ROOT/pods made with mode if missing, and a
 * crash's leftovers in it removed.  The path (caller frees), or NULL after
 * logging why. */
char *rn_pods_dir_open(const char *data_root, mode_t mode);
/* The program the nodes run a pod with: configured (when set) or this
 * executable.  Caller frees; NULL after logging why. */
char *rn_runner_path(const char *configured);
/* Kubernetes' grace period for a delete: the deletion's own, the spec's,
 * then the pod as created (stored may be NULL). */
int64_t rn_poddir_delete_grace(const il_pod *pod, const il_pod *stored);
/* The same with the stored pod read from its directory dir (pod.json). */
int64_t rn_poddir_stored_grace(const char *dir, const il_pod *pod);
/* stop.json: the grace period a delete asks the pod's supervisor to stop
 * its containers with, written before the signal (a failure is logged: the
 * supervisor then falls back to the pod's own). */
void rn_poddir_write_stop(const char *dir, int64_t grace);

/* ---- parsed files, kept while the file is the same (podmemo.c) ------------ */

/* The head of a kept block: the kind's data follows it in the same
 * allocation (one block per pod, freed whole).  Filled by rn_memo_keep. */
typedef struct rn_memo_entry {
    struct rn_memo_entry *next;
    uint64_t hash;            /* of the pod directory's path */
    il_file_version version;  /* of the file it was built from */
} rn_memo_entry;

/* One kind of pod file kept, e.g. every pod's pod.json; define it static
 * with RN_MEMO_INIT.  The fields past `max` are podmemo.c's. */
typedef struct rn_memo {
    const char *file;         /* the pod directory's file: "pod.json" */
    size_t max;               /* pods; all are dropped when it is full */
    pthread_mutex_t lock;
    rn_memo_entry **buckets;
    size_t n_buckets, n;
    struct rn_memo *next_memo;
    bool listed;
} rn_memo;
#define RN_MEMO_INIT(file, max) {(file), (max), PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, NULL, false}

/* stat()s the file of pod_dir into *st; false when it is gone (what m kept
 * of it is dropped).  Take the stat before reading the file: a file
 * replaced in between is then kept under a stat no later lookup matches. */
bool rn_memo_stat(rn_memo *m, const char *pod_dir, struct stat *st);
/* Calls use(kept, arg), under m's lock, with the block kept of the very
 * file st describes; false when there is none (a block of an earlier file
 * is dropped).  use copies what it needs: the block may go once it returns. */
bool rn_memo_use(rn_memo *m, const char *pod_dir, const struct stat *st,
                 void (*use)(const rn_memo_entry *kept, void *arg), void *arg);
/* Keeps block (malloc'ed, rn_memo_entry first; m owns it now) as what was
 * built of pod_dir's file as st saw it, in place of anything kept before. */
void rn_memo_keep(rn_memo *m, const char *pod_dir, const struct stat *st, rn_memo_entry *block);
/* Drops what every memo kept of pod_dir (its directory is going away). */
void rn_memo_forget_pod(const char *pod_dir);
/* How many pods m keeps a block for (tests). */
size_t rn_memo_count(rn_memo *m);
/* For packing strings behind a block's fields: the bytes s takes (0 for
 * NULL), and s copied to *at, which moves past it (NULL stays NULL). */
size_t rn_memo_text_size(const char *s);
const char *rn_memo_pack(char **at, const char *s);

/* ---- what a status is built on (podoutline.c) ---------------------------- */

/* Fills out's name, namespace, UID, and each container's name and image
 * (states zeroed) from pod_dir/pod.json, kept from an earlier read while the
 * file is the same; *tunnel: the pod has a tunnel.  0, or -1 when there is
 * no readable pod.json (out untouched).  Thread-safe. */
int rn_podoutline_fill(const char *pod_dir, il_pod_status *out, bool *tunnel);
/* How many pods' outlines are kept (tests). */
size_t rn_podoutline_count(void);

/* ---- pod status from the state files (filestatus.c) --------------------- */

/* Fill *out from the stored request and the state files (job_id left NULL).
 * Returns 0, or -1 when the pod is unknown (out untouched). */
int rn_podstatus_read(const char *pod_dir, il_pod_status *out);
bool rn_podstatus_all_terminated(const il_pod_status *st);
/* What a container not started yet is waiting for: PodInitializing for
 * init containers and for the others of a pod that has init containers,
 * else ContainerCreating. */
const char *rn_podstatus_waiting_reason(const il_pod *pod, bool init_container);
/* Every container not terminated yet becomes terminated with reason and
 * message (exit code exit_code; started/finished now when unknown). */
void rn_podstatus_terminate(il_pod_status *st, const char *reason, const char *message,
                         int exit_code);

/* ---- volumes (volumes.c) ---------------------------------------------- */

/* Write every volume's files under pod_dir/volumes/ (create time). */
int rn_volumes_materialize(const il_create_request *req, const char *pod_dir, il_buf *err);

typedef struct mount_spec {
    char *source;             /* host path */
    char *dest;               /* absolute path in the container */
    bool read_only;
} mount_spec;

/* The container's mounts, subPaths resolved (created when missing, as
 * the kubelet does).  Returns 0 or -1 with err set. */
int rn_volumes_mounts(const il_pod *pod, const il_container *c, const char *pod_dir,
                   mount_spec **out, size_t *n, il_buf *err);
void rn_mounts_free(mount_spec *m, size_t n);
/* Checks shared by create: absolute, no "." / ".." components, no NUL. */
bool rn_volumes_valid_mount_path(const char *path);
bool rn_volumes_valid_sub_path(const char *path);

/* ---- sandbox: argv for each runtime (sandbox.c, runtimes.c) ------------ */

typedef struct launch_spec {
    strvec argv;
    strvec envp;              /* empty: inherit the supervisor's environment */
} launch_spec;

/* How to start container c.  Returns 0, or -1 with a CreateContainerError
 * message in err (no command, bad mount, ...). */
int rn_sandbox_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                    const char *pod_dir, launch_spec *out, il_buf *err);
/* The same from mounts already resolved (golden tests use this directly). */
int rn_sandbox_command_mounts(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                           const mount_spec *mounts, size_t n, launch_spec *out, il_buf *err);
void rn_launch_spec_free(launch_spec *ls);
char *rn_sandbox_container_id(const runtime_spec *rt, const il_pod *pod, const char *name);
/* Ask a running container to stop (SIGTERM, or `podman stop -t grace`);
 * returns how many processes were asked, 0 meaning "none yet, ask again".
 * rn_sandbox_kill kills it outright.  pgid is the container's process group. */
int rn_sandbox_stop(const runtime_spec *rt, const il_pod *pod, const char *name, pid_t pgid,
                 int64_t grace);
void rn_sandbox_kill(pid_t pgid);
/* Remove runtime leftovers (podman containers) after the pod is gone. */
void rn_sandbox_cleanup(const runtime_spec *rt, const il_pod *pod);
/* Start argv in its own process group, stdin on /dev/null, stdout/stderr
 * on out_fd/err_fd (-1: /dev/null), fd3 (if >= 0) as fd 3, envp NULL =
 * inherit.  Returns 0 or an errno value (exec failures included). */
int rn_sandbox_spawn(char *const argv[], char *const envp[], int out_fd, int err_fd, int fd3,
                  pid_t *pid);
/* The same, started in directory cwd (NULL: ours). */
int rn_sandbox_spawn_in(const char *cwd, char *const argv[], char *const envp[], int out_fd,
                     int err_fd, int fd3, pid_t *pid);
/* The same with in_fd as stdin (-1: /dev/null), or with tty_path (not
 * NULL) in a new session whose controlling terminal, stdin, stdout and
 * stderr that terminal is (out_fd and err_fd unused). */
int rn_sandbox_spawn_io(const char *cwd, char *const argv[], char *const envp[], int in_fd,
                        const char *tty_path, int out_fd, int err_fd, pid_t *pid);
/* podman's conmon, started in a container's directory, leaves this file
 * there when the kernel's OOM killer struck the container (podman's own
 * State.OOMKilled); with --rm nothing else of the container is left. */
#define SANDBOX_OOM_FILE "oom"
/* Run argv to completion with stdio on /dev/null; returns the wait status or -1. */
int rn_sandbox_run_quiet(char *const argv[]);
/* pid's process group from /proc, -1 if gone; whether pid is pid 1 of a
 * PID namespace below ours (bwrap's init: it ignores unhandled signals and
 * only reaps; the container is its child). */
pid_t rn_sandbox_proc_pgrp(pid_t pid);
bool rn_sandbox_is_namespace_init(pid_t pid);

/* Shared by the runtimes' argv builders (runtimes.c, sandbox.c). */
/* Kubernetes order: runtime defaults, then the pod's env (later entries
 * win).  HOSTNAME is the pod name, as in a pod's UTS namespace. */
void rn_sandbox_container_env(const il_pod *pod, const il_container *c, bool with_path,
                           strvec *env);
/* Image name with the prefix (the slurm-job.vk.io/image-root annotation,
 * else rt->image_prefix) unless absolute or already a URI; caller frees. */
char *rn_sandbox_image_ref(const runtime_spec *rt, const il_pod *pod, const char *image);
/* Whether ref (prefix included) is an image reference runtime `kind` can
 * use: a registry name[:tag][@digest], for podman also docker://..., for
 * apptainer/singularity also an absolute path and docker:// library://
 * oras:// shub://, for ch-run and enroot also an absolute path.  Never an
 * option, never a host-file transport. */
bool rn_runtime_image_ref_valid(runtime_kind kind, const char *ref);
/* c's image with its prefix, checked; -1 with err naming the container. */
int rn_runtime_image_ref(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                      char **out, il_buf *err);
/* Every container's image, checked at /create (nothing for the host runtime). */
int rn_runtime_check_images(const runtime_spec *rt, const il_pod *pod, il_buf *err);
int rn_runtime_apptainer_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                              const mount_spec *mounts, size_t n, launch_spec *out,
                              il_buf *err);
int rn_runtime_charliecloud_command(const runtime_spec *rt, const il_pod *pod,
                                 const il_container *c, const mount_spec *mounts, size_t n,
                                 launch_spec *out, il_buf *err);
int rn_runtime_enroot_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                           const mount_spec *mounts, size_t n, launch_spec *out, il_buf *err);
/* With rt->mpi set, put the MPI launcher in front of out->argv, the number
 * of processes from $SLURM_NTASKS as the job sees it.  -1 with err. */
int rn_runtime_mpi_wrap(const runtime_spec *rt, launch_spec *out, il_buf *err);

/* ---- log files (logfile.c) -------------------------------------------- */

/* Capture side: one per container stream, turns bytes into records. */
typedef struct log_writer {
    int fd;                   /* the container's log file, O_APPEND */
    const char *stream;       /* "stdout" / "stderr" */
    il_buf line;              /* bytes of the current, unfinished line */
    il_buf pending;           /* whole records the disk did not take yet (full) */
    bool dropped;             /* pending hit its bound: records were lost */
} log_writer;

void rn_log_writer_feed(log_writer *w, const char *data, size_t len);
void rn_log_writer_flush(log_writer *w);   /* at EOF: the partial line as a P record */
/* Write what a full disk refused before (kept in memory, bounded); true
 * when nothing is pending any more. */
bool rn_log_writer_retry(log_writer *w);
void rn_log_writer_free(log_writer *w);

/* Whether the pod can still write logs (follow mode ends when it cannot);
 * the backend judges its own supervisors. */
typedef bool (*logs_pod_alive_fn)(const char *pod_dir, void *ctx);

/* Open a container's log in PODS/<uid>: IL_OK, IL_FAIL_INPUT (a bad name,
 * a previous container) or IL_FAIL_NOT_FOUND, with err. */
il_fail rn_logs_open_in(const char *pods_dir, const il_log_request *req,
                        logs_pod_alive_fn alive, void *alive_ctx, void **stream, il_buf *err);
ssize_t rn_logs_read(void *stream, char *buf, size_t max);
void rn_logs_close(void *stream);

/* ---- probes and lifecycle hooks (probe.c, probe_run.c) ------------------ */

/* What a probe or a hook does: Kubernetes' ProbeHandler / LifecycleHandler.
 * Named ports are resolved against the container's ports at parse time. */
typedef enum { HANDLER_EXEC = 1, HANDLER_HTTP, HANDLER_TCP, HANDLER_SLEEP } handler_kind;

typedef struct probe_handler {
    handler_kind kind;
    strvec command;           /* exec: argv, run inside the container */
    bool https;               /* httpGet scheme */
    char *host;               /* httpGet / tcpSocket; NULL: the pod's address */
    char *path;               /* httpGet, "/" when absent */
    int port;                 /* httpGet / tcpSocket */
    strvec headers;           /* httpGet: "Name: value" lines */
    int64_t sleep_seconds;    /* sleep (hooks only) */
} probe_handler;

typedef enum { PROBE_STARTUP, PROBE_READINESS, PROBE_LIVENESS, PROBE_KINDS } probe_kind;

typedef struct probe_spec {
    probe_handler handler;
    int64_t initial_delay_s, period_s, timeout_s;
    int64_t success_threshold, failure_threshold;
    int64_t grace_s;          /* the probe's terminationGracePeriodSeconds, -1: the pod's */
} probe_spec;

/* A container's probes and hooks; NULL members are absent. */
typedef struct ctr_checks {
    probe_spec *probes[PROBE_KINDS];
    probe_handler *post_start;
    probe_handler *pre_stop;
} ctr_checks;

/* From the pod's JSON (spec.containers[].startupProbe ...).  Returns 0 or
 * -1 with the field path and problem in err (unsupported handlers such as
 * grpc included: a probe that would silently never run is refused). */
int rn_checks_parse(const il_pod *pod, const il_container *c, ctr_checks *out, il_buf *err);
void rn_checks_free(ctr_checks *ck);
/* Forget the probes, keep the hooks (probes switched off by the runtime spec). */
void rn_checks_drop_probes(ctr_checks *ck);
/* Every container of the pod, for /create. */
int rn_checks_validate(const il_pod *pod, il_buf *err);
const char *rn_probe_kind_name(probe_kind kind);   /* "Startup", "Readiness", "Liveness" */

/* The kubelet's probe worker, without the clock: consecutive results of
 * one kind move the verdict once they reach the threshold.  Readiness
 * starts failed (not ready), liveness succeeded, startup not yet. */
typedef enum { PROBE_SUCCESS, PROBE_FAILURE, PROBE_UNKNOWN } probe_result;

typedef struct probe_sched {
    const probe_spec *spec;
    bool verdict;             /* ready / alive / started */
    probe_result last;
    int64_t run;              /* consecutive results equal to last */
    int64_t next_ms;          /* when the next run is due (monotonic) */
} probe_sched;

/* started_ms: when the container started; the first run is due
 * initialDelaySeconds after it, and never before not_before_ms. */
void rn_probe_sched_init(probe_sched *ps, const probe_spec *spec, probe_kind kind,
                      int64_t started_ms, int64_t not_before_ms);
/* Record a run that began at began_ms; schedules the next one a period
 * after it.  Returns true when the verdict changed.  Unknown (the
 * container could not be reached yet) counts for nothing. */
bool rn_probe_sched_record(probe_sched *ps, probe_result result, int64_t began_ms);
/* failureThreshold failures in a row: a startup or liveness probe gave up. */
bool rn_probe_sched_gave_up(const probe_sched *ps);

/* One run of a handler: a child process (exec through the runtime; HTTP,
 * TCP and sleep in a forked child), its output on a pipe. */
typedef struct check_run {
    pid_t pid;                /* its process group; 0 when none runs */
    int out_fd;               /* read end of its output, -1 once closed */
    il_buf output;            /* at most CHECK_OUTPUT_MAX bytes kept */
    int64_t began_ms;
    int64_t deadline_ms;      /* 0: none */
    bool timed_out;           /* killed at its deadline */
} check_run;

#define CHECK_OUTPUT_MAX 10240   /* the kubelet's limit on exec probe output */

/* How to run argv inside container c (whose process group is pgid) with
 * runtime rt: `podman exec`, or nsenter into the namespaces of the
 * container's process.  Returns 0, 1 when the container has no process to
 * enter yet (try again later), -1 with err set. */
int rn_check_exec_command(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                       pid_t pgid, char *const argv[], launch_spec *out, il_buf *err);
/* kubectl exec (podexec.c): how to run argv in container name of the pod
 * in pod_dir now; anything but RN_EXEC_OK comes with err. */
typedef enum {
    RN_EXEC_OK,
    RN_EXEC_IO,               /* the pod directory could not be read */
    RN_EXEC_UNKNOWN,          /* no such container in the pod */
    RN_EXEC_NOT_RUNNING,      /* not running, or no process to enter yet */
    RN_EXEC_NO_STDIN,         /* attach -i: the container was not created with stdin: true */
} rn_exec_result;
rn_exec_result rn_exec_prepare(const char *pod_dir, const char *name, char *const argv[],
                               launch_spec *out, il_buf *err);
/* The same once the process to enter (target, unused by podman) is known. */
int rn_check_exec_argv(const runtime_spec *rt, const il_pod *pod, const il_container *c,
                    pid_t target, char *const argv[], launch_spec *out, il_buf *err);
/* Start h; timeout_ms 0 = none.  Returns 0 (run->pid set), 1 (exec: no
 * process to enter yet) or -1 with err set. */
int rn_check_start(const runtime_spec *rt, const il_pod *pod, const il_container *c, pid_t pgid,
                const probe_handler *h, int64_t timeout_ms, check_run *run, il_buf *err);
/* Read what the run wrote so far; false once its output is closed. */
bool rn_check_read(check_run *run);
/* The run's outcome from its wait status; message (if not NULL) gets the
 * kubelet-style explanation of a failure.  Frees the run's resources. */
probe_result rn_check_finish(check_run *run, int status, const probe_handler *h, il_buf *message);
/* Kill a run (its whole process group) and forget it. */
void rn_check_abort(check_run *run);

/* ---- a container's own stdin, for kubectl attach -i (ctrstdin.c) -------- */

/* spec.containers[name]'s stdin, stdinOnce and tty (false when absent). */
void rn_container_io_flags(const il_pod *pod, const char *name, bool *in, bool *once, bool *tty);

/* The supervisor's end of a container's stdin (a container with stdin or
 * tty): a pipe, or with tty a pty; with `in` also the attach socket in
 * ctr_dir.  *child_fd (caller closes it after the spawn) is the
 * container's stdin; with tty *tty_path (caller frees) names the pty's
 * slave, to open as the container's controlling terminal instead.
 * NULL with err. */
typedef struct ctr_stdin ctr_stdin;
ctr_stdin *rn_stdin_open(const char *ctr_dir, bool in, bool once, bool tty, int *child_fd,
                         char **tty_path, il_buf *err);
/* With tty, a new fd reading the container's output (the pty master);
 * -1 otherwise. */
int rn_stdin_output_fd(const ctr_stdin *s);
/* The supervisor polls RN_STDIN_POLLFDS entries (some with fd -1) from
 * rn_stdin_pollfds and hands them back after the poll. */
#define RN_STDIN_POLLFDS 6
size_t rn_stdin_pollfds(const ctr_stdin *s, struct pollfd *p);
void rn_stdin_events(ctr_stdin *s, const struct pollfd *p, size_t n);
/* The container ended: attachers cut off, the socket removed.  NULL is a no-op. */
void rn_stdin_free(ctr_stdin *s);
/* Whether name in pod_dir is a container with stdin: RN_EXEC_OK, or
 * RN_EXEC_IO / RN_EXEC_UNKNOWN / RN_EXEC_NO_STDIN with err. */
rn_exec_result rn_attach_check(const char *pod_dir, const char *name, il_buf *err);
/* kubectl attach -i next to the pod: session frames from in_fd go to the
 * container's stdin through the supervisor's socket until either ends;
 * the EXIT frame (an error when it cannot attach) goes to out_fd.
 * Returns the process's exit code. */
int rn_attach_serve(const char *pod_dir, const char *name, int in_fd, int out_fd);

/* ---- the supervisor (supervisor.c) ------------------------------------ */

/* Run the pod in pod_dir to its end in this process.  ready_fd (if >= 0)
 * gets one byte once the supervisor is recorded.  Returns 0 when every
 * container that ran exited 0, the first non-zero exit code otherwise
 * (so a batch system sees the pod fail), 1 if the pod could not run. */
int rn_supervise(const char *pod_dir, int ready_fd);

/* ---- the pod's tunnel client (tunnelclient.c) ------------------------------- */

/* Start the tunnel client of a pod whose request carries "tunnel" (a child
 * process that dials the gateway until stopped; state in tunnel.json).
 * Returns its pid, 0 when the pod has no tunnel, -1 if fork failed. */
pid_t rn_tunnel_start(const char *pod_dir, const il_create_request *req);
/* SIGTERM and reap; pid <= 0 is a no-op. */
void rn_tunnel_stop(pid_t pid);

#endif
