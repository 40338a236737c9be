/* rest.c -- submission through slurmrestd (SubmitMode: rest): one HTTP
 * request on a kept-alive connection instead of one sbatch process per pod.
 *
 * Why: an sbatch process loads SLURM's configuration and plugins and makes
 * a munge credential for every job; slurmrestd does that once, so on the
 * same cores a POST costs a fraction of a fork+exec (bench/bench-slurm.sh).
 *
 * What is sent is what sbatch would have been told: the argv sbatch_argv
 * builds (the allow-listed, rewritten options of the flags annotation, the
 * flavor, the resources, the identity) is mapped option by option into the
 * v0.0.38 job description.  An option without a JSON form is not guessed
 * at: that pod goes through sbatch (or is refused, SlurmrestdFallback).
 * The environment is the plugin's own, as sbatch's default --export=ALL
 * hands it on.
 *
 * The token: SlurmrestdTokenFile, re-read whenever the file changes (an
 * admin's job rotates it), or `scontrol token`, renewed at half its
 * lifespan.  An expired or malformed token is refused here, before a
 * request, with a message that names it.
 *
 * Crash safety is job_ensure's (jobs.c): the job is named after the pod
 * UID and a retried create looks for it by name before submitting.  With
 * sbatch the create lock lives as long as the sbatch process, so "no job
 * by that name" is final once the lock is taken; a POST has no process
 * that holds the lock, and slurmrestd finishes a request whose client
 * went away.  So a submission that got no answer leaves job.json's mtime
 * as it was (the start of the create), and a retry waits until
 * CommandTimeoutSeconds after it before concluding there is no job
 * (rest_settle); one that got an answer, or never connected, sets it to
 * the epoch: nothing is in flight. */
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "httpc.h"
#include "log.h"

#define REST_SUBMIT_PATH "/slurm/v0.0.38/job/submit"
#define TOKEN_FILE_MAX (64 * 1024)
#define SCRIPT_MAX (256 * 1024 * 1024)

extern char **environ;

struct slurm_rest {
    const slurm_config *cfg;
    il_httpc *http;           /* thread-safe; keeps connections alive */
    pthread_mutex_t lock;     /* the token fields below */
    char *token;
    char *user;               /* X-SLURM-USER-NAME */
    int64_t expires;          /* the token's exp (epoch s), 0 = none given */
    int64_t renew_at;         /* scontrol: ask again from this epoch second */
    struct stat file_seen;    /* SlurmrestdTokenFile as last read */
};

int rest_config_check(const slurm_config *cfg, il_buf *err)
{
    const char *mode = cfg->submit_mode ? cfg->submit_mode : "sbatch";
    const char *fb = cfg->rest_fallback ? cfg->rest_fallback : "sbatch";
    const char *url = cfg->rest_url ? cfg->rest_url : "";
    if (strcmp(mode, "sbatch") != 0 && strcmp(mode, "rest") != 0) {
        il_buf_printf(err, "SubmitMode \"%s\": expected sbatch or rest", mode);
        return -1;
    }
    if (strcmp(fb, "sbatch") != 0 && strcmp(fb, "refuse") != 0) {
        il_buf_printf(err, "SlurmrestdFallback \"%s\": expected sbatch or refuse", fb);
        return -1;
    }
    if (strcmp(mode, "rest") == 0 && strncmp(url, "http://", 7) != 0 &&
        strncmp(url, "https://", 8) != 0 && strncmp(url, "unix:///", 8) != 0) {
        il_buf_printf(err, "SlurmrestdURL \"%s\": expected http://host:port, https://... or "
                      "unix:///path", url);
        return -1;
    }
    return 0;
}

/* ---- the token ----------------------------------------------------------- */

/* The claims of a JWT (its middle part, base64url without padding), or
 * NULL when text is not one. */
static json_t *jwt_claims(const char *token)
{
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2 - dot1 - 1 > 8192)
        return NULL;
    size_t len = (size_t)(dot2 - dot1 - 1);
    char *b64 = il_xcalloc(1, len + 4);
    for (size_t i = 0; i < len; i++) {
        char c = dot1[1 + i];
        b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (len % 4)
        b64[len++] = '=';
    size_t n;
    unsigned char *raw = il_base64_decode(b64, &n);
    free(b64);
    json_t *claims = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;
    free(raw);
    if (claims && !json_is_object(claims)) {
        json_decref(claims);
        claims = NULL;
    }
    return claims;
}

