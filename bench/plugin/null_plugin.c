/* il-bench-plugin -- a backend for benchmarks that runs nothing.
 *
 * Every pod created is Running from then on, until deleted.  Pods are kept
 * in a hash by UID (a jansson object), so /status over 10,000 pods costs
 * the framework's work (parse, answer) and not the backend's: what
 * bench/bench-memory.sh and the relay figures measure is interlink and the
 * plugin framework.  Memory only; nothing survives a restart. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "plugin.h"

typedef struct null_config {
    il_plugin_base base;   /* Socket, SidecarURL/Port, DataRootFolder, logging */
} null_config;

static const il_cfg_field null_fields[] = {
    IL_PLUGIN_BASE_FIELDS(null_config, base, "/var/lib/il-bench-plugin", "unused"),
};

typedef struct null_backend {
    pthread_mutex_t lock;  /* callbacks run concurrently */
    json_t *started;       /* uid -> [start time (seconds), [[name, image]...]] */
} null_backend;

static int null_create(void *ctx, const il_create_request *req, char **job_id, il_buf *err)
{
    (void)err;
    null_backend *b = ctx;
    pthread_mutex_lock(&b->lock);
    if (!json_object_get(b->started, req->pod.uid)) {
        /* A status request carries no spec: the containers are kept here. */
        json_t *ctrs = json_array();
        for (size_t i = 0; i < req->pod.n_containers; i++)
            json_array_append_new(ctrs, json_pack("[ss]", req->pod.containers[i].name,
                                                  req->pod.containers[i].image));
        json_object_set_new(b->started, req->pod.uid,
                            json_pack("[Io]", (json_int_t)il_time_now().sec, ctrs));
    }
    pthread_mutex_unlock(&b->lock);
    *job_id = il_xasprintf("null-%s", req->pod.uid);
    return 0;
}

static void running(const json_t *c, int64_t since, il_container_status *out)
{
    out->name = il_xstrdup(json_string_value(json_array_get(c, 0)));
    out->image = il_xstrdup(json_string_value(json_array_get(c, 1)));
    out->started_at = (il_time){since, 0};
    out->started = IL_STARTED_YES;
    out->state = IL_STATE_RUNNING;
    out->ready = true;
}

static int null_status(void *ctx, const il_pod *pods, size_t n, il_pod_status *out, il_buf *err)
{
    (void)err;
    null_backend *b = ctx;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_object_get(b->started, pods[i].uid);
        if (!rec)
            continue;   /* unknown here: left out of the answer */
        out[i].uid = il_xstrdup(pods[i].uid);
        out[i].name = il_xstrdup(pods[i].name);
        out[i].ns = il_xstrdup(pods[i].ns);
        out[i].job_id = il_xasprintf("null-%s", pods[i].uid);
        const json_t *ctrs = json_array_get(rec, 1);
        int64_t since = json_integer_value(json_array_get(rec, 0));
        out[i].n_containers = json_array_size(ctrs);
        out[i].containers = il_xcalloc(out[i].n_containers + 1, sizeof(il_container_status));
        for (size_t c = 0; c < out[i].n_containers; c++)
            running(json_array_get(ctrs, c), since, &out[i].containers[c]);
    }
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static int null_delete(void *ctx, const il_pod *pod, il_buf *err)
{
    (void)err;
    null_backend *b = ctx;
    pthread_mutex_lock(&b->lock);
    json_object_del(b->started, pod->uid);
    pthread_mutex_unlock(&b->lock);
    return 0;   /* deleting an unknown pod succeeds */
}

static int null_logs_open(void *ctx, const il_log_request *req, void **stream, il_buf *err)
{
    (void)ctx;
    (void)stream;
    il_buf_printf(err, "il-bench-plugin keeps no logs (%s)", req->container);
    return 404;
}

static ssize_t null_logs_read(void *stream, char *buf, size_t max)
{
    (void)stream;
    (void)buf;
    (void)max;
    return 0;
}

static void null_logs_close(void *stream)
{
    (void)stream;
}

static json_t *null_ping(void *ctx)
{
    (void)ctx;
    return json_pack("{s:s}", "status", "ok");
}

static const il_plugin_ops null_ops = {
    .name = "null",
    .create = null_create,
    .status = null_status,
    .delete = null_delete,
    .logs_open = null_logs_open,
    .logs_read = null_logs_read,
    .logs_close = null_logs_close,
    .ping = null_ping,
};

static int null_start(const void *cfg, void **ctx)
{
    (void)cfg;
    null_backend *b = il_xcalloc(1, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->started = json_object();
    *ctx = b;
    return 0;
}

static void null_stop(void *ctx)
{
    null_backend *b = ctx;
    json_decref(b->started);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static const il_plugin_def null_plugin = {
    .name = "il-bench-plugin",
    .summary = "A benchmark backend that runs nothing: pods are Running until deleted.",
    .config_env = "ILBENCHPLUGINCONFIGPATH",
    .fields = null_fields,
    .nfields = sizeof(null_fields) / sizeof(null_fields[0]),
    .config_size = sizeof(null_config),
    .base_offset = offsetof(null_config, base),
    .start = null_start,
    .stop = null_stop,
    .ops = &null_ops,
};

int main(int argc, char **argv)
{
    return il_plugin_main(&null_plugin, argc, argv);
}
