/* fallback.c -- how a job ended after it left squeue (MinJobAge) before
 * any /status saw its final state: SLURM's job completion log
 * (JobCompPath, jobcomp/filetxt), then accounting (SacctPath).
 *
 * Only asked about jobs squeue no longer knows and whose supervisor did not
 * finish by itself (its own files say how such a pod ended); what they
 * answer is recorded in job.json like a final state squeue showed, so a job
 * is looked up here at most once.  The completion log is a file read, not
 * a SLURM command; sacct is one command for every job the log did not
 * know, only in the rare call where such jobs exist, and never again once
 * it said accounting storage is disabled.  A source that could not be read
 * or run is reported as such: its silence says nothing about the job
 * (status.c then reports the files as they are, not Lost). */
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* The log only grows; the jobs we look for ended minutes ago, at its end. */
#define JOBCOMP_TAIL_BYTES (8 * 1024 * 1024)

/* sacct --parsable2: these fields, '|'-separated; the name last, so a '|'
 * in some other job's name cannot shift the others. */
#define SACCT_FORMAT "JobID,State,Reason,ExitCode,Start,End,JobName"
#define SACCT_FIELDS 7

/* "code:signal" (both sources print it so) as the wait status squeue's
 * exit_code gives: the code in the high byte, the signal in the low bits. */
static int exit_status_of(const char *text)
{
    int code = 0, sig = 0;
    if (sscanf(text, "%d:%d", &code, &sig) < 1)
        return 0;
    return sig ? (sig & 0x7f) : (code & 0xff) << 8;
}

static bool wanted(const char *id, size_t len, char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(ids[i]) == len && memcmp(ids[i], id, len) == 0)
            return true;
    return false;
}

/* Append j (taken over) to the found jobs; a later record of the same id
 * replaces the earlier one (a requeued job ends more than once). */
static void keep_last(job_info **jobs, size_t *n, size_t *cap, job_info *j)
{
    for (size_t k = 0; k < *n; k++) {
        if (strcmp((*jobs)[k].id, j->id) == 0) {
            job_info_free(&(*jobs)[k]);
            (*jobs)[k] = *j;
            return;
        }
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *jobs = il_xrealloc(*jobs, *cap * sizeof(**jobs));
    }
    (*jobs)[(*n)++] = *j;
}

/* ---- the job completion log (jobcomp/filetxt) ---------------------------- */

/* The value of " Key=" in a jobcomp line, up to the next space. */
static const char *field(const char *line, const char *key, size_t *len)
{
    const char *p = strstr(line, key);
    if (!p)
        return NULL;
    p += strlen(key);
    *len = strcspn(p, " \n");
    return p;
}

/* One jobcomp/filetxt line: "JobId=12 UserId=... Name=<uid> JobState=COMPLETED
 * ... StartTime=... EndTime=... ... ExitCode=0:0". */
int jobcomp_parse_line(const char *line, char *const *ids, size_t n, job_info *out)
{
    size_t id_len, name_len = 0, state_len = 0, start_len = 0, end_len = 0, exit_len = 0;
    const char *id = strncmp(line, "JobId=", 6) == 0 ? line + 6 : NULL;
    if (!id)
        return -1;
    id_len = strcspn(id, " \n");
    if (!wanted(id, id_len, ids, n))
        return -1;
    const char *name = field(line, " Name=", &name_len);
    const char *state = field(line, " JobState=", &state_len);
    const char *start = field(line, " StartTime=", &start_len);
    const char *end = field(line, " EndTime=", &end_len);
    const char *exit_code = field(line, " ExitCode=", &exit_len);
    if (!name || !state || !exit_code)
        return -1;
    memset(out, 0, sizeof(*out));
    out->id = il_xstrndup(id, id_len);
    out->name = il_xstrndup(name, name_len);
    out->state = il_xstrndup(state, state_len);
    out->reason = il_xstrdup("from the job completion log");
    out->exit_status = exit_status_of(exit_code);
    out->start = start ? job_time(start, start_len) : IL_TIME_ZERO;
    out->end = end ? job_time(end, end_len) : IL_TIME_ZERO;
    return 0;
}

/* The log's last JOBCOMP_TAIL_BYTES, NUL-terminated; NULL if there is no
 * log yet (no job ended: an empty answer) or, with *readable false, if it
 * cannot be read. */
static char *jobcomp_tail(const char *path, bool *readable)
{
    *readable = true;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return NULL;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        il_warn("JobCompPath %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        *readable = false;
        return NULL;
    }
    off_t from = st.st_size > JOBCOMP_TAIL_BYTES ? st.st_size - JOBCOMP_TAIL_BYTES : 0;
    size_t size = (size_t)(st.st_size - from);
    char *text = il_xmalloc(size + 1);
    ssize_t got = pread(fd, text, size, from);
    if (got < 0) {
        il_warn("JobCompPath %s: %s", path, strerror(errno));
        *readable = false;
    }
    close(fd);
    text[got > 0 ? got : 0] = '\0';
    if (from > 0) {   /* blank out the partial first line */
        char *nl = strchr(text, '\n');
        memset(text, '\n', nl ? (size_t)(nl - text) : strlen(text));
    }
    return text;
}

