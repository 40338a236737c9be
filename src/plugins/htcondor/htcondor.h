/* htcondor.h -- internals of interlink-htcondor: one HTCondor job per pod.
 *
 * The pod directory (runner.h) lives in DataRootFolder/pods/<uid>/, made
 * lean as interlink-slurm makes it, and owned by SubmitUser (HTCondor runs
 * jobs as their owner, and refuses root).  This plugin adds
 *
 *   job.sh      what the job executes: hands over to this binary's
 *               `--run-pod DIR` (the shared supervisor); every value
 *               single-quoted
 *   job.sub     the submit description.  No pod data in it at all except
 *               what passed an allow-list: numbers, the pod UID, and the
 *               admin-allowed annotation values, quoted as ClassAd strings
 *   job.json    the create lock and the pod<->job record, exactly as
 *               every batch plugin keeps it (batch.h): empty while a
 *               submission may be under way, {"jobId": "C.P"} once
 *               condor_submit answered, plus the final state once seen
 *   job.out     the job's stdout and stderr (the supervisor's own)
 *   job.batch   while the pod is in a batch condor_submit: a link to the
 *               batch's submit file, whose flock that condor_submit holds
 *               (batch.c)
 *   <uid>/      FileTransfer only: the pod directory as the job left it on
 *               the execute node (state files, logs), transferred back
 *               when the job ends
 *
 * Every job carries +InterLinkPodUID, so a job whose id never reached
 * job.json is found again by it (create.c), and a cluster id a recreated
 * schedd hands out again is never mistaken for ours (status.c). */
#ifndef IL_HTCONDOR_H
#define IL_HTCONDOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "batch.h"
#include "plugin.h"
#include "runner.h"
#include "wire.h"

#define HTC_UID_ATTR "InterLinkPodUID"
#define HTC_ANNOTATION_PREFIX "htcondor-job.vk.io/"

/* ---- configuration (config.c) ----------------------------------------- */

typedef struct htc_config {
    il_plugin_base base;      /* Socket, SidecarURL/Port, DataRootFolder, logging, MaxBodyBytes */
    char *submit_user;        /* runuser -u USER -- condor_submit/condor_rm; NULL: ourselves */
    char *bin_dir;            /* HTCondor tools' directory; NULL: PATH */
    char *schedd_name;        /* -name: a schedd on another host */
    char *pool;               /* -pool: its collector */
    bool file_transfer;       /* no shared filesystem: pod files in, results out */
    bool spool;               /* condor_submit -spool; results fetched by condor_transfer_data */
    batch_runtime_config rt;  /* ContainerRuntime and its keys, BashPath, RunnerPath, ... */
    char *requirements;       /* admin's requirements expression, trusted */
    char **accounting_groups; /* allow-list of the accounting-group annotation; "*": any */
    bool allow_requirements;  /* the requirements annotation */
    char **allowed_attributes; /* allow-list of the attributes annotation's names */
    int64_t cpu_default;      /* request_cpus when no container says */
    int64_t memory_default_mb;
    int64_t vacate_extra_s;   /* job_max_vacate_time = grace + this */
    int64_t command_timeout_s;
    int64_t delete_wait_s;    /* how long a delete waits for the job to leave the queue */
    int64_t batch_max;        /* pods per condor_submit at most; 1: one each */
    int64_t batch_window_ms;  /* how long a batch gathers */
    int64_t submit_parallel;  /* condor_submits running at once at most */
    batch_identity_config ident; /* IdentityMapFile (callers -> Unix user, accounting group) */
    /* Derived at load: */
    uid_t submit_uid;
    gid_t submit_gid;
} htc_config;

/* The key table (IL_PLUGIN_BASE_FIELDS and the plugin's own keys). */
extern const il_cfg_field htc_config_fields[];
extern const size_t htc_config_nfields;
/* The checks the table cannot make (identity, paths that go into submit
 * descriptions, bounds); -1 with err. */
int htc_config_check(void *cfg, il_buf *err);
/* Free what htc_config_check derived. */
void htc_config_release(void *cfg);

typedef struct htc_batcher htc_batcher;

typedef struct htc_ctx {
    const htc_config *cfg;
    htc_batcher *batcher;     /* creates gathered into one condor_submit (batch.c) */
    char *pods_dir;           /* DataRootFolder/pods */
    char *runner_path;        /* what job.sh executes on the execute node */
} htc_ctx;

/* ---- the submit description (submit.c): pure, unit-tested -------------- */

typedef struct htc_request {
    int64_t cpus;
    int64_t memory_mb;        /* 0: HTCondor's default */
    int64_t disk_kb;          /* 0: HTCondor's default */
    int64_t gpus;
    /* From the caller's identity (identity.c); NULL or "": none. */
    const char *accounting_group; /* the mapped one: the annotation may not differ */
    const char *caller;       /* +InterLinkUser, +InterLinkTenant (plain characters) */
    const char *tenant;
} htc_request;

/* What the pod asks for (containers in parallel: their sum; init
 * containers one at a time: the largest), with the config's defaults for
 * what no container says.  400 with err for a resource HTCondor has no
 * request for. */
int htc_pod_request(const htc_config *cfg, const il_pod *pod, htc_request *out, il_buf *err);
/* Append s as a ClassAd string literal for a submit file: "…" with each "
 * escaped.  -1 (nothing appended) when s holds what no quoting makes safe
 * in the submit language: control characters, '$' (macro expansion at
 * submit time, $$() substitution at match time), or a backslash. */
