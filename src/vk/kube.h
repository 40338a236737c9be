/* kube.h -- a small Kubernetes REST client: JSON in, JSON out.
 *
 * Built on the common HTTP client (TLS from the kubeconfig, keep-alive
 * connections shared between threads; a vk_kube is thread-safe).  Every
 * call returns 0 for a 2xx answer and -1 otherwise; the result then holds
 * the HTTP status, the metav1.Status reason ("NotFound", "Conflict",
 * "AlreadyExists", "Expired", ...) and a one-line message naming the call,
 * so callers branch on reason and log error as is.
 *
 * Watches are pulled: vk_watch_next() hands out one event at a time from
 * the newline-delimited JSON stream, and says VK_WATCH_GONE when the
 * resourceVersion is too old (HTTP 410 or an ERROR event with code 410):
 * the caller must list again. */
#ifndef VK_KUBE_H
#define VK_KUBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kubeconfig.h"

typedef struct vk_kube vk_kube;

/* timeout_ms bounds every call (and the wait for a watch's headers);
 * 0 = 30 s.  The kubeconfig is copied. */
vk_kube *vk_kube_new(const vk_kubeconfig *kc, long timeout_ms, char *err, size_t errlen);
void vk_kube_free(vk_kube *k);
/* The API server's base URL, for messages. */
const char *vk_kube_server(const vk_kube *k);

typedef struct vk_kube_result {
    long status;              /* HTTP status; 0 when no answer arrived */
    json_t *body;             /* the JSON answer when it is an object, else NULL */
    char reason[64];          /* metav1.Status reason, "" if none */
    char error[640];          /* "" on success; else "METHOD PATH: what went wrong" */
} vk_kube_result;

void vk_kube_result_free(vk_kube_result *res);
/* res->status == code (404 NotFound, 409 Conflict or AlreadyExists, 410 Gone). */
bool vk_kube_is(const vk_kube_result *res, long code);

typedef enum {
    VK_PATCH_MERGE,           /* application/merge-patch+json (RFC 7386) */
    VK_PATCH_STRATEGIC,       /* application/strategic-merge-patch+json */
    VK_PATCH_JSON,            /* application/json-patch+json (RFC 6902) */
} vk_patch_type;

/* body may be NULL (no body).  Returns 0 on 2xx, -1 otherwise. */
int vk_kube_request(vk_kube *k, const char *method, const char *path, const char *content_type,
                    const json_t *body, vk_kube_result *res);
int vk_kube_get(vk_kube *k, const char *path, vk_kube_result *res);
int vk_kube_create(vk_kube *k, const char *path, const json_t *obj, vk_kube_result *res);
int vk_kube_update(vk_kube *k, const char *path, const json_t *obj, vk_kube_result *res);
int vk_kube_patch(vk_kube *k, const char *path, vk_patch_type type, const json_t *patch,
                  vk_kube_result *res);
/* options: a DeleteOptions object (grace, preconditions) or NULL. */
int vk_kube_delete(vk_kube *k, const char *path, const json_t *options, vk_kube_result *res);

/* Percent-encode a query value (field selectors carry '=' and ','). */
char *vk_kube_escape(const char *s);

/* Turn an error answer into res->reason and res->error (exposed for tests). */
void vk_kube_describe_error(const char *method, const char *path, long status, const char *body,
                            size_t len, vk_kube_result *res);

/* ---- watch ------------------------------------------------------------- */

#define VK_WATCH_GONE (-3)

typedef enum {
    VK_EVENT_ADDED,
    VK_EVENT_MODIFIED,
    VK_EVENT_DELETED,
    VK_EVENT_BOOKMARK,
} vk_event_type;

typedef struct vk_watch_event {
    vk_event_type type;
    json_t *object;           /* owned by the caller after a successful next */
} vk_watch_event;

typedef struct vk_watch vk_watch;

/* path carries the query (watch=1, resourceVersion, allowWatchBookmarks,
 * timeoutSeconds, fieldSelector).  NULL with res describing the failure;
 * a 410 answer here also means "list again" (vk_kube_is(res, 410)). */
vk_watch *vk_watch_open(vk_kube *k, const char *path, vk_kube_result *res);
/* 1: *ev filled.  0: the server ended the stream (reconnect from the last
 * resourceVersion seen).  IL_STREAM_AGAIN: nothing for about a second.
 * VK_WATCH_GONE: list again.  -1: error, message in err. */
int vk_watch_next(vk_watch *w, vk_watch_event *ev, char *err, size_t errlen);
void vk_watch_close(vk_watch *w);

/* One line of a watch stream (exposed for tests); same returns as
 * vk_watch_next except 0 and IL_STREAM_AGAIN. */
int vk_watch_parse(const char *line, size_t len, vk_watch_event *ev, char *err, size_t errlen);

#endif
