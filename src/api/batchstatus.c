/* batchstatus.c -- GET /status, GET /pods and POST /updateCache.
 *
 * A status request for N pods costs at most one plugin call: pods whose
 * stored status is already terminal are answered from the state database,
 * the rest go to the plugin together, and its answers are stored in one
 * transaction.  (Upstream's VK asked one pod per call and interLink kept a
 * memory-only cache that its own /updateCache could not clear.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "jsonscan.h"
#include "jsonsplit.h"
#include "log.h"
#include "metrics.h"
#include "pod.h"
#include "podscan.h"
#include "recent.h"
#include "tenants.h"
#include "timeutil.h"
#include "watch.h"
#include "wire.h"

static const char *pod_uid(json_t *pod)
{
    return json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid"));
}

/* ---- a batch: what a refresh needs of each pod --------------------------------
 *
 * Whole jansson trees of 10,000 pods, their stored statuses and the
 * plugin's answer were tens of megabytes at once (about 13 bytes of heap
 * per byte of JSON).  A batch keeps per pod only its names and the text of
 * its JSON: pods are parsed one at a time, forwarded to the plugin as
 * received, and statuses are stored, compared and answered as text. */

typedef struct status_pod {
    il_pod_ref ref;           /* uid; namespace and name as the pod gave them (NULL:
                               * absent), for watchers; spec.restartPolicy or NULL */
    const char *text;         /* the pod's JSON: in the request body, or owned */
    size_t len;
    char *owned;
    size_t first;             /* index of the first pod with this UID; the rest
                               * below is kept on that one only */
    bool known;               /* interlink has the pod (a stored row) */
    char *phase;              /* stored phase and status (JSON text), or NULL */
    char *stored;
    size_t stored_len;
    char *fresh;              /* the plugin's status now, and its phase; may be
                               * `stored` itself (fresh_is_stored) */
    const char *fresh_phase;
    char *answer;             /* the status for the caller, or NULL */
} status_pod;

typedef struct status_batch {
    status_pod *pods;
    size_t n, cap;
    json_t *index;            /* uid -> index of its first pod */
} status_batch;

static void batch_init(status_batch *b)
{
    *b = (status_batch){.index = json_object()};
}

/* Whether p's fresh status is its stored text itself: the plugin said the
 * same, byte for byte (a steady pod: no copy, no compare, nothing to store). */
static bool fresh_is_stored(const status_pod *p)
{
    return p->fresh && p->fresh == p->stored;
}

static void batch_free(status_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        status_pod *p = &b->pods[i];
        il_pod_ref_free(&p->ref);
        free(p->owned);
        free(p->phase);
        if (!fresh_is_stored(p))
            free(p->fresh);
        free(p->stored);
        free(p->answer);
    }
    free(b->pods);
    json_decref(b->index);
}

/* Add the pod ref (now the batch's) whose JSON is text[0..len); owned:
 * text is malloc'd and now the batch's. */
static void batch_add_ref(status_batch *b, il_pod_ref *ref, const char *text, size_t len,
                          char *owned)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->pods = il_xrealloc(b->pods, b->cap * sizeof(*b->pods));
    }
    status_pod *p = &b->pods[b->n];
    *p = (status_pod){.ref = *ref, .text = text, .len = len, .owned = owned, .first = b->n};
    *ref = (il_pod_ref){0};
    json_t *seen = json_object_get(b->index, p->ref.uid);
    if (seen)
        p->first = (size_t)json_integer_value(seen);
    else
        json_object_set_new(b->index, p->ref.uid, json_integer((json_int_t)b->n));
    b->n++;
}

/* The same for a parsed pod (borrowed). */
static void batch_add(status_batch *b, json_t *pod, const char *text, size_t len, char *owned)
{
    il_pod_ref ref;
    il_pod_ref_from_json(pod, &ref);
    batch_add_ref(b, &ref, text, len, owned);
}

/* The first pod with uid[0..len), or NULL. */
static status_pod *batch_findn(status_batch *b, const char *uid, size_t len)
{
    json_t *i = uid ? json_object_getn(b->index, uid, len) : NULL;
    return i ? &b->pods[json_integer_value(i)] : NULL;
}