int htc_classad_string(il_buf *out, const char *s);
/* The requirements annotation: a ClassAd expression the pod's owner may
 * add (in parentheses, and'ed to the admin's); -1 with err unless its
 * parentheses and string literals balance and it has no '$', no
 * backslash, no control character and no comment. */
int htc_check_expression(const char *expr, il_buf *err);
/* The whole job.sub text; 400 with err when an annotation is refused. */
int htc_submit_text(const htc_config *cfg, const il_pod *pod, const char *pod_dir,
                    const htc_request *req, il_buf *out, il_buf *err);

/* ---- whose job it is (identity.c) ------------------------------------- */

typedef struct htc_identity {
    char user[64];            /* submit as (runuser -u); "": the plugin's own account */
    uid_t uid;                /* who owns the pod directory */
    gid_t gid;
    char accounting_group[128]; /* the mapped Account; "": none */
    char caller[128];         /* the caller and tenant, plain characters; "": none */
    char tenant[128];
} htc_identity;

/* SubmitUser, or with IdentityMapFile the caller's entry (batch.h): 0, 403
 * (not mapped) or 500 with err. */
int htc_identity_resolve(const htc_config *cfg, const il_caller *caller, htc_identity *out,
                         il_buf *err);
/* Who owns the job of the pod in dir (the owner of the directory): the
 * account condor_rm and condor_transfer_data run as; NULL: ourselves. */
char *htc_pod_owner(const htc_config *cfg, const char *dir);

/* ---- HTCondor's tools (condor.c) ---------------------------------------- */

/* argv for tool: [runuser -u SubmitUser --] when as_user, the tool (from
 * CondorBinDir), then -name/-pool when configured (pool_only: -pool). */
void htc_tool_argv(const htc_config *cfg, const char *tool, bool as_user, bool pool_only,
                   strvec *out);
/* The same as user (NULL or "": no runuser). */
void htc_tool_argv_as(const htc_config *cfg, const char *user, const char *tool, strvec *out);
/* JobStatus numbers as names ("Idle", "Held", ...). */
const char *htc_status_name(int status);
/* Jobs of condor_q -json / condor_history -json text into job_info (id
 * "Cluster.Proc", name the pod UID, state the JobStatus name, reason
 * HoldReason/RemoveReason, exit_status a wait status).  -1 if not JSON. */
ssize_t htc_parse_jobs(const char *text, job_info **out);
/* One condor_q (history false) or condor_history (true) for these job ids
 * ("C.P"), or, with ids NULL, for the jobs of these pod UIDs.  Returns the
 * number found, -1 when HTCondor could not be asked. */
ssize_t htc_query(const htc_config *cfg, bool history, char *const *ids, char *const *uids,
                  size_t n, job_info **out);
/* The queue, then the history, for one pod's job by UID (the lowest id);
 * 0 with *id NULL: none; -1: HTCondor could not be asked. */
int htc_find_by_uid(const htc_config *cfg, const char *uid, char **id);
void htc_jobs_free(job_info *jobs, ssize_t n);
/* Spool: fetch a completed job's output (condor_transfer_data, into the
 * pod directory), then take the job out of the queue (condor_rm), where a
 * spooled job otherwise stays.  0 or -1 (logged). */
int htc_fetch_spooled(const htc_config *cfg, const char *dir, const char *job_id);

/* ---- many pods per condor_submit (batch.c) ------------------------------ */

htc_batcher *htc_batcher_new(void);
void htc_batcher_free(htc_batcher *b);
/* Submit the pod in dir as user (NULL: ourselves; its job.sub is text, its
 * create lock lock_fd, held by the caller), gathered with concurrent creates whose job.sub
 * differs only in directory and UID into one condor_submit.  0 with *id,
 * or an HTTP status (503: HTCondor cannot say whether it was submitted;
 * 500: submitted, the id unknown: a retried create finds it). */
int htc_batch_submit(const htc_ctx *ctx, const char *user, const char *dir, const char *uid,
                     const char *text, int lock_fd, char **id, il_buf *err);
/* Before asking HTCondor for the job of a pod whose create was
 * interrupted: wait for a batch condor_submit that may still run for it. */
void htc_batch_wait(const char *dir);
/* At startup: remove the batch submit files crashed batches left. */
void htc_batch_clean(const char *pods_dir);
/* The batch key of a job.sub: dir and uid replaced by the list's macros;
 * NULL when the text cannot be batched. */
char *htc_batch_template(const char *text, const char *dir, const char *uid);
/* The submit description of n pods of one template. */
void htc_batch_text(const char *tmpl, char *const *dirs, char *const *uids, size_t n,
                    il_buf *out);
/* The ids condor_submit -terse printed ("C.P0 - C.P1" lines), at most max,
 * into ids (caller frees each); -1 (nothing kept) when not that. */
ssize_t htc_parse_submitted(const char *terse, size_t max, char **ids);

/* ---- callbacks (create.c, status.c, delete.c, ping.c) ------------------ */

int htc_create(void *ctx, const il_create_request *req, char **job_id, il_buf *err);
/* At startup: adopt the jobs of pods whose create died between
 * condor_submit and job.json. */
void htc_recover(const htc_ctx *ctx);
int htc_status(void *ctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err);
int htc_delete(void *ctx, const il_pod *pod, il_buf *err);
int htc_logs_open(void *ctx, const il_log_request *req, void **stream, il_buf *err);
json_t *htc_ping(void *ctx);
/* Ping's parser, for tests: condor_status -af Cpus Memory GPUs lines. */
json_t *htc_ping_from_status(const char *text);

#endif
