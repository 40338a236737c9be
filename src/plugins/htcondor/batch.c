/* batch.c -- condor_submit, many pods at a time.
 *
 * The schedd handles one submission at a time, and one condor_submit that
 * queues many procs costs little more than one that queues a single job,
 * so creates that arrive together are gathered into one condor_submit:
 * group commit.  The first create to find no batch forming leads one: it
 * waits SubmitBatchWindowMs (or until SubmitBatchMax pods wait), takes the
 * waiting pods of one submitting user whose job.sub is the same but for
 * their directory and UID,
 * and submits them with `queue IL_PodDir,IL_PodUid from ( ... )`: one
 * cluster, one proc per pod, in the list's order.  While it runs, the next
 * creates gather into the next batch (SubmitParallel condor_submits at
 * most run at once).
 *
 * Each pod still gets exactly one job, with the crash safety of a single
 * submission (create.c): there, condor_submit inherits the pod's create
 * lock as fd 3, so a repeated create waits for a submission that outlived
 * the plugin before asking HTCondor for the pod's job.  A batch has one
 * submit file for many pods; that file is the lock: flock'ed, inherited as
 * fd 3, and hard-linked into every pod directory of the batch as
 * job.batch, where htc_batch_wait finds it.  Failures: a schedd that does
 * not answer fails every pod of the batch with 503 (a retry finds what
 * was submitted); a refused batch (one bad pod aborts the transaction)
 * sends every pod back to be looked up and submitted alone. */
#include "htcondor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define BATCH_LINK "job.batch"
#define DIR_MACRO "$(IL_PodDir)"
#define UID_MACRO "$(IL_PodUid)"
#define QUEUE_ONE "queue 1\n"

enum { RETRY_ALONE = -1 };

typedef struct pending {
    const char *user;         /* submit as; "" or NULL: ourselves */
    const char *dir;
    const char *uid;
    char *tmpl;               /* job.sub with DIR_MACRO and UID_MACRO: the batch key */
    int lock_fd;              /* the pod's create lock: fd 3 of a submission alone */
    int status;               /* 0, an HTTP status or RETRY_ALONE */
    char *id;
    il_buf err;
    bool taken, done;
    struct pending *next;
} pending;

struct htc_batcher {
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* on CLOCK_MONOTONIC: the window is a wait */
    pending *head;
    size_t n_pending;
    bool collecting;          /* a leader is gathering a batch */
    int64_t in_flight;        /* condor_submits running */
};

htc_batcher *htc_batcher_new(void)
{
    htc_batcher *b = il_xcalloc(1, sizeof(*b));
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, &attr);
    pthread_condattr_destroy(&attr);
    return b;
}