static status_pod *batch_find(status_batch *b, const char *uid)
{
    return batch_findn(b, uid, uid ? strlen(uid) : 0);
}

static void add_stored_row(void *ud, const char *uid, const char *phase, const char *text)
{
    status_pod *p = batch_find(ud, uid);
    if (!p)
        return;
    p->known = true;
    p->phase = il_xstrdup(phase);
    p->stored = il_xstrdup(text);
    p->stored_len = text ? strlen(text) : 0;   /* NULL: no status stored yet */
}

/* The stored phase and status of every pod: 0 or -1. */
static int batch_load_stored(api *a, status_batch *b)
{
    const char **uids = il_xcalloc(b->n + 1, sizeof(*uids));
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->pods[i].first == i)
            uids[n++] = b->pods[i].ref.uid;
    int rc = store_each_status(a->store, uids, n, add_stored_row, b);
    free(uids);
    return rc;
}

static bool is_object_text(const char *text)
{
    return text && text[0] == '{';
}

/* Whether pod i is answered from the store: its stored status is
 * terminal, so it cannot change. */
static bool is_final(const status_batch *b, size_t i)
{
    const status_pod *first = &b->pods[b->pods[i].first];
    return first->phase && il_phase_is_terminal(first->phase) && is_object_text(first->stored);
}

/* Whether p's text follows prev's (NULL: p is the first) in the request
 * as an array of them joined would: '[' or ',' right before it. */
static bool follows(const status_pod *prev, const status_pod *p)
{
    if (p->owned)
        return false;   /* not in the request body: no byte before it to look at */
    return prev ? p->text == prev->text + prev->len + 1 && p->text[-1] == ','
                : p->text[-1] == '[';
}

/* Pods whose stored status is final are answered from the store; the JSON
 * array of the others, for the plugin, in *send (*send_len 0 when there are
 * none).  When they are all the request's pods, sent as a compact array,
 * that array is the request's own text (a 10,000-pod request is 16 MB, not
 * worth copying); else they are joined in body. */
static void split_by_finality(status_batch *b, il_buf *body, const char **send,
                              size_t *send_len)
{
    const status_pod *prev = NULL;
    bool in_place = true;
    for (size_t i = 0; i < b->n; i++) {
        status_pod *first = &b->pods[b->pods[i].first];
        if (is_final(b, i)) {
            in_place = false;
            if (!first->answer)
                first->answer = il_xstrdup(first->stored);
        } else {
            in_place = in_place && follows(prev, &b->pods[i]);
            prev = &b->pods[i];
        }
    }
    if (in_place && prev && prev->text[prev->len] == ']') {
        *send = b->pods[0].text - 1;
        *send_len = (size_t)(prev->text + prev->len + 1 - *send);
        return;
    }
    for (size_t i = 0; i < b->n; i++)
        if (!is_final(b, i))
            il_json_join_add(body, b->pods[i].text, b->pods[i].len);
    if (body->len)
        il_json_join_end(body);
    *send = body->data;
    *send_len = body->len;
}

static void fresh_drop(status_pod *p)
{
    if (!fresh_is_stored(p))
        free(p->fresh);
    p->fresh = NULL;
}

/* Whether text[0..len) is p's stored status byte for byte: if so it
 * becomes p's fresh status as it is. */
static bool fresh_if_stored(status_pod *p, const char *text, size_t len)
{
    if (!p->stored || p->stored_len != len || memcmp(p->stored, text, len) != 0)
        return false;
    fresh_drop(p);
    p->fresh = p->stored;
    p->fresh_phase = p->phase;
    return true;
}

/* One status of the plugin's answer (text[0..len)) onto its pod.  -1 with
 * why in err when it is not JSON. */
