/* fuzz_podresolve.c -- pod resolution (the virtual kubelet's and
 * interlinkctl's step from a Pod to PodCreateRequests): env valueFrom,
 * envFrom, volumes, projected sources, items, against a fixed set of
 * ConfigMaps and Secrets.  The input is the pod's JSON. */
#include "fuzz.h"

#include <jansson.h>

#include "podresolve.h"
#include "util.h"

static json_t *objects;   /* "Kind/name" -> object, built once */

static int lookup(il_podres *r, const char *kind, const char *name, const json_t **obj)
{
    char key[256];
    snprintf(key, sizeof key, "%s/%s", kind, name);
    if ((*obj = json_object_get(objects, key)))
        return IL_PODRES_FOUND;
    il_podres_fail(r, NULL, "%s \"%s\" not found", kind, name);
    return IL_PODRES_MISSING;
}

static char *field(il_podres *r, const char *path)
{
    if (strcmp(path, "status.podIP") == 0)
        return il_xstrdup("10.1.2.3");
    il_podres_fail(r, NULL, "no %s here", path);
    return NULL;
}

static char *resource(il_podres *r, const json_t *ref, const char *container)
{
    (void)r;
    (void)ref;
    return il_xasprintf("1@%s", container ? container : "-");
}

static char *token(il_podres *r, const json_t *source)
{
    (void)r;
    (void)source;
    return il_xstrdup("token");
}

static void warn(il_podres *r, const char *message)
{
    (void)r;
    (void)message;
}

static const il_podres_ops ops = {.lookup = lookup, .field = field, .resource = resource,
                                  .token = token, .warn = warn};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!objects)
        objects = json_pack(
            "{s:{s:{s:s},s:{s:s,s:s},s:{s:s}},s:{s:{s:s},s:{s:s}}}",
            "ConfigMap/cfg", "metadata", "name", "cfg", "data", "k", "v1", "other", "v2",
            "binaryData", "raw", "Ynl0ZXM=",
            "Secret/sec", "metadata", "name", "sec", "data", "password", "czNjcmV0");
    json_t *pod = json_loadb((const char *)data, size, 0, NULL);
    if (!pod)
        return 0;
    for (int skip = 0; skip < 2; skip++) {
        il_podres r = {.ops = &ops, .skip_projected = skip};
        json_t *request = il_podres_request(&r, json_deep_copy(pod), "https://jobs/script");
        FUZZ_ASSERT(request || r.message[0] != '\0');
        json_decref(request);
    }
    json_decref(pod);
    return 0;
}