void htc_batcher_free(htc_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

/* ---- the batch description: pure, unit-tested ------------------------------ */

static void replace_all(il_buf *out, const char *text, const char *what, const char *with)
{
    size_t len = strlen(what);
    const char *p;
    while ((p = strstr(text, what)) != NULL) {
        il_buf_append(out, text, (size_t)(p - text));
        il_buf_puts(out, with);
        text = p + len;
    }
    il_buf_puts(out, text);
}

char *htc_batch_template(const char *text, const char *dir, const char *uid)
{
    size_t len = strlen(text), qlen = strlen(QUEUE_ONE);
    /* job.sub holds no '$' of its own (submit.c refuses it), so the macros
     * put in here are the only ones and expanding them gives text back. */
    if (strchr(text, '$') || len < qlen || strcmp(text + len - qlen, QUEUE_ONE) != 0)
        return NULL;
    il_buf a = IL_BUF_INIT, b = IL_BUF_INIT;
    replace_all(&a, text, dir, DIR_MACRO);
    replace_all(&b, il_buf_cstr(&a), uid, UID_MACRO);
    il_buf_free(&a);
    return il_buf_steal(&b);
}

void htc_batch_text(const char *tmpl, char *const *dirs, char *const *uids, size_t n,
                    il_buf *out)
{
    il_buf_append(out, tmpl, strlen(tmpl) - strlen(QUEUE_ONE));
    il_buf_puts(out, "queue IL_PodDir,IL_PodUid from (\n");
    for (size_t i = 0; i < n; i++)
        il_buf_printf(out, "%s %s\n", dirs[i], uids[i]);   /* plain paths, UUIDs */
    il_buf_puts(out, ")\n");
}

/* One "C.P" id. */
static const char *parse_id(const char *p, long long *cluster, long long *proc)
{
    char *end;
    errno = 0;
    *cluster = strtoll(p, &end, 10);
    if (end == p || *end != '.' || errno)
        return NULL;
    p = end + 1;
    *proc = strtoll(p, &end, 10);
    return end == p || errno || *cluster < 0 || *proc < 0 ? NULL : end;
}

ssize_t htc_parse_submitted(const char *terse, size_t max, char **ids)
{
    size_t n = 0;
    const char *p = terse;
    while (*p) {
        p += strspn(p, " \t\r\n");
        if (!*p)
            break;
        long long c0, p0, c1, p1;
        if (!(p = parse_id(p, &c0, &p0)) || strncmp(p, " - ", 3) != 0 ||
            !(p = parse_id(p + 3, &c1, &p1)) || c0 != c1 || p1 < p0 ||
            (size_t)(p1 - p0) >= max - n) {
            for (size_t i = 0; i < n; i++)
                free(ids[i]);
            return -1;
        }
        for (long long q = p0; q <= p1; q++)
            ids[n++] = il_xasprintf("%lld.%lld", c0, q);
    }
    return (ssize_t)n;
}

/* ---- running condor_submit ---------------------------------------------------- */

/* The schedd could not be reached (503: try again) or refused the job (400). */
static int submit_failure_status(const cmd_result *res)
{
    const char *text = il_buf_cstr(&res->err);
    return res->status < 0 || strstr(text, "connect") || strstr(text, "Can't find address") ||
           strstr(text, "unknown host") || strstr(text, "timed out") ? 503 : 400;
}

/* condor_submit of path, fd3 inherited, expecting n jobs: 0 with ids, or
 * an HTTP status (500: submitted, but the ids cannot be told). */
static int run_submit(const htc_config *cfg, const char *user, const char *path, int fd3,
                      size_t n, char **ids, il_buf *err)
{
    strvec argv = {0};
    htc_tool_argv_as(cfg, user, "condor_submit", &argv);
    if (cfg->spool)
        rn_strvec_push(&argv, "-spool");
    rn_strvec_push(&argv, "-terse");
    rn_strvec_push(&argv, path);
    cmd_result res;
    cmd_run_fd3(argv.v, fd3, cfg->command_timeout_s, &res);
    int rc = 0;
    ssize_t got;
    if (res.status != 0) {
        rc = submit_failure_status(&res);
        il_buf_printf(err, "condor_submit failed (exit %d): %s%s", res.status,
                      il_buf_cstr(&res.err), il_buf_cstr(&res.out));
    } else if ((got = htc_parse_submitted(il_buf_cstr(&res.out), n, ids)) != (ssize_t)n) {
        for (ssize_t i = 0; i < got; i++) {
            free(ids[i]);
            ids[i] = NULL;
        }
        rc = 500;
        il_buf_printf(err, "condor_submit answered \"%s\" for %zu jobs", il_buf_cstr(&res.out),
                      n);
    }
    cmd_result_free(&res);
    rn_strvec_free(&argv);
    return rc;
}

static int submit_alone(const htc_config *cfg, const char *user, const char *dir, int lock_fd,
                        char **id, il_buf *err)
{
    char *path = rn_store_path(dir, "job.sub");
    int rc = run_submit(cfg, user, path, lock_fd, 1, id, err);
    free(path);
    return rc;
}

/* The batch file, flock'ed and linked into every pod directory; -1 with err. */
static int batch_file(const htc_ctx *ctx, pending **batch, size_t k, const char *text,
                      char **path, il_buf *err)
{
    *path = il_xasprintf("%s/.batch-XXXXXX", ctx->pods_dir);
    int fd = mkostemp(*path, O_CLOEXEC);
    size_t len = strlen(text);
    bool ok = fd >= 0 && fchmod(fd, 0644) == 0 && il_write_all(fd, text, len) == (ssize_t)len &&
              flock(fd, LOCK_EX) == 0;
    for (size_t i = 0; ok && i < k; i++) {
        char *link_path = rn_store_path(batch[i]->dir, BATCH_LINK);
        unlink(link_path);   /* one a crashed batch left */
        ok = link(*path, link_path) == 0;
        free(link_path);
    }
    if (!ok)
        il_buf_printf(err, "writing the batch submit file %s: %s", *path, strerror(errno));
    if (!ok && fd >= 0)
        close(fd);
    return ok ? fd : -1;
}

static void batch_unlink(pending **batch, size_t k, const char *path)
{
    for (size_t i = 0; i < k; i++) {
        char *link_path = rn_store_path(batch[i]->dir, BATCH_LINK);
        unlink(link_path);
        free(link_path);
    }
    unlink(path);
}

static void run_batch(const htc_ctx *ctx, pending **batch, size_t k)
{
    if (k == 1) {
        batch[0]->status = submit_alone(ctx->cfg, batch[0]->user, batch[0]->dir,
                                        batch[0]->lock_fd, &batch[0]->id, &batch[0]->err);
        return;
    }
    char **dirs = il_xcalloc(k, sizeof(*dirs)), **uids = il_xcalloc(k, sizeof(*uids));
    char **ids = il_xcalloc(k, sizeof(*ids));
    for (size_t i = 0; i < k; i++) {
        dirs[i] = (char *)batch[i]->dir;
        uids[i] = (char *)batch[i]->uid;
    }
    il_buf text = IL_BUF_INIT, err = IL_BUF_INIT;
    htc_batch_text(batch[0]->tmpl, dirs, uids, k, &text);
    char *path;
    int fd = batch_file(ctx, batch, k, il_buf_cstr(&text), &path, &err);
    int rc = fd < 0 ? 500 : run_submit(ctx->cfg, batch[0]->user, path, fd, k, ids, &err);
    if (rc == 0)
        il_debug("one condor_submit queued %zu pods", k);
    else
        il_warn("a batch of %zu pods: %s", k, il_buf_cstr(&err));
    batch_unlink(batch, k, path);
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < k; i++) {
        batch[i]->id = ids[i];
        batch[i]->status = rc == 400 ? RETRY_ALONE : rc;
        if (rc != 0 && rc != 400)
            il_buf_puts(&batch[i]->err, il_buf_cstr(&err));
    }
    il_buf_free(&text);
    il_buf_free(&err);
    free(path);
    free(dirs);
    free(uids);
    free(ids);
}

