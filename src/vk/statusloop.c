/* statusloop.c -- pod statuses from interlink to the API server.
 *
 * Owns the status cycle: every StatusIntervalSeconds, ONE interlink
 * /status call for all of the node's submitted, non-terminal pods
 * (upstream made one call per pod, serially), each answer mapped with
 * kubestatus.c and written to pods/status only when it changed (Workers
 * writes in flight at once), with the kubelet's Started and Failed Events.
 * When interlink cannot answer, the pods keep their last status: a
 * backend outage is not a pod failure.
 * A cycle also runs soon after changes.c hears from interlink that a
 * status changed (vk_status_poke); cycles never overlap: this thread alone
 * runs them.
 *
 * Also, once after start, pods that interlink knows for this node but the
 * API server no longer has (deleted while the VK was down) are handed to
 * the workers for a backend delete. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "jsonsplit.h"
#include "log.h"
#include "memory.h"
#include "kubestatus.h"
#include "recdeflate.h"
#include "statuscache.h"
#include "timeutil.h"
#include "util.h"
#include "vk.h"
#include "vkmetrics.h"
#include "wire.h"

/* ---- events ------------------------------------------------------------ */

static bool has_started(const json_t *cs)
{
    const json_t *state = json_object_get(cs, "state");
    return json_object_get(state, "running") || json_object_get(state, "terminated");
}

static const json_t *status_named(const json_t *list, const char *name)
{
    size_t i;
    const json_t *cs;
    json_array_foreach(list, i, cs) {
        const char *n = json_string_value(json_object_get(cs, "name"));
        if (n && name && !strcmp(n, name))
            return cs;
    }
    return NULL;
}

/* The state's field (state.waiting.message, state.terminated.reason...). */
static const char *state_field(const json_t *cs, const char *state, const char *field)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(cs, "state"), state), field));
}

static bool differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* What the backend said about one container since old: Pending with its
 * reason (a new waiting message), Started, OOMKilled. */
static void container_events(vk *v, const json_t *pod, const json_t *was, const json_t *cs)
{
    const char *name = json_string_value(json_object_get(cs, "name"));
    const char *waiting = state_field(cs, "waiting", "message");
    if (waiting && *waiting && differs(waiting, state_field(was, "waiting", "message")))
        vk_event(v->kube, v->cfg->node_name, pod, "Normal", "Pending", "%s", waiting);
    if (has_started(cs) && !has_started(was))
        vk_event(v->kube, v->cfg->node_name, pod, "Normal", "Started", "Started container %s",
                 name);
    const char *reason = state_field(cs, "terminated", "reason");
    if (reason && strcmp(reason, "OOMKilled") == 0 &&
        differs(reason, state_field(was, "terminated", "reason")))
        vk_event(v->kube, v->cfg->node_name, pod, "Warning", "OOMKilled",
                 "Container %s was killed on the backend: out of memory", name);
}

/* Per container (above); Failed when the pod did. */
static void emit_events(vk *v, const json_t *pod, const json_t *old, const json_t *now)
{
    static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        const json_t *cs;
        json_array_foreach(json_object_get(now, lists[l]), i, cs) {
            const char *name = json_string_value(json_object_get(cs, "name"));
            container_events(v, pod, status_named(json_object_get(old, lists[l]), name), cs);
        }
    }
    const char *phase = json_string_value(json_object_get(now, "phase"));
    const char *before = json_string_value(json_object_get(old, "phase"));
    if (phase && !strcmp(phase, "Running") && (!before || strcmp(before, "Running") != 0))
        vk_metrics_pod_running(pod);
    if (phase && !strcmp(phase, "Failed") && (!before || strcmp(before, "Failed") != 0))
        vk_event(v->kube, v->cfg->node_name, pod, "Warning", "Failed",
                 "The pod failed on the backend");
}

/* ---- one cycle --------------------------------------------------------- */

/* A status to write: the pod's record (borrowed from the cycle's list)
 * and its patch as compact JSON text.  The pod and the patch are parsed
 * again by their writer rather than kept parsed: a cycle that changes
 * every pod (a VK starting on a backlog of thousands) would hold them all
 * at once, some 10 KB of trees a pod instead of the patch's few hundred
 * bytes of text. */
