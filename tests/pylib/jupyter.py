"""A minimal Jupyter client for the tests: the REST API (/api, /api/kernels)
over plain HTTP and one code execution over a kernel's WebSocket channel
(python3-websocket), as JupyterLab does it: an execute_request on the shell
channel, the output on iopub, the execute_reply on shell.

Sockets are made in the calling thread's network namespace (netns.py's
Namespace.entered() puts the client on the side a test wants) and go
straight to the address given, never through a proxy of the environment."""
import json
import socket
import time
import urllib.request
import uuid

import websocket   # python3-websocket


class Server:
    """A notebook server at http://host:port with a token."""

    def __init__(self, host, port, token, timeout=20):
        self.base = f"http://{host}:{port}"
        self.ws_base = f"ws://{host}:{port}"
        self.host = host
        # Straight to the address, never through a proxy of the environment.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.token = token
        self.timeout = timeout

    def call(self, method, path, body=None):
        """(status, JSON answer) of one REST call."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        try:
            with self.opener.open(req, timeout=self.timeout) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def version(self):
        code, body = self.call("GET", "/api")
        assert code == 200, body
        return body["version"]

    def start_kernel(self, name="python3"):
        code, body = self.call("POST", "/api/kernels", {"name": name})
        assert code == 201, body
        return body["id"]

    def kernels(self):
        code, body = self.call("GET", "/api/kernels")
        assert code == 200, body
        return [k["id"] for k in body]

    def shutdown_kernel(self, kernel_id):
        code, body = self.call("DELETE", f"/api/kernels/{kernel_id}")
        assert code == 204, body

    def channel(self, kernel_id):
        """The kernel's WebSocket channel, open (the caller closes it)."""
        return websocket.create_connection(
            f"{self.ws_base}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}",
            header=[f"Authorization: token {self.token}"], timeout=self.timeout,
            http_no_proxy=[self.host])

    def execute(self, kernel_id, code):
        """Runs `code` in the kernel over a channel of its own; returns
        (status of the execute_reply, what it printed on stdout)."""
        ws = self.channel(kernel_id)
        try:
            return run(ws, code, self.timeout)
        finally:
            ws.close()


def run(ws, code, timeout):
    """One execute_request on an open channel: (status, stdout)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3",
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    out, status, idle = [], None, False
    deadline = time.time() + timeout
    while (status is None or not idle) and time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif kind == "execute_reply":
            status = msg["content"]["status"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    assert status is not None, f"no execute_reply within {timeout}s"
    return status, "".join(out)


def closed_within(ws, timeout):
    """True when the peer closes the open channel ws within timeout
    (whatever else arrives meanwhile is read and dropped)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ws.settimeout(max(0.1, deadline - time.time()))
        try:
            if not ws.recv():
                return True
        except websocket.WebSocketTimeoutException:
            return False
        except (websocket.WebSocketConnectionClosedException, OSError):
            return True
    return False


def wait_listening(host, port, timeout=30):
    """True once something accepts TCP connections on host:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False
