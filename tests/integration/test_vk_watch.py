"""interlink-vk hears of status changes through interlink's GET /watch.

With StatusIntervalSeconds 300 the status loop's own interval never comes
during a test, so a pod that still goes Pending -> Running -> Succeeded in the
API server got there through the watch (also across an interlink
restart, which the watcher survives by reconnecting and resyncing).  Without
the watch -- StatusWatch off, or an interlink without /watch (an upstream one,
stood in for by a proxy that answers /watch 404 as Go's mux does) -- interval
polling still brings pods to Succeeded.  No timed assertions: waits only bound
how long a broken VK may hang the test."""
import http.server
import os
import re
import socketserver
import threading

import pytest

import harness
import vkutil
from apiutil import metric, metrics, parse_metrics
from vkutil import condition, phase, wait_for

LONG = 90


def ready(env):
    wait_for("Ready", lambda: (condition(env.kube.node(), "Ready") or {}).get("status") == "True",
             timeout=30)


def gated_pod(env, tmp_path, name):
    """A pod that runs until the test creates its gate file, then succeeds."""
    gate = tmp_path / f"gate-{name}"
    gate.mkdir()
    created = env.kube.create_pod(
        name, [{"name": "main", "image": "busybox",
                "command": ["/bin/sh", "-c", "while [ ! -e /gate/go ]; do sleep 0.1; done"],
                "volumeMounts": [{"name": "gate", "mountPath": "/gate"}]}],
        volumes=[{"name": "gate", "hostPath": {"path": str(gate)}}],
        terminationGracePeriodSeconds=2)
    assert phase(created) == "Pending", created.get("status")
    return gate


def wait_log(env, text, timeout=LONG):
    wait_for(f"VK log line {text!r}", lambda: text in env.vk.output(), timeout=timeout)


@pytest.fixture
def env_with(tmp_path, real_kube):
    made = []

    def make(**vk_config):
        e = vkutil.VKEnv(tmp_path / f"e{len(made)}", kube=real_kube, **vk_config)
        made.append(e)
        ready(e)
        return e
    yield make
    for e in made:
        e.stop()


def test_push_brings_a_pod_through_its_phases_without_interval_polling(env_with, tmp_path):
    env = env_with(StatusIntervalSeconds=300)
    # the start-up catch-up (1 s cycles until orphans are checked) is over
    wait_log(env, "pod statuses: every 300 s")
    wait_log(env, "watching interlink for status changes")
    gate = gated_pod(env, tmp_path, "pushed")
    running = env.wait_phase("pushed", ("Running",), timeout=LONG)
    assert running["status"]["containerStatuses"][0]["state"].get("running"), running["status"]

    # interlink restarts: the watcher reconnects (its generation is from the
    # previous run: resync) and pushes go on
    env.stack.api.stop()
    env.stack.start_api()
    wait_log(env, "interlink asks for a resync")
    (gate / "go").write_text("")
    done = env.wait_phase("pushed", ("Succeeded", "Failed"), timeout=LONG)
    assert phase(done) == "Succeeded", done["status"]
    term = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    out = env.vk.output()
    assert "has no /watch" not in out
    assert metric(metrics(env.stack), "interlink_watch_resyncs_total") >= 1


def test_watch_off_interval_polling_still_works(env_with, tmp_path):
    env = env_with(StatusWatch=False)
    gate = gated_pod(env, tmp_path, "polled")
    env.wait_phase("polled", ("Running",), timeout=LONG)
    (gate / "go").write_text("")
    assert phase(env.wait_phase("polled", timeout=LONG)) == "Succeeded"
    assert "StatusWatch is off" in env.vk.output()
    m = metrics(env.stack)
    assert sum(v for (name, labels), v in m.items() if name == "interlink_requests_total"
               and ("endpoint", "/watch") in labels) == 0
    assert metric(m, "interlink_watch_refreshes_total") == 0


# ---- an interlink without /watch ---------------------------------------------------

