/* condor.c -- asking HTCondor: argv for its tools (never a shell), and the
 * one batched condor_q / condor_history query with a constraint and a
 * projection, parsed from -json into interlink-slurm's job_info so the
 * durable job record (job.json) is kept by one piece of code. */
#include "htcondor.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The projection: what status and find-by-UID need, nothing else. */
/* Jobs per condor_q/condor_history call: the constraint is one argv item,
 * which Linux caps at 128 KiB; 1000 ids take about 40 KiB. */
#define QUERY_CHUNK 1000

#define JOB_ATTRS "ClusterId,ProcId,JobStatus," HTC_UID_ATTR ",HoldReason,RemoveReason," \
                  "ExitCode,ExitBySignal,ExitSignal,JobStartDate,CompletionDate," \
                  "EnteredCurrentStatus"

static void tool_argv(const htc_config *cfg, const char *user, const char *tool,
                      bool pool_only, strvec *out)
{
    identity_runuser_argv(cfg->ident.runuser_path, user, out);
    if (cfg->bin_dir && cfg->bin_dir[0])
        rn_strvec_pushf(out, "%s/%s", cfg->bin_dir, tool);
    else
        rn_strvec_push(out, tool);
    if (!pool_only && cfg->schedd_name && cfg->schedd_name[0]) {
        rn_strvec_push(out, "-name");
        rn_strvec_push(out, cfg->schedd_name);
    }
    if (cfg->pool && cfg->pool[0]) {
        rn_strvec_push(out, "-pool");
        rn_strvec_push(out, cfg->pool);
    }
}

void htc_tool_argv(const htc_config *cfg, const char *tool, bool as_user, bool pool_only,
                   strvec *out)
{
    tool_argv(cfg, as_user ? cfg->submit_user : NULL, tool, pool_only, out);
}

void htc_tool_argv_as(const htc_config *cfg, const char *user, const char *tool, strvec *out)
{
    tool_argv(cfg, user, tool, false, out);
}

const char *htc_status_name(int status)
{
    static const char *const names[] = {"Unexpanded", "Idle", "Running", "Removed",
                                        "Completed", "Held", "TransferringOutput",
                                        "Suspended"};
    return status >= 0 && status < 8 ? names[status] : "Unknown";
}

static il_time epoch(json_t *job, const char *attr)
{
    json_int_t t = json_integer_value(json_object_get(job, attr));
    return t > 0 ? (il_time){(int64_t)t, 0} : IL_TIME_ZERO;
}

static void job_from_json(json_t *job, job_info *out)
{
    memset(out, 0, sizeof(*out));
    out->id = il_xasprintf("%lld.%lld",
                           (long long)json_integer_value(json_object_get(job, "ClusterId")),
                           (long long)json_integer_value(json_object_get(job, "ProcId")));
    const char *uid = json_string_value(json_object_get(job, HTC_UID_ATTR));
    out->name = il_xstrdup(uid ? uid : "");
    int status = (int)json_integer_value(json_object_get(job, "JobStatus"));
    out->state = il_xstrdup(htc_status_name(status));
    const char *reason = json_string_value(json_object_get(job, status == 3 ? "RemoveReason"
                                                                            : "HoldReason"));
    out->reason = il_xstrdup(reason ? reason : "");
    if (json_is_true(json_object_get(job, "ExitBySignal")))
        out->exit_status = (int)json_integer_value(json_object_get(job, "ExitSignal")) & 0x7f;
    else
        out->exit_status = (int)(json_integer_value(json_object_get(job, "ExitCode")) & 0xff)
                           << 8;
    out->start = epoch(job, "JobStartDate");
    out->end = epoch(job, "CompletionDate");
    if (il_time_is_zero(out->end) && (status == 3 || status == 4))
        out->end = epoch(job, "EnteredCurrentStatus");
}

ssize_t htc_parse_jobs(const char *text, job_info **out)
{
    *out = NULL;
    if (strspn(text, " \t\r\n") == strlen(text))
        return 0;   /* condor_q prints nothing when nothing matched */
    json_t *arr = json_loads(text, 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return -1;
    }
    size_t n = json_array_size(arr);
    *out = il_xcalloc(n ? n : 1, sizeof(**out));
    for (size_t i = 0; i < n; i++)
        job_from_json(json_array_get(arr, i), &(*out)[i]);
    json_decref(arr);
    return (ssize_t)n;
}

void htc_jobs_free(job_info *jobs, ssize_t n)
{
    for (ssize_t i = 0; i < n; i++)
        job_info_free(&jobs[i]);
    free(jobs);
}

/* "ClusterId == 12 && ProcId == 0 || ..." for ids, or by pod UID; ids and
 * UIDs were checked (digits and a dot; UUIDs), so nothing needs quoting. */
