/* tunnelclient.c -- the pod's tunnel client (rn_tunnel_start).
 *
 * A pod whose create request carries a "tunnel" object ({"url", "token",
 * "ca"}: the gateway, this pod's credential, the CA that signs the
 * gateway's certificate; put there by the virtual kubelet when the pod
 * declares containerPorts) gets a tunnel client next to its supervisor:
 * a child process of the supervisor, so it runs wherever the pod runs
 * (this host, a batch job's node) with nothing downloaded or installed.
 * It dials out only: HTTPS to the gateway (through the proxy of the
 * standard https_proxy variables when they are set), upgrades to the
 * tunnel protocol (tunmux.h), and connects each stream the gateway opens
 * to the port on 127.0.0.1, if the pod declares that port.  A lost
 * tunnel is dialled again with exponential backoff (0.2 s doubling to
 * 30 s, with jitter); every change is written to tunnel.json in the pod
 * directory, which status and `interlinkctl describe` read.  The client
 * ends with the supervisor (SIGTERM, and PR_SET_PDEATHSIG should the
 * supervisor be killed). */
#include "runner.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "log.h"
#include "timeutil.h"
#include "tunmux.h"

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 30000       /* a tunnel up this long resets the backoff */
#define TLS_READ_BUFFER (64 * 1024)   /* read ahead: four full records per read() */

typedef struct tunnel_client {
    const char *pod_dir;
    const char *uid;
    const char *url;
    const char *token;
    const char *ca;
    uint16_t ports[TUN_MAX_PORTS];
    size_t n_ports;
    uint64_t connects;
} tunnel_client;

/* tunnel.json: what the client is doing, for status and describe. */
static void save_state(const tunnel_client *tc, const char *state, const char *message)
{
    char since[IL_RFC3339_MAX];
    il_time_format(il_time_now(), false, since);
    json_t *ports = json_array();
    for (size_t i = 0; i < tc->n_ports; i++)
        json_array_append_new(ports, json_integer(tc->ports[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "state", state, "since", since,
                          "message", message ? message : "", "gateway", tc->url, "connects",
                          (json_int_t)tc->connects, "ports", ports);
    char *path = rn_store_path(tc->pod_dir, "tunnel.json");
    if (rn_store_save_json(path, j) != 0)
        il_warn("tunnel: cannot write %s: %s", path, strerror(errno));
    free(path);
    json_decref(j);
}

static ssize_t t_recv(void *ctx, void *buf, size_t len)
{
    ssize_t n = il_httpc_upgrade_read(ctx, buf, len);
    return n == IL_STREAM_AGAIN ? TUN_AGAIN : n;
}

static ssize_t t_send(void *ctx, const void *buf, size_t len)
{
    ssize_t n = il_httpc_upgrade_send(ctx, buf, len);
    return n == IL_STREAM_AGAIN ? TUN_AGAIN : n;
}

/* Read ahead: one read() takes in several TLS records, not two per
 * record (header, then body); the bytes stay in OpenSSL's buffer, and the
 * session reads until TUN_AGAIN before it polls again. */
static void tune_tls(void *ssl_ctx)
{
    SSL_CTX_set_read_ahead((SSL_CTX *)ssl_ctx, 1);
    SSL_CTX_set_default_read_buffer_len((SSL_CTX *)ssl_ctx, TLS_READ_BUFFER);
}

/* One connection: dial, upgrade, serve until it ends.  Returns the HTTP
 * status of a refusal (401 ...), 0 after a session, -1 if unreachable. */
static long serve_once(tunnel_client *tc, int64_t *up_ms, char *why, size_t whylen)
{
    il_httpc_tls tls = {.ca_pem = tc->ca, .ca_len = tc->ca ? strlen(tc->ca) : 0,
                        .tune_ssl_ctx = tune_tls};
    il_httpc_opts opts = {.url = tc->url, .connect_timeout_ms = 10000, .timeout_ms = 15000,
                          .bearer_token = tc->token, .tls = &tls,
                          .proxy_from_env = true};
    *up_ms = 0;
    il_httpc *c = il_httpc_new(&opts, why, whylen);
    if (!c)
        return -1;
    char header[128];
    snprintf(header, sizeof header, "%s: %s", TUN_POD_HEADER, tc->uid);
    const char *headers[] = {header, NULL};
    il_httpc_req req = {.method = "GET", .path = TUN_PATH, .headers = headers};
    long status = 0;
    il_httpc_upgrade *u = il_httpc_upgrade_open(c, &req, TUN_PROTOCOL, &status, why, whylen);
    if (!u) {
        il_httpc_free(c);
        return status ? status : -1;
    }
    tc->connects++;
    save_state(tc, "connected", NULL);
    il_info("tunnel to %s up (connection %llu)", tc->url, (unsigned long long)tc->connects);
    int64_t t0 = il_monotonic_ms();
    tun_transport t = {.fd = il_httpc_upgrade_fd(u), .recv = t_recv, .send = t_send, .ctx = u};
    tun_session *s = tun_session_new(&t, tc->ports, tc->n_ports, "127.0.0.1");
    tun_session_run(s, -1, why, whylen);
    tun_session_free(s);
    il_httpc_upgrade_close(u);
    il_httpc_free(c);
    *up_ms = il_monotonic_ms() - t0;
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int run_client(tunnel_client *tc)
{
    int64_t backoff = BACKOFF_FIRST_MS;
    save_state(tc, "connecting", NULL);
    for (;;) {
        char why[512] = "";
        int64_t up_ms;
        long rc = serve_once(tc, &up_ms, why, sizeof why);
        if (up_ms >= STABLE_MS)
            backoff = BACKOFF_FIRST_MS;
        char msg[640];
        if (rc > 0)
            snprintf(msg, sizeof msg, "the gateway refused the tunnel (%ld): %s", rc, why);
        else if (rc < 0)
            snprintf(msg, sizeof msg, "cannot reach the gateway: %s", why);
        else
            snprintf(msg, sizeof msg, "tunnel closed: %s", why);
        il_warn("%s; again in %lld ms", msg, (long long)backoff);
        save_state(tc, rc > 0 ? "refused" : "reconnecting", msg);
        /* jitter: between half and all of the backoff, so that the pods of
         * a restarted gateway do not all come back in the same instant */
        sleep_ms(backoff / 2 + rand() % (backoff / 2 + 1));
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return 0;
}

pid_t rn_tunnel_start(const char *pod_dir, const il_create_request *req)
{
    json_t *tun = json_object_get(req->raw, "tunnel");
    tunnel_client tc = {.pod_dir = pod_dir, .uid = req->pod.uid,
                        .url = json_string_value(json_object_get(tun, "url")),
                        .token = json_string_value(json_object_get(tun, "token")),
                        .ca = json_string_value(json_object_get(tun, "ca"))};
    if (!tun)
        return 0;
    tc.n_ports = tun_pod_ports(json_object_get(req->raw, "pod"), tc.ports, TUN_MAX_PORTS);
    if (!tc.url || !tc.token || tc.n_ports == 0) {
        il_warn("pod %s: a tunnel without url, token or ports: not started", req->pod.uid);
        return 0;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) {
        if (pid < 0)
            il_error("tunnel: fork: %s", strerror(errno));
        return pid;
    }
    /* The child: the supervisor's signal mask and handlers are not ours. */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(0);
    /* Nothing of the supervisor's but stdio: above all not supervisor.lock,
     * whose flock says "a live supervisor" and must die with it. */
    close_range(3, ~0U, 0);
    srand((unsigned)(getpid() ^ il_monotonic_ms()));
    _exit(run_client(&tc));
}

void rn_tunnel_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}
