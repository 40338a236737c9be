/* flavor.c -- upstream's Flavors: named sets of sbatch flags and resource
 * defaults an admin offers, picked per pod (annotation, GPU count, or
 * DefaultFlavor); and the run-as-uid keys (DefaultUID, a flavor's UID, the
 * pod's runAsUser), which are checked here because a flavor carries one.
 *
 * Flavor flags are admin config, but they still go through the flags
 * filter at load: a flag that breaks the plugin's own job handling
 * (--job-name, --output, ...) makes the whole config invalid at start-up
 * rather than every pod of that flavor fail later.  Identity and escape
 * flags (--uid, --chdir, ...) are the admin's to use.
 *
 * Better than upstream: CPUDefault and MemoryDefault really apply when no
 * container gives an amount (upstream computes them and then emits
 * --cpus-per-task=1 --mem=1 anyway), and an unknown flavor name is a 400
 * naming the known ones instead of a silent fallback. */
#include "slurm.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "quantity.h"

#define FLAVOR_ANNOTATION "slurm-job.vk.io/flavor"

void flavors_free(slurm_flavor *flavors, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(flavors[i].name);
        free(flavors[i].description);
        rn_strvec_free(&flavors[i].flags);
    }
    free(flavors);
}

/* A quantity key of a flavor ("4", "500m", "16Gi"); absent: -1. */
static int flavor_quantity(json_t *obj, const char *key, bool milli, const char *flavor,
                           int64_t *out, il_buf *err)
{
    json_t *v = json_object_get(obj, key);
    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    char *text = il_config_scalar_text(v);
    int rc = text ? (milli ? il_quantity_milli(text, out) : il_quantity_value(text, out)) : -1;
    if (rc != 0)
        il_buf_printf(err, "Flavors %s: %s: expected a quantity (\"4\", \"500m\", \"16Gi\")",
                      flavor, key);
    free(text);
    return rc;
}

/* GPUs asked by canonical flags: --gres=gpu:N / gpu:type:N entries, --gpus=N. */
static int64_t flags_gpus(const strvec *flags)
{
    int64_t total = 0;
    for (size_t i = 0; i < flags->n; i++) {
        const char *f = flags->v[i];
        if (strncmp(f, "--gpus=", 7) == 0) {
            const char *colon = strrchr(f, ':');
            total += strtoll(colon ? colon + 1 : f + 7, NULL, 10);
        } else if (strncmp(f, "--gres=", 7) == 0) {
            for (const char *p = f + 7; *p; p += strcspn(p, ","), p += *p == ',') {
                size_t len = strcspn(p, ",");
                if (strncmp(p, "gpu", 3) != 0 || (p[3] != ':' && p + 3 != p + len))
                    continue;
                const char *count = p + len;
                while (count > p && count[-1] != ':')
                    count--;
                char *end;
                long long n = count > p ? strtoll(count, &end, 10) : 0;
                total += count > p && end > count ? n : 1;   /* "gpu", "gpu:a100": one */
            }
        }
    }
    return total;
}

/* SlurmFlags: a list of strings, each split shell-style ("-p gpu" is two
 * words, as upstream's one #SBATCH line), then filtered as admin flags. */
static int flavor_flags(json_t *list, const char *flavor, strvec *out, il_buf *err)
{
    if (list && !json_is_array(list)) {
        il_buf_printf(err, "Flavors %s: SlurmFlags: expected a list of strings", flavor);
        return -1;
    }
    char *what = il_xasprintf("Flavors %s: SlurmFlags", flavor);
    strvec tokens = {0};
    size_t i;
    json_t *item;
    int rc = 0;
    json_array_foreach(list, i, item) {
        if (!json_is_string(item)) {
            il_buf_printf(err, "%s[%zu]: expected a string", what, i);
            rc = -1;
            break;
        }
        if ((rc = flags_tokenize_what(json_string_value(item), what, &tokens, err)) != 0)
            break;
    }
    if (rc == 0)
        rc = flags_filter_trusted(&tokens, what, out, err);
    rn_strvec_free(&tokens);
    free(what);
    return rc;
}

static int flavor_parse(json_t *obj, size_t index, slurm_flavor *f, il_buf *err)
{
    memset(f, 0, sizeof(*f));
    json_t *name = json_object_get(obj, "Name");
    if (!json_is_object(obj) || !json_is_string(name) || !json_string_value(name)[0]) {
        il_buf_printf(err, "Flavors[%zu]: expected a mapping with a non-empty Name", index);
        return -1;
    }
    f->name = il_xstrdup(json_string_value(name));
    f->description = il_config_scalar_text(json_object_get(obj, "Description"));
    const char *known[] = {"Name", "Description", "CPUDefault", "MemoryDefault", "UID",
                           "SlurmFlags"};
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        bool found = false;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            found |= strcmp(key, known[k]) == 0;
        if (!found)
            il_warn("Flavors %s: unknown key %s ignored", f->name, key);
    }
    char *uid = il_config_scalar_text(json_object_get(obj, "UID"));
    char *what = il_xasprintf("Flavors %s: UID", f->name);
    int uid_rc = uid_config_check(uid, what, err);
    free(what);
    free(uid);
    if (uid_rc != 0)
        return -1;
    if (flavor_quantity(obj, "CPUDefault", true, f->name, &f->cpu_milli, err) != 0 ||
        flavor_quantity(obj, "MemoryDefault", false, f->name, &f->memory_bytes, err) != 0 ||
        flavor_flags(json_object_get(obj, "SlurmFlags"), f->name, &f->flags, err) != 0)
        return -1;
    f->gpus = flags_gpus(&f->flags);
    return 0;
}

