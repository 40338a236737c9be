/* podsync.c -- what a worker does for one pod: submit it, or delete it.
 *
 * Owns the pod's life on the backend.  A new pod is resolved (podrequest.c)
 * and sent to interlink /create once; the job id goes into the pod's
 * JobID annotation (with its first status write, or alone when none came
 * within ANNOTATE_AFTER_MS), so a restarted VK does not submit it again.  A pod being
 * deleted (deletionTimestamp), gone from the API, or known only to
 * interlink is deleted on the backend first, retried with backoff until
 * interlink confirms; only then is the API object removed (grace 0, UID
 * precondition), so no remote job is ever orphaned.  Anything that fails
 * is retried by re-queuing the UID with a growing delay. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "kubestatus.h"
#include "podrequest.h"
#include "trace.h"
#include "util.h"
#include "vk.h"
#include "vkmetrics.h"
#include "wire.h"

#define RETRY_BASE_MS 500
#define RETRY_CAP_MS 30000
#define ANNOTATE_AFTER_MS 30000   /* a created pod's annotation, if no status write took it */
#define DONE 0
#define RETRY 1

static char *pod_path(const json_t *pod, const char *sub)
{
    return il_xasprintf("/api/v1/namespaces/%s/pods/%s%s", vk_pod_ns(pod), vk_pod_name(pod),
                        sub ? sub : "");
}

/* ---- pending ----------------------------------------------------------- */

/* Keep the pod Pending and say why on it (containers waiting with the
 * reason and message) and, when the message is new, in an Event. */
static void report_pending(vk *v, const json_t *pod, const char *reason, const char *message)
{
    json_t *status = vk_pod_status(pod, NULL, vk_node_address(v->cfg), il_time_now());
    const char *waiting = strcmp(reason, "FailedMount") ? reason : "ContainerCreating";
    static const char *const lists[] = {"containerStatuses", "initContainerStatuses"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *cs;
        json_array_foreach(json_object_get(status, lists[l]), i, cs)
            json_object_set_new(json_object_get(cs, "state"), "waiting",
                                json_pack("{s:s, s:s}", "reason", waiting, "message", message));
    }
    json_object_set_new(status, "message", json_string(message));
    json_object_set_new(status, "reason", json_string(reason));
    const json_t *cur = json_object_get(pod, "status");
    if (vk_pod_status_changed(cur, status)) {
        json_t *patch = vk_pod_status_patch_of(pod, json_incref(status));
        char *path = pod_path(pod, "/status");
        vk_kube_result res;
        if (vk_kube_patch(v->kube, path, VK_PATCH_STRATEGIC, patch, &res) == 0)
            vk_pod_written(v, res.body);
        vk_kube_result_free(&res);
        free(path);
        json_decref(patch);
    }
    const char *before = json_string_value(json_object_get(cur, "message"));
    if (!before || strcmp(before, message) != 0)
        vk_event(v->kube, v->cfg->node_name, pod, "Warning", reason, "%s", message);
    json_decref(status);
}

/* ---- create ------------------------------------------------------------ */

/* The job id into metadata.annotations.JobID (with the UID, so a pod
 * recreated under the same name is not touched). */
static int annotate(vk *v, const json_t *pod, const char *job_id)
{
    json_t *patch = json_pack("{s:{s:s, s:{s:s}}}", "metadata", "uid", vk_pod_uid(pod),
                              "annotations", "JobID", job_id);
    char *path = pod_path(pod, NULL);
    vk_kube_result res;
    int rc = vk_kube_patch(v->kube, path, VK_PATCH_MERGE, patch, &res);
    if (rc == 0)
        vk_pod_written(v, res.body);
    else
        il_warn("pod %s/%s: job id %s not recorded: %s", vk_pod_ns(pod), vk_pod_name(pod),
                job_id, res.error);
    vk_kube_result_free(&res);
    free(path);
    json_decref(patch);
    return rc;
}

