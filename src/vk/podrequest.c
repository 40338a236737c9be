/* podrequest.c -- PodCreateRequests from a pod and what it refers to: the
 * shared resolver (podresolve.c) over the API server (refs.c).  Unlike
 * upstream: optional references are honoured, service-account tokens keep
 * the source's audience and lifetime, resourceFieldRef works, and the
 * order of env is the kubelet's (envFrom, then env; later names win). */
#include "podrequest.h"

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* The KUBERNETES_SERVICE_* variables upstream adds when the API server's
 * address for the backend is configured; they win over the pod's own, as
 * the kubelet's service variables would. */
static void add_api_env(const vk_config *cfg, json_t *container)
{
    const char *a = cfg->k8s_api_addr, *p = cfg->k8s_api_port;
    if (!a || !*a || !p || !*p)
        return;
    char *url = il_xasprintf("tcp://%s:%s", a, p);
    const char *const vars[][2] = {
        {"KUBERNETES_SERVICE_HOST", a},       {"KUBERNETES_SERVICE_PORT", p},
        {"KUBERNETES_SERVICE_PORT_HTTPS", p}, {"KUBERNETES_PORT", url},
        {"KUBERNETES_PORT_443_TCP", url},     {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
        {"KUBERNETES_PORT_443_TCP_ADDR", a},  {"KUBERNETES_PORT_443_TCP_PORT", p}};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        il_podres_setenv(container, vars[i][0], vars[i][1]);
    free(url);
}

static void add_api_env_all(const vk_config *cfg, json_t *pod)
{
    static const char *const lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), lists[l]), i, c)
            add_api_env(cfg, c);
    }
}

json_t *vk_resolve_pod(vk_refs *r)
{
    il_podres pr = {.ops = &vk_refs_ops, .ctx = r,
                    .skip_projected = r->cfg->disable_projected_volumes};
    json_t *request = il_podres_request(&pr, json_deep_copy(r->pod), r->cfg->job_script_url);
    if (!request) {
        r->reason = pr.reason;
        snprintf(r->message, sizeof r->message, "%s", pr.message);
        return NULL;
    }
    add_api_env_all(r->cfg, json_object_get(request, "pod"));
    return request;
}
