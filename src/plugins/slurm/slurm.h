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

#include "batch.h"
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
    batch_runtime_config rt;  /* ContainerRuntime and its keys, BashPath, RunnerPath, ... */
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
    batch_identity_config ident; /* IdentityMapFile (callers -> account, QoS, Unix user) */
    char *submit_mode;        /* SubmitMode: "sbatch" or "rest" (rest.c) */
    char *rest_url;           /* SlurmrestdURL */
    char *rest_token_file;    /* SlurmrestdTokenFile; NULL: scontrol token */
    char *rest_user;          /* SlurmrestdUser; NULL: the token's "sun" */
    int64_t rest_token_lifespan_s;
    char *rest_fallback;      /* SlurmrestdFallback: "sbatch" or "refuse" */
    char *scontrol_path;
    /* Derived at load (config.c, flavor.c), owned by the config: */
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
    struct slurm_rest *rest;  /* SubmitMode rest: slurmrestd's client (rest.c), else NULL */
} slurm_ctx;

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

/* ---- the job script (script.c) ------------------------------------------ */

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
/* The pod's needs (job_resources_compute) with the flavor's CPUDefault and
 * MemoryDefault for amounts no container gives, and a GPU resource without
 * a GRES mapping accepted when the flavor's own flags ask for GPUs. */
int job_resources_for_flavor(const il_pod *pod, char **gres_map, const slurm_flavor *flavor,
                             job_resources *out, il_buf *err);
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
int uid_config_check(const char *uid, const char *what, il_buf *err);

/* ---- what the job may see of the pod's data (poddata.c) ------------------ */

/* ExportPodData false: a copy of req without configMap, secret, projected
 * and downwardAPI volumes, their mounts, and the data interLink sent for
 * them.  0 or -1 with err; *out freed with il_create_request_free. */
int pod_data_strip(const il_create_request *req, il_create_request *out, il_buf *err);

/* ---- whose job it is (billing.c) ---------------------------------------- */

typedef struct slurm_identity {
    batch_identity who;       /* the IdentityMapFile entry, UnixUser */
    strvec flags;             /* --comment, then the mapped --account, --qos, --partition */
} slurm_identity;

/* What the caller's pods become: the --comment naming caller and tenant
 * (for accounting), and IdentityMapFile's Account, QoS and Partition as
 * flags that come last on the sbatch command line, so the pod's flags
 * cannot override them.  0, or 403 (unmapped: refused) / 500 with err. */
int slurm_identity_resolve(const slurm_config *cfg, const il_caller *caller,
                           slurm_identity *out, il_buf *err);
void slurm_identity_free(slurm_identity *id);

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

/* --cpus-per-task, --mem, --gres flags for r. */
void job_resources_flags(const job_resources *r, strvec *out);
/* The whole sbatch argv for a pod (without the script path).  Later
 * layers replace what earlier ones set: config defaults < the flavor's
 * SlurmFlags (flavor may be NULL) < computed resources < the annotation. */
int sbatch_argv(const slurm_config *cfg, const il_pod *pod, const slurm_flavor *flavor,
                const char *pod_dir, const job_resources *res, strvec *out, il_buf *err);

/* ---- SLURM job states (state.c) --------------------------------------- */

typedef enum { JOB_PENDING, JOB_RUNNING, JOB_FINISHED, JOB_UNKNOWN_STATE } job_phase;

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
/* Parse squeue -O output (squeue.c); returns how many jobs. */
size_t job_info_parse(const char *text, job_info **out);
/* Apply what SLURM says about the job to a status read from the files. */
void job_apply_state(il_pod_status *st, const job_info *j, bool shared_fs);
/* The job is gone from SLURM and left no final state; node_problems
 * (may be NULL): slurm_node_problems() at the time, for the message. */
void job_mark_lost(il_pod_status *st, const char *job_id, const char *node_problems);

/* ---- squeue (squeue.c) ------------------------------------------------- */

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
int slurm_node_attach(const char *dir, int argc, char **args);
/* What the node side writes first once it is connected. */
#define SLURM_CONNECTED "OK\n"
/* ---- submission through slurmrestd (rest.c) ----------------------------- */

typedef struct slurm_rest slurm_rest;

/* SubmitMode, SlurmrestdURL and SlurmrestdFallback are known values; -1
 * with err. */
int rest_config_check(const slurm_config *cfg, il_buf *err);
/* The client for SubmitMode rest (NULL with err: a bad SlurmrestdURL). */
slurm_rest *rest_open(const slurm_config *cfg, il_buf *err);
void rest_close(slurm_rest *r);
/* The REST job description of a submission (sbatch's argv as sbatch_argv
 * and the identity made it, the script path last): 0 with *job (NULL: go
 * through sbatch, the reason logged), or 400 with err when it cannot be
 * mapped and SlurmrestdFallback is refuse. */
int rest_job_for(const slurm_rest *r, const slurm_identity *who, const strvec *argv,
                 json_t **job, il_buf *err);
/* The same mapping without a client, for tests: 0, or -1 with why (the
 * option that has no JSON form). */
int rest_job_from_argv(char *const *argv, json_t **job, il_buf *why);
/* POST job (borrowed) with the script at script_path: 0 with *id, or 503
 * (slurmrestd or SLURM unreachable, the token refused) / 400 (SLURM
 * refused the job) with err.  lock_fd is the pod's job.json: its mtime
 * tells a retried create whether a submission may still be in flight
 * (rest_settle). */
int rest_submit(slurm_rest *r, json_t *job, const char *script_path, int lock_fd, char **id,
                il_buf *err);
/* Before a retried create looks for its job by name: wait until no
 * submission of pod_dir can still be in flight in slurmrestd. */
void rest_settle(const slurm_rest *r, const char *pod_dir);

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
