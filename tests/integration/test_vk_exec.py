"""kubectl exec, exec -i, exec -it, port-forward and pod addresses against the
real API server (../shared/k8s), through interlink-vk's kubelet API, interlink
and interlink-local (host runtime).  The API server reaches the VK at the
node's InternalIP (127.0.0.1) and daemonEndpoints port with its kubelet
client certificate, so the kubelet API's authn/authz is in force; the VK
serves a self-signed certificate (DisableCSR), which this API server does
not verify (no --kubelet-certificate-authority)."""
import json
import os
import subprocess
import time

import pytest

import harness
import sessionutil as ss
import vkutil
from harness import wait_for

KUBECTL = "/usr/bin/kubectl"
NODE = "vk-exec"
POD = "shell"

pytestmark = pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason="needs kubectl")


class Cluster(ss.KubectlNode):
    """The session's real control plane (conftest's real_kube), this
    module's stack and VK on it."""

    def __init__(self, tmp, kube):
        super().__init__(tmp, kube, harness.Stack(os.path.join(tmp, "stack")), NODE)


TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"


@pytest.fixture(scope="module")
def k(tmp_path_factory, real_kube):
    c = Cluster(str(tmp_path_factory.mktemp("exec")), real_kube)
    # A shell to exec into, and an HTTP server on a port picked now (one free
    # at collection may be taken by then) that answers "pod says hi" (pods of
    # interlink-local share the host's network).
    c.http_port = vkutil.free_port()
    server = ss.http_server(c.http_port, "pod says hi")
    try:
        wait_for("node registered", lambda: c.kubectl("get", "node", NODE, check=False)
                 .returncode == 0, timeout=60)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD},
               "spec": {"nodeName": NODE, "tolerations": [{"operator": "Exists"}],
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox",
                                        "command": ["/usr/bin/python3", "-c", server]},
                                       {"name": "ticker", "image": "busybox",
                                        "command": ["sh", "-c", TICKER]},
                                       *ss.ATTACH_CONTAINERS]}}
        c.kubectl("apply", "-f", "-", input=json.dumps(pod).encode())
        wait_for("pod running", lambda: (c.pod(POD) or {}).get("status", {}).get("phase")
                 == "Running", timeout=60)
        yield c
    finally:
        c.stop()


def test_pod_addresses_are_set(k):
    st = k.pod(POD)["status"]
    assert st["podIP"] == "127.0.0.1"
    assert st["podIPs"] == [{"ip": "127.0.0.1"}]
    assert st["hostIP"] == "127.0.0.1"


