/* poddata.c -- ExportPodData: false keeps the pod's configuration data
 * (ConfigMaps, Secrets, projected service-account tokens and CA, the
 * downward API) away from the job and from the plugin's data directory.
 *
 * The request is rewritten before anything is written: those volumes, the
 * volumeMounts that use them and the data interLink sent for them are
 * dropped, so pod.json (which is the supervisor's input on the node) never
 * holds them either.  emptyDir and hostPath volumes carry no pod data and
 * stay.  Upstream drops ConfigMap/Secret/emptyDir binds the same silent
 * way; the difference is that emptyDirs still work here. */
#include "slurm.h"

#include <string.h>

static bool is_pod_data_volume(json_t *vol)
{
    const char *const kinds[] = {"configMap", "secret", "projected", "downwardAPI"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (json_object_get(vol, kinds[i]))
            return true;
    return false;
}

static bool name_in(json_t *names, const char *name)
{
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
        if (name && strcmp(json_string_value(n), name) == 0)
            return true;
    return false;
}

/* Remove from array every object whose "name" is in names (or, with names
 * NULL, that is a pod-data volume, recording its name in dropped). */
static void drop_named(json_t *array, json_t *names, json_t *dropped)
{
    for (size_t i = 0; i < json_array_size(array);) {
        json_t *item = json_array_get(array, i);
        const char *name = json_string_value(json_object_get(item, "name"));
        bool drop = names ? name_in(names, name) : is_pod_data_volume(item);
        if (drop && dropped && name)
            json_array_append_new(dropped, json_string(name));
        if (drop)
            json_array_remove(array, i);
        else
            i++;
    }
}

int pod_data_strip(const il_create_request *req, il_create_request *out, il_buf *err)
{
    json_t *copy = json_deep_copy(req->raw);
    json_t *spec = json_object_get(json_object_get(copy, "pod"), "spec");
    json_t *dropped = json_array();
    drop_named(json_object_get(spec, "volumes"), NULL, dropped);
    const char *lists[] = {"initContainers", "containers"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
            drop_named(json_object_get(c, "volumeMounts"), dropped, NULL);
    }
    json_object_del(copy, "container");   /* the ConfigMaps/Secrets interLink sent */
    json_decref(dropped);
    char msg[512];
    int rc = il_create_request_parse(copy, out, msg, sizeof(msg));
    if (rc != 0)
        il_buf_printf(err, "%s", msg);
    json_decref(copy);
    return rc;
}