static int take_fresh(status_batch *b, const char *text, size_t len, char *err, size_t errlen)
{
    /* A steady pod's status is the stored text byte for byte: found by its
     * UID without a tree when the scan vouches for the text (jsonscan.h). */
    il_jscan_member uid = {.path = "UID"};
    if (il_json_scan(text, len, &uid, 1) == 0 && uid.kind == IL_JSCAN_STRING && !uid.escaped) {
        status_pod *p = batch_findn(b, uid.value, uid.len);
        if (p && fresh_if_stored(p, text, len))
            return 0;
    }
    json_error_t jerr;
    json_t *st = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!st) {
        snprintf(err, errlen, "plugin answered /status with invalid JSON: %s", jerr.text);
        return -1;
    }
    status_pod *p = batch_find(b, json_string_value(json_object_get(st, "UID")));
    /* A status without a UID, or of a pod not asked about, is dropped.  The
     * same serialization as the stored text: equal text, equal status.  Our
     * plugins send exactly that, so a steady status is recognized without
     * serializing it again. */
    if (p && !fresh_if_stored(p, text, len)) {
        fresh_drop(p);
        p->fresh = json_dumps(st, JSON_COMPACT);
        p->fresh_phase = il_pod_phase_json(st, p->ref.restart_policy);
    }
    json_decref(st);
    return 0;
}

/* The plugin's answer, one status at a time; 0, or -1 with why in err
 * (then no pod has a fresh status). */
static int take_answer(status_batch *b, const il_buf *answer, char *err, size_t errlen)
{
    il_json_split s;
    if (il_json_split_begin(&s, answer->data, answer->len) != 0) {
        json_error_t jerr;
        json_t *other = json_loadb(answer->data, answer->len, JSON_DECODE_ANY, &jerr);
        bool null = json_is_null(other);   /* upstream plugins answer null for none */
        if (!null)
            snprintf(err, errlen, "plugin answered /status with %s%s",
                     other ? "a non-array" : "invalid JSON: ", other ? "" : jerr.text);
        json_decref(other);
        return null ? 0 : -1;
    }
    const char *elem;
    size_t len;
    char why[256];
    int got;
    while ((got = il_json_split_next(&s, &elem, &len, why, sizeof(why))) == 1)
        if (take_fresh(b, elem, len, err, errlen) != 0)
            break;
    if (got != 0) {
        if (got < 0)
            snprintf(err, errlen, "plugin answered /status with invalid JSON: %s", why);
        for (size_t i = 0; i < b->n; i++)
            fresh_drop(&b->pods[i]);
        return -1;
    }
    return 0;
}

/* One plugin call for the pods in body; 0 when every fresh status is on
 * its pod, else -1 and res says why: no response (status 0), an error
 * status, or a 200 whose body is not a list of statuses (res->error). */
static int ask_plugin(api *a, il_request *req, status_batch *b, const char *body, size_t len,
                      il_http_result *res)
{
    int rc = relay_call(a, req, "GET", "/status", body, len, res);
    if (rc != 0 || res->status != 200)
        return -1;
    return take_answer(b, &res->body, res->error, sizeof(res->error));
}

/* Persist the fresh statuses that differ from what is stored, with the
 * phase each pod is now in, and tell the watchers.  A steady batch of
 * running pods writes nothing.  False when the store failed. */
static bool remember(api *a, status_batch *b)
{
    const char **uids = il_xcalloc(b->n + 1, sizeof(*uids));
    const char **texts = il_xcalloc(b->n + 1, sizeof(*texts));
    watch_pod *changed = il_xcalloc(b->n + 1, sizeof(*changed));
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const status_pod *p = &b->pods[i];
        if (p->first != i || !p->fresh || !p->known || fresh_is_stored(p) ||
            (p->stored && strcmp(p->fresh, p->stored) == 0))
            continue;
        uids[n] = p->ref.uid;
        texts[n] = p->fresh;
        changed[n++] = (watch_pod){p->ref.uid, p->ref.ns, p->ref.name, p->fresh_phase};
    }
    const char **phases = il_xcalloc(n + 1, sizeof(*phases));
    for (size_t i = 0; i < n; i++)
        phases[i] = changed[i].phase;
    bool stored = store_put_status_texts(a->store, uids, texts, phases, n) == 0;
    if (!stored)
        il_error("could not record %zu pod statuses", n);
    else
        watch_record_pods(a->watch, changed, n);
    free(phases);
    free(changed);
    free(texts);
    free(uids);
    return stored;
}

/* The refresher need not ask about the pods this call refreshed and stored
 * (recent.c); asked_ms: when the plugin was asked. */