/* Take text (a bare token or scontrol's "SLURM_JWT=..." line) as the
 * current token; -1 with err when it is no JWT. */
static int token_set(slurm_rest *r, const char *text, const char *from, il_buf *err)
{
    text += strspn(text, " \t\r\n");
    if (strncmp(text, "SLURM_JWT=", 10) == 0)
        text += 10;
    char *token = il_xstrndup(text, strcspn(text, " \t\r\n"));
    json_t *claims = jwt_claims(token);
    const char *sun = json_string_value(json_object_get(claims, "sun"));
    if (!claims || (!sun && !r->cfg->rest_user)) {
        il_buf_printf(err, "the slurmrestd token from %s is not a SLURM JSON Web Token "
                      "(three base64url parts whose claims name the user, \"sun\")", from);
        json_decref(claims);
        free(token);
        return -1;
    }
    free(r->token);
    free(r->user);
    r->token = token;
    r->user = il_xstrdup(r->cfg->rest_user ? r->cfg->rest_user : sun);
    r->expires = json_integer_value(json_object_get(claims, "exp"));
    json_decref(claims);
    return 0;
}

static int token_from_file(slurm_rest *r, il_buf *err)
{
    struct stat st;
    const char *path = r->cfg->rest_token_file;
    if (stat(path, &st) != 0) {
        il_buf_printf(err, "SlurmrestdTokenFile %s: %s", path, strerror(errno));
        return -1;
    }
    if (r->token && st.st_ino == r->file_seen.st_ino && st.st_size == r->file_seen.st_size &&
        st.st_mtim.tv_sec == r->file_seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == r->file_seen.st_mtim.tv_nsec)
        return 0;
    il_buf text = IL_BUF_INIT;
    int rc = il_read_file(path, TOKEN_FILE_MAX, &text);
    if (rc != 0)
        il_buf_printf(err, "SlurmrestdTokenFile %s: %s", path, strerror(errno));
    else if ((rc = token_set(r, il_buf_cstr(&text), path, err)) == 0)
        r->file_seen = st;
    il_buf_free(&text);
    if (rc == 0)
        il_info("slurmrestd token read from %s (user %s)", path, r->user);
    return rc;
}

static int token_from_scontrol(slurm_rest *r, il_buf *err)
{
    int64_t now = (int64_t)time(NULL);
    if (r->token && now < r->renew_at)
        return 0;
    int64_t life = r->cfg->rest_token_lifespan_s > 0 ? r->cfg->rest_token_lifespan_s : 3600;
    char lifespan[40], user[300];
    snprintf(lifespan, sizeof(lifespan), "lifespan=%lld", (long long)life);
    char *argv[] = {r->cfg->scontrol_path, "token", lifespan, NULL, NULL};
    if (r->cfg->rest_user) {
        snprintf(user, sizeof(user), "username=%s", r->cfg->rest_user);
        argv[3] = user;
    }
    cmd_result res;
    cmd_run(argv, r->cfg->command_timeout_s, &res);
    int rc = -1;
    if (res.status != 0)
        il_buf_printf(err, "`scontrol token` failed (exit %d): %s", res.status,
                      il_buf_cstr(&res.err));
    else
        rc = token_set(r, il_buf_cstr(&res.out), "`scontrol token`", err);
    cmd_result_free(&res);
    if (rc == 0)
        r->renew_at = now + life / 2;
    return rc;
}

/* Copies of the current token and user (renewed or re-read as needed);
 * -1 with err when there is none usable. */