typedef struct status_write {
    const vk_podrec *rec;
    char *patch;
} status_write;

static void write_status(vk *v, const status_write *w)
{
    json_t *patch = json_loads(w->patch, 0, NULL);
    char *path = il_xasprintf("/api/v1/namespaces/%s/pods/%s/status", w->rec->ns, w->rec->name);
    vk_kube_result res;
    if (vk_kube_patch(v->kube, path, VK_PATCH_STRATEGIC, patch, &res) == 0) {
        vk_pod_written(v, res.body);
        json_t *pod = vk_podrec_pod(w->rec);
        emit_events(v, pod, json_object_get(pod, "status"), json_object_get(patch, "status"));
        json_decref(pod);
    } else if (!vk_kube_is(&res, 404)) {
        il_warn("pod %s/%s status: %s", w->rec->ns, w->rec->name, res.error);
    }
    vk_kube_result_free(&res);
    free(path);
    json_decref(patch);
}

/* The writes of one cycle, Workers of them in flight at once: each is one
 * API round trip, and pods starting together change together. */
typedef struct writer_pool {
    vk *v;
    status_write *w;
    size_t n, next;
    pthread_mutex_t lock;
} writer_pool;

static void *writer(void *arg)
{
    writer_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next < p->n ? p->next++ : p->n;
        pthread_mutex_unlock(&p->lock);
        if (i == p->n)
            return NULL;
        write_status(p->v, &p->w[i]);
    }
}

static void write_all(vk *v, status_write *w, size_t n)
{
    writer_pool p = {.v = v, .w = w, .n = n};
    pthread_mutex_init(&p.lock, NULL);
    size_t want = n < (size_t)v->cfg->workers ? n : (size_t)v->cfg->workers, started = 0;
    pthread_t threads[VK_MAX_WORKERS];
    while (want > 1 && started < want &&
           pthread_create(&threads[started], NULL, writer, &p) == 0)
        started++;
    writer(&p);   /* this thread too; alone when no thread could start */
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&p.lock);
}

/* The JobID annotation rides on the pod's status write: a pods/status
 * PATCH may change metadata.annotations too, so a new pod costs one API
 * write here instead of an annotation PATCH after its create and a status
 * PATCH now (podsync.c writes it alone only if no status write came).  A
 * pod whose status did not change but whose annotation is missing gets a
 * patch of the annotation alone.  Returns patch, or a new one when it was
 * NULL. */
static json_t *with_job_annotation(vk *v, const vk_podrec *pod, json_t *patch)
{
    char *job;
    if (pod->job || !(job = vk_pods_job_id(v->pods, pod->uid)))
        return patch;   /* annotated already (the usual case: no table look-up) */
    if (!patch)
        patch = json_pack("{s:{s:s}}", "metadata", "uid", pod->uid);
    json_object_set_new(json_object_get(patch, "metadata"), "annotations",
                        json_pack("{s:s}", "JobID", job));
    free(job);
    return patch;
}

/* One element of interlink's answer: its text and, when it is one the
 * cache knows changed nothing, its pod. */
typedef struct answer_elem {
    const char *text;
    size_t len;
    size_t at;            /* when quiet: its pod's index + 1 in the cycle's pods; else 0 */
} answer_elem;

/* The cycle's pods by UID: open addressing over indices into pods (no
 * allocation per pod, as a jansson object of UIDs costs each cycle), so a
 * cycle over n pods stays O(n). */
typedef struct cycle_pods {
    vk_podrec **pods;
    size_t n;
    size_t *slots;            /* index + 1 into pods; 0: empty */
    size_t mask;              /* slots - 1, a power of two over 2n */
} cycle_pods;

/* The slot of uid: where it is, or the empty one where it would go. */
static size_t *uid_slot(const cycle_pods *cp, const char *uid)
{
    size_t i = (size_t)il_hash_str(uid) & cp->mask;
    while (cp->slots[i] && strcmp(cp->pods[cp->slots[i] - 1]->uid, uid) != 0)
        i = (i + 1) & cp->mask;
    return &cp->slots[i];
}