static void mark_refreshed(api *a, const status_batch *b, int64_t asked_ms)
{
    const char **uids = il_xcalloc(b->n + 1, sizeof(*uids));
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const status_pod *p = &b->pods[i];
        if (p->first == i && p->fresh && p->known)
            uids[n++] = p->ref.uid;
    }
    recent_mark(a->recent, uids, n, asked_ms);
    free(uids);
}

/* Tell the caller why the plugin could not answer. */
static void respond_plugin_error(api *a, il_request *req, const il_http_result *res)
{
    if (res->status == 0)
        relay_unreachable(a, req, "/status", res);
    else if (res->status != 200)
        relay_failure(req, "status", res);
    else
        il_respond_error(req, 502, "%s", res->error);
}

/* Each pod's answer (on the first pod of its UID; NULL for a pod interlink
 * does not have): the stored status when final, else the plugin's, else
 * the stored one.  0, or -1 after answering a strict caller with the
 * error (a caller that is not strict gets no answers when the state
 * database fails). */
static int batch_settle(api *a, il_request *req, status_batch *b, bool strict)
{
    if (batch_load_stored(a, b) != 0) {
        if (strict)
            il_respond_error(req, 500, "state database error; see the server log");
        return strict ? -1 : 0;
    }
    il_buf body = IL_BUF_INIT;
    const char *send;
    size_t send_len;
    split_by_finality(b, &body, &send, &send_len);
    if (send_len > 0) {
        il_http_result res;
        int64_t asked_ms = il_monotonic_ms();
        int rc = ask_plugin(a, req, b, send, send_len, &res);
        il_buf_free(&body);
        if (rc == 0) {
            if (remember(a, b) && req)   /* a caller's call: the refresher's own are not */
                mark_refreshed(a, b, asked_ms);
        } else if (strict) {
            respond_plugin_error(a, req, &res);
            il_http_result_free(&res);
            return -1;
        } else {
            /* interlink's own refreshes (no req) retry every second: no warning each time */
            il_log(req ? IL_LOG_WARN : IL_LOG_DEBUG,
                   "plugin could not refresh statuses (%s); serving stored ones",
                   res.error[0] ? res.error : il_buf_cstr(&res.body));
        }
        il_http_result_free(&res);
        for (size_t i = 0; i < b->n; i++) {
            status_pod *p = &b->pods[i];
            if (p->first != i)
                continue;
            if (p->fresh) {   /* the store is done with: the text moves to the answer */
                free(p->answer);
                if (fresh_is_stored(p))
                    p->stored = NULL;
                p->answer = p->fresh;
                p->fresh = NULL;
            } else if (rc != 0 && !p->answer && is_object_text(p->stored)) {
                p->answer = il_xstrdup(p->stored);
            }
        }
    }
    return 0;
}

/* The answers of the batch's pods, in its order (unknown pods left out),
 * as a JSON array in out.  0, or -1 after answering a strict caller with
 * the error. */
static int batch_refresh(api *a, il_request *req, status_batch *b, bool strict, il_buf *out)
{
    if (batch_settle(a, req, b, strict) != 0)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        const char *answer = b->pods[b->pods[i].first].answer;
        if (answer)
            il_json_join_add(out, answer, strlen(answer));
    }
    il_json_join_end(out);
    return 0;
}

/* A stored pod (text, len bytes, malloc'd: now the batch's) into b, its
 * names read without a tree where the scan vouches for them.  False, text
 * freed, when it is not a pod with a UID. */
static bool batch_add_stored(status_batch *b, char *text, size_t len)
{
    il_pod_ref ref;
    if (il_pod_scan_ref(text, len, &ref) == 0) {
        batch_add_ref(b, &ref, text, len, text);
        return true;
    }
    json_t *pod = json_loadb(text, len, 0, NULL);
    bool ok = json_is_object(pod) && pod_uid(pod);
    if (ok)
        batch_add(b, pod, text, len, text);
    else
        free(text);
    json_decref(pod);
    return ok;
}

typedef struct unfinished_scan {
    status_batch *batch;
    recent_set *fresh;        /* pods a caller refreshed lately */
    int64_t since_ms;
} unfinished_scan;

static void add_stored_pod(void *arg, const char *uid, const char *phase, const char *text)
{
    unfinished_scan *scan = arg;
    (void)phase;
    if (text && !recent_since(scan->fresh, uid, scan->since_ms))   /* the store's text */
        batch_add_stored(scan->batch, il_xstrdup(text), strlen(text));
}