/* POST /create; the job id, or NULL with why filled. */
static char *submit(vk *v, const json_t *request, char *why, size_t len, long *status)
{
    il_http_result res;
    int rc = vk_interlink_call(v->il, "POST", "/create", "CreatePod", request, &res);
    char *job = NULL;
    *status = res.status;
    if (vk_interlink_ok(&res, rc, why, len) == 0) {
        json_t *answer = json_loadb(il_buf_cstr(&res.body), res.body.len, 0, NULL);
        job = il_xstrdup(json_string_value(json_object_get(answer, "PodJID")));
        if (!job)
            snprintf(why, len, "interlink answered /create without a PodJID");
        json_decref(answer);
    }
    il_http_result_free(&res);
    return job;
}

static int create(vk *v, const vk_pod_view *p)
{
    vk_refs refs;
    vk_refs_init(&refs, v->kube, v->cfg, p->pod);
    refs.shared = v->refcache;
    json_t *request = vk_resolve_pod(&refs);
    if (!request) {
        report_pending(v, p->pod, refs.reason ? refs.reason : "FailedMount", refs.message);
        vk_refs_free(&refs);
        return RETRY;
    }
    vk_refs_free(&refs);
    char why[512];
    long status;
    json_t *tunnel;
    if (vk_tunnelgw_register(v->gateway, p->pod, &tunnel, why, sizeof why) != 0) {
        json_decref(request);
        il_warn("pod %s/%s: %s", vk_pod_ns(p->pod), vk_pod_name(p->pod), why);
        report_pending(v, p->pod, "TunnelRegistrationFailed", why);
        return RETRY;
    }
    if (tunnel)
        json_object_set_new(request, "tunnel", tunnel);
    char *job = submit(v, request, why, sizeof why, &status);
    json_decref(request);
    if (!job) {
        il_warn("pod %s/%s: create failed: %s", vk_pod_ns(p->pod), vk_pod_name(p->pod), why);
        report_pending(v, p->pod, "ProviderCreateFailed", why);
        return RETRY;
    }
    il_info("pod %s/%s submitted: job %s", vk_pod_ns(p->pod), vk_pod_name(p->pod), job);
    il_span_set_str(il_span_current(), "interlink.job_id", job);
    vk_pods_set_job(v->pods, vk_pod_uid(p->pod), job);
    vk_event(v->kube, v->cfg->node_name, p->pod, "Normal", "Created",
             "Submitted to %s, job %s", vk_interlink_url(v->il), job);
    free(job);
    /* The JobID annotation goes out with the pod's first status write
     * (statusloop.c): one API write per pod less, on the API server that
     * bounds how fast pods start.  Should no status write carry it, the
     * look below writes it alone.  A VK killed before it is written
     * submits the pod again on restart and gets this job back: interlink's
     * create is idempotent by UID.  That first write is due now, as a
     * kubelet writes a pod's status once it has started its containers
     * (or is starting them): the poke runs a cycle soon (creates of a burst
     * share it) instead of up to StatusIntervalSeconds later. */
    vk_queue_add(v->queue, vk_pod_uid(p->pod), ANNOTATE_AFTER_MS);
    vk_status_poke(v);
    return DONE;
}

/* ---- delete ------------------------------------------------------------ */

/* True when interlink's /status for the pod is an empty list: neither it
 * nor its plugin knows the pod. */
static bool interlink_does_not_know(vk *v, const json_t *pod)
{
    json_t *list = json_pack("[O]", pod);
    il_http_result res;
    int rc = vk_interlink_call(v->il, "GET", "/status", "GetStatus", list, &res);
    bool unknown = false;
    if (rc == 0 && res.status == 200) {
        json_t *answer = json_loadb(il_buf_cstr(&res.body), res.body.len, 0, NULL);
        unknown = json_is_array(answer) && json_array_size(answer) == 0;
        json_decref(answer);
    }
    il_http_result_free(&res);
    json_decref(list);
    return unknown;
}

