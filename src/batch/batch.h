/* batch.h -- what every batch-system plugin (interlink-slurm,
 * interlink-htcondor) shares, and nothing a single backend owns:
 *
 *   cmd.c            running a client command (argv only, a deadline)
 *   shquote.c        the one quoting function of generated scripts
 *   jobrecord.c      job.json, the durable pod<->job record (also the
 *                    create lock), job_ensure(), adopt-or-submit without
 *                    duplicates, and job_create(), a batch create's end
 *   resources.c      a pod's needs as one job's (sums and maxima)
 *   identity.c       IdentityMapFile: callers -> accounts, Unix users
 *   runtimeconfig.c  the container runtime keys of the config and the
 *                    runtime_spec new pods are frozen with
 *
 * A backend links libilbatch and adds its own language (sbatch flags,
 * submit descriptions); it never links another backend. */
#ifndef IL_BATCH_H
#define IL_BATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "runner.h"
#include "timeutil.h"
#include "util.h"
#include "wire.h"

/* ---- running client commands (cmd.c) ----------------------------------- */

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

/* ---- shell quoting (shquote.c) ----------------------------------------- */

/* Append s single-quoted for sh/bash: 'it'\''s'.  The one quoting function
 * every value of a generated script goes through. */
void sh_quote(il_buf *out, const char *s);

/* ---- the job record (jobrecord.c) -------------------------------------- */

/* A batch job as the backend reports it. */
typedef struct job_info {
    char *id;
    char *name;
    char *state;              /* the backend's word: "PENDING", "TIMEOUT", "Completed", ... */
    char *reason;             /* "Resources", "None", a hold reason, ... */
    int exit_status;          /* raw wait status */
    il_time start;            /* zero when unknown */
    il_time end;
} job_info;

void job_info_free(job_info *j);

/* job.json: the job id (NULL if none: not submitted, or the create that
 * submitted died before recording it); *final (if not NULL) the last
 * terminal state observed, or NULL. */
char *job_record_read(const char *pod_dir, job_info *final);
/* How many pods' records job_record_read keeps (tests). */
size_t job_record_kept(void);
/* Replace job.json atomically (the final state, seen by /status). */
int job_record_write(const char *pod_dir, const char *job_id, const job_info *final);
/* Record job_id in the job.json open as fd (the create lock), in place,
 * and make it durable: the file, the pod directory and DataRootFolder/pods
 * (the rename that published the pod).  0 or -1 with errno. */
int job_record_commit(int fd, const char *pods_dir, const char *pod_dir, const char *job_id);
/* The create lock of the pod in pod_dir (its job.json), taken: waits for a
 * create still submitting (and the submitting client it lent the lock to)
 * and keeps the next one out, so a delete sees the job a submission made.
 * The fd (close() releases it), or -1 when the pod has no job.json. */
int job_record_lock(const char *pod_dir);
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

/* ---- resources (resources.c) ------------------------------------------- */

typedef struct job_gres {
    char *name;               /* the batch system's name ("gpu") */
    int64_t count;
} job_gres;

typedef struct job_resources {
    int64_t cpu_milli;        /* -1: no container said */
    int64_t memory_bytes;     /* -1: no container said */
    job_gres *gres;
    size_t n_gres;
    bool gpu;                 /* a GPU resource was asked for: the runtime's GPU switch */
} job_resources;

/* What stands in for amounts no container gives (a SLURM flavor's). */
typedef struct job_defaults {
    int64_t cpu_milli;        /* -1: none */
    int64_t memory_bytes;     /* -1: none */
    bool gpus;                /* the job gets GPUs anyway: an unmapped GPU resource is fine */
} job_defaults;

/* The job's needs: containers run in parallel (their sum), init containers
 * one at a time (their maximum); the job gets the larger of the two.  Per
 * container the larger of request and limit counts.  gres_map entries are
 * "k8s-resource=batch-name"; defaults may be NULL.  -1 with err for an
 * extended resource without a mapping. */
int job_resources_compute(const il_pod *pod, char **gres_map, const job_defaults *defaults,
                          job_resources *out, il_buf *err);