bool status_refresh_unfinished(api *a, int64_t fresh_ms)
{
    status_batch b;
    batch_init(&b);
    unfinished_scan scan = {&b, recent_take(a->recent), il_monotonic_ms() - fresh_ms};
    bool asked = false;
    if (store_each_unfinished(a->store, add_stored_pod, &scan) == 0 && b.n > 0) {
        il_buf out = IL_BUF_INIT;
        batch_refresh(a, NULL, &b, false, &out);
        il_buf_free(&out);
        asked = true;
    }
    batch_free(&b);
    recent_set_free(scan.fresh);
    return asked;
}

/* One element of a /status body: a pod object with metadata.uid, of a
 * namespace the caller may act on (tenants.c), into the batch.  False
 * after answering the caller. */
static bool add_requested_pod(api *a, il_request *req, status_batch *b, const char *text,
                              size_t len)
{
    il_pod_ref ref;
    if (il_pod_scan_ref(text, len, &ref) == 0) {   /* no tree: podscan.h */
        bool ok = access_check_pod(a, req, ref.uid, ref.ns && *ref.ns ? ref.ns : "default");
        if (ok)
            batch_add_ref(b, &ref, text, len, NULL);
        il_pod_ref_free(&ref);
        return ok;
    }
    json_error_t jerr;
    json_t *item = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!item) {
        il_respond_error(req, 400, "invalid JSON body: %s (in pod %zu, at its byte %d)",
                         jerr.text, b->n, jerr.position);
        return false;
    }
    char err[512];
    il_pod meta;
    bool ok = il_pod_parse_meta(item, &meta, err, sizeof(err)) == 0;
    if (!ok)
        il_respond_error(req, 400, "invalid pod at index %zu: %s", b->n, err);
    else if ((ok = access_check_pod(a, req, meta.uid, meta.ns)))
        batch_add(b, item, text, len, NULL);
    il_pod_free(&meta);   /* zeroed when it did not parse */
    json_decref(item);
    return ok;
}

/* The request's pods into b, one parsed at a time; false after answering
 * the caller (400 for a body that is not an array of pods). */
static bool read_request(api *a, il_request *req, status_batch *b)
{
    il_json_split s;
    if (!il_request_split_array(req, &s, "invalid status request: expected a JSON array of pods"))
        return false;
    const char *elem;
    size_t len;
    char err[256];
    int got;
    while ((got = il_json_split_next(&s, &elem, &len, err, sizeof(err))) == 1)
        if (!add_requested_pod(a, req, b, elem, len))
            return false;
    if (got < 0)
        il_respond_error(req, 400, "invalid JSON body: %s", err);
    return got == 0;
}

void handle_status(il_request *req, void *ud)
{
    api *a = ud;
    status_batch b;
    batch_init(&b);
    il_buf out = IL_BUF_INIT;
    if (read_request(a, req, &b) && batch_refresh(a, req, &b, true, &out) == 0)
        il_respond_json_buf(req, 200, &out);
    il_buf_free(&out);
    batch_free(&b);
}

/* ---- GET /pods: our extension for interlinkctl ---------------------------------
 *
 * Every pod the caller may see, with its status, oldest first.  Read a page
 * of rows at a time, their statuses refreshed with one plugin call per
 * page, and written out as text: as trees, the rows, their statuses and the
 * answer of 10,000 pods held interlink at 150 MB for the call. */

#define LIST_PAGE 500

/* `,"key":json_text` onto out (no comma right after the '{'). */
static void add_member(il_buf *out, const char *key, const char *json_text)
{
    il_buf_printf(out, "%s\"%s\":", out->data[out->len - 1] == '{' ? "" : ",", key);
    il_buf_puts(out, json_text);
}

static void add_string_member(il_buf *out, const char *key, const char *value)
{
    json_t *string = json_string(value);
    char *text = string ? json_dumps(string, JSON_ENCODE_ANY) : NULL;
    if (text)   /* a value that is not UTF-8 is left out, as jansson always did */
        add_member(out, key, text);
    free(text);
    json_decref(string);
}

/* One entry of the list: row's names, the pod as stored, its phase and
 * status (answer: JSON text, or NULL when none is known). */
