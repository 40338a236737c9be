/* fuzz_wire.c -- the JSON the plugins and interlink receive: a create
 * request (RetrievedPodData, with its volume files), a bare pod, a pod
 * status, a log request.  The first byte picks the parser, the rest is the
 * body, so one corpus covers all four. */
#include "fuzz.h"

#include <jansson.h>

#include "pod.h"
#include "runner.h"   /* volume files */
#include "wire.h"

static void create_request(json_t *json)
{
    il_create_request req;
    char err[256];
    if (il_create_request_parse(json, &req, err, sizeof err) != 0)
        return;
    /* What the parse promises every backend (pod.c): path-safe names. */
    FUZZ_ASSERT(il_is_dns_label(req.pod.ns));
    FUZZ_ASSERT(!strchr(req.pod.uid, '/') && strcmp(req.pod.uid, "..") != 0);
    for (size_t i = 0; i < req.pod.n_volumes; i++) {
        il_volume_file *files;
        size_t n;
        il_buf verr = IL_BUF_INIT;
        int rc = rn_volume_files(&req, &req.pod.volumes[i], &files, &n, &verr);
        il_buf_free(&verr);
        if (rc != 0)
            continue;
        for (size_t f = 0; f < n; f++)
            FUZZ_ASSERT(files[f].path[0] != '/' && !strstr(files[f].path, ".."));
        rn_volume_files_free(files, n);
    }
    il_create_request_free(&req);
}

static void pod(json_t *json)
{
    il_pod p;
    char err[256];
    if (il_pod_parse(json, &p, err, sizeof err) == 0) {
        FUZZ_ASSERT(p.grace_seconds >= 0 && p.grace_seconds <= IL_GRACE_MAX_SECONDS);
        FUZZ_ASSERT(p.n_containers > 0);
        il_pod_free(&p);
    }
    if (il_pod_parse_meta(json, &p, err, sizeof err) == 0)
        il_pod_free(&p);
}

static void status(json_t *json)
{
    il_pod_status st;
    char err[256];
    if (il_pod_status_from_json(json, &st, err, sizeof err) != 0)
        return;
    json_t *back = il_pod_status_to_json(&st);   /* what a plugin's answer becomes */
    FUZZ_ASSERT(back != NULL);
    json_decref(back);
    il_pod_status_free(&st);
}

static void log_request(const uint8_t *data, size_t size)
{
    il_log_request req;
    char err[256];
    if (il_log_request_parse_body((const char *)data, size, &req, err, sizeof err) != 0)
        return;
    FUZZ_ASSERT(il_is_dns_label(req.ns));
    json_t *back = il_log_request_to_json(&req);
    json_decref(back);
    il_log_request_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 4;
    data++, size--;
    if (which == 3) {
        log_request(data, size);
        return 0;
    }
    json_t *json = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!json)
        return 0;
    if (which == 0)
        create_request(json);
    else if (which == 1)
        pod(json);
    else
        status(json);
    json_decref(json);
    return 0;
}
