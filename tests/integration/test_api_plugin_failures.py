"""What `interlink` answers when its plugin is down, hung or broken: 502 at
once naming the plugin when nothing listens, 504 after SidecarTimeoutSeconds
when the plugin accepts but never answers, never a hang, and it keeps serving.
(Upstream answered 500 with an empty body and waited up to 120 s.)"""
import os
import socket
import threading
import time

import pytest

import harness
from apiutil import (MisbehavingPlugin, assert_alive, free_tcp_port, host_pod, metric, metrics,
                     start_api, wait_until)


def relay_calls(pod):
    """One call per relaying endpoint: (name, method, path, body)."""
    return [
        ("create", "POST", "/create", harness.create_request(pod)),
        ("status", "GET", "/status", [pod]),
        ("ping", "POST", "/pinglink", None),
        ("logs", "GET", "/getLogs", harness.log_struct(pod, "main")),
    ]


def unreachable_stack(stack_factory, how):
    if how == "tcp-refused":
        port = free_tcp_port()
        stack = stack_factory(api_extra={"SidecarURL": "http://127.0.0.1", "SidecarPort": str(port)})
        return stack, f"127.0.0.1:{port}"
    stack = stack_factory()
    if how == "stale-socket":           # a socket file nobody listens on: ECONNREFUSED
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stack.plugin_sock)
        s.close()
        assert os.path.exists(stack.plugin_sock)
    return stack, stack.plugin_sock


@pytest.mark.parametrize("how", ["missing-socket", "stale-socket", "tcp-refused"])
def test_plugin_unreachable_is_502_naming_the_plugin(stack_factory, how):
    stack, where = unreachable_stack(stack_factory, how)
    stack.start_api()
    pod = host_pod("orphan", "true")
    for name, method, path, body in relay_calls(pod):
        t0 = time.monotonic()
        code, data = harness.request(stack.api_addr, method, path, body, timeout=30)
        elapsed = time.monotonic() - t0
        assert code == 502, f"{name}: {code} {data!r}"
        assert where in data.decode(errors="replace"), f"{name}: {data!r} does not name {where}"
        # well under the 5 s connect timeout: a refused connection is not waited on
        assert elapsed < 4, f"{name} took {elapsed:.1f}s with the plugin down"
    errors = metrics(stack)
    for endpoint in ("/create", "/status", "/getLogs"):
        assert metric(errors, "interlink_plugin_request_errors_total", endpoint=endpoint) >= 1, endpoint
    assert_alive(stack)


@pytest.fixture
def hung(stack_factory):
    stack = stack_factory(api_extra={"SidecarTimeoutSeconds": 2})
    plugin = MisbehavingPlugin(stack.plugin_sock, "hang")
    stack.start_api()
    yield stack, plugin
    stack.stop()
    plugin.stop()


@pytest.mark.parametrize("call", ["create", "status", "ping", "logs"])
def test_hung_plugin_gives_504_after_the_timeout(hung, call):
    stack, plugin = hung
    pod = host_pod("stuck", "true")
    [(name, method, path, body)] = [c for c in relay_calls(pod) if c[0] == call]
    errors_before = metric(metrics(stack), "interlink_plugin_request_errors_total", endpoint=path)
    t0 = time.monotonic()
    code, data = harness.request(stack.api_addr, method, path, body, timeout=30)
    elapsed = time.monotonic() - t0
    assert code == 504, f"{name}: {code} {data!r}"
    assert 1.5 <= elapsed <= 8, f"{name}: answered after {elapsed:.1f}s, SidecarTimeoutSeconds=2"
    assert len(plugin.requests()) >= 1, "the request never reached the hung plugin"
    if path != "/pinglink":              # ping's plugin call may be labelled either way
        assert metric(metrics(stack), "interlink_plugin_request_errors_total",
                      endpoint=path) == errors_before + 1
    assert_alive(stack)