static void list_entry(il_buf *out, const store_listed *row, const char *answer,
                       const char *restart_policy)
{
    char created[IL_RFC3339_MAX];
    il_time_format((il_time){row->created_at, 0}, false, created);
    il_buf_append(out, "{", 1);
    add_string_member(out, "name", row->name);
    add_string_member(out, "namespace", row->ns);
    add_string_member(out, "UID", row->uid);
    add_string_member(out, "JID", row->job_id);
    add_string_member(out, "createdAt", created);
    add_member(out, "pod", row->pod_json);
    json_t *status = answer ? json_loads(answer, 0, NULL) : NULL;
    const char *phase = status ? il_pod_phase_json(status, restart_policy) : "Pending";
    if (phase)
        add_string_member(out, "phase", phase);
    add_member(out, "status", status ? answer : "null");
    json_decref(status);
    if (row->delete_pending)   /* deleted by a caller, not yet confirmed by the plugin */
        add_string_member(out, "deletePending", row->delete_pending);
    il_buf_append(out, "}", 1);
}

/* The rows the caller may see, with their statuses, onto the list in out.
 * The rows' pod texts become the batch's. */
static void list_page(api *a, il_request *req, store_listed *rows, size_t n, il_buf *out)
{
    status_batch b;
    batch_init(&b);
    const store_listed **kept = il_xcalloc(n + 1, sizeof(*kept));
    size_t n_kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!access_may(a, req, rows[i].ns))
            continue;
        char *text = rows[i].pod_json;
        rows[i].pod_json = NULL;
        if (batch_add_stored(&b, text, strlen(text)))
            kept[n_kept++] = &rows[i];
    }
    if (n_kept > 0 && batch_settle(a, req, &b, false) == 0) {
        for (size_t i = 0; i < n_kept; i++) {
            const status_pod *p = &b.pods[b.pods[i].first];
            store_listed row = *kept[i];
            row.pod_json = (char *)b.pods[i].owned;
            if (out->len > 1)   /* after the '[' */
                il_buf_append(out, ",", 1);
            list_entry(out, &row, p->answer, b.pods[i].ref.restart_policy);
        }
    }
    free(kept);
    batch_free(&b);
}

void handle_pods(il_request *req, void *ud)
{
    api *a = ud;
    const char *ns = il_request_query(req, "namespace");
    if (ns && !access_check_ns(a, req, ns))
        return;
    metrics_set_pods(store_count(a->store));
    il_buf out = IL_BUF_INIT;
    il_buf_append(&out, "[", 1);
    store_list_cursor cur = {0};
    store_listed *rows;
    size_t n;
    int rc;
    while ((rc = store_list_page(a->store, ns, &cur, LIST_PAGE, &rows, &n)) == 0) {
        list_page(a, req, rows, n, &out);
        store_listed_free(rows, n);
        if (n < LIST_PAGE)
            break;
    }
    store_list_cursor_free(&cur);
    if (rc != 0) {
        il_respond_error(req, 500, "state database error; see the server log");
    } else {
        il_buf_append(&out, "]", 1);
        il_respond_json_buf(req, 200, &out);
    }
    il_buf_free(&out);
}

/* ---- POST /updateCache -------------------------------------------------------- */

/* The VK sends a whole pod; a bare UID (upstream's server-side key) works too. */
void handle_update_cache(il_request *req, void *ud)
{
    api *a = ud;
    json_t *body = json_loadb(il_request_body(req), il_request_body_len(req), JSON_DECODE_ANY,
                              NULL);
    const char *uid = json_is_object(body) ? pod_uid(body) : json_string_value(body);
    char *raw = NULL;
    if (!body) {
        raw = il_xstrdup(il_request_body(req));
        raw[strcspn(raw, " \t\r\n")] = '\0';
        uid = raw;
    }
    if (!uid || !*uid) {
        il_respond_error(req, 400, "updateCache needs a pod (with metadata.uid) or a pod UID");
    } else if (access_check_pod(a, req, uid, NULL)) {
        store_forget_status(a->store, uid);
        il_debug("dropped stored status of %s", uid);
        il_respond_text(req, 200, "Updated cache");
    }
    free(raw);
    json_decref(body);
}
