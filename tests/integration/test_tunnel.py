"""The pod tunnel (docs/interactive.md, "Tunnels"): interlink-gateway, the
tunnel client the runner starts next to a pod, interlink and interlink-local
(host runtime), all real.  The gateway registers the pod as the virtual
kubelet does and the test adds the "tunnel" object to the create request as
the VK does; a pod's servers are then reached at podIP:containerPort, an
address in the gateway's PodNetwork, while the pod's node only dials out."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from harness import Stack, binary, free_port, make_pod, sh, create_request, wait_for
from tunnelutil import (Gateway, connects, echo_roundtrip, echo_server_script,
                        http_server_script, tunnel_state, wait_port)


@pytest.fixture
def gateway(tmp_path):
    gw = Gateway(tmp_path).start()
    yield gw
    gw.stop()


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path / "stack").start()
    yield s
    s.stop()


def pod_dir(stack, pod):
    return os.path.join(stack.dir, "local-data", "pods", pod["metadata"]["uid"])


def ported(name, script, ports):
    c = sh(name, script)
    c["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    return c


def start_tunnelled(stack, gateway, pod, ports, **tunnel_override):
    reg = gateway.register(pod, ports)
    req = create_request(pod)
    req["tunnel"] = gateway.tunnel_request(reg, **tunnel_override)
    code, body = stack.create(req)
    assert code == 200, body
    return reg


def test_echo_and_http_over_one_tunnel(stack, gateway, tmp_path):
    """Two ports of one pod, each reached by podIP:port through one tunnel."""
    echo_port, http_port = free_port(), free_port()
    www = tmp_path / "www"
    www.mkdir()
    (www / "hello.txt").write_text("hello through the tunnel\n")
    pod = make_pod("tun", [ported("echo", echo_server_script(echo_port), [echo_port]),
                           ported("web", http_server_script(http_port, www), [http_port])])
    reg = start_tunnelled(stack, gateway, pod, [echo_port, http_port])
    ip = reg["podIP"]
    assert ip.startswith(gateway.pod_network.rsplit(".", 1)[0] + ".")
    gateway.wait_connected(pod)
    wait_port(ip, echo_port)
    payload = os.urandom(3 * 1024 * 1024)
    assert echo_roundtrip(ip, echo_port, payload) == payload
    with urllib.request.urlopen(f"http://{ip}:{http_port}/hello.txt", timeout=10) as r:
        assert r.read() == b"hello through the tunnel\n"

    # Many connections at once, over both ports: still one tunnel.
    results = []

    def one(i):
        data = f"conn {i} ".encode() * 1000
        results.append(echo_roundtrip(ip, echo_port, data) == data)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 20
    state = gateway.pod_state(pod)
    assert state["connects"] == 1 and state["streamsTotal"] >= 22, state
    node = tunnel_state(pod_dir(stack, pod))
    assert node["state"] == "connected" and node["connects"] == 1, node


def test_undeclared_port_is_not_reachable(stack, gateway):
    """Only declared containerPorts are opened, at the gateway and at the node."""
    port, other = free_port(), free_port()
    pod = make_pod("tun", [ported("echo", echo_server_script(port), [port])])
    reg = start_tunnelled(stack, gateway, pod, [port])
    gateway.wait_connected(pod)
    wait_port(reg["podIP"], port)
    with pytest.raises(OSError):
        socket.create_connection((reg["podIP"], other), 2).close()


def test_wrong_credential_is_refused(stack, gateway):
    port = free_port()
    pod = make_pod("tun", [ported("echo", echo_server_script(port), [port])])
    other = make_pod("other", [sh("c", "sleep 1")])
    other_reg = gateway.register(other, [port])
    # this pod's node holds another pod's credential
    start_tunnelled(stack, gateway, pod, [port], token=other_reg["token"])
    d = pod_dir(stack, pod)
    state = wait_for("the refusal", lambda: (tunnel_state(d) or {}).get("state") == "refused"
                     and tunnel_state(d), timeout=20)
    assert "401" in state["message"], state
    assert gateway.pod_state(pod)["tunnel"] == "disconnected"
    assert gateway.pod_state(pod)["connects"] == 0
    with pytest.raises(OSError):
        socket.create_connection((gateway.pod_state(pod)["podIP"], port), 2).close()


def test_reconnect_after_gateway_restart(stack, gateway):
    port = free_port()
    pod = make_pod("tun", [ported("echo", echo_server_script(port), [port])])
    reg = start_tunnelled(stack, gateway, pod, [port])
    gateway.wait_connected(pod)
    wait_port(reg["podIP"], port)
    gateway.stop()
    with pytest.raises(OSError):
        socket.create_connection((reg["podIP"], port), 2).close()
    gateway.start()
    # same address (the registration survived), a second connection of the client
    state = gateway.wait_connected(pod, connects=1, timeout=40)
    assert state["podIP"] == reg["podIP"]
    wait_port(reg["podIP"], port)
    assert echo_roundtrip(reg["podIP"], port, b"after restart") == b"after restart"
    node = wait_for("the node's count", lambda: (tunnel_state(pod_dir(stack, pod)) or {})
                    .get("connects", 0) >= 2 and tunnel_state(pod_dir(stack, pod)))
    assert node["state"] == "connected", node


def test_delete_closes_the_tunnel(stack, gateway):
    port = free_port()
    pod = make_pod("tun", [ported("echo", echo_server_script(port), [port])])
    reg = start_tunnelled(stack, gateway, pod, [port])
    gateway.wait_connected(pod)
    wait_port(reg["podIP"], port)
    held = socket.create_connection((reg["podIP"], port), 5)
    held.sendall(b"before")
    assert held.recv(100) == b"before"
    code, body = gateway.unregister(pod)   # what the VK does on delete
    assert code == 200, body
    code, body = stack.delete(pod)
    assert code == 200, body
    # the open connection is cut, new ones are refused
    held.settimeout(5)
    try:
        rest = held.recv(100)
    except ConnectionResetError:
        rest = b""
    assert rest == b""
    held.close()
    wait_for("the listener to close", lambda: not connects(reg["podIP"], port), timeout=30)
    assert gateway.pod_state(pod) is None
    # and the node's client is gone with the pod's supervisor
    d = pod_dir(stack, pod)
    wait_for("no tunnel client", lambda: not _client_running(d), timeout=20)


def _client_running(d):
    marker = os.path.abspath(d).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker in f.read():
                    return True
        except OSError:
            pass
    return False


class ConnectProxy:
    """An HTTP CONNECT proxy on loopback that counts the tunnels it made."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.targets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        head = b""
        while b"\r\n\r\n" not in head:
            d = c.recv(4096)
            if not d:
                c.close()
                return
            head += d
        line = head.split(b"\r\n")[0].decode()
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            c.close()
            return
        host, port = target.rsplit(":", 1)
        u = socket.create_connection((host, int(port)), 5)
        self.targets.append(target)
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()
        pipe(c, u)

    def close(self):
        self.sock.close()


