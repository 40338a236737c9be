"""Helpers for the `interlink` API server tests (tests/integration/test_api_*.py).

Built on harness.py (which is shared and not changed here): Prometheus
/metrics parsing, pod builders for runtime "host", polling, raw socket
exchanges for malformed HTTP, restarts with custom flags/environment, and a
fixture that deletes every pod a test created before the daemons stop.
"""
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
MISBEHAVING_PLUGIN = os.path.join(HERE, "misbehaving_plugin.py")

POD_STATUS_KEYS = {"name", "UID", "namespace", "JID", "containers", "initContainers"}
CREATE_KEYS = {"PodUID", "PodJID"}
PODS_ENTRY_KEYS = {"name", "namespace", "UID", "JID", "phase", "createdAt", "pod", "status"}


# ---- polling ---------------------------------------------------------------

def wait_until(predicate, timeout=20, interval=0.05, what="condition"):
    """Poll predicate() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---- pods ------------------------------------------------------------------

def host_pod(name, script, namespace="default", grace=2, **kw):
    """A one-container pod whose command runs on the host: sh -c SCRIPT.
    A short grace period keeps deletes at teardown quick."""
    return harness.make_pod(name, [harness.container("main", ["sh", "-c", script])],
                            namespace=namespace, grace=grace, **kw)


def uid(pod):
    return pod["metadata"]["uid"]


def create_ok(stack, pod, session=None):
    """POST /create and check the upstream CreateStruct shape; return the JID."""
    code, body = stack.create(harness.create_request(pod), session=session)
    assert code == 200, f"/create {pod['metadata']['name']}: {code} {body!r}"
    assert isinstance(body, dict) and set(body) == CREATE_KEYS, f"/create answer {body!r}"
    assert body["PodUID"] == uid(pod)
    assert isinstance(body["PodJID"], str) and body["PodJID"], body
    return body["PodJID"]


def create_many(stack, pods, workers=16):
    """Create pods concurrently; returns {uid: jid}."""
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        jids = list(ex.map(lambda p: create_ok(stack, p), pods))
    return {uid(p): j for p, j in zip(pods, jids)}


def statuses_by_uid(stack, pods):
    code, body = stack.status(pods)
    assert code == 200, f"/status: {code} {body!r}"
    assert isinstance(body, list), body
    return {s["UID"]: s for s in body}


def wait_all_terminal(stack, pods, timeout=60):
    """Poll /status for all pods in one call each round until every pod is
    Succeeded or Failed; returns {uid: (phase, PodStatus)}."""
    def done():
        by_uid = statuses_by_uid(stack, pods)
        phases = {u: harness.derive_phase(s) for u, s in by_uid.items()}
        if len(by_uid) == len(pods) and all(p in ("Succeeded", "Failed") for p in phases.values()):
            return {u: (phases[u], by_uid[u]) for u in by_uid}
        return None
    return wait_until(done, timeout=timeout, interval=0.2,
                      what=f"{len(pods)} pods to terminate")


def logs_text(stack, pod, container="main", **opts):
    code, body = stack.logs(harness.log_struct(pod, container, **opts))
    assert code == 200, f"/getLogs {pod['metadata']['name']}: {code} {body!r}"
    return body.decode()


# ---- plugin side -------------------------------------------------------------

def plugin_data_dir(stack):
    return os.path.join(stack.dir, "local-data")


def plugin_pod_dirs(stack):
    """Entries of the plugin's DataRootFolder/pods/ (one per submitted pod)."""
    path = os.path.join(plugin_data_dir(stack), "pods")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def assert_one_dir_per_uid(stack, uids):
    entries = plugin_pod_dirs(stack)
    assert len(entries) == len(uids), f"expected {len(uids)} pod dirs, found {entries}"
    for u in uids:
        matching = [e for e in entries if u in e]
        assert len(matching) == 1, f"pod uid {u}: dirs {matching} among {entries}"


def plugin_request(stack, method, path, body=None, **kw):
    """Talk to interlink-local directly (bypassing interlink)."""
    return harness.request_json(stack.plugin_addr, method, path, body, **kw)


# ---- interlink extras --------------------------------------------------------

def assert_alive(stack):
    """The liveness check every failure-path test ends with."""
    assert stack.api.alive(), f"interlink exited:\n{stack.api.output()[-3000:]}"
    code, body = harness.request(stack.api_addr, "GET", "/healthz", timeout=10)
    assert (code, body.strip()) == (200, b"ok"), (code, body)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> {(name, frozenset(labels.items())): value}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"unparseable metrics line {line!r}")
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def metrics(stack):
    code, body = harness.request(stack.api_addr, "GET", "/metrics", timeout=10)
    assert code == 200, (code, body)
    return parse_metrics(body.decode())


