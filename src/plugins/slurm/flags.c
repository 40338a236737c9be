/* flags.c -- the sbatch command line: config defaults, the pod's flavor,
 * the pod's resources, and the slurm-job.vk.io/flags annotation, filtered,
 * in that order of precedence (each layer replaces what earlier ones set).
 * The tokenizer is shared with every annotation that carries words
 * (runtime options, mpi-flags) and with the flavors' SlurmFlags.
 *
 * The annotation is split shell-style without expansion, then every option
 * is rewritten into one canonical "--name[=value]" argument.  That closes
 * the door on injection through sbatch's own parsing: no bare word can
 * reach sbatch (where it would become the script path), short options are
 * accepted only when known (so "-Hoevil" cannot smuggle "-o evil"), and
 * getopt_long's unique-prefix matching ("--out" for "--output") is matched
 * the same way when refusing. */
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
        strvec_push(out, il_buf_cstr(&tok));
        il_buf_free(&tok);
    }
    return 0;
}

int flags_tokenize(const char *text, strvec *out, il_buf *err)
{
    return flags_tokenize_what(text, "slurm-job.vk.io/flags", out, err);
}

/* ---- canonical options ------------------------------------------------- */

static const char *const short_names[128] = {
    ['A'] = "account", ['B'] = "extra-node-info", ['C'] = "constraint", ['D'] = "chdir",
    ['F'] = "nodefile", ['G'] = "gpus", ['H'] = "hold", ['J'] = "job-name", ['L'] = "licenses",
    ['M'] = "clusters", ['N'] = "nodes", ['O'] = "overcommit", ['Q'] = "quiet",
    ['S'] = "core-spec", ['V'] = "version", ['W'] = "wait", ['a'] = "array", ['b'] = "begin",
    ['c'] = "cpus-per-task", ['d'] = "dependency", ['e'] = "error", ['h'] = "help",
    ['i'] = "input", ['k'] = "no-kill", ['m'] = "distribution", ['n'] = "ntasks",
    ['o'] = "output", ['p'] = "partition", ['q'] = "qos", ['s'] = "oversubscribe",
    ['t'] = "time", ['v'] = "verbose", ['w'] = "nodelist", ['x'] = "exclude",
};

/* Flags that would break the plugin's contract with its own job: the name
 * it matches jobs by, the output it reads, one job per pod, a submission
 * that returns at once with a parsable id. */
static const char *const reserved[] = {
    "job-name", "output", "error", "input", "array", "wrap", "parsable", "wait", "clusters",
    "test-only", "help", "usage", "version", "batch", NULL,
};

/* Flags that change who the job runs as, where, or with what environment. */
static const char *const unsafe[] = {
    "uid", "gid", "chdir", "export", "export-file", "get-user-env", "container", NULL,
};

/* getopt_long accepts any unambiguous prefix: "--ou" is --output. */
static const char *matching(const char *name, size_t len, const char *const *names)
{
    for (const char *const *n = names; *n; n++)
        if (len > 0 && strncmp(*n, name, len) == 0)
            return *n;
    return NULL;
}

static bool allowed(const char *name, char **allowed_unsafe)
{
    for (char **a = allowed_unsafe; a && *a; a++) {
        const char *entry = *a + strspn(*a, "-");
        if (strcmp(entry, name) == 0)
            return true;
    }
    return false;
}

/* "--name=value" / "--name" for the option at tokens->v[*i] (value from
 * the next token if it is not an option); *i is advanced past it. */