/* The first of pods with each UID wins, as interlink sends each once. */
static void cycle_pods_init(cycle_pods *cp, vk_podrec **pods, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    *cp = (cycle_pods){.pods = pods, .n = n, .slots = il_xcalloc(cap, sizeof *cp->slots),
                       .mask = cap - 1};
    for (size_t i = 0; i < n; i++) {
        size_t *slot = uid_slot(cp, pods[i]->uid);
        if (!*slot)
            *slot = i + 1;
    }
}

/* The index of uid's pod + 1, or 0 when it is not one of the cycle's. */
static size_t pod_index(const cycle_pods *cp, const char *uid)
{
    return uid ? *uid_slot(cp, uid) : 0;
}

/* Whether elem came last cycle, changed nothing then, and its pod is the
 * same object now: then its pod's index + 1, else 0. */
static size_t quiet(const vk_status_cache *cache, const cycle_pods *cp, const char *elem,
                    size_t len)
{
    const char *uid, *rv;
    if (!vk_status_cache_seen(cache, elem, len, &uid, &rv))
        return 0;
    size_t at = pod_index(cp, uid);
    const vk_podrec *pod = at ? cp->pods[at - 1] : NULL;
    return pod && pod->rv && !strcmp(pod->rv, rv) ? at : 0;
}

/* The answer's elements, each found quiet or not (the others are parsed
 * one at a time by apply).  -1 with why when the answer is not a list. */