/* Adds the jobs of ids the log knows to *jobs; false if it cannot be read. */
static bool jobcomp_lookup(const char *path, char *const *ids, size_t n, job_info **jobs,
                           size_t *n_jobs, size_t *cap)
{
    bool readable;
    char *text = jobcomp_tail(path, &readable);
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        job_info j;
        if (jobcomp_parse_line(line, ids, n, &j) == 0)
            keep_last(jobs, n_jobs, cap, &j);
    }
    free(text);
    return readable;
}

/* ---- accounting (sacct) ---------------------------------------------------- */

/* One sacct line: "id|STATE[ by uid]|reason|code:sig|start|end|name". */
int sacct_parse_line(char *line, char *const *ids, size_t n, job_info *out)
{
    char *f[SACCT_FIELDS];
    if (job_split_fields(line, f, SACCT_FIELDS) != 0 || !wanted(f[0], strlen(f[0]), ids, n))
        return -1;
    f[1][strcspn(f[1], " ")] = '\0';   /* "CANCELLED by 0" */
    memset(out, 0, sizeof(*out));
    out->id = il_xstrdup(f[0]);
    out->state = il_xstrdup(f[1]);
    out->reason = il_xstrdup(f[2]);
    out->exit_status = exit_status_of(f[3]);
    out->start = job_time(f[4], strlen(f[4]));
    out->end = job_time(f[5], strlen(f[5]));
    out->name = il_xstrdup(f[6]);
    return 0;
}

static bool accounting_disabled(const cmd_result *res)
{
    const char *text = "accounting storage is disabled";
    return strstr(il_buf_cstr(&res->err), text) || strstr(il_buf_cstr(&res->out), text);
}

/* One sacct for all ids; adds what it knows to *jobs.  False if it gave no
 * answer (failed, timed out); "accounting storage is disabled" is an
 * answer -- it knows nothing, now or later -- and sacct is not run again. */
static bool sacct_lookup(slurm_ctx *ctx, char *const *ids, size_t n, job_info **jobs,
                         size_t *n_jobs, size_t *cap)
{
    il_buf list = IL_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        il_buf_printf(&list, "%s%s", i ? "," : "", ids[i]);
    char *argv[] = {ctx->cfg->sacct_path, "--noheader", "--parsable2", "--allocations",
                    "--jobs", (char *)il_buf_cstr(&list), "--format", SACCT_FORMAT, NULL};
    cmd_result res;
    cmd_run(argv, ctx->cfg->command_timeout_s, &res);
    bool answered = true;
    if (accounting_disabled(&res)) {
        il_warn("sacct: SLURM accounting storage is disabled; not asking sacct again");
        atomic_store(&ctx->sacct_disabled, true);
    } else if (res.status != 0) {
        il_warn("sacct failed (%d): %s", res.status, il_buf_cstr(&res.err));
        answered = false;
    } else {
        char *save = NULL;
        for (char *line = strtok_r(res.out.data ? res.out.data : (char *)"", "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            job_info j;
            if (sacct_parse_line(line, ids, n, &j) == 0)
                keep_last(jobs, n_jobs, cap, &j);
        }
    }
    cmd_result_free(&res);
    il_buf_free(&list);
    return answered;
}

/* The ids no job of jobs[0..n_jobs) has; borrowed from ids. */
static size_t ids_not_in(char *const *ids, size_t n, const job_info *jobs, size_t n_jobs,
                         char **rest)
{
    size_t n_rest = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < n_jobs && strcmp(jobs[k].id, ids[i]) != 0)
            k++;
        if (k == n_jobs)
            rest[n_rest++] = ids[i];
    }
    return n_rest;
}

size_t fallback_jobs(slurm_ctx *ctx, char *const *ids, size_t n, job_info **out,
                     bool *answered)
{
    *out = NULL;
    *answered = true;
    if (n == 0)
        return 0;
    size_t found = 0, cap = 0;
    if (ctx->cfg->jobcomp_path && ctx->cfg->jobcomp_path[0])
        *answered = jobcomp_lookup(ctx->cfg->jobcomp_path, ids, n, out, &found, &cap);
    if (!ctx->cfg->sacct_path || !ctx->cfg->sacct_path[0] || atomic_load(&ctx->sacct_disabled))
        return found;
    char **rest = il_xcalloc(n, sizeof(*rest));
    size_t n_rest = ids_not_in(ids, n, *out, found, rest);
    /* sacct knows every job the log does not: it decides whether they
     * are unknown, even when the log could not be read. */
    if (n_rest > 0)
        *answered = sacct_lookup(ctx, rest, n_rest, out, &found, &cap);
    free(rest);
    return found;
}