/* GPUs the pod asks for (nvidia.com/gpu, amd.com/gpu), by the same rule. */
int64_t pod_gpu_count(const il_pod *pod);
void job_resources_free(job_resources *r);

/* ---- whose job it is (identity.c) -------------------------------------- */

typedef struct batch_identity {
    json_t *entry;            /* the caller's IdentityMapFile entry (the map's); NULL: no map */
    bool as_user;             /* UnixUser: submit as that user */
    char unix_user[64];
    uid_t uid;
    gid_t gid;
} batch_identity;

/* The identity keys of a batch plugin's config, one member of its struct. */
typedef struct batch_identity_config {
    char *map_file;           /* IdentityMapFile */
    char *runuser_path;       /* RunuserPath */
    json_t *map;              /* map_file parsed (identity_config_load); NULL: no map */
} batch_identity_config;

/* The il_cfg_field entries of a batch_identity_config that is member m of
 * type; keys: what an entry may say, for this backend. */
#define BATCH_IDENTITY_FIELDS(type, m, keys)                                                    \
    {"IdentityMapFile", NULL, IL_CFG_STRING, offsetof(type, m.map_file), NULL,                   \
     "YAML mapping of callers (users:) and groups (groups:) to " keys "; set: callers it "      \
     "does not map are refused (403)"},                                                          \
    {"RunuserPath", NULL, IL_CFG_STRING, offsetof(type, m.runuser_path), "runuser",              \
     "runuser executable: a root plugin runs the batch client commands as another account "     \
     "(e.g. an IdentityMapFile UnixUser) through it"}

/* Parse and check IdentityMapFile; NULL with err. */
json_t *identity_map_load(const char *path, il_buf *err);
/* ic->map from ic->map_file when set; -1 with err. */
int identity_config_load(batch_identity_config *ic, il_buf *err);
void identity_config_release(batch_identity_config *ic);
/* What the caller's pods become under map (NULL: no map, anyone).  0, or
 * 403 (unmapped: refused) / 500 with err.  Nothing to free. */
int identity_resolve(json_t *map, const il_caller *caller, batch_identity *out, il_buf *err);
/* A mapped value ("Account", "AccountingGroup", ...), or NULL. */
const char *identity_value(const batch_identity *id, const char *key);
/* "interlink user=U tenant=T" for the job's comment, bytes outside
 * [A-Za-z0-9.@_-] as '_' (safe as one argv item or ClassAd string). */
void identity_comment(const il_caller *caller, il_buf *out);
/* The runAsUser a pod asks for (-1: none); *where names the field. */
int64_t pod_run_as_user(const il_pod *pod, const char **where);
/* UnixUser: make the pod directory the user's (0, or 500 with err). */
int identity_hand_over(const batch_identity *id, const char *dir, il_buf *err);
/* UnixUser: run argv through runuser as the user. */
void identity_wrap_argv(const char *runuser_path, const batch_identity *id, strvec *argv);
/* Append [runuser -u user --] to out when user is set (NULL or "": nothing):
 * the prefix of a command run as another account. */
void identity_runuser_argv(const char *runuser_path, const char *user, strvec *out);

/* A new pod's job, the whole of a batch create after its checks: the pod
 * directory laid out (rn_poddir_create_opts with files' options and
 * finish, job.json the create lock) and published; when made now, handed
 * to owner (NULL: it stays ours); then job_ensure under the lock.  Where
 * no job can have been submitted the directory goes again.  0 with
 * *job_id, or an HTTP status with err (409: deleted while being created). */
int job_create(const job_backend *b, const char *pods_dir, const il_create_request *req,
               const runtime_spec *rt, const poddir_opts *files, const batch_identity *owner,
               char **job_id, il_buf *err);

/* ---- the container runtime on the nodes (runtimeconfig.c) -------------- */

/* The runtime keys of a batch plugin's config, one member of its struct. */
typedef struct batch_runtime_config {
    char *runtime;            /* ContainerRuntime */
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
    char *bash_path;          /* the job script's interpreter */
    char *runner_path;        /* this plugin's binary as the nodes see it */
    bool enable_probes;
} batch_runtime_config;