static int split_answer(const vk_status_cache *cache, const char *text, size_t len,
                        const cycle_pods *cp, answer_elem **out, size_t *n, char *why,
                        size_t whylen)
{
    il_json_split sp;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (il_json_split_begin(&sp, text, len) < 0) {
        snprintf(why, whylen, "interlink answered /status with something not a list");
        return -1;
    }
    const char *e;
    size_t elen;
    int r;
    char err[256];
    while ((r = il_json_split_next(&sp, &e, &elen, err, sizeof err)) == 1) {
        if (*n == cap)
            *out = il_xrealloc(*out, (cap = cap ? 2 * cap : 1024) * sizeof **out);
        (*out)[(*n)++] = (answer_elem){.text = e, .len = elen, .at = quiet(cache, cp, e, elen)};
    }
    if (r < 0) {
        snprintf(why, whylen, "interlink answered /status with something not a list: %s", err);
        free(*out);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

/* The patch for one pod from interlink's status js (NULL: nothing to
 * write), noting in the cache when nothing at all depends on more than the
 * element's bytes and the pod object (no tunnel, the JobID annotation
 * there) and nothing changed.  The pod is parsed for this alone. */
static json_t *pod_patch(vk *v, vk_status_cache *cache, const vk_podrec *rec,
                         const answer_elem *a, json_t *js, const char *addr, il_time now)
{
    il_pod_status st;
    char err[256];
    if (il_pod_status_from_json(js, &st, err, sizeof err) != 0) {
        il_warn("pod %s/%s: interlink status: %s", rec->ns, rec->name, err);
        return NULL;
    }
    json_t *pod = vk_podrec_pod(rec);
    char *tunnel_ip = vk_tunnelgw_pod_ip(v->gateway, pod);
    json_t *patch = vk_pod_status_patch_ips(pod, &st, addr, tunnel_ip, now);
    patch = with_job_annotation(v, rec, patch);
    if (st.tunnel)
        vk_tunnelgw_note(v->gateway, v->kube, v->cfg->node_name, pod, st.tunnel);
    if (!patch && !st.tunnel && !tunnel_ip && rec->job)
        vk_status_cache_note_quiet(cache, a->text, a->len, rec);
    free(tunnel_ip);
    il_pod_status_free(&st);
    json_decref(pod);
    return patch;
}

static void writes_free(status_write *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(w[i].patch);
    free(w);
}

/* Map interlink's answer (an array of PodStatus, as text) onto the pods
 * asked about; write what changed.  Each element that is not quiet is
 * parsed, turned into its patch and dropped before the next: the patches
 * are kept as text, and the answer is freed before the writes, which take
 * most of a cycle that has any.  -1 with why when the answer is not a
 * list of JSON values: then nothing is written. */
static int apply(vk *v, vk_status_cache *cache, vk_podrec **pods, size_t n_pods,
                 il_buf *answer, char *why, size_t whylen)
{
    cycle_pods cp;
    cycle_pods_init(&cp, pods, n_pods);
    answer_elem *elems;
    size_t n = 0, n_elems;
    if (split_answer(cache, il_buf_cstr(answer), answer->len, &cp, &elems, &n_elems, why,
                     whylen) < 0) {
        free(cp.slots);
        return -1;
    }
    status_write *w = il_xcalloc(n_elems + 1, sizeof *w);
    bool *done = il_xcalloc(n_pods + 1, sizeof *done);
    const char *addr = vk_node_address(v->cfg);
    il_time now = il_time_now();
    int rc = 0;
    for (size_t i = 0; i < n_elems; i++) {
        answer_elem *a = &elems[i];
        json_t *js = NULL;
        if (!a->at && !(js = json_loadb(a->text, a->len, JSON_DECODE_ANY, NULL))) {
            snprintf(why, whylen, "interlink answered /status with something not a list: "
                     "element %zu is not JSON", i + 1);
            rc = -1;
            break;
        }
        size_t at = js ? pod_index(&cp, json_string_value(json_object_get(js, "UID"))) : a->at;
        if (at && !done[at - 1]) {
            const vk_podrec *pod = pods[at - 1];
            done[at - 1] = true;
            json_t *patch = js ? pod_patch(v, cache, pod, a, js, addr, now) : NULL;
            if (!js)
                vk_status_cache_note_quiet(cache, a->text, a->len, pod);
            if (patch)
                w[n++] = (status_write){.rec = pod, .patch = json_dumps(patch, JSON_COMPACT)};
            json_decref(patch);
        }
        json_decref(js);
    }
    free(elems);
    free(done);
    if (rc == 0) {
        vk_status_cache_next(cache);
        il_buf_free(answer);   /* the elements' texts with it */
        write_all(v, w, n);
    }
    writes_free(w, n);
    free(cp.slots);
    return rc;
}

/* An answer this large (about 650 pods) is worth a look by the trimmer
 * once the cycle freed it: it came from free heap pages that glibc keeps
 * resident until trimmed (memory.c). */
#define TRIM_HINT_BYTES (1024 * 1024)

/* 0 when interlink answered, -1 otherwise (logged once per outage). */
static int cycle(vk *v, vk_status_cache *cache, bool *failing, size_t *n_pods)
{
    vk_podrec **pods = vk_pods_active(v->pods, n_pods);
    if (*n_pods == 0) {   /* nothing to ask; what the cache remembers is of no use */
        vk_podrecs_free(pods, 0);
        vk_status_cache_next(cache);
        return 0;
    }
    vk_status_body body;
    vk_status_body_init(&body, pods, *n_pods);
    il_http_result res;
    int rc = vk_interlink_call_read(v->il, "GET", "/status", "GetStatus",
                                    vk_status_body_len(&body), vk_status_body_read,
                                    vk_status_body_rewind, &body, &res);
    vk_status_body_free(&body);
    char why[512];
    bool large = res.body.len >= TRIM_HINT_BYTES;
    if ((rc = vk_interlink_ok(&res, rc, why, sizeof why)) == 0)
        rc = apply(v, cache, pods, *n_pods, &res.body, why, sizeof why);
    if (rc != 0 && !*failing)
        il_warn("pod statuses not refreshed (%zu pods keep their last status): %s", *n_pods,
                why);
    else if (rc != 0)
        il_debug("pod statuses still not refreshed: %s", why);
    *failing = rc != 0;
    il_http_result_free(&res);
    vk_podrecs_free(pods, *n_pods);
    if (large)
        il_memory_hint();
    return rc;
}

/* ---- orphans ----------------------------------------------------------- */

/* One element of interlink's /pods: adopted when it is a pod of this node
 * that the API server does not have. */
static void adopt_one(vk *v, const json_t *e)
{
    json_t *pod = json_object_get(e, "pod");
    const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"),
                                                         "nodeName"));
    if (!node || strcmp(node, v->cfg->node_name) != 0 || !vk_pod_uid(pod) ||
        vk_pods_has(v->pods, vk_pod_uid(pod)))
        return;
    il_info("pod %s/%s is on the backend but no longer in the API: deleting it",
            vk_pod_ns(pod), vk_pod_name(pod));
    vk_pods_add_orphan(v->pods, pod, json_string_value(json_object_get(e, "JID")));
    vk_queue_add(v->queue, vk_pod_uid(pod), 0);
}

