/* slurm.h -- internals of interlink-slurm: one SLURM batch job per pod.
 *
 * The pod directory (runner.h) lives in DataRootFolder/pods/<uid>/; this
 * plugin makes it lean (poddir_opts: no per-container files until the job
 * starts them, no create.lock) and adds to it
 *
 *   job.sh        the generated batch script (every value single-quoted),
 *                 its second comment line the exact sbatch argv as JSON
 *   job.json      the create lock and the pod<->job record: empty from the
 *                 moment the directory is published (a submission may be
 *                 under way), {"jobId": "..."} once sbatch answered, plus
 *                 the final SLURM state once one was observed ("final")
 *   job.out       the job's stdout/stderr (shared filesystem only)
 *
 * On the node the job runs this same binary as `--run-pod DIR`: the shared
 * supervisor of libilrunner, which writes the per-container state and log
 * files.  With a shared filesystem /status reads those and asks SLURM (one
 * squeue for every pod of the call) only about jobs not yet finished;
 * without one, the job script carries the pod directory itself and status
 * comes from SLURM alone.  The job name is the pod UID, so a job id reused
 * after a controller crash is never mistaken for ours, and a job whose id
 * never reached job.json is found again by name (create.c). */
#ifndef IL_SLURM_H
#define IL_SLURM_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "plugin.h"
#include "runner.h"
#include "timeutil.h"
#include "wire.h"

typedef struct slurm_flavor slurm_flavor;   /* flavor.c */

/* ---- configuration (config.c) ----------------------------------------- */

typedef struct slurm_config {
    il_plugin_base base;      /* Socket, SidecarURL/Port, DataRootFolder, logging, MaxBodyBytes */
    char *sbatch_path;
    char *squeue_path;
    char *scancel_path;
    char *sinfo_path;
    char *srun_path;          /* exec and port-forward: a step in the pod's job (exec.c) */
    char *sacct_path;         /* optional: finished jobs that left squeue */
    char *jobcomp_path;       /* optional: jobcomp/filetxt's JobCompLoc, read before sacct */
    char *runtime;
    char *image_prefix;
    char *apptainer_path;
    char *singularity_path;
    char **singularity_options;
    char *enroot_path;
    char **enroot_options;
    char *chrun_path;
    char **chrun_options;
    char *podman_path;
    char **podman_args;
    bool podman_limits;
    char *bwrap_path;
    char *bash_path;
    char *runner_path;
    char *partition;
    char *account;
    char *time_limit;
    char *qos;
    bool shared_fs;
    char *node_local_dir;
    char **allowed_unsafe_flags;
    bool allow_pre_exec;
    char *command_prefix;
    char **gres_resources;
    int64_t command_timeout_s;
    json_t *flavors_json;     /* Flavors as written; parsed into flavors at load */
    char *default_flavor;
    char *default_uid;        /* DefaultUID: only the plugin's own uid is accepted */
    json_t *taints_json;      /* Taints as written; parsed into taints at load */
    char *resource_script_path;
    bool export_pod_data;
    bool allow_runtime_options; /* the singularity-/enroot- options and mounts annotations */
    char *mpiexec_path;
    char **allowed_mpi_flags; /* AllowedMpiFlags: mpiexec options beyond mpiflags.c's list */
    bool enable_probes;       /* run the containers' probes in the job (the supervisor) */
    char *identity_map_file;  /* IdentityMapFile: callers -> account, QoS, Unix user */
    char *runuser_path;
    /* Derived at load (config.c, flavor.c), owned by the config: */
    json_t *identity_map;     /* IdentityMapFile parsed (identity.c); NULL = none */
    slurm_flavor *flavors;
    size_t n_flavors;
    json_t *taints;           /* PingResponse taints [{key, value, effect}] */
} slurm_config;

/* The key table (IL_PLUGIN_BASE_FIELDS and SlurmConfig.yaml's keys). */
extern const il_cfg_field slurm_config_fields[];
extern const size_t slurm_config_nfields;
/* The keys whose values need more than the table's type check: the runtime
 * name, DefaultUID, Flavors and Taints (parsed into cfg); -1 with err. */
int slurm_config_check(void *cfg, il_buf *err);
/* Free what slurm_config_check derived. */
void slurm_config_release(void *cfg);
/* Load path (NULL: defaults and environment only) into *cfg and check it,
 * as the plugin does at start-up (for tests); -1 with err. */
