"""GET /watch: interlink tells watchers which pod statuses changed.

Covers the long poll (answered at once when changes are waiting, when the
next change comes, or empty at the timeout), `since` semantics (each pod once,
with its latest phase), resync (unknown, future and previous-run generations
-> 410), the watcher limit (429) and freeing a slot when a watcher hangs up,
authentication (as every endpoint: none inside interlink, the header is
ignored), malformed queries (400), the refresher (only while watched; one
batched plugin call per refresh; StatusRefreshSeconds 0 turns it off) and a
prompt shutdown with a watcher waiting.  No timed assertions: waits are
generous and only bound how long a broken server may hang the test."""
import concurrent.futures
import socket
import time

import pytest

import harness
from apiutil import (api, assert_alive, counter_delta, metric, metrics, plugin_calls,  # noqa: F401
                     run_interlink, status_line_code, unix_path, wait_until, MisbehavingPlugin)

LONG = 120     # what a long poll may take at most before the test gives up


def watch(stack, query="", timeout=LONG, headers=None):
    return harness.request_json(stack.api_addr, "GET", "/watch" + query, headers=headers,
                                timeout=timeout)


def generation(stack):
    code, body = watch(stack)
    assert code == 200, (code, body)
    assert body["pods"] == [] and body["resync"] is False, body
    assert isinstance(body["generation"], int), body
    return body["generation"]


def gated_pod(tmp_path, name):
    """A pod that runs until the test creates gate/go, then succeeds."""
    gate = tmp_path / f"gate-{name}"
    gate.mkdir()
    pod = harness.make_pod(
        name, [harness.container("main", ["sh", "-c",
                                           "while [ ! -e /gate/go ]; do sleep 0.1; done"],
                                 mounts=[{"name": "gate", "mountPath": "/gate"}])],
        volumes=[{"name": "gate", "hostPath": {"path": str(gate)}}], grace=2)
    return pod, gate


def create(stack, pod):
    code, body = stack.create(harness.create_request(pod))
    assert code == 200, (code, body)


def wait_watch_phase(stack, since, uid, phase):
    """Long-poll from since until the pod is reported in phase; returns the
    generation of that answer and every answer seen."""
    answers = []
    deadline = time.monotonic() + LONG
    while time.monotonic() < deadline:
        code, body = watch(stack, f"?since={since}&timeoutSeconds=30")
        assert code == 200, (code, body)
        answers.append(body)
        assert body["generation"] >= since
        since = body["generation"]
        if any(p["UID"] == uid and p["phase"] == phase for p in body["pods"]):
            return since, answers
    raise AssertionError(f"pod {uid} never reported {phase}: {answers}")


def uid_of(pod):
    return pod["metadata"]["uid"]


@pytest.fixture
def stack_with(tmp_path):
    made = []

    def make(**api_extra):
        s = harness.Stack(tmp_path / f"s{len(made)}", api_extra=api_extra).start()
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


# ---- the long poll ----------------------------------------------------------------

def test_no_since_answers_at_once_with_the_generation(api):
    g1 = generation(api)
    g2 = generation(api)
    assert g1 == g2 > 0


def test_long_poll_answers_when_a_pod_changes(api, tmp_path):
    g0 = generation(api)
    pod, gate = gated_pod(tmp_path, "w1")
    api.track(pod)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        waiting = ex.submit(watch, api, f"?since={g0}&timeoutSeconds=60")
        wait_until(lambda: metric(metrics(api), "interlink_watchers") == 1, what="the watcher")
        create(api, pod)   # nobody calls /status: only the refresher can find the change
        code, body = waiting.result(LONG)
    assert code == 200, body
    assert body["resync"] is False and body["generation"] > g0
    [entry] = body["pods"]
    assert entry["UID"] == uid_of(pod) and entry["name"] == "w1"
    assert entry["namespace"] == "default"
    assert entry["phase"] in ("Pending", "Running")
    assert g0 < entry["generation"] <= body["generation"]
    # since g0 the journal gives the pod's latest phase: Running, now or soon
    g, _ = wait_watch_phase(api, g0, uid_of(pod), "Running")
    (gate / "go").write_text("")
    wait_watch_phase(api, g, uid_of(pod), "Succeeded")


def test_timeout_answers_with_an_empty_list(api):
    g = generation(api)
    code, body = watch(api, f"?since={g}&timeoutSeconds=1")
    assert code == 200
    assert body == {"generation": g, "pods": [], "resync": False}
    code, body = watch(api, f"?since={g}&timeoutSeconds=0")
    assert (code, body) == (200, {"generation": g, "pods": [], "resync": False})