static const slurm_flavor *flavor_named(const slurm_flavor *flavors, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(flavors[i].name, name) == 0)
            return &flavors[i];
    return NULL;
}

int flavors_load(json_t *list, const char *default_flavor, slurm_flavor **out, size_t *n,
                 il_buf *err)
{
    *out = NULL;
    *n = 0;
    if (list && !json_is_null(list) && !json_is_array(list)) {
        il_buf_printf(err, "Flavors: expected a list of {Name, Description, CPUDefault, "
                      "MemoryDefault, UID, SlurmFlags}");
        return -1;
    }
    size_t count = json_array_size(list);
    slurm_flavor *flavors = il_xcalloc(count ? count : 1, sizeof(*flavors));
    int rc = 0;
    size_t i;
    for (i = 0; i < count && rc == 0; i++) {
        rc = flavor_parse(json_array_get(list, i), i, &flavors[i], err);
        if (rc == 0 && flavor_named(flavors, i, flavors[i].name)) {
            il_buf_printf(err, "Flavors: %s is defined twice", flavors[i].name);
            rc = -1;
        }
    }
    if (rc == 0 && default_flavor && default_flavor[0] &&
        !flavor_named(flavors, count, default_flavor)) {
        il_buf_printf(err, "DefaultFlavor %s is not one of Flavors", default_flavor);
        rc = -1;
    }
    if (rc != 0) {
        flavors_free(flavors, i);
        return -1;
    }
    *out = flavors;
    *n = count;
    return 0;
}

/* The GPU flavor for a pod asking for gpus: an exact count first, else
 * the first flavor asking for any. */
static const slurm_flavor *gpu_flavor(const slurm_config *cfg, int64_t gpus)
{
    const slurm_flavor *any = NULL;
    for (size_t i = 0; i < cfg->n_flavors; i++) {
        if (cfg->flavors[i].gpus == gpus)
            return &cfg->flavors[i];
        if (cfg->flavors[i].gpus > 0 && !any)
            any = &cfg->flavors[i];
    }
    return any;
}

static void list_names(const slurm_config *cfg, il_buf *out)
{
    for (size_t i = 0; i < cfg->n_flavors; i++)
        il_buf_printf(out, "%s%s", i ? ", " : "", cfg->flavors[i].name);
    if (cfg->n_flavors == 0)
        il_buf_puts(out, "none configured");
}

int flavor_for_pod(const slurm_config *cfg, const il_pod *pod, const slurm_flavor **out,
                   il_buf *err)
{
    const char *asked = il_pod_annotation(pod, FLAVOR_ANNOTATION);
    *out = NULL;
    if (asked) {
        *out = flavor_named(cfg->flavors, cfg->n_flavors, asked);
        if (!*out) {
            il_buf_printf(err, FLAVOR_ANNOTATION ": unknown flavor \"%s\" (known: ", asked);
            list_names(cfg, err);
            il_buf_puts(err, ")");
            return -1;
        }
        return 0;
    }
    int64_t gpus = pod_gpu_count(pod);
    if (gpus > 0)
        *out = gpu_flavor(cfg, gpus);
    if (!*out && cfg->default_flavor && cfg->default_flavor[0])
        *out = flavor_named(cfg->flavors, cfg->n_flavors, cfg->default_flavor);
    return 0;
}

static int refuse_uid(const char *where, long long uid, il_buf *err)
{
    il_buf_printf(err, "%s %lld: interlink-slurm runs every job as its own user (uid %lld) and "
                  "cannot run it as another user (see README)", where, uid,
                  (long long)geteuid());
    return -1;
}

int uid_config_check(const char *uid, const char *what, il_buf *err)
{
    if (!uid || !uid[0])
        return 0;
    char *end;
    long long value = strtoll(uid, &end, 10);
    if (*end || end == uid) {
        il_buf_printf(err, "%s \"%s\": expected a number", what, uid);
        return -1;
    }
    return value == (long long)geteuid() ? 0 : refuse_uid(what, value, err);
}

int uid_check(const il_pod *pod, il_buf *err)
{
    const char *where;
    int64_t uid = pod_run_as_user(pod, &where);
    return uid >= 0 && uid != (int64_t)geteuid() ? refuse_uid(where, (long long)uid, err) : 0;
}

int job_resources_for_flavor(const il_pod *pod, char **gres_map, const slurm_flavor *flavor,
                             job_resources *out, il_buf *err)
{
    /* Upstream computes these defaults and then ignores them. */
    job_defaults d = {.cpu_milli = -1, .memory_bytes = -1};
    if (flavor)
        d = (job_defaults){flavor->cpu_milli, flavor->memory_bytes, flavor->gpus > 0};
    return job_resources_compute(pod, gres_map, &d, out, err);
}