static int token_get(slurm_rest *r, char **token, char **user, il_buf *err)
{
    pthread_mutex_lock(&r->lock);
    int rc = r->cfg->rest_token_file && *r->cfg->rest_token_file ? token_from_file(r, err)
                                                                 : token_from_scontrol(r, err);
    int64_t now = (int64_t)time(NULL);
    if (rc == 0 && r->expires > 0 && r->expires <= now) {
        char when[IL_RFC3339_MAX];
        il_time_format((il_time){r->expires, 0}, false, when);
        il_buf_printf(err, "the slurmrestd token (user %s) expired at %s: rotate %s", r->user,
                      when, r->cfg->rest_token_file ? r->cfg->rest_token_file : "it");
        rc = -1;
    }
    *token = rc == 0 ? il_xstrdup(r->token) : NULL;
    *user = rc == 0 ? il_xstrdup(r->user) : NULL;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

slurm_rest *rest_open(const slurm_config *cfg, il_buf *err)
{
    slurm_rest *r = il_xcalloc(1, sizeof(*r));
    r->cfg = cfg;
    pthread_mutex_init(&r->lock, NULL);
    char msg[512];
    il_httpc_opts o = {.url = cfg->rest_url, .timeout_ms = cfg->command_timeout_s * 1000};
    if (!(r->http = il_httpc_new(&o, msg, sizeof(msg)))) {
        il_buf_printf(err, "SlurmrestdURL %s: %s", cfg->rest_url, msg);
        rest_close(r);
        return NULL;
    }
    /* A token that is not usable yet (slurmctld down, a file still to be
     * rotated) fails the creates with its reason, not the start-up. */
    char *token = NULL, *user = NULL;
    il_buf why = IL_BUF_INIT;
    if (token_get(r, &token, &user, &why) == 0)
        il_info("submitting through slurmrestd at %s as %s", cfg->rest_url, user);
    else
        il_warn("submitting through slurmrestd at %s: %s", cfg->rest_url, il_buf_cstr(&why));
    il_buf_free(&why);
    free(token);
    free(user);
    return r;
}

void rest_close(slurm_rest *r)
{
    if (!r)
        return;
    il_httpc_free(r->http);
    pthread_mutex_destroy(&r->lock);
    free(r->token);
    free(r->user);
    free(r);
}

/* ---- sbatch's options as a job description --------------------------------- */

typedef enum {
    OPT_STRING,               /* --opt=text -> "text" */
    OPT_INT,                  /* --opt=N -> N */
    OPT_MINUTES,              /* SLURM time syntax -> minutes */
    OPT_MEGABYTES,            /* N[KMGT] -> MiB */
    OPT_TRUE,                 /* --opt -> true */
    OPT_FALSE,                /* --opt -> false */
    OPT_NICE,                 /* --nice[=N] -> N (100) */
    OPT_IGNORE,               /* sbatch's own (--parsable) */
} opt_kind;

typedef struct opt_map {
    const char *option;       /* the canonical long name sbatch_argv writes */
    const char *field;        /* v0.0.38 job property */
    opt_kind kind;
} opt_map;

/* Only options whose JSON form means exactly what the option means; the
 * rest (--nodes ranges, --exclusive, --export, --begin, ...) go to sbatch. */
static const opt_map opt_table[] = {
    {"parsable", NULL, OPT_IGNORE},
    {"job-name", "name", OPT_STRING},
    {"output", "standard_output", OPT_STRING},
    {"error", "standard_error", OPT_STRING},
    {"chdir", "current_working_directory", OPT_STRING},
    {"partition", "partition", OPT_STRING},
    {"account", "account", OPT_STRING},
    {"qos", "qos", OPT_STRING},
    {"comment", "comment", OPT_STRING},
    {"reservation", "reservation", OPT_STRING},
    {"constraint", "constraints", OPT_STRING},
    {"dependency", "dependency", OPT_STRING},
    {"licenses", "licenses", OPT_STRING},
    {"wckey", "wckey", OPT_STRING},
    {"mail-type", "mail_type", OPT_STRING},
    {"mail-user", "mail_user", OPT_STRING},
    {"gres", "gres", OPT_STRING},
    {"gres-flags", "gres_flags", OPT_STRING},
    {"gpus", "gpus", OPT_STRING},
    {"gpus-per-node", "gpus_per_node", OPT_STRING},
    {"gpus-per-task", "gpus_per_task", OPT_STRING},
    {"gpus-per-socket", "gpus_per_socket", OPT_STRING},
    {"cpus-per-gpu", "cpus_per_gpu", OPT_STRING},
    {"time", "time_limit", OPT_MINUTES},
    {"time-min", "time_minimum", OPT_MINUTES},
    {"cpus-per-task", "cpus_per_task", OPT_INT},
    {"ntasks", "tasks", OPT_INT},
    {"ntasks-per-node", "tasks_per_node", OPT_INT},
    {"mincpus", "minimum_cpus_per_node", OPT_INT},
    {"mem", "memory_per_node", OPT_MEGABYTES},
    {"mem-per-cpu", "memory_per_cpu", OPT_MEGABYTES},
    {"mem-per-gpu", "memory_per_gpu", OPT_MEGABYTES},
    {"hold", "hold", OPT_TRUE},
    {"requeue", "requeue", OPT_TRUE},
    {"no-requeue", "requeue", OPT_FALSE},
    {"oversubscribe", "oversubscribe", OPT_TRUE},
    {"spread-job", "spread_job", OPT_TRUE},
    {"nice", "nice", OPT_NICE},
};

/* A decimal integer that fits an int32 (SLURM's job fields). */
static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v > INT32_MAX)
        return false;
    *out = v;
    return true;
}

