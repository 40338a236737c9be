/* interlink.h -- the VK's client of the interlink API server.
 *
 * Built from the upstream VK keys: InterlinkURL/InterlinkPort, the bearer
 * token in VKTokenFile (re-read on every call: it may rotate), HTTP.CaCert
 * or TLS.CACertFile, HTTP.Insecure, and the TLS.* client certificate.
 * Every call carries an InterLink-Http-Session "Label#N" as upstream's VK
 * does, so interlink's log lines can be matched to the VK's.
 * Thread-safe. */
#ifndef VK_INTERLINK_H
#define VK_INTERLINK_H

#include <jansson.h>
#include <stddef.h>

#include "httpc.h"
#include "vkconfig.h"

typedef struct vk_interlink vk_interlink;

vk_interlink *vk_interlink_new(const vk_config *cfg, char *err, size_t errlen);
void vk_interlink_free(vk_interlink *il);
const char *vk_interlink_url(const vk_interlink *il);

/* One JSON call (body may be NULL).  Returns 0 when an answer arrived,
 * whatever its status, -1 on transport failure (res->error says why).
 * Free res with il_http_result_free. */
int vk_interlink_call(vk_interlink *il, const char *method, const char *path,
                      const char *label, const json_t *body, il_http_result *res);
/* The same with the body's JSON text as it is (len bytes; NULL: none). */
int vk_interlink_call_text(vk_interlink *il, const char *method, const char *path,
                           const char *label, const char *text, size_t len, il_http_result *res);
/* The same with a body of len bytes made while it is sent (read and
 * rewind as il_httpc_req's, on arg): a body of megabytes never whole in
 * memory. */
int vk_interlink_call_read(vk_interlink *il, const char *method, const char *path,
                           const char *label, size_t len, size_t (*read)(char *, size_t, void *),
                           int (*rewind)(void *), void *arg, il_http_result *res);
/* The same, streamed (/getLogs): the stream once the status line has
 * arrived (its status in *status), or NULL with err set. */
il_httpc_stream *vk_interlink_stream(vk_interlink *il, const char *method, const char *path,
                                     const char *label, const json_t *body, long *status,
                                     char *err, size_t errlen);
/* The same as an upgraded connection (exec, port-forward sessions): the
 * stream after interlink's 101, or NULL with *status (0: unreachable) and
 * err set. */
il_httpc_upgrade *vk_interlink_upgrade(vk_interlink *il, const char *path, const char *label,
                                       const json_t *body, const char *protocol, long *status,
                                       char *err, size_t errlen);
/* 0 only for a 200 answer; otherwise -1 with "what went wrong" in why
 * (status and the start of the body, or the transport error). */
int vk_interlink_ok(const il_http_result *res, int rc, char *why, size_t len);

#endif
