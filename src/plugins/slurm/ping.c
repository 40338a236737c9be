/* ping.c -- the PingResponse: the partition's capacity from sinfo, and a
 * NoSchedule taint when SLURM cannot run new pods there (partition not up,
 * or no node of it in a state that accepts jobs); or, with
 * ResourceScriptPath, whatever the admin's script prints, validated.  The
 * configured Taints are added to either.  Nodes that cannot take jobs are
 * named with SLURM's reason ("n1 drained: Duplicate jobid") in a
 * "conditions" entry the virtual kubelet shows on its Node, and in the
 * message of pods whose jobs SLURM lost (slurm_node_problems). */
#include "slurm.h"

#include <limits.h>
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
    il_buf problems;          /* "node state: reason; ..." of unusable nodes */
} capacity;

/* A count sinfo printed, as a non-negative number; sums of them saturate
 * (a garbled or hostile line must not overflow the totals). */
static long long count_of(const char *text)
{
    long long n = strtoll(text, NULL, 10);   /* clamps to LLONG_MAX itself */
    return n < 0 ? 0 : n;
}

static void add_count(long long *total, long long n)
{
    *total = n > LLONG_MAX - *total ? LLONG_MAX : *total + n;
}

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
            add_count(&total, count_of(colon));
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

/* One "%P|%a|%T|%c|%m|%G[|%N|%E]" line (SINFO_FORMAT); the default
 * partition ends in '*'; the reason, last, may hold anything. */
static void add_node(char *line, const char *partition, capacity *cap)
{
    char *f[6], *save = NULL, *p = line;
    for (int i = 0; i < 6; i++, p = NULL)
        if (!(f[i] = strtok_r(p, "|", &save)))
            return;
    char *node = strtok_r(NULL, "|", &save);
    char *reason = node ? strtok_r(NULL, "", &save) : NULL;
    size_t len = strlen(f[0]);
    bool is_default = len > 0 && f[0][len - 1] == '*';
    if (is_default)
        f[0][len - 1] = '\0';
    if (partition && partition[0] ? strcmp(f[0], partition) != 0 : !is_default)
        return;
    cap->seen = true;
    cap->partition_up = strcmp(f[1], "up") == 0;
    add_count(&cap->cpus, count_of(f[3]));
    add_count(&cap->memory_mb, count_of(f[4]));
    add_count(&cap->gpus, gpus_in(f[5]));
    cap->usable_nodes += node_usable(f[2]);
    if (node && !node_usable(f[2]))
        il_buf_printf(&cap->problems, "%s%s %s: %s", cap->problems.len ? "; " : "", node, f[2],
                      reason && strcmp(reason, "none") != 0 ? reason : "no reason given");
}

static void add_nodes(const char *text, const char *partition, capacity *cap)
{
    char *copy = il_xstrdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        add_node(line, partition, cap);
    free(copy);
}

json_t *ping_from_sinfo(const char *text, const char *partition)
{
    capacity cap = {0};
    add_nodes(text, partition, &cap);
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
    if (cap.problems.len)
        json_object_set_new(resp, "conditions", json_pack(
            "[{s:s, s:s, s:s, s:s}]", "type", "SlurmNodesUnavailable", "status", "True",
            "reason", cap.usable_nodes ? "SomeNodesUnavailable" : "NoUsableNode",
            "message", il_buf_cstr(&cap.problems)));
    il_buf_free(&cap.problems);
    return resp;
}

/* ---- configured taints ------------------------------------------------- */

static const char *const taint_effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};

/* A taint as Kubernetes spells it: key and effect required, value optional;
 * fields given as Key or key (config files use Go names, PingResponse
 * lower case).  NULL with err. */
static json_t *taint_parse(json_t *t, const char *where, il_buf *err)
{
    const char *names[][2] = {{"Key", "key"}, {"Value", "value"}, {"Effect", "effect"}};
    json_t *v[3];
    for (size_t i = 0; i < 3; i++) {
        v[i] = json_object_get(t, names[i][0]);
        if (!v[i])
            v[i] = json_object_get(t, names[i][1]);
        if (v[i] && !json_is_string(v[i])) {
            il_buf_printf(err, "%s.%s: expected a string", where, names[i][0]);
            return NULL;
        }
    }
    bool effect_ok = false;
    for (size_t i = 0; v[2] && i < 3; i++)
        effect_ok |= strcmp(json_string_value(v[2]), taint_effects[i]) == 0;
    if (!json_is_object(t) || !v[0] || !json_string_value(v[0])[0] || !effect_ok) {
        il_buf_printf(err, "%s: expected {Key, Value, Effect} with a non-empty Key and Effect "
                      "NoSchedule, PreferNoSchedule or NoExecute", where);
        return NULL;
    }
    return json_pack("{s:O, s:s, s:O}", "key", v[0], "value",
                     v[1] ? json_string_value(v[1]) : "", "effect", v[2]);
}

/* A list of taints; where names it in errors.  NULL with err. */
static json_t *taints_parse(json_t *list, const char *where, il_buf *err)
{
    if (list && !json_is_null(list) && !json_is_array(list)) {
        il_buf_printf(err, "%s: expected a list of {Key, Value, Effect}", where);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        char *item = il_xasprintf("%s[%zu]", where, i);
        json_t *taint = taint_parse(t, item, err);
        free(item);
        if (!taint) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, taint);
    }
    return out;
}

