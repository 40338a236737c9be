"""interlink-local: probes and lifecycle hooks, for real, on the host
runtime (bubblewrap) and on podman.

Every test is driven by files the test itself writes into the pod's
emptyDir (a host directory the container sees at /www), so nothing depends
on timing: "not ready" is asserted after the probe has demonstrably run
and failed (its request is in busybox httpd's log, or its exec left a
trace), "ready" once the file that makes it pass exists.  exec probes and
hooks check paths that exist only inside the container (/www is a mount),
so a check that ran on the host instead would fail."""
import os
import time

import pytest

import harness as h
from harness import ctr, free_port, sh
from test_local_plugin import Local, terminated
from test_local_podman import podman_usable

TIMEOUT = 60


@pytest.fixture(scope="module", params=["host", "podman"])
def runtime(request):
    if request.param == "podman":
        why = podman_usable()
        if why:
            pytest.skip(why)
    return request.param


@pytest.fixture
def local(tmp_path, runtime):
    lp = Local(tmp_path, ContainerRuntime=runtime).start()
    lp.runtime = runtime
    yield lp
    lp.cleanup()


WWW = [{"name": "www", "emptyDir": {}}]
WWW_MOUNT = [{"name": "www", "mountPath": "/www"}]


def www(local, pod):
    """The host directory behind the pod's /www emptyDir."""
    return os.path.join(local.data, "pods", pod["metadata"]["uid"], "volumes", "www")


def httpd(port):
    # busybox's httpd in the foreground, logging each request (-v) to stderr.
    return f"exec busybox httpd -f -v -p 127.0.0.1:{port} -h /www"


def probe(handler, period=1, failure=1, success=1, delay=0, timeout=2):
    p = dict(handler)
    p.update({"periodSeconds": period, "failureThreshold": failure,
              "successThreshold": success, "initialDelaySeconds": delay,
              "timeoutSeconds": timeout})
    return p


def exec_(*argv):
    return {"exec": {"command": list(argv)}}


def wait_for(what, fn, timeout=TIMEOUT):
    return h.wait_for(what, fn, timeout)


def container_field(local, pod, name, field):
    st = local.status(pod)
    return st and ctr(st, name).get(field)


def touch(path, text=""):
    with open(path, "w") as f:
        f.write(text)


# ---- readiness --------------------------------------------------------------

def test_http_readiness_follows_the_server(local):
    port = free_port()
    c = sh("web", "mkdir -p /www && " + httpd(port), mounts=WWW_MOUNT)
    c["ports"] = [{"name": "web", "containerPort": port}]
    c["readinessProbe"] = probe({"httpGet": {
        "path": "/ready.html", "port": "web", "scheme": "HTTP",
        "httpHeaders": [{"name": "X-Probe", "value": "it's \"q\" $(id)"}]}})
    pod = h.make_pod("ready", [c], volumes=WWW, grace=2)
    assert local.create(pod)[0] == 200
    # Not ready while the probe demonstrably fails (404s in httpd's log).
    wait_for("failed probes", lambda: local.logs(pod, "web").count(b"response:404") >= 2)
    st = local.status(pod)
    assert "running" in ctr(st, "web")["state"]
    assert ctr(st, "web")["started"] is True and ctr(st, "web")["ready"] is False
    touch(os.path.join(www(local, pod), "ready.html"), "ok\n")
    wait_for("ready", lambda: container_field(local, pod, "web", "ready") is True)
    os.unlink(os.path.join(www(local, pod), "ready.html"))
    wait_for("not ready again", lambda: container_field(local, pod, "web", "ready") is False)
    assert "running" in ctr(local.status(pod), "web")["state"]


def test_tcp_readiness(local):
    port = free_port()
    c = sh("tcp", "mkdir -p /www; while [ ! -e /www/go ]; do sleep 0.1; done; " + httpd(port),
           mounts=WWW_MOUNT)
    c["readinessProbe"] = probe({"tcpSocket": {"port": port}})
    pod = h.make_pod("tcp", [c], volumes=WWW, grace=2)
    assert local.create(pod)[0] == 200
    local.wait_running(pod, "tcp", timeout=TIMEOUT)
    # Nothing listens yet: connect() is refused however often it is tried.
    time.sleep(2.5)
    assert container_field(local, pod, "tcp", "ready") is False
    touch(os.path.join(www(local, pod), "go"))
    wait_for("ready", lambda: container_field(local, pod, "tcp", "ready") is True)


# ---- liveness and startup ---------------------------------------------------

