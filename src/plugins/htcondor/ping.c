/* ping.c -- the PingResponse from the pool: condor_status's slots summed
 * (a partitionable slot reports what is left, its dynamic slots what they
 * took, so the sum is the pool's total), and a NoSchedule taint when the
 * pool has no slot at all.  condor_status failing answers 503. */
#include "htcondor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define TAINT_KEY "interlink.htcondor/no-slots"

/* An integer field, or 0 for "undefined". */
static long long field(char **save)
{
    const char *f = strtok_r(NULL, " \t", save);
    return f ? strtoll(f, NULL, 10) : 0;
}

json_t *htc_ping_from_status(const char *text)
{
    long long cpus = 0, memory_mb = 0, gpus = 0, slots = 0;
    char *copy = il_xstrdup(text), *lines = NULL;
    for (char *line = strtok_r(copy, "\n", &lines); line; line = strtok_r(NULL, "\n", &lines)) {
        char *save = NULL;
        const char *first = strtok_r(line, " \t", &save);
        if (!first)
            continue;
        slots++;
        cpus += strtoll(first, NULL, 10);
        memory_mb += field(&save);
        gpus += field(&save);
    }
    free(copy);
    char cpu[32], memory[32], gpu[32];
    snprintf(cpu, sizeof(cpu), "%lld", cpus);
    snprintf(memory, sizeof(memory), "%lldMi", memory_mb);
    snprintf(gpu, sizeof(gpu), "%lld", gpus);
    json_t *resp = json_pack("{s:s, s:{s:s, s:s, s:s, s:[{s:s, s:s}]}, s:[]}", "status", "ok",
                             "resources", "cpu", cpu, "memory", memory, "pods", "1000",
                             "accelerators", "resourceType", "nvidia.com/gpu", "available", gpu,
                             "taints");
    if (slots == 0)
        json_array_append_new(json_object_get(resp, "taints"),
                              json_pack("{s:s, s:s, s:s}", "key", TAINT_KEY, "value", "true",
                                        "effect", "NoSchedule"));
    return resp;
}

json_t *htc_ping(void *vctx)
{
    const htc_ctx *ctx = vctx;
    strvec argv = {0};
    htc_tool_argv(ctx->cfg, "condor_status", false, true, &argv);
    rn_strvec_push(&argv, "-af");
    rn_strvec_push(&argv, "Cpus");
    rn_strvec_push(&argv, "Memory");
    rn_strvec_push(&argv, "GPUs");
    cmd_result res;
    json_t *resp;
    if (cmd_run(argv.v, ctx->cfg->command_timeout_s, &res) == 0) {
        resp = htc_ping_from_status(il_buf_cstr(&res.out));
    } else {
        char *msg = il_xasprintf("condor_status failed (exit %d): %s", res.status,
                                 il_buf_cstr(&res.err));
        resp = json_pack("{s:s, s:s}", "status", "error", "message", msg);
        free(msg);
    }
    cmd_result_free(&res);
    rn_strvec_free(&argv);
    return resp;
}