static char *canonical(const strvec *tokens, size_t *i, const char *what, il_buf *err)
{
    const char *tok = tokens->v[*i];
    const char *next = *i + 1 < tokens->n ? tokens->v[*i + 1] : NULL;
    const char *value = NULL, *name;
    size_t name_len;
    if (tok[0] == '-' && tok[1] == '-' && tok[2]) {
        name = tok + 2;
        name_len = strcspn(name, "=");
        value = name[name_len] ? name + name_len + 1 : NULL;
    } else if (tok[0] == '-' && tok[1] > 0 && (unsigned char)tok[1] < 128 &&
               short_names[(unsigned char)tok[1]]) {
        name = short_names[(unsigned char)tok[1]];
        name_len = strlen(name);
        value = tok[2] ? tok + 2 : NULL;
    } else {
        il_buf_printf(err, "%s: \"%s\" is not a known sbatch option", what, tok);
        return NULL;
    }
    if (!value && next && next[0] != '-') {
        value = next;
        (*i)++;
    }
    (*i)++;
    return value ? il_xasprintf("--%.*s=%s", (int)name_len, name, value)
                 : il_xasprintf("--%.*s", (int)name_len, name);
}

/* trusted: admin-written flags, which may use every unsafe flag. */
static int check_option(const char *arg, char **allowed_unsafe, bool trusted, const char *what,
                        il_buf *err)
{
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    const char *hit = matching(name, len, reserved);
    if (hit) {
        il_buf_printf(err, "%s: --%s is set by interlink-slurm itself", what, hit);
        return -1;
    }
    hit = matching(name, len, unsafe);
    if (hit && !trusted && !allowed(hit, allowed_unsafe)) {
        il_buf_printf(err, "%s: --%s is refused (it changes the job's identity or environment); "
                      "list it in AllowedUnsafeFlags to allow it", what, hit);
        return -1;
    }
    return 0;
}

static int filter_tokens(const strvec *tokens, char **allowed_unsafe, bool trusted,
                         const char *what, strvec *out, il_buf *err)
{
    for (size_t i = 0; i < tokens->n;) {
        char *arg = canonical(tokens, &i, what, err);
        if (!arg || check_option(arg, allowed_unsafe, trusted, what, err) != 0) {
            free(arg);
            return -1;
        }
        strvec_push(out, arg);
        free(arg);
    }
    return 0;
}

int flags_filter(const strvec *tokens, char **allowed_unsafe, strvec *out, il_buf *err)
{
    return filter_tokens(tokens, allowed_unsafe, false, "slurm-job.vk.io/flags", out, err);
}

int flags_filter_trusted(const strvec *tokens, const char *what, strvec *out, il_buf *err)
{
    return filter_tokens(tokens, NULL, true, what, out, err);
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
        const char *opt = user_flags->v[i] + 2;
        size_t len = strcspn(opt, "=");
        if (len > 0 && strncmp(name, opt, len) == 0)
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
            strvec_push(&kept, acc->v[i]);
        free(name);
    }
    strvec_push_all(&kept, layer->v);
    strvec_free(acc);
    *acc = kept;
}

static void push_default(strvec *out, const char *name, const char *value)
{
    if (value && value[0])
        strvec_pushf(out, "--%s=%s", name, value);
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

int sbatch_argv(const slurm_config *cfg, const il_pod *pod, const slurm_flavor *flavor,
                const char *pod_dir, const job_resources *res, strvec *out, il_buf *err)
{
    strvec tokens = {0}, user = {0}, computed = {0}, flags = {0};
    const char *annotation = il_pod_annotation(pod, "slurm-job.vk.io/flags");
    if ((annotation && flags_tokenize(annotation, &tokens, err) != 0) ||
        flags_filter(&tokens, cfg->allowed_unsafe_flags, &user, err) != 0) {
        strvec_free(&tokens);
        strvec_free(&user);
        return -1;
    }
    strvec_push(out, cfg->sbatch_path);
    strvec_push(out, "--parsable");
    strvec_pushf(out, "--job-name=%s", pod->uid);
    if (cfg->shared_fs)
        strvec_pushf(out, "--output=%s/job.out", pod_dir);
    else
        strvec_push(out, "--output=/dev/null");   /* no place the plugin could read */
    config_layer(cfg, pod_dir, &flags);
    if (flavor)
        overlay(&flags, &flavor->flags);
    job_resources_flags(res, &computed);
    overlay(&flags, &computed);
    overlay(&flags, &user);
    strvec_push_all(out, flags.v);
    strvec_free(&tokens);
    strvec_free(&user);
    strvec_free(&computed);
    strvec_free(&flags);
    return 0;
}