def test_exec_liveness_failure_kills_the_container(local):
    c = sh("live", "mkdir -p /www && touch /www/alive && echo up && sleep 300",
           mounts=WWW_MOUNT)
    # The probe leaves a trace, so the test can see it ran inside the container.
    c["livenessProbe"] = probe(exec_("/bin/sh", "-c", "echo x >> /www/probed; test -e /www/alive"),
                               failure=2)
    pod = h.make_pod("live", [c], volumes=WWW, grace=2)
    assert local.create(pod)[0] == 200
    probed = os.path.join(www(local, pod), "probed")
    wait_for("two passing probes", lambda: os.path.exists(probed) and
             len(open(probed).read().split()) >= 2)
    st = local.status(pod)
    assert "running" in ctr(st, "live")["state"] and ctr(st, "live")["ready"] is True
    os.unlink(os.path.join(www(local, pod), "alive"))
    st = local.wait_done(pod, timeout=TIMEOUT)
    t = terminated(st, "live")
    assert t["reason"] == "LivenessProbeFailed", t
    assert t["message"].startswith("Liveness probe failed: command exited with 1"), t
    assert t["exitCode"] != 0
    assert h.derive_phase(st) == "Failed"
    assert ctr(st, "live")["ready"] is False


def test_startup_probe_gates_readiness(local):
    c = sh("slow", "mkdir -p /www && echo up && sleep 300", mounts=WWW_MOUNT)
    c["startupProbe"] = probe(exec_("/bin/sh", "-c", "echo s >> /www/startup; test -e /www/up"),
                              failure=600)
    c["readinessProbe"] = probe(exec_("/bin/sh", "-c", "echo r >> /www/ready; true"))
    pod = h.make_pod("startup", [c], volumes=WWW, grace=2)
    assert local.create(pod)[0] == 200
    d = www(local, pod)
    wait_for("startup probes", lambda: os.path.exists(os.path.join(d, "startup")) and
             len(open(os.path.join(d, "startup")).read().split()) >= 2)
    st = local.status(pod)
    assert "running" in ctr(st, "slow")["state"]
    assert ctr(st, "slow")["started"] is False and ctr(st, "slow")["ready"] is False
    assert not os.path.exists(os.path.join(d, "ready")), "readiness ran before startup passed"
    touch(os.path.join(d, "up"))
    wait_for("ready", lambda: container_field(local, pod, "slow", "ready") is True)
    assert container_field(local, pod, "slow", "started") is True
    assert os.path.exists(os.path.join(d, "ready"))


def test_startup_probe_giving_up_kills(local):
    c = sh("never", "sleep 300")
    c["startupProbe"] = probe({"tcpSocket": {"port": free_port()}}, failure=2)
    pod = h.make_pod("nostart", [c], grace=1)
    assert local.create(pod)[0] == 200
    st = local.wait_done(pod, timeout=TIMEOUT)
    t = terminated(st, "never")
    assert t["reason"] == "StartupProbeFailed", t
    assert "Startup probe failed: dial tcp 127.0.0.1:" in t["message"], t
    assert "connection refused" in t["message"].lower(), t


# ---- lifecycle hooks --------------------------------------------------------

def test_post_start_runs_before_running(local):
    c = sh("hooked", "for i in $(seq 1 600); do [ -e /www/marker ] && break; sleep 0.1; done; "
           "echo main sees: $(cat /www/marker); sleep 300", mounts=WWW_MOUNT)
    c["lifecycle"] = {"postStart": exec_(
        "/bin/sh", "-c", "echo from-hook > /www/marker; "
        "while [ ! -e /www/release ]; do sleep 0.1; done")}
    pod = h.make_pod("poststart", [c], volumes=WWW, grace=2)
    assert local.create(pod)[0] == 200
    wait_for("main saw the marker", lambda: b"main sees: from-hook" in local.logs(pod, "hooked"))
    # The hook still runs: not Running, not started.
    st = local.status(pod)
    w = ctr(st, "hooked")["state"].get("waiting")
    assert w and w["reason"] == "ContainerCreating" and "postStart" in w["message"], st
    assert ctr(st, "hooked")["started"] is False and ctr(st, "hooked")["ready"] is False
    touch(os.path.join(www(local, pod), "release"))
    local.wait_running(pod, "hooked", timeout=TIMEOUT)
    assert container_field(local, pod, "hooked", "ready") is True


def test_post_start_failure_kills(local):
    c = sh("badhook", "sleep 300")
    c["lifecycle"] = {"postStart": exec_("/bin/sh", "-c", "echo hook-broke; exit 7")}
    pod = h.make_pod("badhook", [c], grace=1)
    assert local.create(pod)[0] == 200
    st = local.wait_done(pod, timeout=TIMEOUT)
    t = terminated(st, "badhook")
    assert t["reason"] == "FailedPostStartHook", t
    assert "exited with 7" in t["message"] and "hook-broke" in t["message"], t
    assert h.derive_phase(st) == "Failed"