class UpstreamLike(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Forwards every request to our interlink except /watch, which gets Go
    ServeMux's 404: what an upstream interLink answers for a path it lacks."""
    daemon_threads = True

    def __init__(self, path, target):
        self.target = target
        self.watch_requests = 0
        super().__init__(path, UpstreamHandler)


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.path.split("?")[0] == "/watch":
            self.server.watch_requests += 1
            code, data = 404, b"404 page not found\n"
        else:
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() in ("interlink-http-session", "authorization")}
            code, data = harness.request(self.server.target, self.command, self.path, body,
                                         headers=hdrs, timeout=60)
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = handle_one


def test_interlink_without_watch_falls_back_to_polling(tmp_path, real_kube):
    kube = real_kube
    kube.reset()
    stack = harness.Stack(tmp_path / "stack").start()
    sock = str(tmp_path / "upstream.sock")
    proxy = UpstreamLike(sock, stack.api_addr)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    vk = None
    try:
        stack_view = type("S", (), {"api_addr": "unix://" + sock})
        vk = vkutil.VK(tmp_path, kube, stack_view).start()
        env = type("E", (), {"kube": kube, "vk": vk})
        ready(env)
        gate = gated_pod(env, tmp_path, "upstream")
        wait_for("Running", lambda: phase(kube.pod("upstream")) == "Running", timeout=LONG)
        (gate / "go").write_text("")
        wait_for("Succeeded", lambda: phase(kube.pod("upstream")) == "Succeeded", timeout=LONG)
        out = vk.output()
        assert out.count("has no /watch") == 1, out[-3000:]
        assert proxy.watch_requests == 1   # tried once, then never again
        assert metric(metrics(stack), "interlink_watch_refreshes_total") == 0
    finally:
        code = vk.stop() if vk else 0
        proxy.shutdown()
        proxy.server_close()
        stack.stop()
        if os.path.exists(sock):
            os.unlink(sock)
    assert code == 0, f"interlink-vk exited {code} on SIGTERM"
    out = vk.output()
    assert "ERROR: AddressSanitizer" not in out and "runtime error:" not in out, out[-5000:]
    assert "LeakSanitizer" not in out, out[-5000:]


def test_the_watch_carries_the_vk_token(tmp_path, real_kube):
    """Against an interlink that wants a bearer token, the watch sends
    VKTokenFile's like every other call, and still pushes."""
    (tmp_path / "tokens").write_text("vk-watch-secret\n")
    (tmp_path / "vk-token").write_text("vk-watch-secret\n")
    kube = real_kube
    kube.reset()
    stack = harness.Stack(tmp_path / "stack",
                          api_extra={"AuthTokenFile": str(tmp_path / "tokens")}).start()
    vk = None
    try:
        vk = vkutil.VK(tmp_path, kube, stack, StatusIntervalSeconds=300,
                       VKTokenFile=str(tmp_path / "vk-token")).start()
        env = type("E", (), {"kube": kube, "vk": vk})
        ready(env)
        wait_log(env, "pod statuses: every 300 s")
        wait_log(env, "watching interlink for status changes")
        # gated: the status cycle a create asks for must not see the end;
        # with 300 s between cycles, only a watch answer brings it
        gate = gated_pod(env, tmp_path, "tok")
        wait_for("Running", lambda: phase(kube.pod("tok")) == "Running", timeout=LONG)
        (gate / "go").write_text("")
        wait_for("Succeeded", lambda: phase(kube.pod("tok")) == "Succeeded", timeout=LONG)
        assert not re.search(r"(?<![\d.:])401(?!\d)", vk.output())   # not a timestamp's .401
        assert metric(metrics_with_token(stack), "interlink_requests_total",
                      endpoint="/watch", code="200") >= 2
    finally:
        code = vk.stop() if vk else 0
        stack.stop()
    assert code == 0, f"interlink-vk exited {code} on SIGTERM"


def metrics_with_token(stack):
    code, data = harness.request(stack.api_addr, "GET", "/metrics",
                                 headers={"Authorization": "Bearer vk-watch-secret"})
    assert code == 200, data
    return parse_metrics(data.decode())