/* sbatch's time syntax: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S; seconds round
 * up to a minute as sbatch does.  Unlimited and anything else: false. */
static bool parse_minutes(const char *s, int64_t *out)
{
    int64_t part[4] = {0}, n = 0, days = 0;
    bool has_days = false;
    char *copy = il_xstrdup(s), *p = copy, *dash = strchr(copy, '-');
    if (dash) {
        *dash = '\0';
        has_days = parse_int(copy, &days);
        p = dash + 1;
        if (!has_days) {
            free(copy);
            return false;
        }
    }
    size_t colons = 0;   /* counted first: strtok_r cuts them out */
    for (const char *c = p; *c; c++)
        colons += *c == ':';
    for (char *save = NULL, *tok = strtok_r(p, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
        if (n == 3 || !parse_int(tok, &part[n++])) {
            free(copy);
            return false;
        }
    free(copy);
    if (n == 0 || colons != (size_t)n - 1)
        return false;
    int64_t secs;
    if (has_days)   /* D-H, D-H:M, D-H:M:S */
        secs = days * 86400 + part[0] * 3600 + (n > 1 ? part[1] * 60 : 0) + (n > 2 ? part[2] : 0);
    else if (n == 1)
        secs = part[0] * 60;
    else if (n == 2)
        secs = part[0] * 60 + part[1];
    else
        secs = part[0] * 3600 + part[1] * 60 + part[2];
    *out = (secs + 59) / 60;
    return *out <= INT32_MAX;
}

/* N with an optional K, M (default), G or T suffix -> MiB, rounded up. */
static bool parse_megabytes(const char *s, int64_t *out)
{
    size_t digits = strspn(s, "0123456789");
    char unit = s[digits] ? s[digits] : 'M';
    if (digits == 0 || digits > 12 || (s[digits] && s[digits + 1]))
        return false;
    int64_t v = strtoll(s, NULL, 10);
    switch (unit) {
    case 'K': case 'k': v = (v + 1023) / 1024; break;
    case 'M': case 'm': break;
    case 'G': case 'g': v *= 1024; break;
    case 'T': case 't': v *= 1024 * 1024; break;
    default: return false;
    }
    *out = v;
    return v <= INT32_MAX;
}

static const opt_map *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++)
        if (strlen(opt_table[i].option) == len && strncmp(opt_table[i].option, name, len) == 0)
            return &opt_table[i];
    return NULL;
}