int slurm_config_load(const char *path, slurm_config *cfg, il_buf *err);
void slurm_config_free(slurm_config *cfg);
/* The runtime a new pod is frozen with (gpu decided per pod); -1 with err. */
int slurm_runtime_spec(const slurm_config *cfg, bool gpu, runtime_spec *out, il_buf *err);
/* Add what the pod's annotations ask of the runtime to rt: the
 * singularity-/enroot- mounts and options (split shell-style, no
 * expansion, one argv item per word) and mpi-flags.  400 with err. */
int slurm_runtime_annotations(const slurm_config *cfg, const il_pod *pod, runtime_spec *rt,
                              il_buf *err);

typedef struct slurm_ctx {
    const slurm_config *cfg;
    char *pods_dir;           /* DataRootFolder/pods */
    char *runner_path;        /* what the job script executes on the node */
    atomic_bool sacct_disabled; /* sacct said accounting storage is disabled */
} slurm_ctx;

/* ---- running SLURM commands (cmd.c) ----------------------------------- */

typedef struct cmd_result {
    int status;               /* exit code, 128+signal, or -1 (not started / timed out) */
    il_buf out;
    il_buf err;
} cmd_result;

/* Run argv (no shell) with a deadline, capturing stdout and stderr. */
int cmd_run(char *const argv[], int64_t timeout_s, cmd_result *res);
/* The same with fd3 (if >= 0) inherited as the child's fd 3: an open file
 * description, and with it any flock on it, that lives as long as the
 * child, even if this process dies first. */
int cmd_run_fd3(char *const argv[], int fd3, int64_t timeout_s, cmd_result *res);
void cmd_result_free(cmd_result *res);

/* ---- what a failed command means (failure.c) -------------------------- */

typedef enum {
    SLURM_FAILURE_NONE,       /* it succeeded */
    SLURM_FAILURE_TRANSIENT,  /* SLURM did not answer (down, restarting, busy): retry */
    SLURM_FAILURE_PERMANENT,  /* SLURM refused the request: retrying changes nothing */
} slurm_failure;

/* Classify by exit status (as cmd_result.status) and stderr. */
slurm_failure slurm_failure_classify(int status, const char *message);
/* 200, 503 (transient: the caller retries) or 400 (permanent). */
int slurm_failure_http(slurm_failure kind);

/* ---- shell quoting and the job script (script.c) ----------------------- */

/* Append s single-quoted for sh/bash: 'it'\''s'.  The one quoting function
 * every value of a generated script goes through. */
void sh_quote(il_buf *out, const char *s);

typedef struct job_script_opts {
    const char *bash_path;
    const char *runner_path;
    const char *pod_dir;      /* shared FS: where the node finds the pod */
    const char *pod_uid;
    const char *archive_b64;  /* non-shared FS: base64 tar.gz of the pod dir, else NULL */
    const char *node_local_dir; /* non-shared FS: parent dir on the node, NULL = $TMPDIR */
    const char *command_prefix; /* admin config: trusted shell, NULL if none */
    const char *pre_exec;     /* the pre-exec annotation when allowed, else NULL */
    const char *sbatch_json;  /* the sbatch argv as one line of JSON (a comment), or NULL */
} job_script_opts;

/* The batch script text; caller frees. */
char *job_script(const job_script_opts *o);

/* ---- resources (resources.c) ------------------------------------------ */

typedef struct job_gres {
    char *name;               /* SLURM GRES name ("gpu") */
    int64_t count;
} job_gres;

typedef struct job_resources {
    int64_t cpu_milli;        /* -1: no container said */
    int64_t memory_bytes;     /* -1: no container said */
    job_gres *gres;
    size_t n_gres;
    bool gpu;                 /* a GPU resource was asked for: the runtime's GPU switch */
} job_resources;

/* The job's needs: containers run in parallel (their sum), init containers
 * one at a time (their maximum); the job gets the larger of the two.  Per
 * container the larger of request and limit counts.  gres_map entries are
 * "k8s-resource=gres-name".  -1 with err for an extended resource without a
 * mapping. */
int job_resources_compute(const il_pod *pod, char **gres_map, job_resources *out,
                          il_buf *err);
/* The same with the pod's flavor: its CPUDefault/MemoryDefault stand in for
 * amounts no container gives, and a GPU resource without a GRES mapping is
 * accepted when the flavor's own flags ask for GPUs. */
int job_resources_for_flavor(const il_pod *pod, char **gres_map, const slurm_flavor *flavor,
                             job_resources *out, il_buf *err);
