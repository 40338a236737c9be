"""Bad input never crashes or wedges `interlink` (upstream log.Fatal'ed on a
malformed /delete): every case gets a 4xx naming the problem, a log line, and
the server answers the next request."""
import json
import re
import socket

import pytest

import harness
from apiutil import (assert_alive, create_ok, host_pod, raw_exchange, status_line_code,
                     unix_path)

GOOD_POD = host_pod("good", "true")
NO_UID_POD = {**GOOD_POD, "metadata": {"name": "no-uid", "namespace": "default"}}
INT_UID_POD = {**GOOD_POD, "metadata": {"name": "int-uid", "namespace": "default", "uid": 42}}
NO_META_POD = {k: v for k, v in GOOD_POD.items() if k != "metadata"}
JSON_PROBLEM = r"(?i)json|pars|malformed|invalid|expected|end of|truncat"


def create_body(pod, **extra):
    return json.dumps({**harness.create_request(pod), **extra})


BAD_REQUESTS = [
    # (id, path, body, problem the message must name)
    ("create-empty-body", "/create", "", r"(?i)empty|body|json|expected"),
    ("create-truncated", "/create", create_body(GOOD_POD)[:40], JSON_PROBLEM),
    ("create-open-brace", "/create", "{", JSON_PROBLEM),
    ("create-not-json", "/create", "definitely not json", JSON_PROBLEM),
    ("create-array", "/create", "[]", r"(?i)object|pod"),
    ("create-pod-string", "/create", json.dumps({"pod": "x", "jobscriptURL": ""}), r"pod"),
    ("create-missing-pod", "/create", json.dumps({"configmaps": None}), r"pod"),
    ("create-pod-without-uid", "/create", create_body(NO_UID_POD), r"uid"),
    ("create-pod-int-uid", "/create", create_body(INT_UID_POD), r"uid"),
    ("create-pod-without-metadata", "/create", create_body(NO_META_POD), r"metadata|uid"),
    ("create-configmaps-string", "/create", create_body(GOOD_POD, configmaps="x"), r"configmaps"),
    # Names that reach paths, hostnames and argv: checked at /create.
    *[(f"create-namespace-{i}", "/create",
       create_body({**GOOD_POD, "metadata": {**GOOD_POD["metadata"], "namespace": ns}}),
       r"metadata\.namespace.*DNS label")
      for i, ns in enumerate(["Team-A", "-a", "a.b", "..", "$(id)", "`id`", "a\nb", "ü",
                              "x" * 64])],
    *[(f"create-name-{i}", "/create",
       create_body({**GOOD_POD, "metadata": {**GOOD_POD["metadata"], "name": name}}),
       r"metadata\.name.*DNS subdomain")
      for i, name in enumerate(["-n", "a\nb", "a b", "../x", "$(id)", "x" * 254])],
    ("create-grace-huge", "/create",
     create_body({**GOOD_POD, "spec": {**GOOD_POD["spec"],
                                       "terminationGracePeriodSeconds": 2**63 - 1}}),
     r"terminationGracePeriodSeconds"),
    ("status-truncated", "/status", json.dumps([GOOD_POD])[:30], JSON_PROBLEM),
    ("status-object", "/status", json.dumps(GOOD_POD), r"(?i)array|list"),
    ("status-numbers", "/status", "[1, 2]", r"(?i)pod|object"),
    ("status-pod-without-uid", "/status", json.dumps([NO_UID_POD]), r"uid"),
    ("delete-truncated", "/delete", json.dumps(GOOD_POD)[:25], JSON_PROBLEM),
    ("delete-array", "/delete", "[]", r"(?i)object|pod"),
    ("delete-pod-without-uid", "/delete", json.dumps(NO_UID_POD), r"uid"),
    ("logs-truncated", "/getLogs", '{"Namespace": "default", "PodUID"', JSON_PROBLEM),
    ("logs-namespace-number", "/getLogs",
     json.dumps({**harness.log_struct(GOOD_POD, "main"), "Namespace": 5}), r"(?i)namespace"),
]


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory):
    stack = harness.Stack(tmp_path_factory.mktemp("bad"),
                          api_extra={"MaxBodyBytes": 65536}).start()
    yield stack
    stack.stop()


@pytest.mark.parametrize("path,body,problem", [c[1:] for c in BAD_REQUESTS],
                         ids=[c[0] for c in BAD_REQUESTS])
def test_bad_request_is_400_and_server_survives(shared_stack, path, body, problem):
    log_before = len(shared_stack.api.output())
    method = {"/delete": "DELETE", "/create": "POST"}.get(path, "GET")
    code, data = harness.request(shared_stack.api_addr, method, path, body)
    text = data.decode(errors="replace")
    assert code == 400, f"{method} {path} {body[:80]!r} -> {code} {text!r}"
    assert re.search(problem, text), f"message {text!r} does not name the problem ({problem})"
    assert_alive(shared_stack)
    new_log = shared_stack.api.output()[log_before:]
    assert path in new_log, f"no log line for the rejected {path}:\n{new_log}"


def test_body_limit_boundary(shared_stack):
    limit = 65536
    pod = host_pod("big", "true")
    pod["metadata"]["annotations"]["pad"] = ""
    pad = limit - len(create_body(pod))
    pod["metadata"]["annotations"]["pad"] = "x" * pad
    body = create_body(pod)
    assert len(body) == limit
    try:
        create_ok(shared_stack, pod)       # exactly MaxBodyBytes: accepted
        code, _ = harness.request(shared_stack.api_addr, "POST", "/create", body + " ")
        assert code == 413, code
        assert_alive(shared_stack)
    finally:
        shared_stack.delete(pod)


def test_default_body_limit_is_16mi(tmp_path):
    stack = harness.Stack(tmp_path).start()
    try:
        size = 16 * 1024 * 1024 + 1
        head = (f"POST /create HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                f"Content-Length: {size}\r\n\r\n").encode()
        response = raw_exchange(stack.api_addr, head + b" " * size, timeout=30)
        assert status_line_code(response) == 413, response[:200]
        assert_alive(stack)
    finally:
        stack.stop()


@pytest.mark.parametrize("raw", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[{\"meta",   # body cut short
    b"GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET /status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x00\xff" * 512,
], ids=["garbage-line", "short-body", "negative-length", "bad-chunk", "binary"])
def test_malformed_http_does_not_wedge_the_server(shared_stack, raw):
    response = raw_exchange(shared_stack.api_addr, raw, timeout=10)
    code = status_line_code(response)
    assert code is None or 400 <= code < 500, response[:200]
    assert_alive(shared_stack)


def test_client_vanishing_mid_request_is_survived(shared_stack):
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(unix_path(shared_stack.api_addr))
        s.sendall(b"POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"pod\":")
        s.close()
    assert_alive(shared_stack)