/* One "--name[=value]" into job; false when it has no exact JSON form. */
static bool map_option(const char *arg, json_t *job)
{
    if (strncmp(arg, "--", 2) != 0)
        return false;
    const char *name = arg + 2, *eq = strchr(name, '=');
    const char *value = eq ? eq + 1 : NULL;
    const opt_map *m = opt_find(name, eq ? (size_t)(eq - name) : strlen(name));
    int64_t n = 0;
    if (!m)
        return false;
    switch (m->kind) {
    case OPT_IGNORE: return true;
    case OPT_STRING:
        if (!value || !*value)
            return false;
        return json_object_set_new(job, m->field, json_string(value)) == 0;
    case OPT_INT:
        if (!value || !parse_int(value, &n))
            return false;
        break;
    case OPT_MINUTES:
        if (!value || !parse_minutes(value, &n))
            return false;
        break;
    case OPT_MEGABYTES:
        if (!value || !parse_megabytes(value, &n))
            return false;
        break;
    case OPT_TRUE:
    case OPT_FALSE:
        if (value)
            return false;
        return json_object_set_new(job, m->field, json_boolean(m->kind == OPT_TRUE)) == 0;
    case OPT_NICE:
        if (!value)
            n = 100;
        else if (!parse_int(value, &n))   /* a negative nice needs privileges: sbatch */
            return false;
        break;
    }
    return json_object_set_new(job, m->field, json_integer(n)) == 0;
}

int rest_job_from_argv(char *const *argv, json_t **job, il_buf *why)
{
    *job = json_object();
    size_t n = 0;
    while (argv[n])
        n++;
    /* argv[0] is sbatch, the last item the script: only options between */
    for (size_t i = 1; i + 1 < n; i++) {
        if (!map_option(argv[i], *job)) {
            il_buf_printf(why, "sbatch option \"%s\" has no exact form in slurmrestd's job "
                          "description", argv[i]);
            json_decref(*job);
            *job = NULL;
            return -1;
        }
    }
    if (n < 2) {
        il_buf_puts(why, "no batch script");
        json_decref(*job);
        *job = NULL;
        return -1;
    }
    return 0;
}

int rest_job_for(const slurm_rest *r, const slurm_identity *who, const strvec *argv,
                 json_t **job, il_buf *err)
{
    *job = NULL;
    il_buf why = IL_BUF_INIT;
    if (who->who.as_user)
        il_buf_printf(&why, "it runs as UnixUser %s, whose token the plugin does not hold",
                      who->who.unix_user);
    else if (rest_job_from_argv(argv->v, job, &why) == 0)
        return 0;
    int rc = 0;
    if (r->cfg->rest_fallback && strcmp(r->cfg->rest_fallback, "refuse") == 0) {
        il_buf_printf(err, "this pod cannot be submitted through slurmrestd: %s "
                      "(SlurmrestdFallback: refuse)", il_buf_cstr(&why));
        rc = 400;
    } else {
        il_debug("submitting with sbatch: %s", il_buf_cstr(&why));
    }
    il_buf_free(&why);
    return rc;
}

/* ---- the request ------------------------------------------------------------ */

/* The plugin's environment, as sbatch's --export=ALL passes it (without a
 * token of ours, should one be there). */
static json_t *environment_json(void)
{
    json_t *env = json_object();
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e || strncmp(*e, "SLURM_JWT=", 10) == 0)
            continue;
        char *name = il_xstrndup(*e, (size_t)(eq - *e));
        json_object_set_new(env, name, json_string(eq + 1));
        free(name);
    }
    return env;
}

/* job.json's mtime at the epoch: no submission of this pod is in flight. */
static void settled(int lock_fd)
{
    const struct timespec times[2] = {{0, UTIME_OMIT}, {0, 0}};
    if (lock_fd >= 0)
        futimens(lock_fd, times);
}

void rest_settle(const slurm_rest *r, const char *pod_dir)
{
    char *path = rn_store_path(pod_dir, "job.json");
    struct stat st;
    int64_t wait_s = 0;
    if (stat(path, &st) == 0) {
        int64_t age = (int64_t)time(NULL) - (int64_t)st.st_mtim.tv_sec;
        int64_t bound = r->cfg->command_timeout_s + 1;
        if (age >= 0 && age < bound)
            wait_s = bound - age;
    }
    free(path);
    if (wait_s > 0) {
        il_info("pod directory %s: a slurmrestd submission may still be in flight; waiting "
                "%llds before looking for its job", pod_dir, (long long)wait_s);
        sleep((unsigned)wait_s);
    }
}

/* errors[] of a v0.0.38 reply as one line: "text (error N); ...". */
static void reply_errors(json_t *reply, il_buf *out)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(reply, "errors"), i, e) {
        const char *text = json_string_value(json_object_get(e, "error"));
        il_buf_printf(out, "%s%s (error %lld)", out->len ? "; " : "", text ? text : "?",
                      (long long)json_integer_value(json_object_get(e, "error_code")));
    }
}

