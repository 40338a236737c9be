/* resources.c -- what one batch job must ask for to run a whole pod.
 *
 * The pod's containers run in parallel inside the one allocation, so the
 * job needs their sum; init containers run one at a time before them, so
 * only the largest counts; the job gets the larger of the two.  Per
 * container the larger of request and limit counts (a limit is what the
 * container may use; a request alone is what it said it needs).  Amounts
 * nobody gave come from the backend's defaults (a SLURM flavor's
 * CPUDefault, MemoryDefault), else are left to the batch system's. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

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

/* given_gpus: the defaults ask for GPUs themselves, so a GPU resource
 * without a mapping is their business, not an error. */
static int add_gres(const il_pod *pod, char **gres_map, const char *resource, bool given_gpus,
                    job_resources *out, il_buf *err)
{
    const char *gres = gres_for(gres_map, resource);
    if (!gres && given_gpus && is_gpu_resource(resource)) {
        out->gpu = true;
        return 0;
    }
    if (!gres) {
        il_buf_printf(err, "resource %s has no mapping to a batch resource (config GresResources)",
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
                    bool given_gpus, job_resources *out, il_buf *err)
{
    const il_resource_list *lists[] = {&c->resources.requests, &c->resources.limits};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->n_extended; i++)
            if (add_gres(pod, gres_map, lists[l]->extended[i].key, given_gpus, out, err) != 0)
                return -1;
    return 0;
}

int job_resources_compute(const il_pod *pod, char **gres_map, const job_defaults *defaults,
                          job_resources *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    bool given_gpus = defaults && defaults->gpus;
    out->cpu_milli = pod_amount(pod, cpu_of, NULL);
    out->memory_bytes = pod_amount(pod, memory_of, NULL);
    if (out->cpu_milli < 0 && defaults)
        out->cpu_milli = defaults->cpu_milli;
    if (out->memory_bytes < 0 && defaults)
        out->memory_bytes = defaults->memory_bytes;
    for (size_t i = 0; i < pod->n_init_containers; i++)
        if (ctr_gres(pod, &pod->init_containers[i], gres_map, given_gpus, out, err) != 0)
            return -1;
    for (size_t i = 0; i < pod->n_containers; i++)
        if (ctr_gres(pod, &pod->containers[i], gres_map, given_gpus, out, err) != 0)
            return -1;
    if (given_gpus)
        out->gpu = true;   /* the defaults' GPUs need the runtime's GPU switch as well */
    return 0;
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
