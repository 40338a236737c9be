/* logfile.c -- container log files: records written by the supervisor,
 * read back by /getLogs.
 *
 * Format (the CRI log format kubelets use): one record per line,
 *   "<RFC3339Nano time> <stdout|stderr> <F|P> <bytes>\n"
 * F ends a line; P is a piece of a longer line, or a last line without a
 * newline, so the original bytes come back exactly.  Times are kept per
 * line, which makes Timestamps, SinceTime and SinceSeconds work after the
 * fact and across plugin restarts.  Records are appended with one write()
 * each; a reader only consumes up to the last '\n' it has seen. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"
#include "timeutil.h"

#define LOG_LINE_MAX (16 * 1024)      /* longer lines are split into P records */
#define TAIL_MAX (1 << 20)            /* Tail beyond this means "everything" */
#define LOG_PENDING_MAX (4 << 20)     /* per stream, while the disk is full */
#define FOLLOW_POLL_US (100 * 1000)
#define FOLLOW_AGAIN_POLLS 9          /* ~0.9 s without data: IL_STREAM_AGAIN */

/* ---- writing ----------------------------------------------------------- */

bool rn_log_writer_retry(log_writer *w)
{
    if (w->pending.len == 0)
        return true;
    /* Whole records or nothing: a record torn by ENOSPC would glue the
     * next one to it, so the file is cut back to where this write began. */
    off_t end = lseek(w->fd, 0, SEEK_END);
    if (end < 0 || il_write_all(w->fd, w->pending.data, w->pending.len) < 0) {
        if (end >= 0 && ftruncate(w->fd, end) != 0)
            il_warn("cutting a torn log record: %s", strerror(errno));
        return false;
    }
    il_buf_reset(&w->pending);
    return true;
}

/* Records queue behind those a full disk refused, so their order holds;
 * the queue is bounded (a container that logs fast on a full disk loses
 * the newest records, and says so once). */
static void write_record(log_writer *w, char tag, const char *data, size_t len)
{
    char ts[IL_RFC3339_MAX];
    il_time_format(il_time_now(), true, ts);
    size_t before = w->pending.len;
    il_buf_printf(&w->pending, "%s %s %c ", ts, w->stream, tag);
    il_buf_append(&w->pending, data, len);
    il_buf_append(&w->pending, "\n", 1);
    if (w->pending.len > LOG_PENDING_MAX) {
        w->pending.len = before;   /* drop this record */
        if (!w->dropped)
            il_warn("container log: the disk is full and %d bytes are waiting: dropping records",
                    LOG_PENDING_MAX);
        w->dropped = true;
    }
    if (!rn_log_writer_retry(w) && before == 0)
        il_warn("writing container log: %s (kept, retrying)", strerror(errno));
}

void rn_log_writer_feed(log_writer *w, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (w->line.len + take > LOG_LINE_MAX)
            take = LOG_LINE_MAX - w->line.len;
        il_buf_append(&w->line, data, take);
        data += take;
        len -= take;
        if (len > 0 && *data == '\n') {
            write_record(w, 'F', w->line.data, w->line.len);
            il_buf_reset(&w->line);
            data++;
            len--;
        } else if (w->line.len >= LOG_LINE_MAX) {
            write_record(w, 'P', w->line.data, w->line.len);
            il_buf_reset(&w->line);
        }
    }
}

void rn_log_writer_flush(log_writer *w)
{
    if (w->line.len > 0)
        write_record(w, 'P', w->line.data, w->line.len);
    il_buf_reset(&w->line);
}

