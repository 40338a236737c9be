"""The client end of interlink's /exec and /portforward (docs/interactive.md):
an HTTP/1.1 upgrade to `interlink-session`, then session frames (exec) or
the raw byte stream (port-forward), as interlink-vk speaks them."""
import contextlib
import fcntl
import http.client
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import termios
import time
import urllib.request
import uuid

import harness

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
                 height=0, timeout=60, attach=False):
        body = {"pod": pod_ref(pod), "container": container, "command": command,
                "stdin": stdin, "tty": tty, "width": width, "height": height}
        if attach:   # kubectl attach -i: the container's own stdin (command: [])
            body["attach"] = True
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


# ---- shared by the exec tests of every backend ---------------------------------

def http_server(port, greeting):
    """A python3 program serving GET on 127.0.0.1:port with greeting + path."""
    return ("import http.server as h\n"
            "class H(h.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            f"        b = {greeting!r}.encode() + b' ' + self.path.encode()\n"
            "        self.send_response(200); self.send_header('Content-Length', str(len(b)))\n"
            "        self.end_headers(); self.wfile.write(b)\n"
            f"h.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n")


def processes_running(marker, environ=None):
    """Pids of the processes whose command line contains marker (bytes) and,
    if environ (bytes, "NAME=value") is given, whose environment holds it:
    the clients of one test's own SLURM, when other tests run theirs beside
    it with the same job ids."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker not in f.read():
                    continue
            if environ is not None:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if environ not in f.read().split(b"\0"):
                        continue
            found.append(pid)
        except OSError:
            pass
    return found


def unique_sleep():
    """A command for a session that prints "started" and then sleeps with an
    argument no other process on the machine has (tests run side by side),
    and the marker processes_running finds that sleep by: the sleep itself,
    never the client (kubectl, srun) whose command line carries the script.
    The sleep runs a moment after "started" is printed (the shell execs it
    after the echo): wait for it with sleep_running."""
    arg = f"4{uuid.uuid4().int % 10**6}.5"
    return ["sh", "-c", 'echo started; exec sleep "$0"', arg], b"sleep\0" + arg.encode()


def sleep_running(marker):
    """Until unique_sleep's sleep runs; its pids."""
    return harness.wait_for("the command running", lambda: processes_running(marker),
                            timeout=30)


def sruns_of(cluster, job):
    """Pids of the srun clients of job on cluster (a slurmutil.Cluster)."""
    conf = "SLURM_CONF=" + cluster.env["SLURM_CONF"]
    return processes_running(f"--jobid={job}".encode(), conf.encode())


def kubectl_tty(argv, rows, cols, on_output, timeout=60):
    """Run kubectl argv on a pty of rows x cols; on_output(out, master,
    proc) is called as output arrives (it may type into master or resize
    it).  Returns (exit code, everything printed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    out = b""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                on_output(out, master, proc)
            if proc.poll() is not None and not r:
                break
        return proc.wait(timeout=30), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(slave)
        os.close(master)


def set_size(tty_fd, rows, cols):
    fcntl.ioctl(tty_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


@contextlib.contextmanager
def kubectl_port_forward(argv):
    """kubectl port-forward argv, yielded once it listens; its stderr is in
    .err after the block."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while b"Forwarding" not in (proc.stdout.readline() if proc.poll() is None else b"x"):
            assert time.time() < deadline and proc.poll() is None, "port-forward not listening"
        yield proc
    finally:
        proc.terminate()
        _, proc.err = proc.communicate(timeout=10)


KUBECTL = "/usr/bin/kubectl"

# Containers for kubectl attach -i (docs/interactive.md, "attach"): one that
# answers every line of its stdin, one with stdinOnce, one with a terminal.
ATTACH_CONTAINERS = [
    {"name": "echo", "image": "busybox", "stdin": True,
     "command": ["sh", "-c", 'while read l; do echo "got $l"; done; echo "echo eof"; '
                 "exec sleep 3600"]},
    {"name": "once", "image": "busybox", "stdin": True, "stdinOnce": True,
     "command": ["sh", "-c", 'while read l; do echo "once $l"; done; echo "once eof"; '
                 "exec sleep 3600"]},
    {"name": "term", "image": "busybox", "stdin": True, "tty": True,
     "command": ["sh", "-c", 'while read l; do echo "got $l $(stty size)"; done']},
]


def read_until(stream, want, timeout=30):
    """What stream (a pipe) gives until want appears in it."""
    out = b""
    deadline = time.time() + timeout
    while want not in out and time.time() < deadline:
        r, _, _ = select.select([stream], [], [], 0.5)
        chunk = os.read(stream.fileno(), 4096) if r else b""
        if r and not chunk:
            break
        out += chunk
    return out


