"""interlink-gateway for tests: a self-signed certificate, a pod network of
its own in 127.0.0.0/8 (every address there is local, so the gateway can
listen on any of them without privileges), the control API on a free port,
and the calls the virtual kubelet makes (register, delete, state)."""
import json
import os
import random
import socket
import subprocess
import time
import uuid

from harness import Daemon, binary, free_port, request_json, wait_for, write_yaml


def self_signed(directory, name="gateway"):
    """A certificate for 127.0.0.1/localhost that is its own CA: (cert, key) paths."""
    crt, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "2",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    return crt, key


def random_pod_network():
    """A /24 in 127.0.0.0/8 unlikely to be another test's (tests run side by side)."""
    return f"127.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24"


class Gateway:
    def __init__(self, directory, pod_network=None, extra=None):
        self.dir = os.path.join(str(directory), "gateway")
        os.makedirs(self.dir, exist_ok=True)
        self.cert, self.key = self_signed(self.dir)
        with open(self.cert) as f:
            self.ca_pem = f.read()
        self.token = uuid.uuid4().hex
        token_file = os.path.join(self.dir, "control.token")
        with open(token_file, "w") as f:
            f.write(self.token + "\n")
        self.tunnel_port = free_port()
        self.control_port = free_port()
        self.pod_network = pod_network or random_pod_network()
        self.cfg = write_yaml(os.path.join(self.dir, "gateway.yaml"), {
            "TunnelAddress": "127.0.0.1", "TunnelPort": str(self.tunnel_port),
            "TLS": {"CertFile": self.cert, "KeyFile": self.key},
            "ControlAddress": "http://127.0.0.1", "ControlPort": str(self.control_port),
            "ControlTokenFile": token_file, "StateDir": os.path.join(self.dir, "state"),
            "PodNetwork": self.pod_network, "VerboseLogging": True, **(extra or {})})
        self.url = f"https://127.0.0.1:{self.tunnel_port}"
        self.control = f"http://127.0.0.1:{self.control_port}"
        self.daemon = None

    def start(self):
        self.daemon = Daemon([binary("interlink-gateway"), "--config", self.cfg],
                             os.path.join(self.dir, "gateway.log")).start()

        def up():
            assert self.daemon.alive(), self.daemon.output()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", self.tunnel_port), 1).close()
                return self.call("GET", "/v1/pods")[0] == 200
            except OSError:
                return False
        wait_for("the gateway to listen", up, timeout=20)
        return self

    def call(self, method, path, body=None, token=None):
        headers = {"Authorization": "Bearer " + (token if token is not None else self.token)}
        return request_json(self.control, method, path, body, headers=headers)

    def register(self, pod, ports):
        meta = pod["metadata"]
        code, body = self.call("PUT", f"/v1/pods/{meta['uid']}",
                               {"namespace": meta["namespace"], "name": meta["name"],
                                "ports": ports})
        assert code == 200, body
        return body

    def unregister(self, pod):
        return self.call("DELETE", f"/v1/pods/{pod['metadata']['uid']}")

    def pod_state(self, pod):
        code, body = self.call("GET", f"/v1/pods/{pod['metadata']['uid']}")
        return body if code == 200 else None

    def wait_connected(self, pod, connects=1, timeout=30):
        def ok():
            s = self.pod_state(pod)
            return s if s and s["tunnel"] == "connected" and s["connects"] >= connects else None
        return wait_for(f"the tunnel of {pod['metadata']['name']}", ok, timeout=timeout)

    def tunnel_request(self, registration, **override):
        """The "tunnel" object the VK adds to a create request."""
        t = {"url": self.url, "token": registration["token"], "ca": self.ca_pem}
        t.update(override)
        return t

    def stop(self):
        if self.daemon:
            self.daemon.stop_cleanly()


def echo_server_script(port):
    """A pod command: a TCP echo server on 127.0.0.1:port (python3 of the host)."""
    return ("exec /usr/bin/python3 -c '"
            "import socket,threading\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind((\"127.0.0.1\", {port})); s.listen(64)\n"
            "def serve(c):\n"
            "    while True:\n"
            "        d=c.recv(65536)\n"
            "        if not d: break\n"
            "        c.sendall(d)\n"
            "    c.close()\n"
            "while True:\n"
            "    c,_=s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()\n"
            "'")


def http_server_script(port, directory):
    return f"cd {directory} && exec /usr/bin/python3 -m http.server --bind 127.0.0.1 {port}"


def echo_roundtrip(host, port, payload, timeout=10):
    with socket.create_connection((host, port), timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                return got
            got += d


def connects(host, port):
    """Whether host:port accepts a connection now."""
    try:
        socket.create_connection((host, port), 1).close()
        return True
    except OSError:
        return False


def wait_port(host, port, timeout=30):
    """Until a connection to host:port is accepted and echoes a byte."""
    def ok():
        try:
            return echo_roundtrip(host, port, b"x", timeout=2) == b"x"
        except OSError:
            return False
    return wait_for(f"{host}:{port} to answer", ok, timeout=timeout, interval=0.2)


def tunnel_state(pod_dir):
    try:
        with open(os.path.join(pod_dir, "tunnel.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def retry_ms(fn, timeout=10):
    t0 = time.time()
    wait_for("condition", fn, timeout=timeout, interval=0.05)
    return (time.time() - t0) * 1000