def test_through_a_connect_proxy(gateway, tmp_path, monkeypatch):
    """The node's standard https_proxy is used: the tunnel is a CONNECT
    through it, and the pod is reached as before."""
    proxy = ConnectProxy()
    for var in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
    stack = Stack(tmp_path / "proxied").start()
    try:
        port = free_port()
        pod = make_pod("tun", [ported("echo", echo_server_script(port), [port])])
        reg = start_tunnelled(stack, gateway, pod, [port])
        gateway.wait_connected(pod)
        wait_port(reg["podIP"], port)
        assert echo_roundtrip(reg["podIP"], port, b"via proxy") == b"via proxy"
        assert proxy.targets == [f"127.0.0.1:{gateway.tunnel_port}"], proxy.targets
    finally:
        stack.stop()
        proxy.close()


def test_describe_shows_ports_and_tunnel(stack, gateway):
    port = free_port()
    pod = make_pod("tun", [ported("echo", echo_server_script(port), [port])])
    start_tunnelled(stack, gateway, pod, [port])
    gateway.wait_connected(pod)

    def described():
        p = subprocess.run([binary("interlinkctl"), "--url", stack.api_addr, "describe", "pod",
                            "tun"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        return "Tunnel:         connected" in p.stdout and p.stdout
    out = wait_for("describe to show the tunnel", described, timeout=20)
    assert f"Ports:          {port}/TCP" in out, out
    assert f"gateway {gateway.url}, 1 connections" in out, out


def test_clients_leaving_mid_transfer_leave_the_tunnel_up(stack, gateway):
    """Cluster-side clients that half-close and then reset while the pod is
    still sending to them: the gateway's next write meets EPIPE (it once
    died of SIGPIPE there), and the tunnel carries on."""
    port, echo = free_port(), free_port()
    source = ("exec /usr/bin/python3 -c '"
              "import socket,threading\n"
              "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
              f"s.bind((\"127.0.0.1\", {port})); s.listen(16)\n"
              "def feed(c):\n"
              "    try:\n"
              "        while True: c.sendall(b\"x\" * 65536)\n"
              "    except OSError: c.close()\n"
              "while True:\n"
              "    c,_=s.accept(); threading.Thread(target=feed, args=(c,), daemon=True).start()\n"
              "'")
    pod = make_pod("tun", [ported("source", source, [port]),
                           ported("echo", echo_server_script(echo), [echo])])
    reg = start_tunnelled(stack, gateway, pod, [port, echo])
    gateway.wait_connected(pod)
    ip = reg["podIP"]
    wait_port(ip, echo)

    def source_feeds():   # the source container listens too (the echo one may be first)
        try:
            with socket.create_connection((ip, port), 2) as c:
                c.settimeout(2)
                return len(c.recv(1)) == 1
        except OSError:
            return False
    wait_for("the source port to send", source_feeds, timeout=30, interval=0.2)
    for _ in range(5):
        s = socket.create_connection((ip, port), 5)
        got = 0
        while got < 1024 * 1024:
            got += len(s.recv(65536))
        s.shutdown(socket.SHUT_WR)   # FIN: the gateway's socket is in CLOSE_WAIT
        time.sleep(0.2)
        s.close()                    # unread data: RST, and the pod keeps sending
        time.sleep(0.3)
    assert gateway.daemon.alive(), gateway.daemon.output()[-2000:]
    assert echo_roundtrip(ip, echo, b"still here") == b"still here"
    assert gateway.pod_state(pod)["connects"] == 1


def test_client_dies_with_a_killed_supervisor(stack, gateway):
    """SIGKILL of the pod's supervisor takes its tunnel client along
    (PR_SET_PDEATHSIG): no tunnel outlives the process that owns the pod,
    and nothing holds the supervisor's lock for it."""
    port = free_port()
    pod = make_pod("tun", [ported("echo", echo_server_script(port), [port])])
    start_tunnelled(stack, gateway, pod, [port])
    gateway.wait_connected(pod)
    d = pod_dir(stack, pod)
    with open(os.path.join(d, "supervisor.json")) as f:
        sup = json.load(f)["pid"]
    clients = [p for p in _run_pod_processes(d) if p != sup]
    assert clients, "no tunnel client next to the supervisor"
    os.kill(sup, signal.SIGKILL)
    wait_for("the tunnel client to end", lambda: not any(
        p in _run_pod_processes(d) for p in clients), timeout=10)
    wait_for("the gateway to see the tunnel go",
             lambda: gateway.pod_state(pod)["tunnel"] == "disconnected", timeout=10)


def _run_pod_processes(d):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if b"--run-pod" in cmd and os.path.abspath(d).encode() in cmd and not zombie:
            out.append(int(pid))
    return out
