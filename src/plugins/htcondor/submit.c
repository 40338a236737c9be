/* submit.c -- the submit description (job.sub) of a pod.
 *
 * The submit language expands $(...) macros in every value, continues a
 * line that ends in a backslash, and takes "+Name = value" as a ClassAd
 * attribute, so a value written carelessly is code.  Hence pod data stays
 * out of job.sub: the pod itself (commands, env, volumes) reaches the job
 * through pod.json, which only the supervisor reads.  What job.sub does say
 * is numbers, the pod UID (a checked UUID), paths the config restricts to a
 * plain alphabet, and three annotations an admin allows one by one:
 *   accounting-group  a name from the AccountingGroups allow-list
 *   requirements      a ClassAd expression, AllowRequirements, checked to
 *                     be one balanced expression in parentheses
 *   attributes        {"Name": value} for names in AllowedAttributes,
 *                     strings as ClassAd string literals
 * and none of them may hold '$' or a control character. */
#include "htcondor.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIB (1024 * 1024)

static int64_t larger(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t ctr_disk(const il_container *c)
{
    return larger(c->resources.requests.ephemeral_bytes, c->resources.limits.ephemeral_bytes);
}

/* ephemeral-storage by the parallel/serial rule; -1: nobody said. */
static int64_t pod_disk(const il_pod *pod)
{
    int64_t parallel = -1, serial = -1;
    for (size_t i = 0; i < pod->n_containers; i++) {
        int64_t d = ctr_disk(&pod->containers[i]);
        parallel = d < 0 ? parallel : parallel < 0 ? d : parallel + d;
    }
    for (size_t i = 0; i < pod->n_init_containers; i++)
        serial = larger(serial, ctr_disk(&pod->init_containers[i]));
    return larger(parallel, serial);
}

static bool is_gpu(const char *resource)
{
    return strcmp(resource, "nvidia.com/gpu") == 0 || strcmp(resource, "amd.com/gpu") == 0;
}

/* An extended resource HTCondor cannot be asked for, or NULL. */
static const char *unsupported_resource(const il_container *c)
{
    const il_resource_list *lists[] = {&c->resources.requests, &c->resources.limits};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->n_extended; i++)
            if (!is_gpu(lists[l]->extended[i].key))
                return lists[l]->extended[i].key;
    return NULL;
}

int htc_pod_request(const htc_config *cfg, const il_pod *pod, htc_request *out, il_buf *err)
{
    memset(out, 0, sizeof(*out));
    const il_container *groups[] = {pod->init_containers, pod->containers};
    size_t counts[] = {pod->n_init_containers, pod->n_containers};
    for (size_t g = 0; g < 2; g++) {
        for (size_t i = 0; i < counts[g]; i++) {
            const char *bad = unsupported_resource(&groups[g][i]);
            if (bad) {
                il_buf_printf(err, "resource %s: HTCondor jobs can ask for cpu, memory, "
                              "ephemeral-storage, nvidia.com/gpu and amd.com/gpu only", bad);
                return 400;
            }
        }
    }
    static char *gpu_map[] = {"nvidia.com/gpu=gpu", "amd.com/gpu=gpu", NULL};
    job_resources r = {0};
    if (job_resources_compute(pod, gpu_map, NULL, &r, err) != 0)
        return 400;
    out->cpus = r.cpu_milli > 0 ? (r.cpu_milli + 999) / 1000 : cfg->cpu_default;
    out->memory_mb = r.memory_bytes > 0 ? (r.memory_bytes + MIB - 1) / MIB
                                        : cfg->memory_default_mb;
    int64_t disk = pod_disk(pod);
    out->disk_kb = disk > 0 ? (disk + 1023) / 1024 : 0;
    out->gpus = 0;
    for (size_t i = 0; i < r.n_gres; i++)
        out->gpus += r.gres[i].count;
    job_resources_free(&r);
    return 0;
}

/* Bytes no quoting makes safe in a submit file value.  A backslash is
 * among them: condor_submit's ClassAd strings take \" as a quote but keep
 * other backslashes, so "a\\" would not end where it seems to. */
static bool unsafe_byte(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '$' || c == '\\';
}