/* GPUs the pod asks for (nvidia.com/gpu, amd.com/gpu), by the same rule. */
int64_t pod_gpu_count(const il_pod *pod);
void job_resources_free(job_resources *r);
/* --cpus-per-task, --mem, --gres flags for r. */
void job_resources_flags(const job_resources *r, strvec *out);

/* ---- flavors (flavor.c) ------------------------------------------------ */

/* One entry of Flavors: admin-defined sbatch flags and resource defaults. */
typedef struct slurm_flavor {
    char *name;
    char *description;
    int64_t cpu_milli;        /* CPUDefault; -1: none */
    int64_t memory_bytes;     /* MemoryDefault; -1: none */
    strvec flags;             /* SlurmFlags, canonical "--name[=value]" */
    int64_t gpus;             /* GPUs its flags ask for (--gres=gpu:N, --gpus=N); 0: none */
} slurm_flavor;

/* Parse Flavors (a YAML list of mappings) and check DefaultFlavor; flags
 * go through the same filter as the flags annotation, except that the
 * admin may use the identity/escape flags.  -1 with err. */
int flavors_load(json_t *list, const char *default_flavor, slurm_flavor **out, size_t *n,
                 il_buf *err);
void flavors_free(slurm_flavor *flavors, size_t n);
/* The pod's flavor: the slurm-job.vk.io/flavor annotation, else for a pod
 * asking for GPUs the flavor asking for the same number (else any GPU
 * flavor), else DefaultFlavor.  *out NULL: none.  -1 with err (400) for an
 * unknown flavor name. */
int flavor_for_pod(const slurm_config *cfg, const il_pod *pod, const slurm_flavor **out,
                   il_buf *err);
/* The uid a pod (runAsUser), DefaultUID or a flavor's UID asks to run as,
 * checked against ours: every job runs as the plugin's own user, so only
 * that uid can be honoured (see README).  0 or -1 with err. */
int uid_check(const il_pod *pod, il_buf *err);
/* The runAsUser a pod asks for (-1: none); *where names the field. */
int64_t pod_run_as_user(const il_pod *pod, const char **where);
int uid_config_check(const char *uid, const char *what, il_buf *err);

/* ---- what the job may see of the pod's data (poddata.c) ------------------ */

/* ExportPodData false: a copy of req without configMap, secret, projected
 * and downwardAPI volumes, their mounts, and the data interLink sent for
 * them.  0 or -1 with err; *out freed with il_create_request_free. */
int pod_data_strip(const il_create_request *req, il_create_request *out, il_buf *err);

/* ---- whose job it is (identity.c) ------------------------------------- */

typedef struct slurm_identity {
    strvec flags;             /* --comment, then the mapped --account, --qos, --partition */
    bool as_user;             /* UnixUser: submit as that user */
    char unix_user[64];
    uid_t uid;
    gid_t gid;
} slurm_identity;

/* Parse and check IdentityMapFile; NULL with err. */
json_t *identity_map_load(const char *path, il_buf *err);
/* What the caller's pods become.  0, or 403 (unmapped: refused) / 500
 * with err. */
int identity_resolve(const slurm_config *cfg, const il_caller *caller, slurm_identity *out,
                     il_buf *err);
void identity_free(slurm_identity *id);
/* UnixUser: make the pod directory the user's (0, or 500 with err). */
int identity_hand_over(const slurm_identity *id, const char *dir, il_buf *err);
/* UnixUser: run argv through runuser as the user. */
void identity_wrap_argv(const slurm_config *cfg, const slurm_identity *id, strvec *argv);

/* ---- mpiexec options (mpiflags.c) -------------------------------------- */

/* The words of the mpi-flags annotation against mpiexec options a pod may
 * set (and the admin's extra names); 0, or -1 with err naming the word. */
int mpi_flags_check(char *const *words, char **extra, il_buf *err);

/* ---- sbatch flags (flags.c) ------------------------------------------- */

/* Split shell-style (quotes, backslashes) without any expansion; what
 * names the text in errors ("slurm-job.vk.io/flags"). */
int flags_tokenize_what(const char *text, const char *what, strvec *out, il_buf *err);
/* The same for the flags annotation. */
int flags_tokenize(const char *text, strvec *out, il_buf *err);
/* Turn the tokens of the flags annotation into canonical "--name[=value]"
 * arguments, read as sbatch's getopt_long reads them (abbreviations
 * resolved against every sbatch option, short options unbundled), and keep
 * them only if every option is on the pod allow-list (docs/slurm-flags.md)
 * or named in allowed_unsafe; --account only with the value `account`
 * (may be NULL), --nice only >= 0.  -1 with err naming the option. */
