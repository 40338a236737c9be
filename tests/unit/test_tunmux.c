/* test_tunmux.c -- the pod tunnel's frames and session engine without TLS:
 * a gateway-side and a node-side session joined by a socket pair, each on
 * its own thread, carrying real TCP connections on loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "tunmux.h"

static void test_header(void **state)
{
    (void)state;
    unsigned char h[TUN_HEADER];
    tun_put_header(h, TUN_WINDOW, 0x01020304, 65536);
    static const unsigned char want[] = {5, 1, 2, 3, 4, 0, 1, 0, 0};
    assert_memory_equal(h, want, sizeof want);
    int type;
    uint32_t id, len;
    tun_get_header(h, &type, &id, &len);
    assert_int_equal(type, TUN_WINDOW);
    assert_int_equal(id, 0x01020304);
    assert_int_equal(len, 65536);
}

static void test_pod_ports(void **state)
{
    (void)state;
    json_t *pod = json_loads(
        "{\"spec\": {\"containers\": ["
        "  {\"ports\": [{\"containerPort\": 8888}, {\"containerPort\": 53, \"protocol\": \"UDP\"},"
        "               {\"containerPort\": 8888, \"protocol\": \"TCP\"}]},"
        "  {\"ports\": [{\"containerPort\": 0}, {\"containerPort\": 70000},"
        "               {\"containerPort\": \"80\"}, {\"containerPort\": 9000}]}],"
        " \"initContainers\": [{\"ports\": [{\"containerPort\": 7000}]}]}}", 0, NULL);
    uint16_t ports[TUN_MAX_PORTS];
    size_t n = tun_pod_ports(pod, ports, TUN_MAX_PORTS);
    assert_int_equal(n, 3);
    assert_int_equal(ports[0], 8888);
    assert_int_equal(ports[1], 9000);
    assert_int_equal(ports[2], 7000);
    assert_int_equal(tun_pod_ports(pod, ports, 1), 1);
    json_decref(pod);
    assert_int_equal(tun_pod_ports(NULL, ports, TUN_MAX_PORTS), 0);
}

/* ---- a session pair ----------------------------------------------------- */

static ssize_t fd_recv(void *ctx, void *buf, size_t len)
{
    ssize_t n = recv(*(int *)ctx, buf, len, MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? TUN_AGAIN : n;
}

static ssize_t fd_send(void *ctx, const void *buf, size_t len)
{
    ssize_t n = send(*(int *)ctx, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? TUN_AGAIN : n;
}

typedef struct side {
    int fd;
    int stop[2];
    tun_transport t;
    tun_session *s;
    pthread_t th;
    int rc;
} side;

static void *run_side(void *arg)
{
    side *sd = arg;
    char why[256];
    sd->rc = tun_session_run(sd->s, sd->stop[0], why, sizeof why);
    return NULL;
}

static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* The pod's server: echo one connection, then end. */
static void *echo_once(void *arg)
{
    int l = *(int *)arg;
    int c = accept(l, NULL, NULL);
    char buf[65536];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
        if (write(c, buf, (size_t)n) != n)
            break;
    close(c);
    return NULL;
}

typedef struct pair {
    side gw, node;
    int pod_listener;
    uint16_t pod_port, gw_port, refused_port;
} pair;

/* The gateway listens for the pod's port and for one the node does not
 * allow; the node connects streams to 127.0.0.1. */
static void pair_start(pair *p)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    p->pod_listener = listen_any(&p->pod_port);
    side *sides[] = {&p->gw, &p->node};
    for (int i = 0; i < 2; i++) {
        side *sd = sides[i];
        sd->fd = sv[i];
        assert_int_equal(pipe(sd->stop), 0);
        sd->t = (tun_transport){.fd = sd->fd, .recv = fd_recv, .send = fd_send, .ctx = &sd->fd};
    }
    p->node.s = tun_session_new(&p->node.t, &p->pod_port, 1, "127.0.0.1");
    p->gw.s = tun_session_new(&p->gw.t, NULL, 0, NULL);
    tun_session_listen(p->gw.s, listen_any(&p->gw_port), p->pod_port);
    uint16_t other_port = (uint16_t)(p->pod_port == 65535 ? 1 : p->pod_port + 1);
    tun_session_listen(p->gw.s, listen_any(&p->refused_port), other_port);
    for (int i = 0; i < 2; i++)
        pthread_create(&sides[i]->th, NULL, run_side, sides[i]);
}

static void pair_stop(pair *p)
{
    side *sides[] = {&p->gw, &p->node};
    for (int i = 0; i < 2; i++)
        assert_int_equal(write(sides[i]->stop[1], "x", 1), 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(sides[i]->th, NULL);
        assert_int_equal(sides[i]->rc, 1);
    }
    for (int i = 0; i < 2; i++) {
        tun_session_free(sides[i]->s);
        close(sides[i]->fd);
        close(sides[i]->stop[0]);
        close(sides[i]->stop[1]);
    }
    close(p->pod_listener);
}

typedef struct sender {
    int fd;
    const unsigned char *data;
    size_t len;
} sender;

static void *send_all(void *arg)
{
    sender *s = arg;
    size_t off = 0;
    while (off < s->len) {
        ssize_t n = write(s->fd, s->data + off, s->len - off);
        assert_true(n > 0);
        off += (size_t)n;
    }
    shutdown(s->fd, SHUT_WR);
    return NULL;
}

/* More than the window in both directions at once: flow control must let
 * it through, and the bytes come back in order, then the end of stream. */
static void test_echo_beyond_the_window(void **state)
{
    (void)state;
    pair p = {0};
    pair_start(&p);
    pthread_t echo;
    pthread_create(&echo, NULL, echo_once, &p.pod_listener);
    size_t len = 3 * TUN_WINDOW_BYTES + 12345;
    unsigned char *data = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    int c = dial(p.gw_port);
    sender snd = {c, data, len};
    pthread_t th;
    pthread_create(&th, NULL, send_all, &snd);
    size_t got = 0;
    ssize_t n;
    while ((n = read(c, back + got, len - got)) > 0)
        got += (size_t)n;
    assert_int_equal(n, 0);   /* FIN after the echo's close */
    assert_int_equal(got, len);
    assert_memory_equal(back, data, len);
    pthread_join(th, NULL);
    pthread_join(echo, NULL);
    close(c);
    const tun_stats *gs = tun_session_stats(p.gw.s);
    assert_int_equal(gs->streams, 1);
    assert_int_equal(gs->bytes_up, len);
    assert_int_equal(gs->bytes_down, len);
    pair_stop(&p);
    free(data);
    free(back);
}

/* A port the node does not allow: the gateway's connection is reset. */
static void test_undeclared_port_is_reset(void **state)
{
    (void)state;
    pair p = {0};
    pair_start(&p);
    int c = dial(p.refused_port);
    char b;
    ssize_t n = read(c, &b, 1);
    assert_true(n <= 0);   /* reset (-1 ECONNRESET) or closed, never data */
    close(c);
    pair_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_pod_ports),
        cmocka_unit_test(test_echo_beyond_the_window),
        cmocka_unit_test(test_undeclared_port_is_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
