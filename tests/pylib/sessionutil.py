"""The client end of interlink's /exec and /portforward (docs/interactive.md):
an HTTP/1.1 upgrade to `interlink-session`, then session frames (exec) or
the raw byte stream (port-forward), as interlink-vk speaks them."""
import json
import socket
import struct
import time

STDIN, STDOUT, STDERR, EXIT, RESIZE = range(5)


def _connect(address, timeout):
    if address.startswith("unix://"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address[len("unix://"):])
        return s
    host, port = address[len("http://"):].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def upgrade(address, path, body, timeout=60, headers=None):
    """POST path with the upgrade.  Returns (status, sock, early bytes) for
    a 101, else (status, None, the answer's body)."""
    s = _connect(address, timeout)
    data = json.dumps(body).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    s.sendall((f"POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
               f"Upgrade: interlink-session\r\nContent-Type: application/json\r\n{extra}"
               f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    if status == 101:
        return status, s, rest
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    s.close()
    return status, None, rest


def frame(kind, payload=b""):
    return struct.pack(">BI", kind, len(payload)) + payload


def pod_ref(pod):
    m = pod["metadata"]
    return {"metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"]}}


class Exec:
    """One /exec session: send stdin/resize frames, collect output until
    the exit frame."""

    def __init__(self, address, pod, container, command, stdin=False, tty=False, width=0,
                 height=0, timeout=60):
        body = {"pod": pod_ref(pod), "container": container, "command": command,
                "stdin": stdin, "tty": tty, "width": width, "height": height}
        self.status, self.sock, self.buf = upgrade(address, "/exec", body, timeout)
        self.stdout, self.stderr, self.exit = b"", b"", None

    def send(self, data):
        self.sock.sendall(frame(STDIN, data))

    def close_stdin(self):
        self.sock.sendall(frame(STDIN))

    def resize(self, width, height):
        self.sock.sendall(frame(RESIZE, json.dumps({"Width": width, "Height": height}).encode()))

    def _frames(self):
        while len(self.buf) >= 5:
            kind, n = struct.unpack(">BI", self.buf[:5])
            if len(self.buf) < 5 + n:
                return
            payload, self.buf = self.buf[5:5 + n], self.buf[5 + n:]
            if kind == STDOUT:
                self.stdout += payload
            elif kind == STDERR:
                self.stderr += payload
            elif kind == EXIT:
                self.exit = json.loads(payload)

    def read(self, until=None, timeout=60):
        """Read until the exit frame (or until `until` is in stdout); returns
        the exit frame (None when stopped by `until`)."""
        deadline = time.time() + timeout
        self._frames()
        while self.exit is None and not (until and until in self.stdout):
            self.sock.settimeout(max(0.1, deadline - time.time()))
            if time.time() > deadline:
                raise AssertionError(f"no exit after {timeout}s: {self.stdout!r} "
                                     f"{self.stderr!r}")
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
            self._frames()
        return self.exit

    def close(self):
        if self.sock:
            self.sock.close()


def run(address, pod, container, command, stdin_data=None, **kw):
    """exec command to its end: (exit frame, stdout, stderr)."""
    e = Exec(address, pod, container, command, stdin=stdin_data is not None, **kw)
    assert e.status == 101, (e.status, e.buf)
    try:
        if stdin_data is not None:
            for i in range(0, len(stdin_data), 16384):
                e.send(stdin_data[i:i + 16384])
            e.close_stdin()
        return e.read(), e.stdout, e.stderr
    finally:
        e.close()


def port_forward(address, pod, port, timeout=60):
    """(status, connected socket or None, early bytes or the refusal)."""
    return upgrade(address, "/portforward", {"pod": pod_ref(pod), "port": port}, timeout)