/* A reply without a job id: SLURM's errors, classified as sbatch's are.
 * slurmctld drops the connection of a request whose token it cannot
 * verify, which slurmrestd reports as error 5005 (a controller going away
 * looks the same), so that message also names the token. */
static int refused(const slurm_rest *r, long http, json_t *reply, il_buf *err)
{
    il_buf what = IL_BUF_INIT;
    reply_errors(reply, &what);
    if (!what.len)
        il_buf_printf(&what, "HTTP %ld without a job id", http);
    int status;
    if (http == 401 || http == 403) {
        status = 503;
        il_buf_printf(err, "slurmrestd refused the credentials (HTTP %ld): %s; check the token "
                      "(%s) and SlurmrestdUser", http, il_buf_cstr(&what),
                      r->cfg->rest_token_file ? r->cfg->rest_token_file : "scontrol token");
    } else {
        slurm_failure kind = slurm_failure_classify(1, il_buf_cstr(&what));
        status = slurm_failure_http(kind);
        il_buf_printf(err, "slurmrestd: %s", il_buf_cstr(&what));
        if (strstr(il_buf_cstr(&what), "(error 5005)") ||
            strstr(il_buf_cstr(&what), "Protocol authentication error"))
            il_buf_printf(err, " -- slurmctld dropped the request: an invalid or expired token "
                          "(%s), or the controller going down",
                          r->cfg->rest_token_file ? r->cfg->rest_token_file : "scontrol token");
    }
    il_buf_free(&what);
    return status;
}

int rest_submit(slurm_rest *r, json_t *job, const char *script_path, int lock_fd, char **id,
                il_buf *err)
{
    *id = NULL;
    char *token, *user;
    if (token_get(r, &token, &user, err) != 0) {
        settled(lock_fd);
        return 503;   /* the admin's to fix; the pod is not wrong */
    }
    il_buf script = IL_BUF_INIT;
    if (il_read_file(script_path, SCRIPT_MAX, &script) != 0) {
        il_buf_printf(err, "reading %s: %s", script_path, strerror(errno));
        settled(lock_fd);
        il_buf_free(&script);
        free(token);
        free(user);
        return 500;
    }
    json_t *desc = json_deep_copy(job);
    json_object_set_new(desc, "environment", environment_json());
    json_t *body_json = json_pack("{s:s%, s:o}", "script", script.data ? script.data : "",
                                  script.len, "job", desc);
    char *body = json_dumps(body_json, JSON_COMPACT);
    json_decref(body_json);
    il_buf_free(&script);
    char *h_user = il_xasprintf("X-SLURM-USER-NAME: %s", user);
    char *h_token = il_xasprintf("X-SLURM-USER-TOKEN: %s", token);
    const char *headers[] = {h_user, h_token, NULL};
    il_httpc_req req = {.method = "POST", .path = REST_SUBMIT_PATH, .headers = headers,
                        .body = body, .len = strlen(body)};
    il_http_result res;
    int status = 503;
    if (il_httpc_call(r->http, &req, &res) != 0) {
        /* Not connected: nothing was sent.  Otherwise the request may be
         * in slurmrestd still: a retry waits for it (rest_settle). */
        if (strncmp(res.error, "Couldn't connect", 16) == 0)
            settled(lock_fd);
        il_buf_printf(err, "slurmrestd at %s: %s", r->cfg->rest_url, res.error);
    } else {
        settled(lock_fd);   /* slurmrestd answered: nothing of ours is in flight */
        json_t *reply = json_loadb(il_buf_cstr(&res.body), res.body.len, 0, NULL);
        json_int_t job_id = json_integer_value(json_object_get(reply, "job_id"));
        if (job_id > 0) {
            *id = il_xasprintf("%lld", (long long)job_id);
            status = 0;
        } else {
            status = refused(r, res.status, reply, err);
        }
        json_decref(reply);
    }
    il_http_result_free(&res);
    free(h_user);
    free(h_token);
    free(body);
    free(token);
    free(user);
    return status;
}