def metric(samples, name, **labels):
    """Value of one sample (0 if the series does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def counter_delta(stack, before, name, want, timeout=5, **labels):
    """How much a counter grew since the samples `before`, read again until it
    has grown by `want` or `timeout` passed: interlink counts a request when
    libmicrohttpd reports it complete, which can be just after the client has
    read the whole answer."""
    deadline = time.monotonic() + timeout
    while True:
        delta = metric(metrics(stack), name, **labels) - metric(before, name, **labels)
        if delta >= want or time.monotonic() > deadline:
            return delta
        time.sleep(0.05)


def plugin_calls(stack, endpoint):
    return metric(metrics(stack), "interlink_plugin_requests_total", endpoint=endpoint)


def plugin_errors(stack, endpoint):
    return metric(metrics(stack), "interlink_plugin_request_errors_total", endpoint=endpoint)


# ---- raw sockets ---------------------------------------------------------------

def unix_path(address):
    assert address.startswith("unix://"), address
    return address[len("unix://"):]


def raw_exchange(address, data, shutdown_write=True, timeout=10):
    """Send raw bytes to a unix socket, return everything read until EOF or
    timeout.  Errors from a peer that closes while we still send are ignored:
    what matters is the answer it sent first."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(unix_path(address))
    chunks = []
    try:
        try:
            s.sendall(data)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    return b"".join(chunks)


def status_line_code(response):
    """200 from b'HTTP/1.1 200 OK\\r\\n...', or None."""
    m = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(m.group(1)) if m else None


free_tcp_port = harness.free_port


# ---- daemons -------------------------------------------------------------------

def start_api(stack, argv=None, env=None, address=None):
    """Start interlink with custom argv (default: --config FILE) and extra
    environment; waits for `address` (default stack.api_addr)."""
    argv = argv if argv is not None else ["--config", stack.api_cfg]
    stack.api = harness.Daemon([harness.binary("interlink")] + argv,
                               os.path.join(stack.dir, "interlink.log"), env=env).start()
    harness.wait_for_socket(address or stack.api_addr, stack.api.proc)
    return stack.api


def run_interlink(args, env=None, timeout=10):
    """Run interlink to completion (for --version, --help-config, bad configs)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([harness.binary("interlink")] + args, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


class MisbehavingPlugin:
    """misbehaving_plugin.py run as a subprocess on a unix socket."""

    def __init__(self, sock_path, mode, delay=0.0, log_path=None, code=400, forward=""):
        self.sock_path = sock_path
        self.address = "unix://" + sock_path
        self.log_path = log_path or sock_path + ".log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, MISBEHAVING_PLUGIN, "--mode", mode, "--delay", str(delay),
             "--code", str(code), "--forward", forward, sock_path], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        harness.wait_for_socket(self.address, self.proc)

    def requests(self):
        """The requests it received: [(method, path, session)]."""
        with open(self.log_path) as f:
            return [tuple(line.split()[1:4]) for line in f if line.startswith("REQUEST ")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.log.close()


# ---- fixtures (import them into a test module to use them) ---------------------

class PodTracker:
    """Remembers pods created through it and deletes them at teardown, so no
    `sleep` process outlives its test."""

    def __init__(self, stack):
        self.stack = stack
        self.pods = []

    def track(self, *pods):
        self.pods.extend(pods)
        return pods[0] if len(pods) == 1 else pods

    def cleanup(self):
        for pod in self.pods:
            for daemon, addr in ((self.stack.api, self.stack.api_addr),
                                 (self.stack.plugin, self.stack.plugin_addr)):
                if daemon is not None and daemon.alive():
                    try:
                        harness.request(addr, "DELETE" if daemon is self.stack.api else "POST",
                                        "/delete", pod, timeout=30)
                        break
                    except OSError:
                        continue


@pytest.fixture
def api(tmp_path):
    """A started Stack plus `api.track(pod...)` for cleanup."""
    stack = harness.Stack(tmp_path / "stack").start()
    tracker = PodTracker(stack)
    stack.track = tracker.track
    yield stack
    try:
        tracker.cleanup()
    finally:
        stack.stop()


def json_body(data):
    return json.loads(data) if data else None