int flags_filter(const strvec *tokens, char **allowed_unsafe, const char *account, strvec *out,
                 il_buf *err);
/* The same for admin-written flags (Flavors): every sbatch option is
 * allowed but those the plugin sets itself (--job-name, --output, ...). */
int flags_filter_trusted(const strvec *tokens, const char *what, strvec *out, il_buf *err);
/* Whether name ("--x" or "x") is the full name of an sbatch option. */
bool flags_is_option(const char *name);
/* Whether the user flags set `name` or an option that conflicts with it
 * (--mem vs --mem-per-cpu, ...); such defaults are then left out. */
bool flags_override(const strvec *user_flags, const char *name);

/* The whole sbatch argv for a pod (without the script path).  Later
 * layers replace what earlier ones set: config defaults < the flavor's
 * SlurmFlags (flavor may be NULL) < computed resources < the annotation. */
int sbatch_argv(const slurm_config *cfg, const il_pod *pod, const slurm_flavor *flavor,
                const char *pod_dir, const job_resources *res, strvec *out, il_buf *err);

/* ---- SLURM job states (state.c) --------------------------------------- */

typedef enum { JOB_PENDING, JOB_RUNNING, JOB_FINISHED, JOB_UNKNOWN_STATE } job_phase;

typedef struct job_info {
    char *id;
    char *name;
    char *state;              /* "PENDING", "TIMEOUT", ... */
    char *reason;             /* "Resources", "None", ... */
    int exit_status;          /* raw wait status as squeue's exit_code gives it */
    il_time start;            /* zero when unknown */
    il_time end;
} job_info;

void job_info_free(job_info *j);
job_phase job_state_phase(const char *state);
/* Kubernetes reason and exit code for a finished job's containers that did
 * not finish by themselves (TIMEOUT -> DeadlineExceeded, ...). */
const char *job_state_reason(const char *state);
int job_state_exit_code(const job_info *j);
/* SLURM's local time without a zone ("2026-11-22T02:49:52", len bytes of
 * text); zero for anything else ("Unknown", "None"). */
il_time job_time(const char *text, size_t len);
/* Split a '|'-separated line in place into n fields, the last taking the
 * rest (a '|' in it stays); -1 when it has fewer. */
int job_split_fields(char *line, char **fields, int n);
/* Parse squeue -O output (see jobs.c); returns how many jobs. */
size_t job_info_parse(const char *text, job_info **out);
/* Apply what SLURM says about the job to a status read from the files. */
void job_apply_state(il_pod_status *st, const job_info *j, bool shared_fs);
/* The job is gone from SLURM and left no final state; node_problems
 * (may be NULL): slurm_node_problems() at the time, for the message. */
void job_mark_lost(il_pod_status *st, const char *job_id, const char *node_problems);

/* ---- the job record and squeue (jobs.c) -------------------------------- */

/* job.json: the job id (NULL if none: not submitted, or the create that
 * submitted died before recording it); *final (if not NULL) the last
 * terminal state observed, or NULL. */
char *job_record_read(const char *pod_dir, job_info *final);
/* For a log follower (rn_logs_open_in): whether the pod in pod_dir may
 * still write, i.e. its supervisor has not finished and no final state of
 * its job was recorded (a job killed by the batch system leaves "running"
 * in its files). */
bool job_pod_may_write(const char *pod_dir, void *unused);

/* How a batch backend finds and submits one pod's job (job_ensure). */
typedef struct job_backend {
    const char *what;         /* who could not tell, in messages: "squeue", "HTCondor" */
    /* The job a create that died before recording it submitted: 0 with *id
     * (NULL: none), -1 when the backend cannot be asked. */
    int (*find)(const void *ctx, const char *uid, char **id);
    /* Submit with the create lock as fd 3: 0 with *id, or an HTTP status. */
    int (*submit)(const void *ctx, int lock_fd, char **id, il_buf *err);
    const void *ctx;
} job_backend;

/* The job of a pod whose directory is in place, its create lock held: the
 * recorded one, else one an interrupted create submitted (adopted), else a
 * new submission; then recorded durably.  0 with *job_id, or an HTTP status
 * (503: the backend cannot say whether a job exists; 500: submitted but not
 * recorded, a retried create adopts it). */
int job_ensure(const job_backend *b, const char *pods_dir, const char *dir, const char *uid,
               bool created, int lock_fd, char **job_id, il_buf *err);
