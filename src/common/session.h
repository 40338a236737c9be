/* session.h -- interactive sessions between the VK, interlink and a plugin:
 * exec and port-forward (our extension of the interLink protocol; upstream
 * clients never call it).
 *
 *   POST /exec         {"pod": {"metadata": {name, namespace, uid}},
 *                       "container": C, "command": [...], "stdin": B, "tty": B,
 *                       "width": W, "height": H}  (the terminal's size, optional)
 *   POST /exec         {"pod": ..., "container": C, "attach": true, "tty": B}
 *                      kubectl attach -i: the container's own stdin, no command
 *   POST /portforward  {"pod": {...}, "port": N}
 *
 * Both are HTTP/1.1 upgrades (Upgrade: interlink-session).  An answer other
 * than 101 is the failure (404 no such pod, 501 the plugin cannot, ...);
 * after the 101 a port-forward is the raw TCP byte stream, and an exec is a
 * sequence of frames: a type byte, a 4-byte big-endian length, the payload.
 *
 *   STDIN   VK -> plugin   input; an empty frame closes the command's stdin
 *   STDOUT, STDERR         output (with a TTY everything is STDOUT)
 *   EXIT    plugin -> VK   {"exitCode": N} or {"error": "why"}; the last frame
 *   RESIZE  VK -> plugin   {"Width": W, "Height": H}, the terminal size
 *
 * Either side closing the connection ends the session: a plugin kills
 * the command when the VK goes away first. */
#ifndef IL_SESSION_H
#define IL_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pod.h"
#include "util.h"

#define IL_SESSION_PROTOCOL "interlink-session"

enum { IL_SESSION_STDIN, IL_SESSION_STDOUT, IL_SESSION_STDERR, IL_SESSION_EXIT,
       IL_SESSION_RESIZE };

#define IL_SESSION_HEADER 5
#define IL_SESSION_FRAME_MAX (1024 * 1024)

/* Append one frame to out. */
void il_session_frame(il_buf *out, int type, const void *data, size_t len);
/* One frame from the start of buf: its size, 0 when incomplete, -1 when
 * malformed (unknown type or too long). */
ssize_t il_session_parse(const uint8_t *buf, size_t len, int *type, const uint8_t **payload,
                         size_t *plen);

typedef struct il_exec_request {
    il_pod pod;               /* name, namespace and uid only */
    char *container;
    char **command;           /* NULL-terminated, at least one word */
    bool stdin_open;
    bool tty;
    int width, height;        /* the terminal's first size; 0 when unknown */
    bool attach;              /* kubectl attach -i: no command; STDIN and RESIZE frames go
                               * to the container's own stdin (a container with stdin: true),
                               * nothing comes back but the EXIT frame */
} il_exec_request;

/* The JSON body of /exec (new reference), and back; -1 with err set when
 * something is missing or of the wrong type. */
json_t *il_exec_request_to_json(const il_exec_request *r);
int il_exec_request_parse(json_t *json, il_exec_request *out, char *err, size_t errlen);
void il_exec_request_free(il_exec_request *r);

/* /portforward's body: the pod and a port in 1..65535. */
json_t *il_portforward_to_json(const char *name, const char *ns, const char *uid, int port);
int il_portforward_parse(json_t *json, il_pod *pod, int *port, char *err, size_t errlen);

/* Write all of buf to fd (a socket or a pipe), waiting when it is
 * non-blocking, without SIGPIPE: 0, or -1 once the reader is gone. */
int il_session_send(int fd, const void *buf, size_t len);

#endif