def read_chunked_answer(sock):
    """One chunked HTTP answer off a raw socket: (status, body)."""
    f = sock.makefile("rb")
    status = int(f.readline().split()[1])
    while f.readline() not in (b"\r\n", b""):
        pass
    body = b""
    while True:
        size = int(f.readline().strip() or b"0", 16)
        if size == 0:
            f.readline()
            return status, body
        body += f.read(size)
        f.readline()


def test_a_wait_longer_than_the_connection_timeout_is_answered(stack_with):
    """The idle timeout (ConnectionTimeoutSeconds) counted the wait inside the
    long poll as idleness: a watch longer than it was cut off when its answer
    came.  The timeout is back for the connection's next request."""
    s = stack_with(ConnectionTimeoutSeconds=2)
    g = generation(s)
    code, body = watch(s, f"?since={g}&timeoutSeconds=4")
    assert (code, body) == (200, {"generation": g, "pods": [], "resync": False})
    sock = open_watcher(s, g, timeout_s=3)   # kept alive after its answer
    try:
        status, answer = read_chunked_answer(sock)
        assert status == 200 and b'"pods":[]' in answer, answer
        time.sleep(5)   # idle between requests: the server's timeout applies again
        sock.settimeout(10)
        try:
            sock.sendall(b"GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100) == b"", "an idle kept-alive connection was not closed"
        except (BrokenPipeError, ConnectionResetError):
            pass
    finally:
        sock.close()


def test_since_lists_each_changed_pod_once_with_its_latest_phase(api, tmp_path):
    g0 = generation(api)
    pods = [gated_pod(tmp_path, f"s{i}") for i in range(2)]
    for pod, _ in pods:
        api.track(pod)
        create(api, pod)
    for pod, _ in pods:    # /status finds the changes too (no watcher: no refresher)
        api.wait_phase(pod, ("Running",))
    g1 = generation(api)
    assert g1 > g0
    for _, gate in pods:
        (gate / "go").write_text("")
    for pod, _ in pods:
        api.wait_phase(pod)
    code, body = watch(api, f"?since={g0}&timeoutSeconds=0")
    assert code == 200
    assert sorted(p["UID"] for p in body["pods"]) == sorted(uid_of(p) for p, _ in pods)
    assert {p["phase"] for p in body["pods"]} == {"Succeeded"}
    gens = [p["generation"] for p in body["pods"]]
    assert gens == sorted(gens) and gens[-1] == body["generation"]
    # from g1 on only the later changes, and nothing after the latest one
    code, later = watch(api, f"?since={g1}&timeoutSeconds=0")
    assert {p["phase"] for p in later["pods"]} == {"Succeeded"}
    assert all(p["generation"] > g1 for p in later["pods"])
    code, none = watch(api, f"?since={body['generation']}&timeoutSeconds=0")
    assert none["pods"] == [] and none["generation"] == body["generation"]


def test_unknown_generations_must_resync(api):
    g = generation(api)
    for since in (0, 1, g + 1, g + 10**6, 2**64 - 1):
        code, body = watch(api, f"?since={since}&timeoutSeconds=0")
        assert code == 410, (since, code, body)
        assert body["resync"] is True and body["generation"] == g and body["pods"] == []
        assert "watch from" in body["error"]
    assert metric(metrics(api), "interlink_watch_resyncs_total") == 5


def test_a_previous_runs_generation_must_resync(api, tmp_path):
    pod, gate = gated_pod(tmp_path, "r1")
    api.track(pod)
    create(api, pod)
    api.wait_phase(pod, ("Running",))
    g = generation(api)
    api.api.stop()
    api.start_api()
    code, body = watch(api, f"?since={g}&timeoutSeconds=0")
    assert code == 410, body
    assert body["generation"] > g   # generations only grow across restarts
    code, body = watch(api, f"?since={body['generation']}&timeoutSeconds=0")
    assert code == 200


# ---- limits, auth, bad input ---------------------------------------------------------

def open_watcher(stack, g, timeout_s=60):
    """A raw long poll left waiting; the socket is returned unread."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(LONG)
    s.connect(unix_path(stack.api_addr))
    s.sendall(f"GET /watch?since={g}&timeoutSeconds={timeout_s} HTTP/1.1\r\n"
              "Host: x\r\n\r\n".encode())
    return s


def test_too_many_watchers_get_429_and_a_hung_up_one_frees_its_slot(stack_with):
    stack = stack_with(MaxWatchers=2)
    g = generation(stack)
    socks = [open_watcher(stack, g) for _ in range(2)]
    try:
        wait_until(lambda: metric(metrics(stack), "interlink_watchers") == 2, what="2 watchers")
        code, body = watch(stack, f"?since={g}&timeoutSeconds=5")
        assert code == 429, (code, body)
        assert "too many watchers" in body and "MaxWatchers is 2" in body
        assert metric(metrics(stack), "interlink_watch_rejected_total") == 1
    finally:
        for s in socks:
            s.close()
    # the server notices the hang-ups without waiting for their timeouts
    wait_until(lambda: metric(metrics(stack), "interlink_watchers") == 0, timeout=30,
               what="the slots of watchers that hung up")
    code, body = watch(stack, f"?since={g}&timeoutSeconds=0")
    assert code == 200, body
    assert_alive(stack)


def test_watch_needs_the_credentials_every_endpoint_needs(stack_with, tmp_path):
    """/watch goes through interlink's authentication like /status does."""
    tokens = tmp_path / "tokens"
    tokens.write_text("watch-token-1\n")
    stack = stack_with(AuthTokenFile=str(tokens))
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "},
                    {"Authorization": "Basic d2F0Y2g6dG9rZW4tMQ=="}):
        code, body = watch(stack, "?since=1&timeoutSeconds=0", headers=headers)
        assert code == 401, (headers, code, body)
        code, _ = harness.request_json(stack.api_addr, "GET", "/status", [], headers=headers)
        assert code == 401
    good = {"Authorization": "Bearer watch-token-1"}
    code, body = watch(stack, headers=good)
    assert code == 200, body
    code, body = watch(stack, f"?since={body['generation']}&timeoutSeconds=0", headers=good)
    assert (code, body["pods"]) == (200, []), body
    assert "watch-token-1" not in stack.api.output()