int htc_classad_string(il_buf *out, const char *s)
{
    for (const char *p = s; *p; p++)
        if (unsafe_byte((unsigned char)*p))
            return -1;
    il_buf_puts(out, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            il_buf_puts(out, "\\");
        il_buf_append(out, p, 1);
    }
    il_buf_puts(out, "\"");
    return 0;
}

int htc_check_expression(const char *expr, il_buf *err)
{
    int depth = 0;
    bool in_string = false;
    const char *why = NULL;
    const char *p;
    for (p = expr; *p && !why; p++) {
        if (unsafe_byte((unsigned char)*p))
            why = "'$', backslashes and control characters are not allowed";
        else if (*p == '"')
            in_string = !in_string;
        else if (!in_string && *p == '/' && (p[1] == '/' || p[1] == '*'))
            why = "comments are not allowed";
        else if (!in_string && *p == '(')
            depth++;
        else if (!in_string && *p == ')' && --depth < 0)
            why = "a ')' closes more than was opened";
    }
    if (!why && (in_string || depth != 0))
        why = in_string ? "a string literal is not closed" : "a '(' is not closed";
    if (!why && strspn(expr, " \t") == strlen(expr))
        why = "empty";
    if (why)
        il_buf_printf(err, HTC_ANNOTATION_PREFIX "requirements: %s", why);
    return why ? -1 : 0;
}

static bool name_listed(char **list, const char *name)
{
    for (char **l = list; l && *l; l++)
        if (strcmp(*l, "*") == 0 || strcasecmp(*l, name) == 0)
            return true;
    return false;
}

static int accounting_group(const htc_config *cfg, const char *group, il_buf *out, il_buf *err)
{
    const char *ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
    if (!group[0] || strspn(group, ok) != strlen(group) || group[0] == '.' ||
        group[0] == '-') {
        il_buf_printf(err, HTC_ANNOTATION_PREFIX "accounting-group: letters, digits and _.- "
                      "only, not starting with . or -");
        return 400;
    }
    if (!name_listed(cfg->accounting_groups, group)) {
        il_buf_printf(err, HTC_ANNOTATION_PREFIX "accounting-group \"%s\" is not in "
                      "AccountingGroups", group);
        return 400;
    }
    il_buf_printf(out, "accounting_group = %s\n", group);
    return 0;
}

static bool attribute_name_ok(const char *name)
{
    if (!isalpha((unsigned char)name[0]) && name[0] != '_')
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return false;
    return true;
}

/* One "+Name = value" line; 400 with err. */
static int attribute_line(const htc_config *cfg, const char *name, json_t *value, il_buf *out,
                          il_buf *err)
{
    if (!attribute_name_ok(name) || strcasecmp(name, HTC_UID_ATTR) == 0 ||
        !name_listed(cfg->allowed_attributes, name)) {
        il_buf_printf(err, HTC_ANNOTATION_PREFIX "attributes: \"%s\" is not an attribute "
                      "AllowedAttributes lists", name);
        return 400;
    }
    il_buf line = IL_BUF_INIT;
    int rc = 0;
    il_buf_printf(&line, "+%s = ", name);
    if (json_is_string(value))
        rc = htc_classad_string(&line, json_string_value(value));
    else if (json_is_integer(value))
        il_buf_printf(&line, "%lld", (long long)json_integer_value(value));
    else if (json_is_real(value))
        il_buf_printf(&line, "%.17g", json_real_value(value));
    else if (json_is_boolean(value))
        il_buf_puts(&line, json_is_true(value) ? "true" : "false");
    else
        rc = -1;
    if (rc == 0) {
        il_buf_printf(out, "%s\n", il_buf_cstr(&line));
    } else {
        il_buf_printf(err, HTC_ANNOTATION_PREFIX "attributes: %s: a string without '$' or "
                      "control characters, a number or a boolean expected", name);
    }
    il_buf_free(&line);
    return rc == 0 ? 0 : 400;
}

static int attributes(const htc_config *cfg, const char *text, il_buf *out, il_buf *err)
{
    json_error_t jerr;
    json_t *obj = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!json_is_object(obj)) {
        il_buf_printf(err, HTC_ANNOTATION_PREFIX "attributes: a JSON object expected");
        rc = 400;
    }
    const char *name;
    json_t *value;
    json_object_foreach(obj, name, value) {
        if (rc == 0)
            rc = attribute_line(cfg, name, value, out, err);
    }
    json_decref(obj);
    return rc;
}

