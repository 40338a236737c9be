/* create.c -- POST /create: validate, submit once, remember the job id.
 *
 * The body is upstream's PodCreateRequests.  It is validated completely
 * before anything reaches the plugin, reshaped into RetrievedPodData (one
 * entry per container with the objects it mounts), and relayed.  A UID
 * that was already submitted gets its stored job id back without a second
 * submission, also when the duplicates arrive concurrently or after a
 * restart.  A create the plugin did not answer is remembered "in doubt"
 * (remember_in_doubt) so that the pod it may have started is never out of
 * reach of a delete. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "pod.h"
#include "tenants.h"
#include "trace.h"
#include "wire.h"

/* ---- the endpoint ------------------------------------------------------------ */

/* Check the request and build what the plugin receives; NULL after answering. */
static json_t *prepare_plugin_body(il_request *req, json_t *body, il_pod *pod)
{
    char err[512];
    if (!json_is_object(body)) {
        il_respond_error(req, 400, "invalid create request: expected a JSON object "
                         "{\"pod\", \"configmaps\", \"secrets\", \"projectedvolumesmaps\"}");
        return NULL;
    }
    if (il_pod_parse(json_object_get(body, "pod"), pod, err, sizeof(err)) != 0) {
        il_respond_error(req, 400, "invalid pod: %s", err);
        return NULL;
    }
    const char *script_url = json_string_value(json_object_get(body, "jobscriptURL"));
    if (script_url && *script_url) {
        il_respond_error(req, 501, "jobscriptURL is set (%s) but this interlink has no job "
                         "script builder; unset JobScriptBuilderURL in the virtual kubelet "
                         "configuration", script_url);
        il_pod_free(pod);
        return NULL;
    }
    json_t *plugin_body = il_retrieved_pod_data(body, err, sizeof(err));
    if (!plugin_body) {
        il_respond_error(req, 400, "invalid create request: %s", err);
        il_pod_free(pod);
    }
    return plugin_body;
}

/* Relay to the plugin; the job id on success (caller frees), else NULL
 * after answering the caller, with *in_doubt set when the plugin may have
 * started the pod anyway (no answer, a 5xx: it may have died after acting). */
static char *submit(api *a, il_request *req, json_t *plugin_body, const il_pod *pod,
                    bool *in_doubt)
{
    char *text = json_dumps(plugin_body, JSON_COMPACT);
    il_http_result res;
    int rc = relay_call_for(a, req, "POST", "/create", text, strlen(text), pod->ns, &res);
    free(text);
    *in_doubt = rc != 0 || res.status >= 500 || res.status == 200;
    if (rc != 0) {
        relay_unreachable(a, req, "/create", &res);
        il_http_result_free(&res);
        return NULL;
    }
    char *job_id = NULL;
    if (res.status != 200) {
        relay_failure(req, "create", &res);
    } else {
        json_t *answer = json_loadb(res.body.data, res.body.len, 0, NULL);
        const char *jid = json_string_value(json_object_get(answer, "PodJID"));
        if (jid && *jid) {
            job_id = il_xstrdup(jid);
            *in_doubt = false;
        }
        else
            il_respond_error(req, 502, "plugin answered /create for %s without a PodJID: %.200s",
                             pod->uid, il_buf_cstr(&res.body));
        json_decref(answer);
    }
    il_http_result_free(&res);
    return job_id;
}

/* A create the plugin may have acted on without answering (killed after
 * starting the pod, say) is kept as a row with an empty job id: listed in
 * /pods, so a virtual kubelet that finds no API object for it deletes it,
 * and a delete reaches the plugin; a repeated create submits it again (the
 * plugin's create is idempotent) and records the job id.  Forgetting it
 * would orphan the pod when its API object vanishes before a retry. */
static void remember_in_doubt(api *a, const il_pod *pod, json_t *pod_json)
{
    if (store_put_created(a->store, pod->uid, pod->ns, pod->name, "", pod_json) == 0)
        il_warn("create of %s/%s (%s) not confirmed: the plugin may have started it; kept "
                "until a create or a delete settles it", pod->ns, pod->name, pod->uid);
    else
        il_error("create of %s/%s (%s) not confirmed and not recorded: if the plugin started "
                 "it, only a delete of its UID stops it", pod->ns, pod->name, pod->uid);
}

static void respond_created(il_request *req, const char *uid, const char *job_id)
{
    il_respond_json(req, 200, json_pack("{s:s, s:s}", "PodUID", uid, "PodJID", job_id));
}

void handle_create(il_request *req, void *ud)
{
    api *a = ud;
    json_t *body = il_request_json(req);
    if (!body)
        return;
    il_pod pod;
    json_t *plugin_body = prepare_plugin_body(req, body, &pod);
    if (!plugin_body) {
        json_decref(body);
        return;
    }
    if (!access_check_ns(a, req, pod.ns)) {
        il_pod_free(&pod);
        json_decref(plugin_body);
        json_decref(body);
        return;
    }
    il_span_set_pod(il_span_current(), pod.ns, pod.name, pod.uid);
    il_uidlock_acquire(&a->busy, pod.uid);
    store_pod known;
    int found = store_get(a->store, pod.uid, &known);
    if (found == 1 && strcmp(known.ns, pod.ns) != 0) {
        /* a UID is a pod's, in one namespace: never hand out another's job */
        il_respond_error(req, 409, "pod UID %s is already in use in another namespace",
                         pod.uid);
        store_pod_free(&known);
    } else if (found == 1 && *known.job_id) {
        il_info("create %s/%s (%s): already submitted as job %s", pod.ns, pod.name, pod.uid,
                known.job_id);
        respond_created(req, pod.uid, known.job_id);
        store_pod_free(&known);
    } else if (found < 0) {
        il_respond_error(req, 500, "state database error; see the server log");
    } else {
        if (found == 1)
            store_pod_free(&known);   /* a create in doubt: submit again (idempotent) */
        bool in_doubt = false;
        char *job_id = submit(a, req, plugin_body, &pod, &in_doubt);
        if (!job_id && in_doubt && found == 0)
            remember_in_doubt(a, &pod, json_object_get(body, "pod"));
        if (job_id && store_put_created(a->store, pod.uid, pod.ns, pod.name, job_id,
                                        json_object_get(body, "pod")) != 0) {
            /* Never acknowledge what is not durable: the caller retries,
             * and the plugin's create is idempotent (same UID, same job). */
            il_error("pod %s was submitted as job %s but could not be recorded", pod.uid, job_id);
            il_respond_error(req, 503, "pod %s was submitted as job %s but the state database "
                             "could not record it (disk full?); repeat the create", pod.uid,
                             job_id);
            free(job_id);
            job_id = NULL;
        }
        if (job_id) {
            il_span_set_str(il_span_current(), "interlink.job_id", job_id);
            il_info("created pod %s/%s (%s) as job %s", pod.ns, pod.name, pod.uid, job_id);
            respond_created(req, pod.uid, job_id);
        }
        free(job_id);
    }
    il_uidlock_release(&a->busy, pod.uid);
    il_pod_free(&pod);
    json_decref(plugin_body);
    json_decref(body);
}