def test_pre_stop_runs_on_delete_before_term(local, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    vols = [{"name": "out", "hostPath": {"path": str(out)}}]
    mounts = [{"name": "out", "mountPath": "/out"}]
    c = sh("stopper", "trap 'cat /out/prestop > /out/term-saw 2>&1; exit 0' TERM; "
           "echo up; while true; do sleep 0.1; done", mounts=mounts)
    c["lifecycle"] = {"preStop": exec_("/bin/sh", "-c", "echo bye > /out/prestop")}
    pod = h.make_pod("prestop", [c], volumes=vols, grace=20)
    assert local.create(pod)[0] == 200
    local.wait_running(pod, "stopper", timeout=TIMEOUT)
    wait_for("output", lambda: b"up" in local.logs(pod, "stopper"))
    assert not (out / "prestop").exists()
    assert local.delete(pod)[0] == 200
    assert (out / "prestop").read_text() == "bye\n"
    # SIGTERM came after the hook: the trap saw its file.
    assert (out / "term-saw").read_text() == "bye\n"


def test_hostile_strings_in_exec_probe(local):
    hostile = "$(touch /www/pwned) `touch /www/pwned2` 'q\" a;b\nnew line ünï ✓ -n"
    c = sh("hostile", "mkdir -p /www && sleep 300", mounts=WWW_MOUNT)
    c["readinessProbe"] = probe(exec_("/bin/sh", "-c", 'printf "%s" "$1" > /www/seen', "sh",
                                      hostile))
    pod = h.make_pod("hostile", [c], volumes=WWW, grace=2)
    assert local.create(pod)[0] == 200
    wait_for("ready", lambda: container_field(local, pod, "hostile", "ready") is True)
    d = www(local, pod)
    with open(os.path.join(d, "seen"), encoding="utf-8") as f:
        assert f.read() == hostile
    assert not os.path.exists(os.path.join(d, "pwned"))
    assert not os.path.exists(os.path.join(d, "pwned2"))


def test_verdicts_survive_a_plugin_restart(local):
    """The probes' verdicts live in the pod's state files, not in the plugin."""
    c = sh("kept", "mkdir -p /www && sleep 300", mounts=WWW_MOUNT)
    c["startupProbe"] = probe(exec_("/bin/sh", "-c", "test -e /www/up"), failure=600)
    c["readinessProbe"] = probe(exec_("/bin/sh", "-c", "test -e /www/ready"))
    pod = h.make_pod("kept", [c], volumes=WWW, grace=2)
    assert local.create(pod)[0] == 200
    local.wait_running(pod, "kept", timeout=TIMEOUT)
    touch(os.path.join(www(local, pod), "up"))
    wait_for("started", lambda: container_field(local, pod, "kept", "started") is True)
    assert container_field(local, pod, "kept", "ready") is False
    local.stack.plugin.kill9()
    local.stack.start_plugin()
    st = local.status(pod)
    assert ctr(st, "kept")["started"] is True and ctr(st, "kept")["ready"] is False, st
    touch(os.path.join(www(local, pod), "ready"))
    wait_for("ready", lambda: container_field(local, pod, "kept", "ready") is True)
    local.stack.plugin.kill9()
    local.stack.start_plugin()
    st = local.status(pod)
    assert ctr(st, "kept")["started"] is True and ctr(st, "kept")["ready"] is True, st


@pytest.mark.parametrize("field,value,message", [
    ("readinessProbe", {"httpGet": {"port": "nope"}}, "is not the name of a port"),
    ("readinessProbe", {"httpGet": {"port": 80, "httpHeaders": [{"name": "X", "value": "a\r\nB: c"}]}},
     "invalid header"),
    ("livenessProbe", {"grpc": {"port": 80}}, "grpc probes are not supported"),
    ("livenessProbe", {"exec": {"command": ["true"]}, "successThreshold": 2}, "must be 1"),
    ("startupProbe", {"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}},
     "more than 1 handler"),
    ("readinessProbe", {"httpGet": {"port": 80, "host": "a b@evil"}}, "not a host name"),
    ("readinessProbe", {"httpGet": {"port": 80, "path": "/x y"}}, "path"),
])
def test_bad_probes_are_refused(local, field, value, message):
    c = sh("bad", "true")
    c[field] = value
    pod = h.make_pod("badprobe", [c])
    code, body = local.create(pod)
    assert code == 400, body
    assert message in str(body), body
    assert field in str(body), body
