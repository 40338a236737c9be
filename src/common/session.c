/* session.c -- the exec/port-forward session wire: frames and requests.
 * See session.h for the protocol. */
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void il_session_frame(il_buf *out, int type, const void *data, size_t len)
{
    uint8_t h[IL_SESSION_HEADER] = {(uint8_t)type, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                                    (uint8_t)(len >> 8), (uint8_t)len};
    il_buf_append(out, h, sizeof h);
    if (len)
        il_buf_append(out, data, len);
}

ssize_t il_session_parse(const uint8_t *buf, size_t len, int *type, const uint8_t **payload,
                         size_t *plen)
{
    if (len < IL_SESSION_HEADER)
        return 0;
    size_t n = (size_t)buf[1] << 24 | (size_t)buf[2] << 16 | (size_t)buf[3] << 8 | buf[4];
    if (buf[0] > IL_SESSION_RESIZE || n > IL_SESSION_FRAME_MAX)
        return -1;
    if (len < IL_SESSION_HEADER + n)
        return 0;
    *type = buf[0];
    *payload = buf + IL_SESSION_HEADER;
    *plen = n;
    return (ssize_t)(IL_SESSION_HEADER + n);
}

static json_t *pod_ref(const char *name, const char *ns, const char *uid)
{
    return json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", name ? name : "", "namespace",
                     ns ? ns : "", "uid", uid ? uid : "");
}

json_t *il_exec_request_to_json(const il_exec_request *r)
{
    json_t *cmd = json_array();
    for (size_t i = 0; r->command && r->command[i]; i++)
        json_array_append_new(cmd, json_string(r->command[i]));
    json_t *j = json_pack("{s:o, s:s, s:o, s:b, s:b}", "pod",
                          pod_ref(r->pod.name, r->pod.ns, r->pod.uid), "container",
                          r->container, "command", cmd, "stdin", r->stdin_open, "tty", r->tty);
    if (r->attach)
        json_object_set_new(j, "attach", json_true());
    return j;
}

int il_exec_request_parse(json_t *json, il_exec_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_t *cmd = json_object_get(json, "command");
    const char *container = json_string_value(json_object_get(json, "container"));
    if (il_pod_parse_meta(json_object_get(json, "pod"), &out->pod, err, errlen) != 0)
        return -1;
    out->attach = json_is_true(json_object_get(json, "attach"));
    bool cmd_ok = out->attach ? !cmd || json_is_array(cmd)
                              : json_is_array(cmd) && json_array_size(cmd) > 0;
    if (!container || !*container || !cmd_ok) {
        snprintf(err, errlen, "exec needs a container and a command (attach: a container)");
        il_exec_request_free(out);
        return -1;
    }
    out->container = il_xstrdup(container);
    out->command = il_xcalloc(json_array_size(cmd) + 1, sizeof(char *));
    size_t i;
    json_t *w;
    json_array_foreach(cmd, i, w) {
        if (!json_is_string(w)) {
            snprintf(err, errlen, "command[%zu] is not a string", i);
            il_exec_request_free(out);
            return -1;
        }
        out->command[i] = il_xstrdup(json_string_value(w));
    }
    out->stdin_open = json_is_true(json_object_get(json, "stdin"));
    out->tty = json_is_true(json_object_get(json, "tty"));
    json_int_t width = json_integer_value(json_object_get(json, "width"));
    json_int_t height = json_integer_value(json_object_get(json, "height"));
    if (width > 0 && height > 0 && width < 65536 && height < 65536) {
        out->width = (int)width;
        out->height = (int)height;
    }
    return 0;
}

void il_exec_request_free(il_exec_request *r)
{
    il_pod_free(&r->pod);
    free(r->container);
    for (size_t i = 0; r->command && r->command[i]; i++)
        free(r->command[i]);
    free(r->command);
    memset(r, 0, sizeof *r);
}

json_t *il_portforward_to_json(const char *name, const char *ns, const char *uid, int port)
{
    return json_pack("{s:o, s:i}", "pod", pod_ref(name, ns, uid), "port", port);
}

int il_portforward_parse(json_t *json, il_pod *pod, int *port, char *err, size_t errlen)
{
    json_t *p = json_object_get(json, "port");
    if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535) {
        snprintf(err, errlen, "port must be a number in 1..65535");
        return -1;
    }
    *port = (int)json_integer_value(p);
    return il_pod_parse_meta(json_object_get(json, "pod"), pod, err, errlen);
}

int il_session_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        /* send: a peer that left must not raise SIGPIPE; write for pipes */
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            if (poll(&pf, 1, 30000) <= 0)
                return -1;
            continue;
        }
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
