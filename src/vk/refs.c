/* refs.c -- looking up what a pod refers to for the shared resolver:
 * ConfigMaps and Secrets from the API server, the pod's status fields and
 * resources, service-account tokens.
 *
 * The values follow the kubelet's rules (pkg/fieldpath, pkg/api/v1/
 * resource): resources divide by the divisor rounding up, and an unset
 * limit is the node's allocatable amount. */
#include "refs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pods.h"
#include "quantity.h"
#include "util.h"

#define DEFAULT_TOKEN_SECONDS 3600
#define ROOT_CA_MAP "kube-root-ca.crt"

/* kube-root-ca.crt as KubernetesApiCaCrt says, when configured, as
 * upstream serves it to backends that see the cluster's CA differently:
 * the cache answers before the API server is asked. */
static void seed_root_ca(vk_refs *r)
{
    const char *ca = r->cfg->k8s_api_ca;
    if (!ca || !*ca)
        return;
    json_object_set_new(r->cache, "ConfigMap/" ROOT_CA_MAP,
                        json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1",
                                  "kind", "ConfigMap", "metadata", "name", ROOT_CA_MAP,
                                  "namespace", vk_pod_ns(r->pod), "data", "ca.crt", ca));
}

void vk_refs_init(vk_refs *r, vk_kube *kube, const vk_config *cfg, const json_t *pod)
{
    memset(r, 0, sizeof *r);
    r->kube = kube;
    r->cfg = cfg;
    r->pod = pod;
    r->cache = json_object();
    seed_root_ca(r);
}

void vk_refs_free(vk_refs *r)
{
    json_decref(r->cache);
    r->cache = NULL;
}

/* ---- ConfigMaps and Secrets -------------------------------------------- */

/* GET the object into the cache: 1 found, 0 absent, -1 the API failed. */
static int fetch(il_podres *pr, const char *kind, const char *name, json_t **out)
{
    vk_refs *r = pr->ctx;
    char *ck = il_xasprintf("%s/%s", kind, name);
    *out = json_object_get(r->cache, ck);
    if (*out) {
        free(ck);
        return json_is_null(*out) ? 0 : 1;
    }
    char *path = il_xasprintf("/api/v1/namespaces/%s/%s/%s", vk_pod_ns(r->pod),
                              strcmp(kind, "Secret") ? "configmaps" : "secrets", name);
    json_t *shared = r->shared ? vk_refcache_get(r->shared, path) : NULL;
    if (shared) {
        json_object_set_new(r->cache, ck, shared);
        *out = shared;
        free(path);
        free(ck);
        return 1;
    }
    vk_kube_result res;
    int rc = vk_kube_get(r->kube, path, &res) == 0 && res.body ? 1 : 0;
    if (rc == 1 || vk_kube_is(&res, 404)) {
        *out = rc ? res.body : json_null();
        json_object_set(r->cache, ck, *out);
        if (rc == 1 && r->shared)
            vk_refcache_put(r->shared, path, res.body);
    } else {
        il_podres_fail(pr, "FailedToRetrieve", "%s", res.error);
        rc = -1;
    }
    vk_kube_result_free(&res);   /* the cache holds its own reference */
    free(path);
    free(ck);
    return rc;
}

static int api_lookup(il_podres *pr, const char *kind, const char *name, const json_t **obj)
{
    const vk_refs *r = pr->ctx;
    json_t *found = NULL;
    int rc = *name ? fetch(pr, kind, name, &found) : 0;
    *obj = found;
    if (rc < 0)
        return IL_PODRES_ERR;
    if (rc > 0)
        return IL_PODRES_FOUND;
    il_podres_fail(pr, NULL, "%s \"%s\" not found in namespace %s",
                   strcmp(kind, "Secret") ? "configmap" : "secret", name, vk_pod_ns(r->pod));
    return IL_PODRES_MISSING;
}

/* ---- downward API ------------------------------------------------------ */

/* The status fields; the resolver reads metadata and spec itself. */
static char *status_field(il_podres *pr, const char *path)
{
    const vk_refs *r = pr->ctx;
    const char *v;
    if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.hostIPs"))
        v = vk_node_address(r->cfg);
    else if (!strcmp(path, "status.podIP") || !strcmp(path, "status.podIPs"))
        v = json_string_value(json_object_get(json_object_get(r->pod, "status"), "podIP"));
    else {
        il_podres_fail(pr, NULL, "fieldRef \"%s\" is not supported", path);
        return NULL;
    }
    /* No pod network without a tunnel: the node's address, as the status
     * will say once it is written. */
    return il_xstrdup(v ? v : vk_node_address(r->cfg));
}