class KubectlNode:
    """interlink-vk as node `node` on the real API server (realkube's
    fixture, reset first) in front of stack (started here), and kubectl."""

    def __init__(self, tmp, kube, stack, node):
        kube.reset()
        self.kube = kube
        self.kubeconfig = kube.kubeconfig
        self.stack = stack.start()
        self.kubelet_port = harness.free_port()
        cfg = harness.write_yaml(os.path.join(tmp, "vk.yaml"), {
            "InterlinkURL": stack.api_addr, "PingIntervalSeconds": 1,
            "StatusIntervalSeconds": 1, "DisableCSR": True, "VerboseLogging": True})
        self.vk = harness.Daemon(
            [harness.binary("interlink-vk"), "--config", cfg, "--nodename", node],
            os.path.join(tmp, "vk.log"),
            env={"KUBECONFIG": self.kubeconfig, "KUBELET_PORT": str(self.kubelet_port),
                 "POD_IP": "127.0.0.1"}).start()

    def kubectl(self, *args, input=None, timeout=60, check=True):
        p = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, *args], input=input,
                           capture_output=True, timeout=timeout)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    def pod(self, name):
        p = self.kubectl("get", "pod", name, "-o", "json", check=False)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def port_forward_round_trips(self, pod, port, greeting):
        """kubectl port-forward: two HTTP connections over one session, each
        answered by http_server(port, greeting) in the pod."""
        local = harness.free_port()
        with kubectl_port_forward([KUBECTL, "--kubeconfig", self.kubeconfig, "port-forward",
                                   f"pod/{pod}", f"{local}:{port}"]):
            for path in ("/a", "/b"):
                body = urllib.request.urlopen(f"http://127.0.0.1:{local}{path}",
                                              timeout=30).read()
                assert body == greeting.encode() + b" " + path.encode()

    def attach_streams_live(self, pod, container):
        """kubectl attach to a container printing "tick N" every so often:
        four consecutive ticks, live and in order."""
        proc = subprocess.Popen([KUBECTL, "--kubeconfig", self.kubeconfig, "attach", pod, "-c",
                                 container], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            first = proc.stdout.readline()
            assert first.startswith(b"tick "), (first,
                                                proc.stderr.read1() if proc.poll() else b"")
            later = [proc.stdout.readline() for _ in range(3)]
            numbers = [int(line.split()[1]) for line in [first] + later]
            assert numbers == list(range(numbers[0], numbers[0] + 4)), numbers
        finally:
            proc.kill()
            proc.wait()

    def exec_killed(self, pod):
        """kubectl exec of a sleep (unique_sleep), kubectl killed with SIGKILL
        once it runs: the command goes too."""
        command, marker = unique_sleep()
        proc = subprocess.Popen([KUBECTL, "--kubeconfig", self.kubeconfig, "exec", pod, "--",
                                 *command], stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"started\n"
        sleep_running(marker)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        harness.wait_for("the command killed", lambda: not processes_running(marker),
                         timeout=30)

    def port_forward_refused(self, pod):
        """kubectl port-forward to a closed port: the connection fails and
        kubectl prints why."""
        local, closed = harness.free_port(), harness.free_port()
        with kubectl_port_forward([KUBECTL, "--kubeconfig", self.kubeconfig, "port-forward",
                                   f"pod/{pod}", f"{local}:{closed}"]) as proc:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=30).read()
                raise AssertionError(f"port {closed} answered")
            except (OSError, http.client.HTTPException):
                pass
        assert f"error forwarding port {closed}".encode() in proc.err, proc.err
        assert b"refused" in proc.err, proc.err

    def attach(self, pod, container, *flags, env=None):
        """kubectl attach -i to container, its stdin and stdout pipes."""
        return subprocess.Popen([KUBECTL, "--kubeconfig", self.kubeconfig, "attach", "-i",
                                 *flags, pod, "-c", container], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def attach_twice(self, pod, words=(b"first", b"second"), env=None):
        """Input reaches the container's stdin; detaching (kubectl killed)
        leaves the container running with its stdin open for the next."""
        for word in words:
            proc = self.attach(pod, "echo", env=env)
            try:
                proc.stdin.write(word + b"\n")
                proc.stdin.flush()
                out = read_until(proc.stdout, b"got " + word)
                assert b"got " + word in out, (out, proc.stderr.read1(4096))
            finally:
                proc.kill()
                proc.wait()
        st = {c["name"]: c["state"] for c in self.pod(pod)["status"]["containerStatuses"]}
        assert "running" in st["echo"], st
        logs = self.kubectl("logs", pod, "-c", "echo").stdout
        assert b"echo eof" not in logs, logs

    def attach_once(self, pod):
        """stdinOnce: the first attacher's end is the end of the container's
        input; a second attach -i is refused."""
        proc = self.attach(pod, "once")
        try:
            proc.stdin.write(b"x\n")
            proc.stdin.flush()
            out = read_until(proc.stdout, b"once x")
            assert b"once x" in out, (out, proc.stderr.read1(4096))
        finally:
            proc.kill()
            proc.wait()
        harness.wait_for("once's stdin closed", lambda: b"once eof" in self.kubectl(
            "logs", pod, "-c", "once").stdout, timeout=30)
        p = self.kubectl("attach", "-i", pod, "-c", "once", input=b"y\n", check=False,
                         timeout=30)
        assert p.returncode != 0 and b"stdin" in p.stderr, p.stderr

    def attach_refused_without_stdin(self, pod, container):
        p = self.kubectl("attach", "-i", pod, "-c", container, input=b"x\n", check=False,
                         timeout=30)
        assert p.returncode != 0, p
        assert b"stdin: true" in p.stderr, p.stderr

    def attach_tty(self, pod):
        """attach -it: the container's terminal gets the size of kubectl's
        and the typed line."""
        def drive(out, master, proc):
            if not drive.sent:
                time.sleep(1)
                os.write(master, b"ping\r")
                drive.sent = True
            if b"got ping 33 77" in out:
                proc.kill()
        drive.sent = False
        _, out = kubectl_tty([KUBECTL, "--kubeconfig", self.kubeconfig, "attach", "-it", pod,
                              "-c", "term"], 33, 77, drive, timeout=30)
        assert b"got ping 33 77" in out, out

    def stop(self, before_vk=None):
        """Pods deleted, before_vk() (may be None), the VK and the stack
        stopped."""
        try:
            self.kubectl("delete", "pod", "--all", "--wait=false", check=False)
            if before_vk:
                before_vk()
            self.vk.stop_cleanly()
        finally:
            self.stack.stop()
