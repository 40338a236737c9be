/* flags.c -- the sbatch command line: config defaults, the pod's flavor,
 * the pod's resources, and the slurm-job.vk.io/flags annotation, filtered,
 * in that order of precedence (each layer replaces what earlier ones set).
 * The tokenizer is shared with every annotation that carries words
 * (runtime options, mpi-flags) and with the flavors' SlurmFlags.
 *
 * The annotation is split shell-style without expansion, then read the way
 * sbatch's getopt_long would read it, against sbatch's complete option
 * table, and every option is rewritten into one canonical
 * "--full-name[=value]" argument.  Only then is it judged, against an
 * allow-list: a pod may set what shapes its own job (resources, placement,
 * time), never what reads files on the submit host (--bbf, --nodefile),
 * changes who or where the job runs (--uid, --chdir, --export) or asks for
 * what a privileged plugin would grant and the pod's owner may not have
 * (--priority, --exclusive, --nice below 0, another --account).  The admin
 * widens the list with AllowedUnsafeFlags.  No bare word reaches sbatch
 * (it would become the script path) and no abbreviation either (sbatch
 * sees the name we judged). */
#include "slurm.h"

#include <stdlib.h>
#include <string.h>

/* ---- tokenizer --------------------------------------------------------- */

/* The body of a double-quoted string up to its closing quote: backslash
 * escapes only what it escapes in sh ($ ` " \ newline); nothing is
 * expanded.  Returns the closing quote, or the end of the text. */
static const char *dquoted(const char *p, il_buf *tok)
{
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1] && strchr("$`\"\\\n", p[1]))
            p++;
        il_buf_append(tok, p, 1);
    }
    return p;
}

int flags_tokenize_what(const char *text, const char *what, strvec *out, il_buf *err)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        il_buf tok = IL_BUF_INIT;
        for (; *p && !strchr(" \t\n", *p); p++) {
            char quote = *p;
            if (quote == '\'') {
                const char *end = strchr(p + 1, '\'');
                if (end)
                    il_buf_append(&tok, p + 1, (size_t)(end - p - 1));
                p = end;
            } else if (quote == '"') {
                p = dquoted(p + 1, &tok);
                p = *p ? p : NULL;
            } else if (quote == '\\' && p[1]) {
                il_buf_append(&tok, ++p, 1);
            } else {
                il_buf_append(&tok, p, 1);
            }
            if (!p) {
                il_buf_free(&tok);
                il_buf_printf(err, "%s: unterminated %c quote", what, quote);
                return -1;
            }
        }
        rn_strvec_push(out, il_buf_cstr(&tok));
        il_buf_free(&tok);
    }
    return 0;
}

int flags_tokenize(const char *text, strvec *out, il_buf *err)
{
    return flags_tokenize_what(text, "slurm-job.vk.io/flags", out, err);
}

/* ---- the option table -------------------------------------------------- */

/* Who may set an option.  POD: any pod, through the flags annotation.
 * ADMIN: the admin's own flags (Flavors), or a pod when AllowedUnsafeFlags
 * names it -- the option reads files on the submit host, changes who or
 * where the job runs, or takes something a root plugin would grant that
 * the pod's owner may not have.  PLUGIN: nobody; interlink-slurm sets it
 * itself or depends on it not being set (the name it finds jobs by, the
 * output it reads, one job per pod, an immediate parsable job id). */
enum opt_who { POD, ADMIN, PLUGIN };
enum opt_arg { NO_ARG, REQUIRED_ARG, OPTIONAL_ARG };

typedef struct {
    const char *name;
    unsigned char arg;   /* enum opt_arg, as sbatch declares it to getopt_long */
    unsigned char who;   /* enum opt_who */
} sbatch_option;

/* Every long option of sbatch (Slurm 22.05, Debian 12), sorted.  The
 * complete list matters: getopt_long resolves an abbreviation against all
 * of them, so a name is only known for what it is once it is resolved
 * against the same list.  docs/slurm-flags.md explains each choice. */
