/* podwatch.c -- this node's pods from the API server into the pod table.
 *
 * Owns the list+watch cycle, as a client-go reflector runs it: list with
 * fieldSelector=spec.nodeName=NAME (in pages), then watch from the list's
 * resourceVersion, continuing from the last version seen (bookmarks
 * included) when a stream ends; 410 Gone (an HTTP answer or an ERROR
 * event) means the version was compacted away: list again.  A relist
 * marks pods that disappeared meanwhile as gone.  Every pod a worker must
 * look at (new, deletion requested, gone) is queued by UID. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "vk.h"
#include "vkmetrics.h"

#define WATCH_TIMEOUT_S 300   /* server-side end of a stream; we resume at once */

typedef struct watch_state {
    char *rv;                 /* resourceVersion to continue from; NULL = list */
    char *selector;           /* escaped fieldSelector value */
    int failures;
} watch_state;

/* Continue from the resourceVersion in meta (an object's or a list's). */
static void set_rv(watch_state *w, const json_t *meta)
{
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    if (rv && *rv) {
        free(w->rv);
        w->rv = il_xstrdup(rv);
    }
}

/* A list is read in pages of LIST_PAGE pods (limit and continue, as
 * client-go's pager): parsed whole, a 10,000-pod list is hundreds of
 * megabytes of JSON tree at once. */
#define LIST_PAGE 500

/* One page of the list (cont: the continue token, or NULL for the first)
 * into the table; its pods' UIDs into present.  The page's metadata (new
 * reference), or NULL when the list failed. */
static json_t *list_page(vk *v, watch_state *w, const char *cont, json_t *present)
{
    char *esc = cont ? vk_kube_escape(cont) : NULL;
    char *path = il_xasprintf("/api/v1/pods?fieldSelector=%s&limit=%d%s%s", w->selector,
                              LIST_PAGE, esc ? "&continue=" : "", esc ? esc : "");
    free(esc);
    vk_kube_result res;
    int rc = vk_kube_get(v->kube, path, &res);
    free(path);
    if (rc < 0) {
        il_warn("listing pods: %s", res.error);
        vk_kube_result_free(&res);
        return NULL;
    }
    size_t i;
    json_t *pod;
    json_array_foreach(json_object_get(res.body, "items"), i, pod) {
        const char *uid = vk_pod_uid(pod);
        if (!uid)
            continue;
        vk_pods_put(v->pods, pod);
        json_object_set_new(present, uid, json_true());
        vk_queue_add(v->queue, uid, 0);   /* a relist may follow missed events */
    }
    json_t *meta = json_incref(json_object_get(res.body, "metadata"));
    vk_kube_result_free(&res);
    return meta ? meta : json_object();
}

static int relist(vk *v, watch_state *w)
{
    json_t *present = json_object(), *meta = NULL;
    const char *cont = NULL;
    do {
        json_t *next = list_page(v, w, cont, present);
        json_decref(meta);
        if (!(meta = next)) {   /* an expired continue token too: list again from the start */
            json_decref(present);
            return -1;
        }
        cont = json_string_value(json_object_get(meta, "continue"));
    } while (cont && *cont);
    size_t i;
    json_t *pod;
    json_t *missing = vk_pods_mark_missing(v->pods, present);
    json_array_foreach(missing, i, pod)
        vk_queue_add(v->queue, json_string_value(pod), 0);
    il_info("listed %zu pods on node %s (%zu gone since)", json_object_size(present),
            v->cfg->node_name, json_array_size(missing));
    json_decref(missing);
    json_decref(present);
    set_rv(w, meta);
    json_decref(meta);
    vk_pods_set_synced(v->pods);
    return 0;
}

static void on_event(vk *v, watch_state *w, const vk_watch_event *ev)
{
    set_rv(w, json_object_get(ev->object, "metadata"));
    const char *uid = vk_pod_uid(ev->object);
    bool work = false;
    if (ev->type == VK_EVENT_BOOKMARK || !uid)
        return;
    if (ev->type == VK_EVENT_DELETED)
        work = vk_pods_mark_gone(v->pods, uid);
    else
        work = vk_pods_put(v->pods, ev->object);
    if (work)
        vk_queue_add(v->queue, uid, 0);
}

/* Follow one watch stream.  0: it ended (resume or relist), -1: failed. */
static int follow(vk *v, watch_state *w)
{
    char *path = il_xasprintf("/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d"
                              "&fieldSelector=%s&resourceVersion=%s", WATCH_TIMEOUT_S,
                              w->selector, w->rv);
    vk_kube_result res;
    vk_watch *watch = vk_watch_open(v->kube, path, &res);
    free(path);
    if (!watch) {
        bool gone = vk_kube_is(&res, 410);
        if (!gone)
            il_warn("watching pods: %s", res.error);
        vk_kube_result_free(&res);
        return gone ? VK_WATCH_GONE : -1;
    }
    w->failures = 0;
    int rc;
    char err[512];
    vk_watch_event ev;
    while ((rc = vk_watch_next(watch, &ev, err, sizeof err)) != 0) {
        if (rc == 1) {
            on_event(v, w, &ev);
            json_decref(ev.object);
        }
        if (vk_stopping(v)) {   /* checked after events too: a busy stream never idles */
            rc = 0;
            break;
        }
        if (rc == VK_WATCH_GONE || rc == -1) {
            if (rc == -1)
                il_warn("watching pods: %s", err);
            break;
        }
    }
    vk_watch_close(watch);
    return rc;
}

void *vk_watch_loop(void *arg)
{
    vk *v = arg;
    char *sel = il_xasprintf("spec.nodeName=%s", v->cfg->node_name);
    watch_state w = {.selector = vk_kube_escape(sel)};
    free(sel);
    while (!vk_stopping(v)) {
        int rc = w.rv ? follow(v, &w) : relist(v, &w);
        if (rc == VK_WATCH_GONE || rc < 0)
            vk_metrics_watch_restart(rc < 0 ? "error" : "gone");
        if (rc == VK_WATCH_GONE) {
            il_info("pod watch: resourceVersion %s is too old; listing again", w.rv);
            free(w.rv);
            w.rv = NULL;
        } else if (rc < 0 && !vk_sleep(v, vk_backoff_ms(++w.failures, 500, 30000))) {
            break;
        }
    }
    free(w.rv);
    free(w.selector);
    return NULL;
}
