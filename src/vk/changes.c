/* changes.c -- hearing from interlink that pod statuses changed.
 *
 * Owns the watcher thread: it long-polls interlink's GET /watch (our
 * extension, src/api/watch.c) and pokes the status loop when a pod of this
 * node changed, so a new status reaches the API server about a second after
 * the backend shows it instead of at the next StatusIntervalSeconds tick.
 * The status loop keeps its interval either way; this only makes it sooner,
 * and the cycle it triggers is the ordinary batched one.
 *
 * An upstream interlink has no /watch: its 404 (or a proxy's 405) turns the
 * watcher off for good, logged once, and interval polling is all there is.
 * When interlink is down or refuses (429, 5xx) the watcher retries with
 * backoff.  A resync (410: interlink restarted, or this VK fell behind its
 * journal) is a poke like any other: a cycle looks at every pod anyway. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"
#include "util.h"
#include "vk.h"

/* Longest wait asked of interlink (timeoutSeconds); shorter when
 * InterlinkTimeoutSeconds is. */
#define WATCH_POLL_S 30
#define WATCH_BODY_MAX (16 * 1024 * 1024)

typedef struct watch_state {
    bool known;                  /* since is a generation interlink gave us */
    unsigned long long since;
    int failures;                /* in a row, for the backoff and the logs */
    bool empty;                  /* the last answer (200 or 410) listed no change */
} watch_state;

typedef enum { WATCH_ANSWERED, WATCH_UNSUPPORTED, WATCH_FAILED, WATCH_STOPPED } watch_result;

/* Read the whole answer, checking for a stop every second or so.
 * 0 done, 1 stopping, -1 failed (why says so). */
static int read_answer(vk *v, il_httpc_stream *s, int64_t deadline_ms, il_buf *out, char *why,
                       size_t len)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = il_httpc_stream_read(s, chunk, sizeof chunk);
        if (n > 0 && out->len + (size_t)n > WATCH_BODY_MAX) {
            snprintf(why, len, "/watch answer larger than %d bytes", WATCH_BODY_MAX);
            return -1;
        }
        if (n > 0)
            il_buf_append(out, chunk, (size_t)n);
        else if (n == 0)
            return 0;
        else if (n != IL_STREAM_AGAIN) {
            snprintf(why, len, "/watch answer cut off");
            return -1;
        } else if (vk_stopping(v)) {
            return 1;
        } else if (il_monotonic_ms() > deadline_ms) {
            snprintf(why, len, "/watch did not finish its answer in time");
            return -1;
        }
    }
}

/* Whether any entry of pods (the answer's list) is a pod of this node. */
static bool touches_our_pods(vk *v, const json_t *pods)
{
    size_t i;
    const json_t *entry;
    json_array_foreach(pods, i, entry) {
        const char *uid = json_string_value(json_object_get(entry, "UID"));
        if (uid && vk_pods_has(v->pods, uid))
            return true;
    }
    return false;
}

/* Act on one answer: poke the status loop when it matters, move since on. */
static watch_result take_answer(vk *v, watch_state *ws, long status, const il_buf *body,
                                char *why, size_t len)
{
    if (status == 404 || status == 405)
        return WATCH_UNSUPPORTED;
    json_t *answer = json_loadb(il_buf_cstr(body), body->len, 0, NULL);
    json_t *gen = json_object_get(answer, "generation");
    watch_result rc = WATCH_ANSWERED;
    if ((status != 200 && status != 410) || !json_is_integer(gen) ||
        json_integer_value(gen) < 0) {
        const char *text = il_buf_cstr(body);
        size_t line = strcspn(text, "\r\n");
        snprintf(why, len, "/watch: HTTP %ld: %.*s", status, (int)(line > 300 ? 300 : line), text);
        rc = WATCH_FAILED;
    } else {
        if (status == 410)
            il_info("interlink asks for a resync (restarted, or this VK fell behind): "
                    "refreshing every pod");
        /* The first answer: what changed before it is unknown, so look once. */
        if (status == 410 || !ws->known || json_is_true(json_object_get(answer, "resync")) ||
            touches_our_pods(v, json_object_get(answer, "pods")))
            vk_status_poke(v);
        ws->empty = json_array_size(json_object_get(answer, "pods")) == 0;
        ws->since = (unsigned long long)json_integer_value(gen);
        ws->known = true;
    }
    json_decref(answer);
    return rc;
}

/* One long poll: from the last generation seen, or (first) for the current one. */
static watch_result poll_once(vk *v, watch_state *ws, char *why, size_t len)
{
    int64_t wait_s = v->cfg->timeout_s < WATCH_POLL_S ? v->cfg->timeout_s : WATCH_POLL_S;
    char path[96] = "/watch";
    if (ws->known)
        snprintf(path, sizeof path, "/watch?since=%llu&timeoutSeconds=%lld", ws->since,
                 (long long)wait_s);
    long status = 0;
    il_httpc_stream *s = vk_interlink_stream(v->il, "GET", path, "Watch", NULL, &status, why,
                                             len);
    if (!s)
        return vk_stopping(v) ? WATCH_STOPPED : WATCH_FAILED;
    il_buf body = IL_BUF_INIT;
    int64_t deadline = il_monotonic_ms() + (wait_s + v->cfg->timeout_s) * 1000;
    int rc = read_answer(v, s, deadline, &body, why, len);
    il_httpc_stream_close(s);
    watch_result result = rc > 0   ? WATCH_STOPPED
                          : rc < 0 ? WATCH_FAILED
                                   : take_answer(v, ws, status, &body, why, len);
    il_buf_free(&body);
    return result;
}

void *vk_changes_loop(void *arg)
{
    vk *v = arg;
    if (!v->cfg->status_watch) {
        il_info("StatusWatch is off: pod statuses polled every %lld s",
                (long long)v->cfg->status_interval_s);
        return NULL;
    }
    watch_state ws = {0};
    for (;;) {
        char why[512] = "";
        bool was_known = ws.known;
        int64_t asked = il_monotonic_ms();
        watch_result rc = poll_once(v, &ws, why, sizeof why);
        if (rc == WATCH_STOPPED || vk_stopping(v))
            break;
        if (rc == WATCH_UNSUPPORTED) {
            il_info("interlink at %s has no /watch (an upstream interlink?): pod statuses "
                    "polled every %lld s", vk_interlink_url(v->il),
                    (long long)v->cfg->status_interval_s);
            break;
        }
        if (rc == WATCH_ANSWERED) {
            if (!was_known || ws.failures > 0)
                il_info("watching interlink for status changes (generation %llu)", ws.since);
            ws.failures = 0;
            /* An interlink that answers long polls at once with nothing must not
             * spin us. */
            if (was_known && ws.empty && il_monotonic_ms() - asked < 100 && !vk_sleep(v, 1000))
                break;
            continue;
        }
        if (ws.failures++ == 0)
            il_warn("status watch: %s; retrying with backoff (statuses still polled every "
                    "%lld s)", why, (long long)v->cfg->status_interval_s);
        else
            il_debug("status watch: %s", why);
        if (!vk_sleep(v, vk_backoff_ms(ws.failures, 1000, 30000)))
            break;
    }
    return NULL;
}