@pytest.mark.parametrize("query", [
    "?since=abc", "?since=-1", "?since=", "?since=1e3", "?since=%201", "?since=1.5",
    "?since=99999999999999999999999", "?since=1&timeoutSeconds=abc",
    "?since=1&timeoutSeconds=-5", "?since=1&timeoutSeconds=301", "?timeoutSeconds=1%0A2",
    "?since=%27%24(id)%60x%60%22", "?since=%C3%A9t%C3%A9",
])
def test_malformed_queries_get_400(api, query):
    code, body = watch(api, query, timeout=30)
    assert code == 400, (query, code, body)
    assert "since" in body or "timeoutSeconds" in body
    assert_alive(api)


# ---- the refresher -----------------------------------------------------------------

def test_refresher_runs_only_while_watched_with_one_plugin_call_each(api, tmp_path):
    pods = [gated_pod(tmp_path, f"f{i}") for i in range(3)]
    for pod, _ in pods:
        api.track(pod)
        create(api, pod)
    time.sleep(3)   # three refresh periods: nobody watches, so no refresh may run
    m = metrics(api)
    assert metric(m, "interlink_watch_refreshes_total") == 0
    assert plugin_calls(api, "/status") == 0
    g = generation(api)
    code, body = watch(api, f"?since={g}&timeoutSeconds=60")
    assert code == 200 and body["pods"], body
    m = metrics(api)
    refreshes = metric(m, "interlink_watch_refreshes_total")
    assert refreshes >= 1
    # one batched plugin /status per refresh, whatever the number of pods (one more
    # call may be on its way while the metrics are read)
    calls = metric(m, "interlink_plugin_requests_total", endpoint="/status")
    assert refreshes <= calls <= refreshes + 1, (refreshes, calls)
    for _, gate in pods:
        (gate / "go").write_text("")
    for pod, _ in pods:   # from before the gates opened: each pod's latest phase
        wait_watch_phase(api, body["generation"], uid_of(pod), "Succeeded")


def test_refresher_leaves_out_pods_a_status_call_just_refreshed(stack_with, tmp_path):
    """A virtual kubelet's cycle asks about every pod every few seconds; the
    refresher need not ask the plugin about them again within its period,
    and asks again as soon as the calls stop."""
    stack = stack_with(StatusRefreshSeconds=3)
    pods = [gated_pod(tmp_path, f"r{i}") for i in range(3)]
    for pod, _ in pods:
        create(stack, pod)
    for pod, _ in pods:
        stack.wait_phase(pod, ("Running",))
    g = generation(stack)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        waiting = ex.submit(watch, stack, f"?since={g}&timeoutSeconds=90")
        wait_until(lambda: metric(metrics(stack), "interlink_watchers") == 1, what="the watcher")
        before = metric(metrics(stack), "interlink_watch_refreshes_total")
        calls, end = 0, time.monotonic() + 12   # four refresh periods of calls back to back
        while time.monotonic() < end:
            code, body = stack.status([pod for pod, _ in pods])
            assert code == 200 and len(body) == 3, (code, body)
            calls += 1
        during = metric(metrics(stack), "interlink_watch_refreshes_total") - before
        # at most the round that may have come before the first call marked the pods
        assert during <= 1, (during, calls)
        assert not waiting.done(), waiting.result()   # nothing changed yet
        wait_until(lambda: metric(metrics(stack), "interlink_watch_refreshes_total")
                   > before + during, what="a refresh once the calls stopped")
        for _, gate in pods:
            (gate / "go").write_text("")
        code, body = waiting.result(LONG)   # the refresher found the change
    assert code == 200 and body["pods"], body
    for pod, _ in pods:
        stack.wait_phase(pod)
        stack.delete(pod)


