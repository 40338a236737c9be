/* output.c -- how pods look in tables: kubectl's STATUS, READY, RESTARTS
 * and AGE columns computed from a /pods entry, and the column layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "timeutil.h"
#include "wire.h"

/* The entry's PodStatus parsed, or false when the plugin sent none yet. */
static bool entry_status(json_t *entry, il_pod_status *st)
{
    json_t *status = json_object_get(entry, "status");
    char err[256];
    memset(st, 0, sizeof *st);
    return json_is_object(status) && il_pod_status_from_json(status, st, err, sizeof err) == 0;
}

/* The first init container that has not succeeded decides, as in kubectl. */
static bool init_status_text(const il_pod_status *st, size_t n_init_spec, char *out, size_t outlen)
{
    for (size_t i = 0; i < st->n_init_containers; i++) {
        const il_container_status *cs = &st->init_containers[i];
        if (cs->state == IL_STATE_TERMINATED && cs->exit_code == 0)
            continue;
        if (cs->state == IL_STATE_TERMINATED && cs->reason && *cs->reason)
            snprintf(out, outlen, "Init:%s", cs->reason);
        else if (cs->state == IL_STATE_TERMINATED)
            snprintf(out, outlen, cs->signal ? "Init:Signal:%d" : "Init:ExitCode:%d",
                     cs->signal ? cs->signal : cs->exit_code);
        else if (cs->state == IL_STATE_WAITING && cs->reason && *cs->reason &&
                 strcmp(cs->reason, "PodInitializing") != 0)
            snprintf(out, outlen, "Init:%s", cs->reason);
        else
            snprintf(out, outlen, "Init:%zu/%zu", i, n_init_spec);
        return true;
    }
    return false;
}

/* Containers from last to first, so the first one's state shows. */
static void container_status_text(const il_pod_status *st, char *out, size_t outlen)
{
    bool running_ready = false;
    for (size_t i = st->n_containers; i-- > 0;) {
        const il_container_status *cs = &st->containers[i];
        if (cs->state == IL_STATE_WAITING && cs->reason && *cs->reason)
            snprintf(out, outlen, "%s", cs->reason);
        else if (cs->state == IL_STATE_TERMINATED && cs->reason && *cs->reason)
            snprintf(out, outlen, "%s", cs->reason);
        else if (cs->state == IL_STATE_TERMINATED)
            snprintf(out, outlen, cs->signal ? "Signal:%d" : "ExitCode:%d",
                     cs->signal ? cs->signal : cs->exit_code);
        else if (cs->state == IL_STATE_RUNNING && cs->ready)
            running_ready = true;
    }
    if (running_ready && strcmp(out, "Completed") == 0)
        snprintf(out, outlen, "Running");
}

void cli_pod_status_text(json_t *entry, char *out, size_t outlen)
{
    const char *phase = json_string_value(json_object_get(entry, "phase"));
    snprintf(out, outlen, "%s", phase ? phase : "Unknown");
    il_pod_status st;
    if (!entry_status(entry, &st))
        return;
    json_t *spec = json_object_get(json_object_get(entry, "pod"), "spec");
    size_t n_init = json_array_size(json_object_get(spec, "initContainers"));
    if (!init_status_text(&st, n_init, out, outlen))
        container_status_text(&st, out, outlen);
    il_pod_status_free(&st);
}

void cli_pod_ready_text(json_t *entry, char *out, size_t outlen)
{
    json_t *spec = json_object_get(json_object_get(entry, "pod"), "spec");
    size_t total = json_array_size(json_object_get(spec, "containers")), ready = 0;
    il_pod_status st;
    if (entry_status(entry, &st)) {
        for (size_t i = 0; i < st.n_containers; i++)
            ready += st.containers[i].ready;
        il_pod_status_free(&st);
    }
    snprintf(out, outlen, "%zu/%zu", ready, total);
}

int cli_pod_restarts(json_t *entry)
{
    int restarts = 0;
    il_pod_status st;
    if (entry_status(entry, &st)) {
        for (size_t i = 0; i < st.n_containers; i++)
            restarts += st.containers[i].restart_count;
        il_pod_status_free(&st);
    }
    return restarts;
}

/* k8s.io/apimachinery duration.HumanDuration. */
static void human_duration(int64_t s, char *out, size_t outlen)
{
    int64_t m = s / 60, h = s / 3600, d = h / 24, y = d / 365;
    if (s < -1)
        snprintf(out, outlen, "<invalid>");
    else if (s < 0)
        snprintf(out, outlen, "0s");
    else if (s < 120)
        snprintf(out, outlen, "%llds", (long long)s);
    else if (m < 10 && s % 60)
        snprintf(out, outlen, "%lldm%llds", (long long)m, (long long)(s % 60));
    else if (m < 180)
        snprintf(out, outlen, "%lldm", (long long)m);
    else if (h < 8 && m % 60)
        snprintf(out, outlen, "%lldh%lldm", (long long)h, (long long)(m % 60));
    else if (h < 48)
        snprintf(out, outlen, "%lldh", (long long)h);
    else if (h < 192 && h % 24)
        snprintf(out, outlen, "%lldd%lldh", (long long)d, (long long)(h % 24));
    else if (d < 730)
        snprintf(out, outlen, "%lldd", (long long)d);
    else if (d < 2920 && d % 365)
        snprintf(out, outlen, "%lldy%lldd", (long long)y, (long long)(d % 365));
    else
        snprintf(out, outlen, "%lldy", (long long)y);
}

void cli_age_text(json_t *when, char *out, size_t outlen)
{
    il_time t = IL_TIME_ZERO;
    if (json_is_integer(when))
        t.sec = json_integer_value(when);
    else if (!json_is_string(when) || il_time_parse(json_string_value(when), &t) != 0)
        t = IL_TIME_ZERO;
    if (il_time_is_zero(t))
        snprintf(out, outlen, "<unknown>");
    else
        human_duration(il_time_now().sec - t.sec, out, outlen);
}

struct cli_table {
    size_t ncols, nrows, cap;
    char **cells;             /* nrows * ncols, row-major */
};

cli_table *cli_table_new(size_t ncols)
{
    cli_table *t = il_xcalloc(1, sizeof *t);
    t->ncols = ncols;
    return t;
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = il_xrealloc(t->cells, t->cap * t->ncols * sizeof(char *));
    }
    for (size_t c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = il_xstrdup(cells[c] ? cells[c] : "");
    t->nrows++;
}

void cli_table_print(const cli_table *t, FILE *out)
{
    size_t *width = il_xcalloc(t->ncols, sizeof(size_t));
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        size_t len = strlen(t->cells[i]);
        if (len > width[i % t->ncols])
            width[i % t->ncols] = len;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            if (c + 1 == t->ncols)
                fprintf(out, "%s\n", cell);
            else
                fprintf(out, "%-*s   ", (int)width[c], cell);
        }
    }
    free(width);
}

void cli_table_free(cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
