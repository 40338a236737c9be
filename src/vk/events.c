/* events.c -- Events about pods: what a kubelet posts (Created, Started,
 * Failed, Killing, FailedMount), so `kubectl describe pod` tells the story. */
#include "events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "pods.h"
#include "timeutil.h"
#include "util.h"

static json_t *event_object(const char *node, const json_t *pod, const char *type,
                            const char *reason, const char *message)
{
    char now[IL_RFC3339_MAX], name[128];
    il_time t = il_time_now();
    il_time_format(t, false, now);
    /* The kubelet's naming: the object's name, then a unique hex suffix. */
    snprintf(name, sizeof name, "%.100s.%llx", vk_pod_name(pod),
             (unsigned long long)il_time_to_ns(t));
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, "
                     "s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s}",
                     "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                     vk_pod_ns(pod), "involvedObject", "apiVersion", "v1", "kind", "Pod", "name",
                     vk_pod_name(pod), "namespace", vk_pod_ns(pod), "uid", vk_pod_uid(pod),
                     "reason", reason, "message", message, "type", type, "source", "component",
                     "interlink-vk", "host", node, "firstTimestamp", now, "lastTimestamp", now,
                     "count", 1, "reportingComponent", "interlink-vk", "reportingInstance", node);
}

void vk_event(vk_kube *k, const char *node, const json_t *pod, const char *type,
              const char *reason, const char *fmt, ...)
{
    if (!vk_pod_name(pod) || !vk_pod_uid(pod))
        return;
    va_list ap;
    va_start(ap, fmt);
    char *message = NULL;
    if (vasprintf(&message, fmt, ap) < 0)
        message = NULL;
    va_end(ap);
    json_t *ev = event_object(node, pod, type, reason, message ? message : reason);
    char *path = il_xasprintf("/api/v1/namespaces/%s/events", vk_pod_ns(pod));
    vk_kube_result res;
    if (vk_kube_create(k, path, ev, &res) < 0)
        il_warn("event %s for pod %s/%s not recorded: %s", reason, vk_pod_ns(pod),
                vk_pod_name(pod), res.error);
    vk_kube_result_free(&res);
    free(path);
    json_decref(ev);
    free(message);
}
