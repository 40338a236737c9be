/* tunmux.h -- the pod tunnel's wire protocol and the session that speaks it.
 *
 * A pod's tunnel is one connection from the pod's node to the gateway
 * (TLS, upgraded from HTTP/1.1 with "Upgrade: interlink-tunnel/1") that
 * carries every TCP connection to the pod's ports as a stream.  After the
 * 101 both sides exchange frames of a 9-byte header (type, stream id,
 * payload length; integers big-endian) and a payload of at most
 * TUN_FRAME_MAX bytes:
 *
 *   OPEN    gateway -> node  a connection arrived; payload: the port (2 bytes)
 *   DATA    both             bytes of the stream
 *   FIN     both             the sender will send no more on the stream
 *   RST     both             the stream is aborted (refused port, error)
 *   WINDOW  both             payload: 4 bytes, more credit for DATA
 *   PING    both             answered by PONG; keeps proxies and NATs open
 *   PONG    both
 *
 * Flow control is per stream: a side sends at most TUN_WINDOW_BYTES that
 * the other side has not yet handed to its local socket (WINDOW returns
 * credit as it does), so one stalled connection never blocks the others
 * and memory per stream is bounded.  Both sides run the same engine
 * (tun_session_run): the gateway's listeners turn accepted connections
 * into OPENs, the node side connects each OPEN to the port on the
 * pod's host. */
#ifndef IL_TUNMUX_H
#define IL_TUNMUX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TUN_PROTOCOL "interlink-tunnel/1"
#define TUN_PATH "/v1/tunnel"
#define TUN_POD_HEADER "InterLink-Pod-UID"

enum { TUN_OPEN = 1, TUN_DATA, TUN_FIN, TUN_RST, TUN_WINDOW, TUN_PING, TUN_PONG };

#define TUN_HEADER 9
#define TUN_FRAME_MAX (64 * 1024)
#define TUN_WINDOW_BYTES (1024 * 1024)
#define TUN_MAX_PORTS 64
#define TUN_PING_MS 15000   /* idle this long: a PING */
#define TUN_DEAD_MS 45000   /* nothing received this long: the tunnel is dead */
#define TUN_AGAIN (-2)      /* transport: nothing to read / no room to write now */

/* The connection under a session: plain fd, TLS, or libcurl's.  recv and
 * send return a count, 0 (recv: the peer closed), TUN_AGAIN, or -1.  A
 * transport may buffer data above fd, so the session reads until
 * TUN_AGAIN before it polls again. */
typedef struct tun_transport {
    int fd;
    ssize_t (*recv)(void *ctx, void *buf, size_t len);
    ssize_t (*send)(void *ctx, const void *buf, size_t len);
    void *ctx;
} tun_transport;

/* Counters of one session (read after it ended, or from its thread). */
typedef struct tun_stats {
    uint64_t streams;         /* streams opened */
    uint64_t bytes_up;        /* DATA payload bytes received over the tunnel */
    uint64_t bytes_down;      /* DATA payload bytes sent over the tunnel */
} tun_stats;

typedef struct tun_session tun_session;

/* A session over t (not owned).  ports: the pod's declared ports; the node
 * side connects an OPEN only to one of them, on target_host (IPv4). */
tun_session *tun_session_new(const tun_transport *t, const uint16_t *ports, size_t n_ports,
                             const char *target_host);
/* Gateway side: a listening socket whose connections become streams to
 * port (taken over: closed by tun_session_free). */
void tun_session_listen(tun_session *s, int listen_fd, uint16_t port);
/* Cap on concurrent streams (default 1024): more connections are reset. */
void tun_session_max_streams(tun_session *s, size_t max);
/* Bytes that arrived with the upgrade, before the session started. */
void tun_session_feed(tun_session *s, const void *data, size_t len);
/* Run until the peer closes (returns 0), an error (-1), or stop_fd becomes
 * readable (1).  why gets the reason for 0 and -1. */
int tun_session_run(tun_session *s, int stop_fd, char *why, size_t whylen);
const tun_stats *tun_session_stats(const tun_session *s);
size_t tun_session_active(const tun_session *s);
void tun_session_free(tun_session *s);

/* Frame header helpers (also for tests). */
void tun_put_header(unsigned char *p, int type, uint32_t id, uint32_t len);
void tun_get_header(const unsigned char *p, int *type, uint32_t *id, uint32_t *len);

/* The pod's TCP containerPorts from a pod object (spec.containers[].ports),
 * deduplicated; at most max.  Returns the count. */
size_t tun_pod_ports(json_t *pod, uint16_t *ports, size_t max);

#endif