/* Delete on the backend.  Every failure is retried: a delete given up
 * would orphan the pod's work.  404/410 mean the pod is unknown (an
 * upstream interlink relays its plugin's 404 for a pod already deleted),
 * so nothing is left, once /status agrees (a wrong URL or a proxy answers
 * 404 to every path).  A failure with an answer is said on the pod too (a
 * Warning, aggregated), since the pod stays Terminating until it is cured. */
static int delete_remote(vk *v, const vk_pod_view *p)
{
    char why[512];
    /* first the tunnel: the pod's address stops answering at once */
    if (vk_tunnelgw_unregister(v->gateway, p->pod, why, sizeof why) != 0) {
        il_warn("pod %s/%s: tunnel not closed (will retry): %s", vk_pod_ns(p->pod),
                vk_pod_name(p->pod), why);
        return RETRY;
    }
    il_http_result res;
    int rc = vk_interlink_call(v->il, "DELETE", "/delete", "DeletePod", p->pod, &res);
    bool gone = rc == 0 && (res.status == 404 || res.status == 410) &&
                interlink_does_not_know(v, p->pod);
    bool answered = rc == 0;
    rc = gone ? 0 : vk_interlink_ok(&res, rc, why, sizeof why);
    il_http_result_free(&res);
    if (rc < 0) {
        il_warn("pod %s/%s: backend delete failed (will retry): %s", vk_pod_ns(p->pod),
                vk_pod_name(p->pod), why);
        if (answered && !p->gone)
            vk_event(v->kube, v->cfg->node_name, p->pod, "Warning", "FailedKillPod",
                     "Deleting the pod on the backend failed (retrying): %s", why);
        return RETRY;
    }
    il_info("pod %s/%s deleted on the backend%s", vk_pod_ns(p->pod), vk_pod_name(p->pod),
            gone ? " (interlink no longer knew it)" : "");
    if (p->job_id)
        vk_event(v->kube, v->cfg->node_name, p->pod, "Normal", "Deleted",
                 "Deleted on the backend (job %s)", p->job_id);
    vk_pods_set_backend_deleted(v->pods, vk_pod_uid(p->pod));
    return DONE;
}

/* Remove the API object now that nothing runs: grace 0, and only the pod
 * with this UID (a new pod under the same name is left alone). */
static int delete_object(vk *v, const json_t *pod)
{
    json_t *opts = json_pack("{s:s, s:s, s:i, s:{s:s}}", "apiVersion", "v1", "kind",
                             "DeleteOptions", "gracePeriodSeconds", 0, "preconditions", "uid",
                             vk_pod_uid(pod));
    char *path = pod_path(pod, NULL);
    vk_kube_result res;
    int rc = vk_kube_delete(v->kube, path, opts, &res);
    if (rc < 0 && (vk_kube_is(&res, 404) || vk_kube_is(&res, 409)))
        rc = 0;   /* already gone, or replaced by another pod */
    if (rc < 0)
        il_warn("pod %s/%s: %s", vk_pod_ns(pod), vk_pod_name(pod), res.error);
    vk_kube_result_free(&res);
    free(path);
    json_decref(opts);
    return rc == 0 ? DONE : RETRY;
}

static int delete_pod(vk *v, const vk_pod_view *p)
{
    if (!p->backend_deleted) {
        if (!p->gone && p->failures == 0)
            vk_event(v->kube, v->cfg->node_name, p->pod, "Normal", "Killing",
                     "Deleting the pod on the backend");
        if (delete_remote(v, p) == RETRY)
            return RETRY;
    }
    if (!p->gone && delete_object(v, p->pod) == RETRY)
        return RETRY;
    vk_metrics_pod_gone(p->pod);
    vk_pods_forget(v->pods, vk_pod_uid(p->pod));
    return DONE;
}

/* ---- the worker -------------------------------------------------------- */