def test_hung_plugin_does_not_block_other_callers(stack_factory):
    # A timeout long enough that the four calls are still hanging when the
    # checks run, even on a loaded machine; the checks themselves poll.
    stack = stack_factory(api_extra={"SidecarTimeoutSeconds": 10})
    plugin = MisbehavingPlugin(stack.plugin_sock, "hang")
    try:
        stack.start_api()
        pod = host_pod("stuck", "sleep 1")
        results = []
        waiters = [threading.Thread(target=lambda: results.append(stack.status([pod])[0]))
                   for _ in range(4)]
        for w in waiters:
            w.start()
        wait_until(lambda: len(plugin.requests()) == 4, timeout=8,
                   what="4 calls at the hung plugin")
        t0 = time.monotonic()
        assert_alive(stack)
        code, _ = harness.request(stack.api_addr, "GET", "/metrics", timeout=10)
        assert code == 200
        assert time.monotonic() - t0 < 5, "interlink stalled while plugin calls hang"
        assert len(results) == 0, "a hung call returned before its timeout"
        for w in waiters:
            w.join(30)
        assert results == [504] * 4
    finally:
        stack.stop()
        plugin.stop()


@pytest.mark.parametrize("mode", ["garbage", "nothttp", "close"])
def test_broken_plugin_answer_is_502_not_an_empty_200(stack_factory, mode):
    stack = stack_factory(api_extra={"SidecarTimeoutSeconds": 5})
    plugin = MisbehavingPlugin(stack.plugin_sock, mode)
    try:
        stack.start_api()
        pod = host_pod("garbled", "true")
        for name, method, path, body in relay_calls(pod)[:2]:      # create, status
            code, data = harness.request(stack.api_addr, method, path, body, timeout=30)
            assert code == 502, f"{mode} {name}: {code} {data!r}"
            assert data.strip(), f"{mode} {name}: empty error body"
        # a create that failed must not be remembered as done
        code, _ = harness.request(stack.api_addr, "POST", "/create", harness.create_request(pod))
        assert code == 502
        assert sum(1 for r in plugin.requests() if r[1] == "/create") == 2
        assert_alive(stack)
    finally:
        stack.stop()
        plugin.stop()


def test_plugin_error_status_and_text_are_relayed(stack_factory):
    stack = stack_factory()
    plugin = MisbehavingPlugin(stack.plugin_sock, "error")
    try:
        stack.start_api()
        pod = host_pod("refused", "true")
        for name, method, path, body in relay_calls(pod):
            code, data = harness.request(stack.api_addr, method, path, body)
            assert code == 503, f"{name}: {code} {data!r}"
            assert b"backend exploded" in data, f"{name}: {data!r}"
        assert_alive(stack)
    finally:
        stack.stop()
        plugin.stop()


def test_garbage_ping_body_is_relayed_verbatim(stack_factory):
    # /pinglink relays any body (PingResponse JSON or opaque text: docs/upstream.md).
    stack = stack_factory()
    plugin = MisbehavingPlugin(stack.plugin_sock, "garbage")
    try:
        stack.start_api()
        code, data = harness.request(stack.api_addr, "POST", "/pinglink")
        assert (code, data) == (200, b"{this is not json")
        assert plugin.requests()[-1][:2] == ("GET", "/status")
    finally:
        stack.stop()
        plugin.stop()


def test_slow_plugin_within_the_timeout_is_waited_for(stack_factory):
    stack = stack_factory(api_extra={"SidecarTimeoutSeconds": 4})
    plugin = MisbehavingPlugin(stack.plugin_sock, "slow", delay=1.5)
    try:
        stack.start_api()
        t0 = time.monotonic()
        code, body = stack.status([host_pod("slowpoke", "true")])
        assert (code, body) == (200, [])
        assert time.monotonic() - t0 >= 1.4
    finally:
        stack.stop()
        plugin.stop()


def test_plugin_coming_back_is_used_again(stack_factory):
    stack = stack_factory()
    stack.start_api()
    pod = host_pod("late", "echo late")
    code, _ = stack.create(harness.create_request(pod))
    assert code == 502
    stack.start_plugin()
    code, body = stack.create(harness.create_request(pod))
    assert code == 200 and body["PodUID"] == pod["metadata"]["uid"], body
    assert stack.wait_phase(pod)[0] == "Succeeded"
    stack.delete(pod)


def test_sidecar_env_override_points_at_the_plugin(stack_factory):
    # SIDECARURL beats SidecarURL from the file.
    stack = stack_factory(api_extra={"SidecarURL": "unix:///nonexistent/plugin.sock"})
    stack.start_plugin()
    start_api(stack, env={"SIDECARURL": stack.plugin_addr})
    code, _ = harness.request(stack.api_addr, "POST", "/pinglink")
    assert code == 200