def test_slow_refreshes_are_spaced_by_how_long_they_take(tmp_path):
    """A refresh over many pods takes long (a plugin /status of 10,000 SLURM
    pods: half a second and more); with a period of 1 s the refresher would
    spend most of the time refreshing.  It waits four times as long as a
    refresh took: here over 1 s each, so one every 5-6 s instead of every
    3 s.  A plugin whose /status is 1 s slow stands for the big backend."""
    slow = str(tmp_path / "slow.sock")
    stack = harness.Stack(tmp_path / "s", api_extra={"SidecarURL": "unix://" + slow,
                                                     "StatusRefreshSeconds": 1})
    stack.start_plugin()
    relay = MisbehavingPlugin(slow, "slowstatus", delay=1.0, forward=stack.plugin_sock)
    try:
        stack.start_api()
        pod, gate = gated_pod(tmp_path, "slow")
        create(stack, pod)
        g = generation(stack)
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            waiting = ex.submit(watch, stack, f"?since={g}&timeoutSeconds=90")
            wait_until(lambda: metric(metrics(stack), "interlink_watch_refreshes_total") >= 1,
                       what="the first refresh")
            before = metric(metrics(stack), "interlink_watch_refreshes_total")
            time.sleep(16)
            during = metric(metrics(stack), "interlink_watch_refreshes_total") - before
            # spaced: 2-3 in 16 s (a refresh and four times its length); without, 5 here
            assert during <= 3, during
            (gate / "go").write_text("")
            code, body = waiting.result(LONG)   # the spaced refresher still finds the change
        assert code == 200 and [p["UID"] for p in body["pods"]] == [uid_of(pod)], body
        stack.wait_phase(pod)
        stack.delete(pod)
    finally:
        relay.stop()
        stack.stop()


def test_refresh_off_still_reports_changes_found_by_status_calls(stack_with, tmp_path):
    stack = stack_with(StatusRefreshSeconds=0)
    pod, gate = gated_pod(tmp_path, "off")
    create(stack, pod)
    g = generation(stack)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        waiting = ex.submit(watch, stack, f"?since={g}&timeoutSeconds=60")
        wait_until(lambda: metric(metrics(stack), "interlink_watchers") == 1, what="the watcher")
        stack.wait_phase(pod, ("Pending", "Running"))   # a /status call stores the change
        code, body = waiting.result(LONG)
    assert code == 200 and [p["UID"] for p in body["pods"]] == [uid_of(pod)], body
    assert metric(metrics(stack), "interlink_watch_refreshes_total") == 0
    (gate / "go").write_text("")
    stack.wait_phase(pod)
    stack.delete(pod)


def test_watch_metrics_and_requests_are_counted(api):
    g = generation(api)
    watch(api, f"?since={g}&timeoutSeconds=0")
    assert counter_delta(api, {}, "interlink_requests_total", 2,
                         endpoint="/watch", code="200") == 2
    m = metrics(api)
    assert metric(m, "interlink_watch_generation") == g
    assert metric(m, "interlink_watchers") == 0


def test_shutdown_is_not_held_up_by_a_waiting_watcher(api):
    g = generation(api)
    s = open_watcher(api, g, timeout_s=300)
    try:
        wait_until(lambda: metric(metrics(api), "interlink_watchers") == 1, what="the watcher")
        assert api.api.stop(timeout=30) == 0   # harness raises if it does not stop
        data = harness.recv_to_eof(s)
        assert status_line_code(data) == 200, data
        assert b'"pods":[]' in data
    finally:
        s.close()
    api.start_api()


@pytest.mark.parametrize("key, value, message", [
    ("StatusRefreshSeconds", -1, "StatusRefreshSeconds must be from 0"),
    ("MaxWatchers", 0, "MaxWatchers must be from 1 to 10000"),
    ("MaxWatchers", 100000, "MaxWatchers must be from 1 to 10000"),
])
def test_bad_watch_settings_stop_the_start(tmp_path, key, value, message):
    cfg = harness.write_yaml(str(tmp_path / "interlink.yaml"), {
        "InterlinkAddress": "unix://" + str(tmp_path / "il.sock"),
        "SidecarURL": "unix://" + str(tmp_path / "plugin.sock"),
        "DataRootFolder": str(tmp_path / "data"), key: value})
    done = run_interlink(["--config", cfg])
    assert done.returncode == 1 and message in done.stderr, done.stderr