/* The annotation a user may set to make the pod's create and delete part
 * of a trace of their own (a W3C traceparent value). */
#define TRACEPARENT_ANNOTATION "interlink.vk.io/traceparent"

/* One pod's create or delete as a trace root (or as a child of the
 * annotation's traceparent): interlink's and the plugin's spans join it
 * through the traceparent header of the calls made inside. */
static int traced(vk *v, const vk_pod_view *p, const char *name,
                  int (*fn)(vk *, const vk_pod_view *))
{
    const char *parent = json_string_value(json_object_get(
        json_object_get(json_object_get(p->pod, "metadata"), "annotations"),
        TRACEPARENT_ANNOTATION));
    il_span *span = il_span_start(name, IL_SPAN_INTERNAL, parent);
    il_span_set_pod(span, vk_pod_ns(p->pod), vk_pod_name(p->pod), vk_pod_uid(p->pod));
    il_span_set_str(span, "k8s.node.name", v->cfg->node_name);
    int rc = fn(v, p);
    if (rc == RETRY)
        il_span_set_error(span, "will retry");
    il_span_end(span);
    return rc;
}

static int sync_pod(vk *v, const vk_pod_view *p)
{
    if (p->gone || vk_pod_deleting(p->pod))
        return traced(v, p, "delete pod", delete_pod);
    if (il_phase_is_terminal(vk_pod_phase(p->pod)))
        return DONE;
    if (!p->job_id)
        return traced(v, p, "create pod", create);
    const char *annotated = json_string_value(json_object_get(
        json_object_get(json_object_get(p->pod, "metadata"), "annotations"), "JobID"));
    if (!annotated || strcmp(annotated, p->job_id) != 0)
        return annotate(v, p->pod, p->job_id) == 0 ? DONE : RETRY;
    return DONE;
}

/* A worker's thread that did some work ends once it has had none for
 * this long, and a fresh one takes its place: glibc keeps a thread's
 * freed small blocks in a cache of its own (tcache) until the thread ends,
 * and after a burst of thousands of pods the 16 workers' caches kept
 * megabytes of heap pages resident that no trim could return.  A thread
 * that did nothing has nothing cached, and waits on (no renewal every
 * WORKER_IDLE_MS of an idle VK). */
#define WORKER_IDLE_MS 2000

/* Work until shutdown (NULL) or, after some work, WORKER_IDLE_MS without
 * any (v). */
static void *work(void *arg)
{
    vk *v = arg;
    bool idle, worked = false;
    for (;;) {
        char *uid = vk_queue_take_for(v->queue, WORKER_IDLE_MS, &idle);
        if (!uid && idle && !worked)
            continue;
        if (!uid)
            break;
        worked = true;
        vk_pod_view p;
        if (vk_pods_get(v->pods, uid, &p) && p.pod) {
            if (sync_pod(v, &p) == RETRY && !vk_stopping(v))
                vk_queue_add(v->queue, uid,
                             vk_backoff_ms(vk_pods_failed(v->pods, uid), RETRY_BASE_MS,
                                           RETRY_CAP_MS));
            else
                vk_pods_succeeded(v->pods, uid);
        }
        vk_pod_view_free(&p);
        vk_queue_done(v->queue, uid);
        free(uid);
    }
    return idle ? v : NULL;
}

/* One worker: its work in a thread renewed whenever it went idle (this
 * thread only waits, and allocates nothing). */
void *vk_worker_loop(void *arg)
{
    il_thread_renewing(work, arg);
    return NULL;
}

/* A pod object the VK just wrote (a PATCH or POST reply): refresh the
 * cache with it and queue the work it implies (a deletionTimestamp the
 * reply already carries, say). */
void vk_pod_written(vk *v, json_t *pod)
{
    if (vk_pods_refresh(v->pods, pod))
        vk_queue_add(v->queue, vk_pod_uid(pod), 0);
}