static const sbatch_option options[] = {
    {"account", REQUIRED_ARG, ADMIN},          {"acctg-freq", REQUIRED_ARG, ADMIN},
    {"array", REQUIRED_ARG, PLUGIN},           {"batch", REQUIRED_ARG, PLUGIN},
    {"bb", REQUIRED_ARG, ADMIN},               {"bbf", REQUIRED_ARG, ADMIN},
    {"begin", REQUIRED_ARG, POD},              {"chdir", REQUIRED_ARG, ADMIN},
    {"cluster", REQUIRED_ARG, PLUGIN},         {"cluster-constraint", REQUIRED_ARG, PLUGIN},
    {"clusters", REQUIRED_ARG, PLUGIN},        {"comment", REQUIRED_ARG, POD},
    {"constraint", REQUIRED_ARG, POD},         {"container", REQUIRED_ARG, ADMIN},
    {"context", REQUIRED_ARG, ADMIN},          {"contiguous", NO_ARG, POD},
    {"core-spec", REQUIRED_ARG, ADMIN},        {"cores-per-socket", REQUIRED_ARG, POD},
    {"cpu-freq", REQUIRED_ARG, POD},           {"cpus-per-gpu", REQUIRED_ARG, POD},
    {"cpus-per-task", REQUIRED_ARG, POD},      {"deadline", REQUIRED_ARG, POD},
    {"delay-boot", REQUIRED_ARG, ADMIN},       {"dependency", REQUIRED_ARG, ADMIN},
    {"distribution", REQUIRED_ARG, POD},       {"error", REQUIRED_ARG, PLUGIN},
    {"exclude", REQUIRED_ARG, POD},            {"exclusive", OPTIONAL_ARG, ADMIN},
    {"export", REQUIRED_ARG, ADMIN},           {"export-file", REQUIRED_ARG, ADMIN},
    {"extra-node-info", REQUIRED_ARG, POD},    {"get-user-env", OPTIONAL_ARG, ADMIN},
    {"gid", REQUIRED_ARG, ADMIN},              {"gpu-bind", REQUIRED_ARG, POD},
    {"gpu-freq", REQUIRED_ARG, POD},           {"gpus", REQUIRED_ARG, POD},
    {"gpus-per-node", REQUIRED_ARG, POD},      {"gpus-per-socket", REQUIRED_ARG, POD},
    {"gpus-per-task", REQUIRED_ARG, POD},      {"gres", REQUIRED_ARG, POD},
    {"gres-flags", REQUIRED_ARG, POD},         {"help", NO_ARG, PLUGIN},
    {"hint", REQUIRED_ARG, POD},               {"hold", NO_ARG, POD},
    {"ignore-pbs", NO_ARG, ADMIN},             {"input", REQUIRED_ARG, PLUGIN},
    {"job-name", REQUIRED_ARG, PLUGIN},        {"kill-on-invalid-dep", REQUIRED_ARG, ADMIN},
    {"licenses", REQUIRED_ARG, POD},           {"mail-type", REQUIRED_ARG, ADMIN},
    {"mail-user", REQUIRED_ARG, ADMIN},        {"mcs-label", REQUIRED_ARG, ADMIN},
    {"mem", REQUIRED_ARG, POD},                {"mem-bind", REQUIRED_ARG, POD},
    {"mem-per-cpu", REQUIRED_ARG, POD},        {"mem-per-gpu", REQUIRED_ARG, POD},
    {"mincpus", REQUIRED_ARG, POD},            {"network", REQUIRED_ARG, ADMIN},
    {"nice", OPTIONAL_ARG, POD},               {"no-kill", OPTIONAL_ARG, POD},
    {"no-requeue", NO_ARG, POD},               {"nodefile", REQUIRED_ARG, ADMIN},
    {"nodelist", REQUIRED_ARG, POD},           {"nodes", REQUIRED_ARG, POD},
    {"ntasks", REQUIRED_ARG, POD},             {"ntasks-per-core", REQUIRED_ARG, POD},
    {"ntasks-per-gpu", REQUIRED_ARG, POD},     {"ntasks-per-node", REQUIRED_ARG, POD},
    {"ntasks-per-socket", REQUIRED_ARG, POD},  {"ntasks-per-tres", REQUIRED_ARG, POD},
    {"open-mode", REQUIRED_ARG, POD},          {"output", REQUIRED_ARG, PLUGIN},
    {"overcommit", NO_ARG, POD},               {"oversubscribe", NO_ARG, POD},
    {"parsable", NO_ARG, PLUGIN},              {"partition", REQUIRED_ARG, POD},
    {"power", REQUIRED_ARG, ADMIN},            {"prefer", REQUIRED_ARG, POD},
    {"priority", REQUIRED_ARG, ADMIN},         {"profile", REQUIRED_ARG, ADMIN},
    {"propagate", OPTIONAL_ARG, ADMIN},        {"qos", REQUIRED_ARG, POD},
    {"quiet", NO_ARG, POD},                    {"reboot", NO_ARG, ADMIN},
    {"requeue", NO_ARG, POD},                  {"reservation", REQUIRED_ARG, ADMIN},
    {"signal", REQUIRED_ARG, POD},             {"sockets-per-node", REQUIRED_ARG, POD},
    {"spread-job", NO_ARG, POD},               {"switches", REQUIRED_ARG, POD},
    {"tasks-per-node", REQUIRED_ARG, POD},     {"test-only", NO_ARG, PLUGIN},
    {"thread-spec", REQUIRED_ARG, ADMIN},      {"threads-per-core", REQUIRED_ARG, POD},
    {"time", REQUIRED_ARG, POD},               {"time-min", REQUIRED_ARG, POD},
    {"tmp", REQUIRED_ARG, POD},                {"uid", REQUIRED_ARG, ADMIN},
    {"usage", NO_ARG, PLUGIN},                 {"use-min-nodes", NO_ARG, POD},
    {"verbose", NO_ARG, ADMIN},                {"version", NO_ARG, PLUGIN},
    {"wait", NO_ARG, PLUGIN},                  {"wait-all-nodes", REQUIRED_ARG, POD},
    {"wckey", REQUIRED_ARG, ADMIN},            {"wrap", REQUIRED_ARG, PLUGIN},
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* sbatch's short options and the long option each stands for; the short
 * form's argument rule is its own (-k takes none, --no-kill may). */
static const struct {
    char letter;
    const char *name;
    unsigned char arg;
} short_options[] = {
    {'A', "account", REQUIRED_ARG},   {'B', "extra-node-info", REQUIRED_ARG},
    {'C', "constraint", REQUIRED_ARG}, {'D', "chdir", REQUIRED_ARG},
    {'F', "nodefile", REQUIRED_ARG},  {'G', "gpus", REQUIRED_ARG},
    {'H', "hold", NO_ARG},            {'J', "job-name", REQUIRED_ARG},
    {'L', "licenses", REQUIRED_ARG},  {'M', "clusters", REQUIRED_ARG},
    {'N', "nodes", REQUIRED_ARG},     {'O', "overcommit", NO_ARG},
    {'Q', "quiet", NO_ARG},           {'S', "core-spec", REQUIRED_ARG},
    {'V', "version", NO_ARG},         {'W', "wait", NO_ARG},
    {'a', "array", REQUIRED_ARG},     {'b', "begin", REQUIRED_ARG},
    {'c', "cpus-per-task", REQUIRED_ARG}, {'d', "dependency", REQUIRED_ARG},
    {'e', "error", REQUIRED_ARG},     {'h', "help", NO_ARG},
    {'i', "input", REQUIRED_ARG},     {'k', "no-kill", NO_ARG},
    {'m', "distribution", REQUIRED_ARG}, {'n', "ntasks", REQUIRED_ARG},
    {'o', "output", REQUIRED_ARG},    {'p', "partition", REQUIRED_ARG},
    {'q', "qos", REQUIRED_ARG},       {'s', "oversubscribe", NO_ARG},
    {'t', "time", REQUIRED_ARG},      {'v', "verbose", NO_ARG},
    {'w', "nodelist", REQUIRED_ARG},  {'x', "exclude", REQUIRED_ARG},
};

static const sbatch_option *option_named(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

/* The option "--name" means to getopt_long: an exact name, else the only
 * option it abbreviates.  An abbreviation of several is refused (sbatch
 * would pick one of them when they share a meaning; we never guess). */
static const sbatch_option *resolve_long(const char *name, size_t len, const char *what,
                                         il_buf *err)
{
    const sbatch_option *hit = option_named(name, len), *first = NULL;
    size_t n = 0;
    for (size_t i = 0; !hit && len > 0 && i < N_OPTIONS; i++)
        if (strncmp(options[i].name, name, len) == 0 && n++ == 0)
            first = &options[i];
    if (hit || n == 1)
        return hit ? hit : first;
    if (n == 0)
        il_buf_printf(err, "%s: --%.*s is not an sbatch option", what, (int)len, name);
    else
        il_buf_printf(err, "%s: --%.*s is ambiguous (it abbreviates %zu sbatch options); "
                      "write the option's full name", what, (int)len, name, n);
    return NULL;
}

bool flags_is_option(const char *name)
{
    name += strspn(name, "-");
    return option_named(name, strlen(name)) != NULL;
}

/* ---- canonical options ------------------------------------------------- */

/* One option as sbatch would read it, before any policy. */
typedef struct {
    const sbatch_option *opt;
    const char *value;   /* NULL: none given */
} parsed_option;

/* The value of an option that requires one: the rest of the word, else the
 * next word whatever it looks like (getopt_long takes "-x" as a value). */
static int take_value(const strvec *tokens, size_t *i, const char *rest, const char *spelled,
                      const char *what, const char **value, il_buf *err)
{
    if (rest) {
        *value = rest;
        return 0;
    }
    if (*i + 1 >= tokens->n) {
        il_buf_printf(err, "%s: %s needs a value", what, spelled);
        return -1;
    }
    *value = tokens->v[++*i];
    return 0;
}

static int parse_long(const strvec *tokens, size_t *i, const char *what, parsed_option *out,
                      il_buf *err)
{
    const char *name = tokens->v[*i] + 2;
    size_t len = strcspn(name, "=");
    const char *rest = name[len] ? name + len + 1 : NULL;
    if (!(out->opt = resolve_long(name, len, what, err)))
        return -1;
    out->value = NULL;
    switch (out->opt->arg) {
    case NO_ARG:
        if (rest) {
            il_buf_printf(err, "%s: --%s takes no value", what, out->opt->name);
            return -1;
        }
        return 0;
    case OPTIONAL_ARG:
        out->value = rest;   /* only ever "--name=value", as getopt_long reads it */
        return 0;
    default:
        return take_value(tokens, i, rest, tokens->v[*i], what, &out->value, err);
    }
}

/* "-abc": a, b, c are options until one of them takes a value, which is
 * the rest of the word or the next word ("-c4", "-c 4", "-Hc4"). */
static int parse_short(const strvec *tokens, size_t *i, const char *what, strvec *letters,
                       il_buf *err)
{
    for (const char *p = tokens->v[*i] + 1; *p; p++) {
        size_t k = 0;
        while (k < sizeof(short_options) / sizeof(short_options[0]) &&
               short_options[k].letter != *p)
            k++;
        if (k == sizeof(short_options) / sizeof(short_options[0])) {
            il_buf_printf(err, "%s: -%c (in \"%s\") is not an sbatch option", what,
                          (unsigned char)*p >= 32 && (unsigned char)*p < 127 ? *p : '?',
                          tokens->v[*i]);
            return -1;
        }
        const char *value = NULL;
        char spelled[3] = {'-', *p, '\0'};
        if (short_options[k].arg == REQUIRED_ARG &&
            take_value(tokens, i, p[1] ? p + 1 : NULL, spelled, what, &value, err) != 0)
            return -1;
        if (!value) {
            rn_strvec_pushf(letters, "--%s", short_options[k].name);
            continue;
        }
        rn_strvec_pushf(letters, "--%s=%s", short_options[k].name, value);
        break;   /* the value ended the word */
    }
    return 0;
}

/* The words as sbatch's getopt_long would read them, each option rewritten
 * to its canonical "--full-name[=value]" (so sbatch sees no abbreviation,
 * no bundle and no bare word it could take for the script).  -1 with err. */
static int canonical_options(const strvec *tokens, const char *what, strvec *out, il_buf *err)
{
    for (size_t i = 0; i < tokens->n; i++) {
        const char *tok = tokens->v[i];
        if (tok[0] == '-' && tok[1] == '-' && tok[2]) {
            parsed_option o;
            if (parse_long(tokens, &i, what, &o, err) != 0)
                return -1;
            if (o.value)
                rn_strvec_pushf(out, "--%s=%s", o.opt->name, o.value);
            else
                rn_strvec_pushf(out, "--%s", o.opt->name);
        } else if (tok[0] == '-' && tok[1] && tok[1] != '-') {
            if (parse_short(tokens, &i, what, out, err) != 0)
                return -1;
        } else {
            il_buf_printf(err, "%s: \"%s\" is not a known sbatch option", what, tok);
            return -1;
        }
    }
    return 0;
}

/* ---- the policy -------------------------------------------------------- */

static bool admin_allowed(const char *name, char **allowed_unsafe)
{
    for (char **a = allowed_unsafe; a && *a; a++)
        if (strcmp(*a + strspn(*a, "-"), name) == 0)
            return true;
    return false;
}

/* A pod may lower its own priority, never raise it: --nice without a value
 * is +100, with one it must be a non-negative integer. */
static bool nice_is_lowering(const char *value)
{
    if (!value)
        return true;
    char *end = NULL;
    long n = strtol(value, &end, 10);
    return end != value && *end == '\0' && n >= 0;
}

/* policy: NULL for admin-written flags (every option but PLUGIN ones). */
typedef struct {
    char **allowed_unsafe;
    const char *account;   /* the one --account a pod may name; NULL: none */
} pod_policy;

static int check_option(const char *arg, const pod_policy *policy, const char *what,
                        il_buf *err)
{
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    const char *value = name[len] ? name + len + 1 : NULL;
    const sbatch_option *o = option_named(name, len);
    if (o->who == PLUGIN) {
        il_buf_printf(err, "%s: --%s is set by interlink-slurm itself", what, o->name);
        return -1;
    }
    if (!policy || admin_allowed(o->name, policy->allowed_unsafe))
        return 0;
    if (strcmp(o->name, "nice") == 0 && !nice_is_lowering(value)) {
        il_buf_printf(err, "%s: --nice below 0 raises the job's priority; only the admin may "
                      "(AllowedUnsafeFlags: nice)", what);
        return -1;
    }
    if (strcmp(o->name, "account") == 0 && policy->account && value &&
        strcmp(value, policy->account) == 0)
        return 0;
    if (o->who == ADMIN) {
        il_buf_printf(err, "%s: --%s is not allowed for pods (it reads files on the submit host "
                      "or needs privilege the plugin would lend); the admin may allow it with "
                      "AllowedUnsafeFlags", what, o->name);
        return -1;
    }
    return 0;
}

static int filter_tokens(const strvec *tokens, const pod_policy *policy, const char *what,
                         strvec *out, il_buf *err)
{
    strvec canon = {0};
    int rc = canonical_options(tokens, what, &canon, err);
    for (size_t i = 0; rc == 0 && i < canon.n; i++)
        rc = check_option(canon.v[i], policy, what, err);
    if (rc == 0)
        rn_strvec_push_all(out, canon.v);
    rn_strvec_free(&canon);
    return rc;
}

int flags_filter(const strvec *tokens, char **allowed_unsafe, const char *account, strvec *out,
                 il_buf *err)
{
    pod_policy policy = {.allowed_unsafe = allowed_unsafe, .account = account};
    return filter_tokens(tokens, &policy, "slurm-job.vk.io/flags", out, err);
}

int flags_filter_trusted(const strvec *tokens, const char *what, strvec *out, il_buf *err)
{
    return filter_tokens(tokens, NULL, what, out, err);
}

/* Options that set the same thing: a user's choice of one replaces our
 * default for any of them (sbatch rejects --mem with --mem-per-cpu). */
static const char *const conflicts[][4] = {
    {"mem", "mem-per-cpu", "mem-per-gpu", NULL},
    {"cpus-per-task", "cpus-per-gpu", NULL, NULL},
    {"gres", "gpus", "gpus-per-node", "gpus-per-task"},
};

static bool user_sets(const strvec *user_flags, const char *name)
{
    for (size_t i = 0; i < user_flags->n; i++) {
        const char *opt = user_flags->v[i] + 2;   /* canonical: full names */
        size_t len = strcspn(opt, "=");
        if (len == strlen(name) && strncmp(name, opt, len) == 0)
            return true;
    }
    return false;
}

bool flags_override(const strvec *user_flags, const char *name)
{
    for (size_t g = 0; g < sizeof(conflicts) / sizeof(conflicts[0]); g++) {
        bool in_group = false;
        for (size_t k = 0; k < 4 && conflicts[g][k]; k++)
            in_group |= strcmp(conflicts[g][k], name) == 0;
        for (size_t k = 0; in_group && k < 4 && conflicts[g][k]; k++)
            if (user_sets(user_flags, conflicts[g][k]))
                return true;
    }
    return user_sets(user_flags, name);
}

/* ---- the sbatch argv ---------------------------------------------------- */

/* acc += layer, where the layer replaces every earlier flag that sets the
 * same thing (flags_override: --mem-per-cpu replaces --mem). */
static void overlay(strvec *acc, const strvec *layer)
{
    strvec kept = {0};
    for (size_t i = 0; i < acc->n; i++) {
        char *name = il_xstrndup(acc->v[i] + 2, strcspn(acc->v[i] + 2, "="));
        if (!flags_override(layer, name))
            rn_strvec_push(&kept, acc->v[i]);
        free(name);
    }
    rn_strvec_push_all(&kept, layer->v);
    rn_strvec_free(acc);
    *acc = kept;
}

static void push_default(strvec *out, const char *name, const char *value)
{
    if (value && value[0])
        rn_strvec_pushf(out, "--%s=%s", name, value);
}

/* The lowest layer: where the job runs from, and the config's defaults. */
static void config_layer(const slurm_config *cfg, const char *pod_dir, strvec *out)
{
    if (cfg->shared_fs)
        push_default(out, "chdir", pod_dir);
    push_default(out, "partition", cfg->partition);
    push_default(out, "account", cfg->account);
    push_default(out, "time", cfg->time_limit);
    push_default(out, "qos", cfg->qos);
}

#define FLAGS_MIB (1024 * 1024)

void job_resources_flags(const job_resources *r, strvec *out)
{
    if (r->cpu_milli > 0)
        rn_strvec_pushf(out, "--cpus-per-task=%lld", (long long)((r->cpu_milli + 999) / 1000));
    if (r->memory_bytes > 0)
        rn_strvec_pushf(out, "--mem=%lldM",
                        (long long)((r->memory_bytes + FLAGS_MIB - 1) / FLAGS_MIB));
    if (r->n_gres == 0)
        return;
    il_buf gres = IL_BUF_INIT;
    for (size_t i = 0; i < r->n_gres; i++)
        il_buf_printf(&gres, "%s%s:%lld", i ? "," : "", r->gres[i].name,
                      (long long)r->gres[i].count);
    rn_strvec_pushf(out, "--gres=%s", il_buf_cstr(&gres));
    il_buf_free(&gres);
}


int sbatch_argv(const slurm_config *cfg, const il_pod *pod, const slurm_flavor *flavor,
                const char *pod_dir, const job_resources *res, strvec *out, il_buf *err)
{
    strvec tokens = {0}, user = {0}, computed = {0}, flags = {0};
    const char *annotation = il_pod_annotation(pod, "slurm-job.vk.io/flags");
    if ((annotation && flags_tokenize(annotation, &tokens, err) != 0) ||
        flags_filter(&tokens, cfg->allowed_unsafe_flags, cfg->account, &user, err) != 0) {
        rn_strvec_free(&tokens);
        rn_strvec_free(&user);
        return -1;
    }
    rn_strvec_push(out, cfg->sbatch_path);
    rn_strvec_push(out, "--parsable");
    rn_strvec_pushf(out, "--job-name=%s", pod->uid);
    if (cfg->shared_fs)
        rn_strvec_pushf(out, "--output=%s/job.out", pod_dir);
    else
        rn_strvec_push(out, "--output=/dev/null");   /* no place the plugin could read */
    config_layer(cfg, pod_dir, &flags);
    if (flavor)
        overlay(&flags, &flavor->flags);
    job_resources_flags(res, &computed);
    overlay(&flags, &computed);
    overlay(&flags, &user);
    rn_strvec_push_all(out, flags.v);
    rn_strvec_free(&tokens);
    rn_strvec_free(&user);
    rn_strvec_free(&computed);
    rn_strvec_free(&flags);
    return 0;
}