static const json_t *container_named(const json_t *pod, const char *name)
{
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), lists[l]), i, c)
        {
            const char *cn = json_string_value(json_object_get(c, "name"));
            if (name && cn && !strcmp(cn, name))
                return c;
        }
    }
    return NULL;
}

/* amount / divisor rounded up, both in the unit the resource counts in
 * (milli-cpus for cpu, bytes otherwise), as the kubelet computes it. */
static char *divide(il_podres *pr, const char *amount, const char *divisor, bool cpu)
{
    int64_t a, d;
    int (*parse)(const char *, int64_t *) = cpu ? il_quantity_milli : il_quantity_value;
    if (parse(amount, &a) < 0 || parse(divisor && *divisor ? divisor : "1", &d) < 0 || d <= 0)
        return il_podres_fail(pr, NULL, "resourceFieldRef: \"%s\" / \"%s\" is not computable",
                              amount, divisor ? divisor : "1"), NULL;
    return il_xasprintf("%lld", (long long)((a + d - 1) / d));
}

static char *resource_value(il_podres *pr, const json_t *ref, const char *dflt)
{
    const vk_refs *r = pr->ctx;
    const char *cname = json_string_value(json_object_get(ref, "containerName"));
    const char *res = json_string_value(json_object_get(ref, "resource"));
    const char *divisor = json_string_value(json_object_get(ref, "divisor"));
    const json_t *c = container_named(r->pod, cname && *cname ? cname : dflt);
    const char *dot = res ? strchr(res, '.') : NULL;
    if (!c || !dot || (strncmp(res, "limits.", 7) && strncmp(res, "requests.", 9)))
        return il_podres_fail(pr, NULL, "resourceFieldRef %s of container \"%s\" is not supported",
                              res ? res : "", cname ? cname : dflt ? dflt : ""), NULL;
    bool limit = res[0] == 'l', cpu = !strcmp(dot + 1, "cpu");
    const json_t *set = json_object_get(json_object_get(c, "resources"),
                                        limit ? "limits" : "requests");
    const char *amount = json_string_value(json_object_get(set, dot + 1));
    if (!amount && limit && cpu)
        amount = r->cfg->cpu;   /* an unset limit is the node's allocatable */
    else if (!amount && limit && !strcmp(dot + 1, "memory"))
        amount = r->cfg->memory;
    return divide(pr, amount ? amount : "0", divisor, cpu);
}

/* ---- service-account tokens ------------------------------------------- */

static char *issue_token(il_podres *pr, const json_t *source)
{
    const vk_refs *r = pr->ctx;
    const json_t *spec = json_object_get(r->pod, "spec");
    const char *sa = json_string_value(json_object_get(spec, "serviceAccountName"));
    const char *aud = json_string_value(json_object_get(source, "audience"));
    json_int_t secs = json_integer_value(json_object_get(source, "expirationSeconds"));
    json_t *req = json_pack("{s:s, s:s, s:{s:I, s:{s:s, s:s, s:s, s:s}}}", "apiVersion",
                            "authentication.k8s.io/v1", "kind", "TokenRequest", "spec",
                            "expirationSeconds", secs > 0 ? secs : DEFAULT_TOKEN_SECONDS,
                            "boundObjectRef", "apiVersion", "v1", "kind", "Pod", "name",
                            vk_pod_name(r->pod), "uid", vk_pod_uid(r->pod));
    if (aud && *aud)
        json_object_set_new(json_object_get(req, "spec"), "audiences", json_pack("[s]", aud));
    char *path = il_xasprintf("/api/v1/namespaces/%s/serviceaccounts/%s/token",
                              vk_pod_ns(r->pod), sa && *sa ? sa : "default");
    vk_kube_result res;
    char *token = NULL;
    if (vk_kube_create(r->kube, path, req, &res) == 0)
        token = il_xstrdup(json_string_value(
            json_object_get(json_object_get(res.body, "status"), "token")));
    if (!token)
        il_podres_fail(pr, NULL, "cannot get a service account token for %s: %s",
                       sa && *sa ? sa : "default", res.error[0] ? res.error : "no token in answer");
    vk_kube_result_free(&res);
    free(path);
    json_decref(req);
    return token;
}

const il_podres_ops vk_refs_ops = {
    .lookup = api_lookup,
    .field = status_field,
    .resource = resource_value,
    .token = issue_token,
};
