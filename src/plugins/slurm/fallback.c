/* fallback.c -- how a job ended after it left squeue (MinJobAge) before
 * any /status saw its final state: SLURM's job completion log
 * (JobCompPath, jobcomp/filetxt) or accounting (SacctPath).
 *
 * Only asked about jobs squeue no longer knows whose pod left no `done`
 * file (the supervisor's own outcome wins where there is one); what they
 * answer is recorded in job.json like a final state squeue showed, so a job
 * is looked up here at most once.  The completion log is a file read, not
 * a SLURM command; sacct is one more command, only in the rare call where
 * such jobs exist, and never again once it said accounting is disabled. */
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The log only grows; the jobs we look for ended minutes ago, at its end. */
#define JOBCOMP_TAIL_BYTES (8 * 1024 * 1024)

/* SLURM's local "2026-11-22T02:49:52" (as in jobs.c). */
static il_time local_time(const char *text, size_t len)
{
    char buf[32];
    struct tm tm;
    if (len >= sizeof(buf))
        return IL_TIME_ZERO;
    memcpy(buf, text, len);
    buf[len] = '\0';
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || *end)
        return IL_TIME_ZERO;
    tm.tm_isdst = -1;
    return (il_time){(int64_t)mktime(&tm), 0};
}

/* "code:signal" as a wait status. */
static int exit_status_of(const char *text)
{
    int code = 0, sig = 0;
    if (sscanf(text, "%d:%d", &code, &sig) < 1)
        return 0;
    return sig ? (sig & 0x7f) : (code & 0xff) << 8;
}

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

static bool wanted(const char *id, size_t len, char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(ids[i]) == len && memcmp(ids[i], id, len) == 0)
            return true;
    return false;
}

/* One jobcomp/filetxt line: "JobId=12 UserId=... Name=<uid> JobState=COMPLETED
 * ... StartTime=... EndTime=... ... ExitCode=0:0". */
static int parse_jobcomp_line(const char *line, char *const *ids, size_t n, job_info *out)
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
    out->start = start ? local_time(start, start_len) : IL_TIME_ZERO;
    out->end = end ? local_time(end, end_len) : IL_TIME_ZERO;
    return 0;
}

static void push(job_info **out, size_t *n, size_t *cap, const job_info *j)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *out = il_xrealloc(*out, *cap * sizeof(**out));
    }
    (*out)[(*n)++] = *j;
}

/* The last line for a job wins (a requeued job ends more than once). */
static size_t jobcomp_lookup(const char *path, char *const *ids, size_t n, job_info **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        il_warn("JobCompPath %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 0;
    }
    off_t from = st.st_size > JOBCOMP_TAIL_BYTES ? st.st_size - JOBCOMP_TAIL_BYTES : 0;
    size_t size = (size_t)(st.st_size - from);
    char *text = il_xmalloc(size + 1);
    ssize_t got = pread(fd, text, size, from);
    close(fd);
    text[got > 0 ? got : 0] = '\0';
    size_t found = 0, cap = 0;
    char *line = text, *save = NULL;
    if (from > 0)
        line = strchr(text, '\n');   /* skip the partial first line */
    for (line = line ? strtok_r(line, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        job_info j;
        if (parse_jobcomp_line(line, ids, n, &j) != 0)
            continue;
        for (size_t k = 0; k < found; k++) {
            if (strcmp((*out)[k].id, j.id) == 0) {
                job_info_free(&(*out)[k]);
                (*out)[k] = (*out)[--found];
                break;
            }
        }
        push(out, &found, &cap, &j);
    }
    free(text);
    return found;
}

/* sacct -X -n -P: "id|STATE[ by uid]|reason|code:sig|start|end|name". */
static ssize_t sacct_lookup(slurm_ctx *ctx, char *const *ids, size_t n, job_info **out)
{
    *out = NULL;
    il_buf list = IL_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        il_buf_printf(&list, "%s%s", i ? "," : "", ids[i]);
    char *argv[] = {ctx->cfg->sacct_path, "--noheader", "--parsable2", "--allocations",
                    "--jobs", (char *)il_buf_cstr(&list), "--format",
                    "JobID,State,Reason,ExitCode,Start,End,JobName", NULL};
    cmd_result res;
    cmd_run(argv, ctx->cfg->command_timeout_s, &res);
    ssize_t found = -1;
    if (strstr(il_buf_cstr(&res.err), "accounting storage is disabled") ||
        strstr(il_buf_cstr(&res.out), "accounting storage is disabled")) {
        il_warn("sacct: SLURM accounting storage is disabled; not asking sacct again");
        atomic_store(&ctx->sacct_disabled, true);
    } else if (res.status != 0) {
        il_warn("sacct failed (%d): %s", res.status, il_buf_cstr(&res.err));
    } else {
        size_t cap = 0;
        found = 0;
        char *save = NULL;
        for (char *line = strtok_r(res.out.data ? res.out.data : (char *)"", "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char *f[7];
            size_t k = 0;
            for (char *p = line; k < 7; k++) {
                f[k] = p;
                char *bar = k < 6 ? strchr(p, '|') : NULL;
                if (k < 6 && !bar)
                    break;
                if (bar) {
                    *bar = '\0';
                    p = bar + 1;
                }
            }
            if (k < 7)
                continue;
            f[1][strcspn(f[1], " ")] = '\0';   /* "CANCELLED by 0" */
            job_info j = {.id = il_xstrdup(f[0]), .state = il_xstrdup(f[1]),
                          .reason = il_xstrdup(f[2]), .exit_status = exit_status_of(f[3]),
                          .start = local_time(f[4], strlen(f[4])),
                          .end = local_time(f[5], strlen(f[5])), .name = il_xstrdup(f[6])};
            size_t n_found = (size_t)found;
            push(out, &n_found, &cap, &j);
            found = (ssize_t)n_found;
        }
    }
    cmd_result_free(&res);
    il_buf_free(&list);
    return found;
}

size_t fallback_jobs(slurm_ctx *ctx, char *const *ids, size_t n, job_info **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    if (ctx->cfg->jobcomp_path && ctx->cfg->jobcomp_path[0])
        return jobcomp_lookup(ctx->cfg->jobcomp_path, ids, n, out);
    if (ctx->cfg->sacct_path && ctx->cfg->sacct_path[0] && !atomic_load(&ctx->sacct_disabled)) {
        ssize_t found = sacct_lookup(ctx, ids, n, out);
        return found > 0 ? (size_t)found : 0;
    }
    return 0;
}