void rn_log_writer_free(log_writer *w)
{
    il_buf_free(&w->pending);
    il_buf_free(&w->line);
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct log_record {
    const char *ts;           /* not NUL-terminated */
    size_t ts_len;
    il_time time;
    bool full;                /* F: the record ends a line */
    const char *data;
    size_t len;
} log_record;

/* Parse the record in [p, nl); -1 for a malformed line (skipped). */
static int parse_record(const char *p, const char *nl, log_record *rec)
{
    const char *sp1 = memchr(p, ' ', (size_t)(nl - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1)) : NULL;
    if (!sp2 || nl - sp2 < 3 || sp2[2] != ' ' || (sp2[1] != 'F' && sp2[1] != 'P'))
        return -1;
    char ts[IL_RFC3339_MAX];
    size_t ts_len = (size_t)(sp1 - p);
    if (ts_len >= sizeof(ts))
        return -1;
    memcpy(ts, p, ts_len);
    ts[ts_len] = '\0';
    if (il_time_parse(ts, &rec->time) != 0)
        return -1;
    rec->ts = p;
    rec->ts_len = ts_len;
    rec->full = sp2[1] == 'F';
    rec->data = sp2 + 3;
    rec->len = (size_t)(nl - rec->data);
    return 0;
}

static bool before(il_time a, il_time b)
{
    return a.sec < b.sec || (a.sec == b.sec && a.nsec < b.nsec);
}

/* ---- reading ----------------------------------------------------------- */

typedef struct log_stream {
    int fd;                   /* -1: the container has not started yet (no log file) */
    char *pod_dir;
    char *ctr_dir;
    logs_pod_alive_fn pod_alive;
    void *pod_alive_ctx;
    bool follow;
    bool timestamps;
    int64_t limit_left;       /* bytes still allowed; -1 = unlimited */
    il_buf pending;           /* file bytes after the last complete record */
    il_buf out;               /* formatted bytes not yet handed out */
    size_t out_pos;
    bool line_start;          /* the next record starts a line */
    bool finished_seen;       /* container ended: read to EOF, then stop */
    bool done;
} log_stream;

/* Where output starts: the first line at or after `since`, then the last
 * `tail` of those lines.  One forward pass keeping a ring of line starts. */
static off_t start_offset(int fd, il_time since, int64_t tail)
{
    size_t ring_len = tail > 0 && tail <= TAIL_MAX ? (size_t)tail : 0;
    off_t *ring = ring_len ? il_xcalloc(ring_len, sizeof(off_t)) : NULL;
    size_t lines = 0;
    off_t first = -1, offset = 0;
    bool line_start = true;
    il_buf buf = IL_BUF_INIT;
    char chunk[65536];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof(chunk))) > 0) {
        il_buf_append(&buf, chunk, (size_t)got);
        const char *p = buf.data, *end = buf.data + buf.len, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            log_record rec;
            bool ok = parse_record(p, nl, &rec) == 0;
            if (ok && line_start && !before(rec.time, since)) {
                if (first < 0)
                    first = offset;
                if (ring)
                    ring[lines % ring_len] = offset;
                lines++;
            }
            if (ok)
                line_start = rec.full;
            offset += nl + 1 - p;
            p = nl + 1;
        }
        size_t rest = (size_t)(end - p);
        memmove(buf.data, p, rest);
        buf.len = rest;
    }
    il_buf_free(&buf);
    off_t start = first < 0 ? offset : first;
    if (ring && lines > ring_len)
        start = ring[lines % ring_len];
    free(ring);
    return start;
}

static void emit_record(log_stream *s, const log_record *rec)
{
    size_t before_len = s->out.len;
    if (s->timestamps && s->line_start) {
        il_buf_append(&s->out, rec->ts, rec->ts_len);
        il_buf_append(&s->out, " ", 1);
    }
    il_buf_append(&s->out, rec->data, rec->len);
    if (rec->full)
        il_buf_append(&s->out, "\n", 1);
    s->line_start = rec->full;
    if (s->limit_left >= 0) {
        size_t added = s->out.len - before_len;
        if ((int64_t)added >= s->limit_left) {
            s->out.len = before_len + (size_t)s->limit_left;
            s->limit_left = 0;
            s->done = true;
        } else {
            s->limit_left -= (int64_t)added;
        }
    }
}

/* Turn the complete records in pending into output. */
static void drain_pending(log_stream *s)
{
    const char *p = s->pending.data, *end = p + s->pending.len, *nl;
    while (!s->done && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        log_record rec;
        if (parse_record(p, nl, &rec) == 0)
            emit_record(s, &rec);
        p = nl + 1;
    }
    size_t rest = (size_t)(end - p);
    memmove(s->pending.data, p, rest);
    s->pending.len = rest;
}

static int open_log(const char *ctr_dir)
{
    char *path = rn_store_path(ctr_dir, "log");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    return fd;
}

/* Follow ends when the container can produce nothing more: terminated,
 * its pod deleted, or its supervisor gone (the backend's judgement). */
static bool container_finished(const log_stream *s)
{
    il_container_status st = {0};
    if (rn_state_read(s->ctr_dir, &st, NULL) != 0)
        return s->fd >= 0 || !s->pod_alive(s->pod_dir, s->pod_alive_ctx);   /* not started yet */
    bool finished = st.state == IL_STATE_TERMINATED;
    il_container_status_free(&st);
    return finished || !s->pod_alive(s->pod_dir, s->pod_alive_ctx);
}

