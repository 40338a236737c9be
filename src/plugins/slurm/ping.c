/* ping.c -- the PingResponse: the partition's capacity from sinfo, and a
 * NoSchedule taint when SLURM cannot run new pods there (partition not up,
 * or no node of it in a state that accepts jobs). */
#include "slurm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define TAINT_KEY "interlink.slurm/partition-unavailable"

typedef struct capacity {
    long long cpus;
    long long memory_mb;
    long long gpus;
    int usable_nodes;
    bool partition_up;
    bool seen;
} capacity;

/* "gpu:4", "gpu:a100:2(S:0-1)", several comma-separated: the gpu count. */
static long long gpus_in(const char *gres)
{
    long long total = 0;
    for (const char *p = strstr(gres, "gpu"); p; p = strstr(p + 3, "gpu")) {
        const char *end = p + strcspn(p, ",(");
        const char *colon = end;
        while (colon > p && colon[-1] != ':')
            colon--;
        if (colon > p)
            total += strtoll(colon, NULL, 10);
    }
    return total;
}

/* Node states that can still take a job ("idle", "mixed", "allocated+",
 * ...); down, drained, draining, failing and unknown cannot. */
static bool node_usable(const char *state)
{
    const char *bad[] = {"down", "drain", "fail", "unk", "maint", "inval", "power", "reserved"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strstr(state, bad[i]))
            return false;
    return true;
}

/* One "%P|%a|%T|%c|%m|%G" line; the default partition ends in '*'. */
static void add_node(char *line, const char *partition, capacity *cap)
{
    char *f[6], *save = NULL, *p = line;
    for (int i = 0; i < 6; i++, p = NULL)
        if (!(f[i] = strtok_r(p, "|", &save)))
            return;
    size_t len = strlen(f[0]);
    bool is_default = len > 0 && f[0][len - 1] == '*';
    if (is_default)
        f[0][len - 1] = '\0';
    if (partition && partition[0] ? strcmp(f[0], partition) != 0 : !is_default)
        return;
    cap->seen = true;
    cap->partition_up = strcmp(f[1], "up") == 0;
    cap->cpus += strtoll(f[3], NULL, 10);
    cap->memory_mb += strtoll(f[4], NULL, 10);
    cap->gpus += gpus_in(f[5]);
    cap->usable_nodes += node_usable(f[2]);
}

json_t *ping_from_sinfo(const char *text, const char *partition)
{
    capacity cap = {0};
    char *copy = il_xstrdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        add_node(line, partition, &cap);
    free(copy);
    char cpu[32], memory[32], gpus[32];
    snprintf(cpu, sizeof(cpu), "%lld", cap.cpus);
    snprintf(memory, sizeof(memory), "%lldMi", cap.memory_mb);
    snprintf(gpus, sizeof(gpus), "%lld", cap.gpus);
    json_t *resp = json_pack("{s:s, s:{s:s, s:s, s:s, s:[{s:s, s:s}]}, s:[]}", "status", "ok",
                             "resources", "cpu", cpu, "memory", memory, "pods", "1000",
                             "accelerators", "resourceType", "nvidia.com/gpu", "available", gpus,
                             "taints");
    if (!cap.seen || !cap.partition_up || cap.usable_nodes == 0) {
        const char *why = !cap.seen ? "unknown" : !cap.partition_up ? "down" : "no-usable-node";
        json_array_append_new(json_object_get(resp, "taints"),
                              json_pack("{s:s, s:s, s:s}", "key", TAINT_KEY, "value", why,
                                        "effect", "NoSchedule"));
    }
    return resp;
}

json_t *slurm_ping(void *vctx)
{
    const slurm_ctx *ctx = vctx;
    char *argv[] = {ctx->cfg->sinfo_path, "--noheader", "--Node", "--format", "%P|%a|%T|%c|%m|%G",
                    NULL};
    cmd_result res;
    json_t *resp;
    if (cmd_run(argv, ctx->cfg->command_timeout_s, &res) == 0) {
        resp = ping_from_sinfo(il_buf_cstr(&res.out), ctx->cfg->partition);
    } else {
        il_warn("sinfo failed (%d): %s", res.status, il_buf_cstr(&res.err));
        resp = ping_from_sinfo("", ctx->cfg->partition);   /* tainted: SLURM is unreachable */
    }
    cmd_result_free(&res);
    return resp;
}
