/* squeue.c -- the one batched squeue query per /status (by job id, or by
 * job name: the pod UID) and the parsing of its output. */
#include "slurm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* squeue -O with a '|' suffix per field prints each value unpadded.  The
 * name (ours: a UUID) comes last, so nothing after it can be shifted. */
#define SQUEUE_FORMAT "JobID:|,State:|,Reason:|,exit_code:|,StartTime:|,EndTime:|,Name:|"
#define SQUEUE_FIELDS 7

il_time job_time(const char *text, size_t len)
{
    char buf[32];
    if (len >= sizeof(buf))
        return IL_TIME_ZERO;
    memcpy(buf, text, len);
    buf[len] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || *end)
        return IL_TIME_ZERO;
    tm.tm_isdst = -1;
    return (il_time){(int64_t)mktime(&tm), 0};
}

int job_split_fields(char *line, char **fields, int n)
{
    for (int i = 0; i < n - 1; i++) {
        char *bar = strchr(line, '|');
        if (!bar)
            return -1;
        *bar = '\0';
        fields[i] = line;
        line = bar + 1;
    }
    fields[n - 1] = line;
    return 0;
}

/* ---- squeue -------------------------------------------------------------- */

/* squeue always loads every job from slurmctld and filters on its side;
 * its --jobs/--name filter walks the whole list of keys for every job
 * (locking the list at each step), so 10,000 keys over 10,000 jobs cost it
 * 1.3 s of CPU where printing every job costs 0.1 s.  Above this many keys
 * squeue prints every job (--all: hidden partitions too, as a --jobs
 * filter shows them) and the lines are picked here by key.  Measured over
 * 9,000 jobs: a 100-key filter costs squeue about what printing all does. */
#define SQUEUE_FILTER_MAX 100

/* The keys a call asked for, sorted for lookups; field: which squeue
 * field holds the key (0 the job id, SQUEUE_FIELDS - 1 the name). */
typedef struct key_set {
    const char **keys;
    size_t n;
    int field;
} key_set;

static int key_order(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool key_wanted(const key_set *want, const char *key)
{
    return !want || bsearch(&key, want->keys, want->n, sizeof(*want->keys), key_order);
}

/* 1: parsed into j; 0: a line of a job nobody asked about; -1: malformed. */
static int parse_line(char *line, const key_set *want, job_info *j)
{
    char *field[SQUEUE_FIELDS];
    if (job_split_fields(line, field, SQUEUE_FIELDS) != 0)
        return -1;
    char *name = field[SQUEUE_FIELDS - 1];
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '|')
        name[len - 1] = '\0';   /* the name's own suffix; a '|' inside it stays */
    if (!key_wanted(want, field[want ? want->field : 0]))
        return 0;
    memset(j, 0, sizeof(*j));
    j->id = il_xstrdup(field[0]);
    j->state = il_xstrdup(field[1]);
    j->reason = il_xstrdup(field[2]);
    j->exit_status = atoi(field[3]);
    j->start = job_time(field[4], strlen(field[4]));
    j->end = job_time(field[5], strlen(field[5]));
    j->name = il_xstrdup(field[6]);
    return 1;
}

static size_t parse_lines(const char *text, const key_set *want, job_info **out)
{
    char *copy = il_xstrdup(text), *save = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = il_xrealloc(*out, cap * sizeof(**out));
        }
        if (parse_line(line, want, &(*out)[n]) == 1)
            n++;
    }
    free(copy);
    return n;
}

size_t job_info_parse(const char *text, job_info **out)
{
    return parse_lines(text, NULL, out);
}

static ssize_t squeue_by(const slurm_config *cfg, const char *option, char *const *keys,
                         size_t n, job_info **out, il_buf *why)
{
    *out = NULL;
    if (n == 0)
        return 0;
    bool filter = n <= SQUEUE_FILTER_MAX;
    il_buf list = IL_BUF_INIT;
    for (size_t i = 0; filter && i < n; i++)
        il_buf_printf(&list, "%s%s", i ? "," : "", keys[i]);
    char *filtered[] = {cfg->squeue_path, "--noheader", "--states=all", (char *)option,
                        (char *)il_buf_cstr(&list), "--Format", SQUEUE_FORMAT, NULL};
    char *every[] = {cfg->squeue_path, "--noheader", "--states=all", "--all", "--Format",
                     SQUEUE_FORMAT, NULL};
    key_set want = {NULL, n, strcmp(option, "--name") == 0 ? SQUEUE_FIELDS - 1 : 0};
    if (!filter) {
        want.keys = il_xcalloc(n, sizeof(*want.keys));
        memcpy(want.keys, keys, n * sizeof(*want.keys));
        qsort(want.keys, n, sizeof(*want.keys), key_order);
    }
    cmd_result res;
    ssize_t found = -1;
    cmd_run(filter ? filtered : every, cfg->command_timeout_s, &res);
    if (res.status == 0) {
        found = (ssize_t)parse_lines(il_buf_cstr(&res.out), filter ? NULL : &want, out);
    } else if (strstr(il_buf_cstr(&res.err), "Invalid job id")) {
        found = 0;   /* every id is unknown to SLURM: that is an answer */
    } else {
        il_warn("squeue failed (%d): %s", res.status, il_buf_cstr(&res.err));
        if (why)
            il_buf_printf(why, "squeue failed (exit %d): %s", res.status,
                          il_buf_cstr(&res.err));
    }
    cmd_result_free(&res);
    il_buf_free(&list);
    free(want.keys);
    return found;
}

ssize_t squeue_jobs(const slurm_config *cfg, char *const *ids, size_t n, job_info **out)
{
    return squeue_by(cfg, "--jobs", ids, n, out, NULL);
}

ssize_t squeue_names(const slurm_config *cfg, char *const *names, size_t n, job_info **out)
{
    return squeue_by(cfg, "--name", names, n, out, NULL);
}

ssize_t squeue_jobs_why(const slurm_config *cfg, char *const *ids, size_t n, job_info **out,
                        il_buf *why)
{
    return squeue_by(cfg, "--jobs", ids, n, out, why);
}

ssize_t squeue_names_why(const slurm_config *cfg, char *const *names, size_t n,
                         job_info **out, il_buf *why)
{
    return squeue_by(cfg, "--name", names, n, out, why);
}
