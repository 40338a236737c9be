/* manifestrefs.c -- the PodCreateRequests body as the virtual kubelet builds it
 * (podresolve.h), with the objects a pod refers to taken from the
 * manifest instead of a Kubernetes API.  Without one, service-account
 * tokens and resourceFieldRef volume items are skipped with a warning. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pod.h"
#include "podresolve.h"
#include "timeutil.h"

/* What the callbacks see through il_podres.ctx. */
typedef struct manifest_ref {
    const cli_manifest *m;
} manifest_ref;

static int manifest_lookup(il_podres *r, const char *kind, const char *name,
                           const json_t **obj)
{
    const cli_manifest *m = ((const manifest_ref *)r->ctx)->m;
    const cli_object *o = cli_manifest_find(m, kind, r->ns, name);
    if (o) {
        *obj = o->obj;
        return IL_PODRES_FOUND;
    }
    il_podres_fail(r, NULL, "%s \"%s\" not found in %s (define it there in namespace %s, or "
                            "mark the reference optional: true)",
                   kind, name, cli_manifest_source(m), r->ns);
    return IL_PODRES_MISSING;
}

/* The status fields: without a tunnel the virtual kubelet reports
 * 127.0.0.1 for both addresses. */
static char *status_field(il_podres *r, const char *path)
{
    if (strcmp(path, "status.podIP") == 0 || strcmp(path, "status.hostIP") == 0)
        return il_xstrdup("127.0.0.1");
    il_podres_fail(r, NULL, "fieldRef \"%s\" is not supported (use metadata.name, "
                            "metadata.namespace, metadata.uid, metadata.labels, "
                            "metadata.annotations, spec.serviceAccountName, spec.nodeName, "
                            "status.podIP or status.hostIP)", path);
    return NULL;
}

static void print_warning(il_podres *r, const char *message)
{
    (void)r;
    cli_warn("%s", message);
}

static const il_podres_ops manifest_ops = {
    .lookup = manifest_lookup,
    .field = status_field,
    .warn = print_warning,
};

/* uid, namespace and the bookkeeping the API server would add on create. */
static json_t *pod_copy(const cli_object *o, const char *uid)
{
    json_t *pod = json_deep_copy(o->obj);
    json_t *meta = json_object_get(pod, "metadata");
    json_object_set_new(meta, "namespace", json_string(o->ns));
    json_object_set_new(meta, "uid", json_string(uid));
    if (!json_object_get(meta, "creationTimestamp")) {
        char now[IL_RFC3339_MAX];
        il_time_format(il_time_now(), false, now);
        json_object_set_new(meta, "creationTimestamp", json_string(now));
    }
    if (!json_object_get(pod, "status"))
        json_object_set_new(pod, "status", json_pack("{s:s}", "phase", "Pending"));
    return pod;
}

json_t *cli_build_create_request(const cli_manifest *m, const cli_object *o, const char *uid,
                                 char *err, size_t errlen)
{
    manifest_ref ref = {m};
    il_podres r = {.ops = &manifest_ops, .ctx = &ref};
    json_t *request = il_podres_request(&r, pod_copy(o, uid), NULL);
    il_pod parsed;
    if (!request) {
        snprintf(err, errlen, "%s", r.message);
        return NULL;
    }
    /* Parsed only to refuse here what the plugin would refuse later. */
    if (il_pod_parse(json_object_get(request, "pod"), &parsed, err, errlen) != 0) {
        json_decref(request);
        return NULL;
    }
    il_pod_free(&parsed);
    return request;
}