def test_exec_output_and_exit_code(k):
    p = k.kubectl("exec", POD, "-c", "main", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3",
                  check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout == b"hi\n"
    assert b"oops" in p.stderr
    p = k.kubectl("exec", POD, "--", "true", check=False)
    assert p.returncode == 0, p.stderr


def test_exec_stdin(k):
    data = b"".join(b"line %d\n" % i for i in range(5000))   # more than one SPDY frame
    p = k.kubectl("exec", "-i", POD, "--", "sh", "-c", "wc -l; echo done", input=data)
    assert p.stdout.split() == [b"5000", b"done"]


def test_exec_tty(k):
    """-it through a pty: the command has a terminal of the size kubectl's
    own terminal has, and what it prints comes back."""
    def drive(out, master, proc):
        if b"/dev/pts/" in out and not drive.sent:
            os.write(master, b"ping\r")
            drive.sent = True
    drive.sent = False
    rc, out = ss.kubectl_tty([KUBECTL, "--kubeconfig", k.kubeconfig, "exec", "-it", POD, "--",
                              "sh", "-c", "stty size; tty; read x; echo got=$x; exit 4"],
                             33, 77, drive, timeout=30)
    assert b"33 77" in out, out
    assert b"got=ping" in out, out
    assert rc == 4, out


def test_attach_stdin_reaches_the_container_and_detach_leaves_it_running(k):
    k.attach_twice(POD)


# kubectl 1.30 and later speak WebSocket v5 to the kubelet; this one keeps
# the SPDY path of exec and attach -i covered.
SPDY_ONLY = {**os.environ, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}


def test_exec_and_attach_over_spdy(k):
    p = subprocess.run([KUBECTL, "--kubeconfig", k.kubeconfig, "exec", "-i", POD, "-c", "main",
                        "--", "sh", "-c", "wc -l; exit 5"], input=b"a\nb\n", env=SPDY_ONLY,
                       capture_output=True, timeout=60)
    assert p.returncode == 5 and p.stdout.split() == [b"2"], p
    k.attach_twice(POD, words=(b"spdy",), env=SPDY_ONLY)
    vk_log = open(k.vk.log_path).read()
    assert "POST /exec/default/shell/main" in vk_log and "POST /attach/default/shell/echo" \
        in vk_log, "kubectl did not use SPDY"


def test_attach_stdin_once(k):
    k.attach_once(POD)


def test_attach_stdin_refused_without_stdin_true(k):
    k.attach_refused_without_stdin(POD, "ticker")


def test_attach_tty(k):
    k.attach_tty(POD)


def test_port_forward_http_round_trip(k):
    k.port_forward_round_trips(POD, k.http_port, "pod says hi")


def test_attach_streams_live_output(k):
    """kubectl attach shows what the container writes from now on."""
    k.attach_streams_live(POD, "ticker")


def test_port_forward_to_a_closed_port_says_why(k):
    k.port_forward_refused(POD)


def test_killed_client_leaves_no_process(k):
    k.exec_killed(POD)


def test_exec_errors(k):
    p = k.kubectl("exec", POD, "-c", "nope", "--", "true", check=False)
    assert p.returncode != 0 and b"nope" in p.stderr
    p = k.kubectl("exec", "no-such-pod", "--", "true", check=False)
    assert p.returncode != 0


# ---- the same over WebSocket (the Python client's transport) ----------------------------------

def ws_api(k):
    """A CoreV1Api of python3-kubernetes on the real API server: its stream()
    and portforward() speak WebSocket (v4.channel.k8s.io), which the API
    server passes on to the VK's kubelet port unchanged."""
    from kubernetes import client, config
    api_client = config.new_client_from_config(config_file=k.kubeconfig)
    return client.CoreV1Api(api_client)


def test_websocket_exec_output_and_exit_code(k):
    from kubernetes.stream import stream
    api = ws_api(k)
    resp = stream(api.connect_get_namespaced_pod_exec, POD, "default", container="main",
                  command=["sh", "-c", "echo out; echo err >&2; exit 3"], stdin=False,
                  stdout=True, stderr=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=30)
    assert resp.read_stdout() == "out\n"
    assert resp.read_stderr() == "err\n"
    assert resp.returncode == 3, resp.read_channel(3)
    resp.close()


def test_websocket_exec_stdin_and_tty(k):
    from kubernetes.stream import stream
    api = ws_api(k)
    resp = stream(api.connect_get_namespaced_pod_exec, POD, "default", container="main",
                  command=["sh", "-c", "read line; echo \"got $line\"; stty size"], stdin=True,
                  stdout=True, stderr=True, tty=True, _preload_content=False)
    resp.write_channel(4, json.dumps({"Width": 91, "Height": 17}))
    resp.write_stdin("hello\n")
    out = ""
    deadline = time.monotonic() + 30
    while resp.is_open() and time.monotonic() < deadline:
        resp.update(timeout=1)
        out += resp.read_stdout()
    assert not resp.is_open(), f"the command did not end: {out!r}"
    assert "got hello" in out and "17 91" in out, out
    assert resp.returncode == 0
    resp.close()


def test_websocket_port_forward(k):
    from kubernetes.stream import portforward
    api = ws_api(k)
    pf = portforward(api.connect_get_namespaced_pod_portforward, POD, "default",
                     ports=str(k.http_port))
    sock = pf.socket(k.http_port)
    sock.setblocking(True)
    sock.settimeout(20)
    sock.sendall(b"GET /ws HTTP/1.0\r\n\r\n")
    reply = harness.recv_to_eof(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"pod says hi /ws"), reply
    assert pf.error(k.http_port) is None
    pf.close()


def test_websocket_refusals(k):
    """What the kubelet port says to a WebSocket it cannot serve: no key, an
    unknown channel protocol, port-forward without a port."""
    import base64
    import http.client
    import ssl
    ctx = ssl._create_unverified_context()
    key = base64.b64encode(os.urandom(16)).decode()
    base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    cases = [
        ("/exec/default/shell/main?command=true&output=1", {}, 400, "Sec-WebSocket-Key"),
        ("/exec/default/shell/main?command=true&output=1",
         {"Sec-WebSocket-Key": key, "Sec-WebSocket-Protocol": "v6.channel.k8s.io"}, 403,
         "v5.channel.k8s.io"),
        ("/portForward/default/shell", {"Sec-WebSocket-Key": key}, 400, "?port="),
        ("/portForward/default/shell?port=99999", {"Sec-WebSocket-Key": key}, 400, "?port="),
    ]
    ctx.load_cert_chain(*k.kube.pki.kubelet_client)   # as the API server calls kubelets
    for path, extra, code, says in cases:
        conn = http.client.HTTPSConnection("127.0.0.1", k.kubelet_port, context=ctx, timeout=10)
        conn.request("GET", path, headers={**base, **extra})
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        assert resp.status == code and says in body, (path, resp.status, body)


def kubelet_websocket(k, path, protocols):
    """A WebSocket straight to the VK's kubelet port, with the API server's
    kubelet client certificate, offering protocols."""
    import ssl
    import websocket
    cert, key = k.kube.pki.kubelet_client
    return websocket.create_connection(
        f"wss://127.0.0.1:{k.kubelet_port}{path}", subprotocols=protocols, timeout=30,
        sslopt={"cert_reqs": ssl.CERT_NONE, "certfile": cert, "keyfile": key})


def ws_channels(ws):
    """Every binary message until the server closes: {channel: bytes}."""
    import websocket
    got = {}
    while True:
        try:
            op, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            break
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        if data:
            got[data[0]] = got.get(data[0], b"") + data[1:]
    return got


def test_websocket_v5_close_channel_closes_stdin(k):
    """v5.channel.k8s.io is chosen when offered with v4; [255, 0] closes the
    command's stdin (cat ends), then the Status on channel 3."""
    path = ("/exec/default/shell/main?command=sh&command=-c&command=cat%3B+echo+eof"
            "&input=1&output=1&error=1")
    ws = kubelet_websocket(k, path, ["v4.channel.k8s.io", "v5.channel.k8s.io"])
    assert ws.getsubprotocol() == "v5.channel.k8s.io"
    ws.send_binary(b"\x00hello\n")
    ws.send_binary(b"\xff\x00")
    got = ws_channels(ws)
    ws.close()
    assert got.get(1) == b"hello\neof\n", got
    assert json.loads(got[3])["status"] == "Success", got


def test_websocket_v4_has_no_close_channel(k):
    """v4 offered alone: v4, and channel 255 means nothing (the command
    still waits for input when the client goes)."""
    path = ("/exec/default/shell/main?command=sh&command=-c&command=cat%3B+echo+eof"
            "&input=1&output=1&error=1")
    ws = kubelet_websocket(k, path, ["v4.channel.k8s.io"])
    assert ws.getsubprotocol() == "v4.channel.k8s.io"
    ws.send_binary(b"\x00hello\n")
    ws.send_binary(b"\xff\x00")
    ws.settimeout(3)
    import websocket
    out = b""
    try:
        while b"hello" not in out:
            out += ws.recv_data()[1][1:]
        ws.recv_data()   # nothing more: cat still runs
        raise AssertionError("the session ended")
    except websocket.WebSocketTimeoutException:
        pass
    ws.close()
    assert out == b"hello\n", out


def test_plugin_stopped_mid_exec_kills_the_command(k):
    """Last: stops interlink-local while a command runs; the plugin kills
    it and exits cleanly, and kubectl is told the session ended."""
    command, marker = ss.unique_sleep()
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", k.kubeconfig, "exec", POD, "--",
                             *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"started\n"
    ss.sleep_running(marker)
    assert k.stack.plugin.stop_and_check(must_be_running=True) == []
    assert not ss.processes_running(marker)
    assert proc.wait(timeout=30) != 0

