/* fuzz_slurm_output.c -- what interlink-slurm reads back from SLURM:
 * squeue -O lines, sacct --parsable2 lines, the jobcomp log, sinfo for
 * ping, and SLURM's times.  SLURM output is trusted less than it looks: a
 * job name or reason is user text and may hold '|' or newlines. */
#include "fuzz.h"

#include "slurm.h"

static void lines(const char *text)
{
    char *ids[] = {"1", "42", "1234567", NULL};
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        abort();
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        job_info j;
        if (jobcomp_parse_line(line, ids, 3, &j) == 0)
            job_info_free(&j);
        if (sacct_parse_line(line, ids, 3, &j) == 0)   /* modifies the line: last */
            job_info_free(&j);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    job_info *jobs = NULL;
    size_t n = job_info_parse(text, &jobs);
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(jobs[i].id != NULL);
        job_info_free(&jobs[i]);
    }
    free(jobs);
    json_t *ping = ping_from_sinfo(text, "debug");
    json_decref(ping);
    il_buf err = IL_BUF_INIT;
    json_t *script = ping_from_script(text, &err);
    json_decref(script);
    il_buf_free(&err);
    (void)job_time(text, strlen(text));
    lines(text);
    free(text);
    return 0;
}