/* Replace job.json atomically (the final state, seen by /status). */
int job_record_write(const char *pod_dir, const char *job_id, const job_info *final);
/* Record job_id in the job.json open as fd (the create lock), in place,
 * and make it durable: the file, the pod directory and DataRootFolder/pods
 * (the rename that published the pod).  0 or -1 with errno. */
int job_record_commit(int fd, const char *pods_dir, const char *pod_dir, const char *job_id);
/* One squeue call for all ids.  Returns the number of jobs found, or -1 if
 * SLURM could not be asked (then nothing may be concluded from absence). */
ssize_t squeue_jobs(const slurm_config *cfg, char *const *ids, size_t n, job_info **out);
/* The same by job name (pod UIDs). */
ssize_t squeue_names(const slurm_config *cfg, char *const *names, size_t n, job_info **out);
/* The same, appending to why what went wrong when they return -1. */
ssize_t squeue_jobs_why(const slurm_config *cfg, char *const *ids, size_t n, job_info **out,
                        il_buf *why);
ssize_t squeue_names_why(const slurm_config *cfg, char *const *names, size_t n,
                         job_info **out, il_buf *why);

/* ---- after squeue (fallback.c) ------------------------------------------- */

/* How the jobs ids (gone from squeue) ended: JobCompPath first when set,
 * then one sacct call for the ids it does not know when SacctPath is set
 * and accounting works.  Returns how many were found (*out: caller frees
 * each and the array).  *answered false: a source could not be read or
 * run, so an id missing from *out may still be known to SLURM. */
size_t fallback_jobs(slurm_ctx *ctx, char *const *ids, size_t n, job_info **out,
                     bool *answered);
/* One line of the jobcomp log ("JobId=... JobState=...") or of sacct
 * --parsable2 (modified in place), for one of ids: 0 with *out filled (free
 * with job_info_free), -1 when it is not such a line.  For tests and fuzzing. */
int jobcomp_parse_line(const char *line, char *const *ids, size_t n, job_info *out);
int sacct_parse_line(char *line, char *const *ids, size_t n, job_info *out);

/* ---- interactive sessions (exec.c, nodeexec.c) -------------------------- */

/* kubectl exec and port-forward: an `srun --overlap` step in the pod's
 * running job, on its batch host, that runs this binary's node side. */
int slurm_exec(void *ctx, const il_exec_request *req, il_exec_proc *proc, il_buf *err);
int slurm_port_connect(void *ctx, const il_pod *pod, int port, int *fd, il_buf *err);
/* The node side, `--run-pod DIR --exec ...` and `--run-pod DIR --connect
 * PORT` (args after DIR); the process's exit status. */
int slurm_node_exec(const char *dir, int argc, char **args);
int slurm_node_connect(const char *dir, int argc, char **args);
/* What the node side writes first once it is connected. */
#define SLURM_CONNECTED "OK\n"

/* ---- callbacks (create.c, status.c, delete.c, ping.c) ------------------ */

int slurm_create(void *ctx, const il_create_request *req, char **job_id, il_buf *err);
/* At startup: adopt the jobs of pods whose create died between sbatch and
 * job.json (one squeue by name for all of them). */
void slurm_recover(const slurm_ctx *ctx);
int slurm_status(void *ctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err);
int slurm_delete(void *ctx, const il_pod *pod, il_buf *err);
int slurm_logs_open(void *ctx, const il_log_request *req, void **stream, il_buf *err);
json_t *slurm_ping(void *ctx);
/* Ping's parser, for tests: sinfo -N -o '%P|%a|%T|%c|%m|%G' lines. */
json_t *ping_from_sinfo(const char *text, const char *partition);
/* The partition's nodes that cannot take jobs, with SLURM's reasons
 * ("n1 drained: Duplicate jobid; ..."), or NULL (none, or sinfo failed).
 * Caller frees. */
char *slurm_node_problems(const slurm_ctx *ctx);
/* Taints (a YAML list of {Key, Value, Effect}) as PingResponse taints; NULL
 * with err when malformed. */
json_t *ping_taints_load(json_t *list, il_buf *err);
/* A ResourceScriptPath script's stdout as a PingResponse (new reference),
 * or NULL with err when it is not one. */
json_t *ping_from_script(const char *text, il_buf *err);
/* Add the configured taints to resp (a configured key replaces the
 * response's taint of the same key: admin config wins, as upstream). */
void ping_add_taints(json_t *resp, json_t *taints);

#endif