/* Read more of the file; 1 if output is ready, 0 at end, AGAIN if idle. */
static ssize_t fill(log_stream *s)
{
    char chunk[65536];
    for (int idle = 0; !s->done && s->out.len == s->out_pos;) {
        if (s->fd < 0)
            s->fd = open_log(s->ctr_dir);
        ssize_t got = s->fd >= 0 ? read(s->fd, chunk, sizeof(chunk)) : 0;
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got > 0) {
            il_buf_append(&s->pending, chunk, (size_t)got);
            drain_pending(s);
            continue;
        }
        if (!s->follow || s->finished_seen) {
            s->done = true;
        } else if (container_finished(s)) {
            s->finished_seen = true;   /* one more pass picks up the last records */
        } else if (++idle > FOLLOW_AGAIN_POLLS) {
            return IL_STREAM_AGAIN;
        } else {
            usleep(FOLLOW_POLL_US);
        }
    }
    return s->out.len > s->out_pos ? 1 : 0;
}

ssize_t rn_logs_read(void *stream, char *buf, size_t max)
{
    log_stream *s = stream;
    if (s->out_pos == s->out.len) {
        il_buf_reset(&s->out);
        s->out_pos = 0;
        ssize_t rc = fill(s);
        if (rc <= 0)
            return rc;
    }
    size_t n = s->out.len - s->out_pos;
    if (n > max)
        n = max;
    memcpy(buf, s->out.data + s->out_pos, n);
    s->out_pos += n;
    return (ssize_t)n;
}

void rn_logs_close(void *stream)
{
    log_stream *s = stream;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->pod_dir);
    free(s->ctr_dir);
    il_buf_free(&s->pending);
    il_buf_free(&s->out);
    free(s);
}

static il_time since_of(const il_log_request *req)
{
    if (!il_time_is_zero(req->since_time))
        return req->since_time;
    if (req->since_seconds > 0) {
        il_time now = il_time_now();
        now.sec -= req->since_seconds;
        return now;
    }
    return IL_TIME_ZERO;
}

/* A container of the pod whose log does not exist yet: declared in the
 * pod, not started (lazy layouts, poddir_opts).  Its log is empty so far. */
static bool declared_not_started(const char *pod_dir, const char *name)
{
    il_create_request req;
    if (errno != ENOENT || rn_store_read_request(pod_dir, &req, NULL) != 0)
        return false;
    bool found = false;
    for (size_t i = 0; i < req.pod.n_init_containers && !found; i++)
        found = strcmp(req.pod.init_containers[i].name, name) == 0;
    for (size_t i = 0; i < req.pod.n_containers && !found; i++)
        found = strcmp(req.pod.containers[i].name, name) == 0;
    il_create_request_free(&req);
    return found;
}

il_fail rn_logs_open_in(const char *pods_dir, const il_log_request *req,
                        logs_pod_alive_fn alive, void *alive_ctx, void **stream, il_buf *err)
{
    if (!il_is_uuid(req->pod_uid) || !il_is_dns_label(req->container)) {
        il_buf_printf(err, "invalid pod UID or container name");
        return IL_FAIL_INPUT;
    }
    if (req->previous) {
        il_buf_printf(err, "previous terminated container \"%s\" in pod \"%s\" not found: "
                      "containers are never restarted", req->container, req->pod_name);
        return IL_FAIL_INPUT;
    }
    log_stream *s = il_xcalloc(1, sizeof(*s));
    s->pod_dir = rn_store_pod_dir(pods_dir, req->pod_uid);
    s->ctr_dir = rn_store_ctr_dir(s->pod_dir, req->container);
    s->pod_alive = alive;
    s->pod_alive_ctx = alive_ctx;
    s->fd = open_log(s->ctr_dir);
    if (s->fd < 0 && !declared_not_started(s->pod_dir, req->container)) {
        il_buf_printf(err, "container \"%s\" of pod %s/%s (uid %s) not found", req->container,
                      req->ns, req->pod_name, req->pod_uid);
        rn_logs_close(s);
        return IL_FAIL_NOT_FOUND;
    }
    s->follow = req->follow;
    s->timestamps = req->timestamps;
    s->limit_left = req->limit_bytes > 0 ? req->limit_bytes : -1;
    s->line_start = true;
    il_time since = since_of(req);
    if (s->fd >= 0 && (req->tail > 0 || !il_time_is_zero(since)))
        lseek(s->fd, start_offset(s->fd, since, req->tail), SEEK_SET);
    *stream = s;
    return IL_OK;
}