static char *constraint(char *const *ids, char *const *uids, size_t n)
{
    il_buf c = IL_BUF_INIT;
    il_buf_puts(&c, HTC_UID_ATTR " =!= undefined && (");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            il_buf_puts(&c, " || ");
        if (ids) {
            long long cluster = 0, proc = 0;
            sscanf(ids[i], "%lld.%lld", &cluster, &proc);
            il_buf_printf(&c, "ClusterId == %lld && ProcId == %lld", cluster, proc);
        } else {
            il_buf_printf(&c, HTC_UID_ATTR " == \"%s\"", uids[i]);
        }
    }
    il_buf_puts(&c, ")");
    return il_buf_steal(&c);
}

/* One call for up to QUERY_CHUNK jobs. */
static ssize_t query_chunk(const htc_config *cfg, bool history, char *const *ids,
                           char *const *uids, size_t n, job_info **out)
{
    strvec argv = {0};
    htc_tool_argv(cfg, history ? "condor_history" : "condor_q", false, false, &argv);
    char *where = constraint(ids, uids, n);
    rn_strvec_push(&argv, "-json");
    rn_strvec_push(&argv, "-attributes");
    rn_strvec_push(&argv, JOB_ATTRS);
    rn_strvec_push(&argv, "-constraint");
    rn_strvec_push(&argv, where);
    free(where);
    cmd_result res;
    ssize_t found = -1;
    if (cmd_run(argv.v, cfg->command_timeout_s, &res) == 0)
        found = htc_parse_jobs(il_buf_cstr(&res.out), out);
    if (found < 0)
        il_warn("%s failed (exit %d): %s", argv.v[0], res.status, il_buf_cstr(&res.err));
    cmd_result_free(&res);
    rn_strvec_free(&argv);
    return found;
}

ssize_t htc_query(const htc_config *cfg, bool history, char *const *ids, char *const *uids,
                  size_t n, job_info **out)
{
    *out = NULL;
    ssize_t total = 0;
    for (size_t at = 0; at < n; at += QUERY_CHUNK) {
        size_t k = n - at < QUERY_CHUNK ? n - at : QUERY_CHUNK;
        job_info *part;
        ssize_t got = query_chunk(cfg, history, ids ? ids + at : NULL, uids ? uids + at : NULL,
                                  k, &part);
        if (got < 0) {
            htc_jobs_free(*out, total);
            *out = NULL;
            return -1;
        }
        if (got > 0) {
            *out = il_xrealloc(*out, (size_t)(total + got) * sizeof(**out));
            memcpy(*out + total, part, (size_t)got * sizeof(**out));
            total += got;
        }
        free(part);
    }
    return total;
}

/* The lowest id among jobs named uid; keeps *id when none is lower. */
static void lowest(const job_info *jobs, ssize_t n, const char *uid, char **id)
{
    for (ssize_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].name, uid) != 0)
            continue;
        if (!*id || strtod(jobs[i].id, NULL) < strtod(*id, NULL)) {
            free(*id);
            *id = il_xstrdup(jobs[i].id);
        }
    }
}

int htc_find_by_uid(const htc_config *cfg, const char *uid, char **id)
{
    char *uids[] = {(char *)uid};
    *id = NULL;
    for (int history = 0; history < 2; history++) {
        job_info *jobs;
        ssize_t found = htc_query(cfg, history, NULL, uids, 1, &jobs);
        if (found < 0)
            return -1;
        lowest(jobs, found, uid, id);
        htc_jobs_free(jobs, found);
        if (*id)
            return 0;
    }
    return 0;
}

/* One tool run as the job's owner on one job id; false (logged) on failure. */
static bool job_tool(const htc_config *cfg, const char *owner, const char *tool,
                     const char *job_id)
{
    strvec argv = {0};
    htc_tool_argv_as(cfg, owner, tool, &argv);
    rn_strvec_push(&argv, job_id);
    cmd_result res;
    bool ok = cmd_run(argv.v, cfg->command_timeout_s, &res) == 0;
    if (!ok)
        il_warn("%s %s failed (exit %d): %s", tool, job_id, res.status, il_buf_cstr(&res.err));
    cmd_result_free(&res);
    rn_strvec_free(&argv);
    return ok;
}

int htc_fetch_spooled(const htc_config *cfg, const char *dir, const char *job_id)
{
    char *owner = htc_pod_owner(cfg, dir);
    int rc = -1;
    if (job_tool(cfg, owner, "condor_transfer_data", job_id)) {
        il_info("job %s: results fetched with condor_transfer_data", job_id);
        rc = job_tool(cfg, owner, "condor_rm", job_id) ? 0 : -1;
    }
    free(owner);
    return rc;
}