/* ---- gathering ------------------------------------------------------------------ */

/* With b->mu held: gather for the window, take one batch (the oldest
 * pod's template), submit it unlocked, hand out the results. */
static void lead(htc_batcher *b, const htc_ctx *ctx)
{
    const htc_config *cfg = ctx->cfg;
    b->collecting = true;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + cfg->batch_window_ms * 1000000;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    while (b->n_pending < (size_t)cfg->batch_max &&
           pthread_cond_timedwait(&b->cv, &b->mu, &until) != ETIMEDOUT) {}
    pending **batch = il_xcalloc((size_t)cfg->batch_max, sizeof(*batch));
    size_t k = 0;
    const char *tmpl = b->head->tmpl, *user = b->head->user;
    for (pending **pp = &b->head; *pp && k < (size_t)cfg->batch_max;) {
        pending *p = *pp;
        if (strcmp(p->tmpl, tmpl) == 0 && strcmp(p->user, user) == 0) {
            *pp = p->next;
            p->taken = true;
            batch[k++] = p;
        } else {
            pp = &p->next;
        }
    }
    b->n_pending -= k;
    b->collecting = false;
    b->in_flight++;
    pthread_cond_broadcast(&b->cv);   /* the next batch may gather now */
    pthread_mutex_unlock(&b->mu);
    run_batch(ctx, batch, k);
    pthread_mutex_lock(&b->mu);
    b->in_flight--;
    for (size_t i = 0; i < k; i++)
        batch[i]->done = true;
    pthread_cond_broadcast(&b->cv);
    free(batch);
}

/* A pod of a refused batch: an aborted transaction submitted nothing, but
 * a condor_submit that died after committing did; look before submitting. */
static int retry_alone(const htc_ctx *ctx, pending *p)
{
    if (htc_find_by_uid(ctx->cfg, p->uid, &p->id) != 0) {
        il_buf_printf(&p->err, "pod %s may have a job already, and HTCondor cannot tell",
                      p->uid);
        return 503;
    }
    return p->id ? 0 : submit_alone(ctx->cfg, p->user, p->dir, p->lock_fd, &p->id, &p->err);
}

int htc_batch_submit(const htc_ctx *ctx, const char *user, const char *dir, const char *uid,
                     const char *text, int lock_fd, char **id, il_buf *err)
{
    *id = NULL;
    user = user ? user : "";
    char *tmpl = ctx->cfg->batch_max > 1 ? htc_batch_template(text, dir, uid) : NULL;
    if (!tmpl)
        return submit_alone(ctx->cfg, user, dir, lock_fd, id, err);
    htc_batcher *b = ctx->batcher;
    pending p = {.user = user, .dir = dir, .uid = uid, .tmpl = tmpl, .lock_fd = lock_fd,
                 .err = IL_BUF_INIT};
    pthread_mutex_lock(&b->mu);
    pending **tail = &b->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = &p;
    b->n_pending++;
    pthread_cond_broadcast(&b->cv);
    while (!p.done) {
        if (!p.taken && !b->collecting && b->in_flight < ctx->cfg->submit_parallel)
            lead(b, ctx);
        else
            pthread_cond_wait(&b->cv, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    int rc = p.status == RETRY_ALONE ? retry_alone(ctx, &p) : p.status;
    *id = p.id;
    il_buf_puts(err, il_buf_cstr(&p.err));
    il_buf_free(&p.err);
    free(tmpl);
    return rc;
}

void htc_batch_wait(const char *dir)
{
    char *path = rn_store_path(dir, BATCH_LINK);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        il_info("pod %s was in a batch submission: waiting for it to end", dir);
        while (flock(fd, LOCK_SH) != 0 && errno == EINTR) {}
        close(fd);
        unlink(path);
    }
    free(path);
}

void htc_batch_clean(const char *pods_dir)
{
    DIR *d = opendir(pods_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".batch-", 7) == 0)
            unlinkat(dirfd(d), e->d_name, 0);   /* the pods' links keep the locks */
    }
    if (d)
        closedir(d);
}