/* The il_cfg_field entries of a batch_runtime_config that is member m of
 * type; runtime_default: the plugin's ContainerRuntime default. */
#define BATCH_RUNTIME_FIELDS(type, m, runtime_default)                                          \
    {"ContainerRuntime", NULL, IL_CFG_STRING, offsetof(type, m.runtime), runtime_default,         \
     "on the nodes: apptainer, singularity, podman, charliecloud, enroot, or none (processes "   \
     "under bubblewrap)"},                                                                       \
    {"ImagePrefix", NULL, IL_CFG_STRING, offsetof(type, m.image_prefix), NULL,                   \
     "prepended to relative image names; apptainer implies docker:// for bare names"},           \
    {"ApptainerPath", NULL, IL_CFG_STRING, offsetof(type, m.apptainer_path), "apptainer",        \
     "apptainer executable"},                                                                    \
    {"SingularityPath", "SINGULARITYPATH", IL_CFG_STRING, offsetof(type, m.singularity_path),    \
     "singularity", "singularity executable"},                                                  \
    {"SingularityDefaultOptions", NULL, IL_CFG_STRLIST, offsetof(type, m.singularity_options),   \
     "--no-eval,--containall", "apptainer/singularity options before the image (list)"},         \
    {"EnrootPath", NULL, IL_CFG_STRING, offsetof(type, m.enroot_path), "enroot",                 \
     "enroot executable"},                                                                       \
    {"EnrootDefaultOptions", NULL, IL_CFG_STRLIST, offsetof(type, m.enroot_options), "--rw",     \
     "`enroot start` options (list)"},                                                           \
    {"ChRunPath", NULL, IL_CFG_STRING, offsetof(type, m.chrun_path), "ch-run",                   \
     "charliecloud's ch-run"},                                                                   \
    {"ChRunDefaultOptions", NULL, IL_CFG_STRLIST, offsetof(type, m.chrun_options), NULL,         \
     "ch-run options before the image (list)"},                                                  \
    {"PodmanPath", NULL, IL_CFG_STRING, offsetof(type, m.podman_path), "podman",                 \
     "podman executable"},                                                                       \
    {"PodmanArgs", NULL, IL_CFG_STRLIST, offsetof(type, m.podman_args),                          \
     RUNNER_DEFAULT_PODMAN_ARGS, "extra `podman run` arguments (list)"},                         \
    {"PodmanLimits", NULL, IL_CFG_BOOL, offsetof(type, m.podman_limits), "true",                 \
     "podman: enforce the containers' CPU and memory limits (--cpus, --memory, no swap "         \
     "beyond it); false where podman cannot set cgroup limits (rootless without "               \
     "delegation).  OOM kills are reported OOMKilled either way"},                               \
    {"BwrapPath", NULL, IL_CFG_STRING, offsetof(type, m.bwrap_path), "bwrap",                    \
     "bubblewrap executable (runtime none)"},                                                    \
    {"BashPath", NULL, IL_CFG_STRING, offsetof(type, m.bash_path), "/bin/bash",                  \
     "job script interpreter"},                                                                  \
    {"RunnerPath", NULL, IL_CFG_STRING, offsetof(type, m.runner_path), NULL,                     \
     "this plugin's binary as the nodes see it (default: its own path)"},                        \
    {"EnableProbes", NULL, IL_CFG_BOOL, offsetof(type, m.enable_probes), "true",                 \
     "run the containers' startup/readiness/liveness probes inside the job, as a kubelet "      \
     "would; false: ignore them (upstream's default), readiness follows the container"}

/* ContainerRuntime names a runtime; -1 with err. */
int batch_runtime_check(const batch_runtime_config *rc, il_buf *err);
/* The runtime a new pod is frozen with (gpu decided per pod); -1 with err. */
int batch_runtime_spec(const batch_runtime_config *rc, bool gpu, runtime_spec *out, il_buf *err);

#endif
