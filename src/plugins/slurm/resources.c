/* resources.c -- what one job must ask SLURM for to run a whole pod.
 *
 * The pod's containers run in parallel inside the one allocation, so the
 * job needs their sum; init containers run one at a time before them, so
 * only the largest counts; the job gets the larger of the two.  Per
 * container the larger of request and limit counts (a limit is what the
 * container may use; a request alone is what it said it needs).  Amounts
 * nobody gave come from the pod's flavor (CPUDefault, MemoryDefault), else
 * are left to SLURM's defaults (DefMemPerCPU, one CPU). */
#include "slurm.h"

#include <stdlib.h>
#include <string.h>

#define MIB (1024 * 1024)

static int64_t larger(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* -1 + x = x: "not given" does not count as zero in a sum. */
static int64_t add(int64_t sum, int64_t x)
{
    return x < 0 ? sum : sum < 0 ? x : sum + x;
}

static int64_t extended_value(const il_resource_list *rl, const char *name)
{
    for (size_t i = 0; i < rl->n_extended; i++)
        if (strcmp(rl->extended[i].key, name) == 0)
            return strtoll(rl->extended[i].value, NULL, 10);
    return -1;
}

static int64_t ctr_extended(const il_container *c, const char *name)
{
    return larger(extended_value(&c->resources.requests, name),
                  extended_value(&c->resources.limits, name));
}

/* The pod-level amount of one quantity, by the parallel/serial rule. */
typedef int64_t (*ctr_amount_fn)(const il_container *c, const void *arg);

static int64_t pod_amount(const il_pod *pod, ctr_amount_fn amount, const void *arg)
{
    int64_t parallel = -1, serial = -1;
    for (size_t i = 0; i < pod->n_containers; i++)
        parallel = add(parallel, amount(&pod->containers[i], arg));
    for (size_t i = 0; i < pod->n_init_containers; i++)
        serial = larger(serial, amount(&pod->init_containers[i], arg));
    return larger(parallel, serial);
}

static int64_t cpu_of(const il_container *c, const void *unused)
{
    (void)unused;
    return larger(c->resources.requests.cpu_milli, c->resources.limits.cpu_milli);
}

static int64_t memory_of(const il_container *c, const void *unused)
{
    (void)unused;
    return larger(c->resources.requests.memory_bytes, c->resources.limits.memory_bytes);
}

static int64_t extended_of(const il_container *c, const void *name)
{
    return ctr_extended(c, name);
}

/* The GRES name mapped to a Kubernetes resource, or NULL. */
static const char *gres_for(char **gres_map, const char *resource)
{
    size_t len = strlen(resource);
    for (char **m = gres_map; m && *m; m++)
        if (strncmp(*m, resource, len) == 0 && (*m)[len] == '=')
            return *m + len + 1;
    return NULL;
}

static bool is_gpu_resource(const char *resource)
{
    return strstr(resource, "/gpu") != NULL;
}

/* flavor_gpus: the pod's flavor asks for GPUs itself, so a GPU resource
 * without a mapping is its business, not an error. */
static int add_gres(const il_pod *pod, char **gres_map, const char *resource, bool flavor_gpus,
                    job_resources *out, il_buf *err)
{
    const char *gres = gres_for(gres_map, resource);
    if (!gres && flavor_gpus && is_gpu_resource(resource)) {
        out->gpu = true;
        return 0;
    }
    if (!gres) {
        il_buf_printf(err, "resource %s has no SLURM GRES mapping (config GresResources)",
                      resource);
        return -1;
    }
    for (size_t i = 0; i < out->n_gres; i++)
        if (strcmp(out->gres[i].name, gres) == 0)
            return 0;   /* counted already, from another container or list */
    int64_t count = pod_amount(pod, extended_of, resource);
    if (count <= 0)
        return 0;
    out->gres = il_xrealloc(out->gres, (out->n_gres + 1) * sizeof(*out->gres));
    out->gres[out->n_gres].name = il_xstrdup(gres);
    out->gres[out->n_gres++].count = count;
    if (is_gpu_resource(resource))
        out->gpu = true;
    return 0;
}

static int ctr_gres(const il_pod *pod, const il_container *c, char **gres_map,
                    bool flavor_gpus, job_resources *out, il_buf *err)
{
    const il_resource_list *lists[] = {&c->resources.requests, &c->resources.limits};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->n_extended; i++)
            if (add_gres(pod, gres_map, lists[l]->extended[i].key, flavor_gpus, out, err) != 0)
                return -1;
    return 0;
}

int job_resources_for_flavor(const il_pod *pod, char **gres_map, const slurm_flavor *flavor,
                             job_resources *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    bool flavor_gpus = flavor && flavor->gpus > 0;
    out->cpu_milli = pod_amount(pod, cpu_of, NULL);
    out->memory_bytes = pod_amount(pod, memory_of, NULL);
    /* Upstream computes these defaults and then ignores them. */
    if (out->cpu_milli < 0 && flavor)
        out->cpu_milli = flavor->cpu_milli;
    if (out->memory_bytes < 0 && flavor)
        out->memory_bytes = flavor->memory_bytes;
    for (size_t i = 0; i < pod->n_init_containers; i++)
        if (ctr_gres(pod, &pod->init_containers[i], gres_map, flavor_gpus, out, err) != 0)
            return -1;
    for (size_t i = 0; i < pod->n_containers; i++)
        if (ctr_gres(pod, &pod->containers[i], gres_map, flavor_gpus, out, err) != 0)
            return -1;
    if (flavor_gpus)
        out->gpu = true;   /* the flavor's GPUs need the runtime's GPU switch as well */
    return 0;
}

int job_resources_compute(const il_pod *pod, char **gres_map, job_resources *out,
                          il_buf *err)
{
    return job_resources_for_flavor(pod, gres_map, NULL, out, err);
}

int64_t pod_gpu_count(const il_pod *pod)
{
    const char *const gpu_resources[] = {"nvidia.com/gpu", "amd.com/gpu"};
    int64_t total = 0;
    for (size_t i = 0; i < 2; i++) {
        int64_t n = pod_amount(pod, extended_of, gpu_resources[i]);
        total += n > 0 ? n : 0;
    }
    return total;
}

void job_resources_free(job_resources *r)
{
    for (size_t i = 0; i < r->n_gres; i++)
        free(r->gres[i].name);
    free(r->gres);
    memset(r, 0, sizeof(*r));
}

void job_resources_flags(const job_resources *r, strvec *out)
{
    if (r->cpu_milli > 0)
        rn_strvec_pushf(out, "--cpus-per-task=%lld", (long long)((r->cpu_milli + 999) / 1000));
    if (r->memory_bytes > 0)
        rn_strvec_pushf(out, "--mem=%lldM", (long long)((r->memory_bytes + MIB - 1) / MIB));
    if (r->n_gres == 0)
        return;
    il_buf gres = IL_BUF_INIT;
    for (size_t i = 0; i < r->n_gres; i++)
        il_buf_printf(&gres, "%s%s:%lld", i ? "," : "", r->gres[i].name,
                      (long long)r->gres[i].count);
    rn_strvec_pushf(out, "--gres=%s", il_buf_cstr(&gres));
    il_buf_free(&gres);
}