static int requirements(const htc_config *cfg, const char *user, il_buf *out, il_buf *err)
{
    const char *admin = cfg->requirements && cfg->requirements[0] ? cfg->requirements : NULL;
    if (user && !cfg->allow_requirements) {
        il_buf_printf(err, HTC_ANNOTATION_PREFIX "requirements is refused here "
                      "(AllowRequirements is false)");
        return 400;
    }
    if (user && htc_check_expression(user, err) != 0)
        return 400;
    if (admin && user)
        il_buf_printf(out, "requirements = (%s) && (%s)\n", admin, user);
    else if (admin || user)
        il_buf_printf(out, "requirements = (%s)\n", admin ? admin : user);
    return 0;
}

int htc_submit_text(const htc_config *cfg, const il_pod *pod, const char *pod_dir,
                    const htc_request *req, il_buf *out, il_buf *err)
{
    il_buf_printf(out, "# interlink-htcondor: pod %s\n", pod->uid);   /* a checked UUID */
    il_buf_printf(out, "universe = vanilla\n"
                       "executable = %s/job.sh\n"
                       "initialdir = %s\n"
                       "output = %s/job.out\n"
                       "error = %s/job.err\n",
                  pod_dir, pod_dir, pod_dir, pod_dir);
    if (cfg->file_transfer) {
        /* In: what the supervisor reads; out: the directory job.sh makes
         * for it, named after the pod, landing as pod_dir/<uid>/. */
        il_buf_printf(out, "should_transfer_files = YES\n"
                           "when_to_transfer_output = ON_EXIT_OR_EVICT\n"
                           "transfer_executable = true\n"
                           "transfer_input_files = %s/pod.json, %s/runtime.json%s%s%s\n"
                           "transfer_output_files = %s\n",
                      pod_dir, pod_dir, pod->n_volumes ? ", " : "",
                      pod->n_volumes ? pod_dir : "", pod->n_volumes ? "/volumes" : "", pod->uid);
    } else {
        il_buf_puts(out, "should_transfer_files = NO\n"
                         "transfer_executable = false\n");
    }
    il_buf_puts(out, "getenv = false\n"
                     "kill_sig = SIGTERM\n");
    il_buf_printf(out, "job_max_vacate_time = %lld\n",
                  (long long)(pod->grace_seconds + cfg->vacate_extra_s));
    il_buf_printf(out, "request_cpus = %lld\n", (long long)req->cpus);
    if (req->memory_mb > 0)
        il_buf_printf(out, "request_memory = %lld\n", (long long)req->memory_mb);
    if (req->disk_kb > 0)
        il_buf_printf(out, "request_disk = %lld\n", (long long)req->disk_kb);
    if (req->gpus > 0)
        il_buf_printf(out, "request_gpus = %lld\n", (long long)req->gpus);
    const char *group = il_pod_annotation(pod, HTC_ANNOTATION_PREFIX "accounting-group");
    const char *attrs = il_pod_annotation(pod, HTC_ANNOTATION_PREFIX "attributes");
    int rc = 0;
    if (req->accounting_group && req->accounting_group[0]) {
        /* IdentityMapFile's, a checked name: the pod cannot bill another. */
        if (group && strcmp(group, req->accounting_group) != 0) {
            il_buf_printf(err, HTC_ANNOTATION_PREFIX "accounting-group: your accounting group "
                          "is %s (IdentityMapFile)", req->accounting_group);
            rc = 400;
        }
        il_buf_printf(out, "accounting_group = %s\n", req->accounting_group);
    } else if (group) {
        rc = accounting_group(cfg, group, out, err);
    }
    if (rc == 0)
        rc = requirements(cfg, il_pod_annotation(pod, HTC_ANNOTATION_PREFIX "requirements"),
                          out, err);
    if (rc == 0 && attrs)
        rc = attributes(cfg, attrs, out, err);
    if (req->caller && req->caller[0])   /* plain characters (identity.c) */
        il_buf_printf(out, "+InterLinkUser = \"%s\"\n", req->caller);
    if (req->tenant && req->tenant[0])
        il_buf_printf(out, "+InterLinkTenant = \"%s\"\n", req->tenant);
    il_buf_printf(out, "+" HTC_UID_ATTR " = \"%s\"\nqueue 1\n", pod->uid);
    return rc;
}