#define PODS_CHUNK 16384

/* Pods interlink holds for this node that the API server does not have.
 * interlink lists every pod it holds, with its status: on a VK started on
 * a backlog that is most of them, megabytes of text and tens as trees.
 * So the answer is read as it comes and each element parsed alone; an
 * answer found malformed part way is tried again whole next time (what
 * was adopted from it stays adopted: each element stands alone). */
static int adopt_orphans(vk *v)
{
    long status;
    char why[512];
    il_httpc_stream *s = vk_interlink_stream(v->il, "GET", "/pods", "ListPods", NULL, &status,
                                             why, sizeof why);
    if (!s) {
        il_debug("interlink /pods: %s", why);
        return -1;
    }
    il_json_split_stream f;
    il_json_split_stream_init(&f);
    char *chunk = il_xmalloc(PODS_CHUNK);
    int64_t deadline = il_monotonic_ms() + v->cfg->timeout_s * 1000;
    int rc = status == 200 ? 0 : -1;
    if (rc < 0)
        snprintf(why, sizeof why, "HTTP %ld", status);
    while (rc == 0) {
        ssize_t n = il_httpc_stream_read(s, chunk, PODS_CHUNK);
        if (n == IL_STREAM_AGAIN && il_monotonic_ms() < deadline && !vk_stopping(v))
            continue;
        if (n < 0) {
            snprintf(why, sizeof why, n == IL_STREAM_AGAIN ? "no answer within %lld s"
                     : "the answer was cut short", (long long)v->cfg->timeout_s);
            rc = -1;
            break;
        }
        il_json_split_stream_add(&f, chunk, (size_t)n);
        const char *elem;
        size_t len;
        int r;
        while ((r = il_json_split_stream_next(&f, n == 0, &elem, &len, why, sizeof why)) == 1) {
            json_t *e = json_loadb(elem, len, 0, NULL);
            adopt_one(v, e);
            json_decref(e);
        }
        if (r < 0)
            rc = -1;
        if (r < 0 || n == 0)
            break;
    }
    if (rc < 0)
        il_debug("interlink /pods: %s", why);
    free(chunk);
    il_json_split_stream_free(&f);
    il_httpc_stream_close(s);
    return rc;
}

/* A cycle asked for by changes.c starts at least this long after it was
 * asked for: the changes of pods starting together come in bursts, and one
 * cycle covers them all. */
#define POKE_COALESCE_MS 200

void *vk_status_loop(void *arg)
{
    vk *v = arg;
    bool failing = false, orphans_done = false;
    vk_status_cache *cache = vk_status_cache_new();
    int64_t period = v->cfg->status_interval_s * 1000;
    for (;;) {
        int64_t wait = orphans_done ? period : period < 1000 ? period : 1000;
        int64_t started = il_monotonic_ms();
        if (!vk_status_wait(v, wait))
            break;
        /* Poked: let the burst gather, then take the pokes it made (the
         * cycle about to start sees their changes). */
        if (il_monotonic_ms() - started < wait &&
            (!vk_sleep(v, POKE_COALESCE_MS) || !vk_status_wait(v, 0)))
            break;
        if (!orphans_done && vk_pods_synced(v->pods) && adopt_orphans(v) == 0) {
            orphans_done = true;
            il_info("pod statuses: every %lld s, and on interlink's change reports when it "
                    "has /watch", (long long)v->cfg->status_interval_s);
        }
        int64_t cycle_started = il_monotonic_ms();
        size_t n_pods = 0;
        int rc = cycle(v, cache, &failing, &n_pods);
        vk_metrics_status_cycle((double)(il_monotonic_ms() - cycle_started) / 1000.0, n_pods,
                                rc != 0);
        vk_recdeflate_idle();   /* z_streams no pod record needed for a cycle */
    }
    vk_status_cache_free(cache);
    return NULL;
}