json_t *ping_taints_load(json_t *list, il_buf *err)
{
    return taints_parse(list, "Taints", err);
}

void ping_add_taints(json_t *resp, json_t *taints)
{
    json_t *have = json_object_get(resp, "taints");
    if (!json_is_array(have)) {
        have = json_array();
        json_object_set_new(resp, "taints", have);
    }
    size_t i, j;
    json_t *t, *h;
    json_array_foreach(taints, i, t) {
        const char *key = json_string_value(json_object_get(t, "key"));
        for (j = 0; j < json_array_size(have);) {
            h = json_array_get(have, j);
            if (strcmp(json_string_value(json_object_get(h, "key")), key) == 0)
                json_array_remove(have, j);   /* the admin's taint wins */
            else
                j++;
        }
        json_array_append(have, t);
    }
}

/* ---- ResourceScriptPath ------------------------------------------------ */

static bool all_strings(json_t *obj, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, keys[i]);
        if (v && !json_is_string(v))
            return false;
    }
    return true;
}

/* resources {cpu, memory, pods: quantity strings, accelerators: [{resourceType,
 * available}]}; every part optional, as in upstream's PingResponse. */
static int check_resources(json_t *res, il_buf *err)
{
    static const char *const quantities[] = {"cpu", "memory", "pods"};
    static const char *const acc_keys[] = {"resourceType", "available"};
    json_t *acc = json_object_get(res, "accelerators");
    bool ok = json_is_object(res) && all_strings(res, quantities, 3) &&
              (!acc || json_is_array(acc));
    size_t i;
    json_t *a;
    json_array_foreach(acc, i, a)
        ok &= json_is_object(a) && all_strings(a, acc_keys, 2);
    if (!ok)
        il_buf_printf(err, "resources: expected {cpu, memory, pods: strings, accelerators: "
                      "[{resourceType, available: strings}]}");
    return ok ? 0 : -1;
}

json_t *ping_from_script(const char *text, il_buf *err)
{
    json_error_t jerr;
    json_t *resp = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(resp)) {
        il_buf_printf(err, "not a JSON object (%s)", resp ? "another JSON value" : jerr.text);
        json_decref(resp);
        return NULL;
    }
    json_t *status = json_object_get(resp, "status");
    json_t *res = json_object_get(resp, "resources");
    json_t *taints = NULL;
    if (status && !json_is_string(status)) {
        il_buf_printf(err, "status: expected a string");
    } else if ((!res || check_resources(res, err) == 0) &&
               (taints = taints_parse(json_object_get(resp, "taints"), "taints", err)) != NULL) {
        json_object_set_new(resp, "taints", taints);   /* normalized: key/value/effect */
        if (!status)
            json_object_set_new(resp, "status", json_string("ok"));
        return resp;
    }
    json_decref(resp);
    return NULL;
}

/* The script's answer, or NULL (logged) when it failed or printed junk. */
static json_t *ping_script(const slurm_ctx *ctx)
{
    char *argv[] = {ctx->cfg->resource_script_path, NULL};
    cmd_result res;
    il_buf err = IL_BUF_INIT;
    json_t *resp = NULL;
    if (cmd_run(argv, ctx->cfg->command_timeout_s, &res) != 0 || res.status != 0)
        il_buf_printf(&err, "exit %d: %s", res.status, il_buf_cstr(&res.err));
    else
        resp = ping_from_script(il_buf_cstr(&res.out), &err);
    if (!resp)
        il_error("ResourceScriptPath %s: %s", ctx->cfg->resource_script_path, il_buf_cstr(&err));
    il_buf_free(&err);
    cmd_result_free(&res);
    return resp;
}

#define SINFO_FORMAT "%P|%a|%T|%c|%m|%G|%N|%E"

char *slurm_node_problems(const slurm_ctx *ctx)
{
    char *argv[] = {ctx->cfg->sinfo_path, "--noheader", "--Node", "--format", SINFO_FORMAT,
                    NULL};
    cmd_result res;
    capacity cap = {0};
    if (cmd_run(argv, ctx->cfg->command_timeout_s, &res) == 0)
        add_nodes(il_buf_cstr(&res.out), ctx->cfg->partition, &cap);
    cmd_result_free(&res);
    char *problems = cap.problems.len ? il_xstrdup(il_buf_cstr(&cap.problems)) : NULL;
    il_buf_free(&cap.problems);
    return problems;
}

static json_t *ping_sinfo(const slurm_ctx *ctx)
{
    char *argv[] = {ctx->cfg->sinfo_path, "--noheader", "--Node", "--format", SINFO_FORMAT,
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

json_t *slurm_ping(void *vctx)
{
    const slurm_ctx *ctx = vctx;
    const char *script = ctx->cfg->resource_script_path;
    json_t *resp = script && script[0] ? ping_script(ctx) : ping_sinfo(ctx);
    if (!resp)   /* the plugin framework answers this with an error */
        return json_pack("{s:s, s:s}", "status", "error", "message",
                         "ResourceScriptPath failed; see the plugin's log");
    ping_add_taints(resp, ctx->cfg->taints);
    return resp;
}
