"""Test harness: start the real daemons on unix sockets in a temp dir and talk
to them over HTTP exactly as the virtual kubelet does (GET with JSON bodies,
upstream's keys).  Used by every integration test; no mocks of our own parts.
"""
import base64
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import time
import uuid

BIN_DIR = os.environ.get("IL_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
SRC_DIR = os.environ.get("IL_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
# Daemons under valgrind (valgrind_prefix) start, answer and stop this much slower.
SLOWDOWN = 4 if os.environ.get("IL_VALGRIND_LOGS") else 1


def binary(name):
    path = os.path.abspath(os.path.join(BIN_DIR, name))
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not built (IL_BIN_DIR={BIN_DIR})")
    return path


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def connect(address, timeout=30):
    """address: 'unix:///path' or 'http://host:port'."""
    if address.startswith("unix://"):
        return UnixHTTPConnection(address[len("unix://"):], timeout=timeout)
    hostport = address[len("http://"):]
    host, port = hostport.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def request(address, method, path, body=None, headers=None, timeout=60, raw=False):
    """Returns (status, body bytes).  body may be bytes, str or a JSON value."""
    conn = connect(address, timeout=timeout)
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    try:
        try:
            conn.request(method, path, body=body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered (a 401 before reading a body it will not
            # spend memory on) and closed while the body was still going out:
            # its answer is in our receive buffer.
            pass
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data
    finally:
        conn.close()


def recv_to_eof(sock):
    """Everything sock delivers until the peer closes (bytes)."""
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def request_json(address, method, path, body=None, **kw):
    status, data = request(address, method, path, body, **kw)
    try:
        value = json.loads(data) if data else None
    except ValueError:
        value = data.decode(errors="replace")
    return status, value


def wait_for_socket(address, proc=None, timeout=20):
    deadline = time.time() + timeout * SLOWDOWN
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode} before listening")
        try:
            conn = connect(address, timeout=2)
            conn.connect()
            conn.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {address} after {timeout}s")


def write_yaml(path, mapping):
    """Configs are flat or one level deep: write them without a YAML library."""
    with open(path, "w") as f:
        for key, value in mapping.items():
            f.write(f"{key}: {json.dumps(value)}\n")
    return path


def valgrind_prefix(binary):
    """With IL_VALGRIND_LOGS=DIR set (tests/valgrind/valgrind-stack.py), our daemons
    run under valgrind, one log per process in DIR; otherwise nothing."""
    logs = os.environ.get("IL_VALGRIND_LOGS")
    if not logs or not os.path.abspath(binary).startswith(os.path.abspath(BIN_DIR)):
        return []
    return ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--num-callers=30",
            f"--log-file={logs}/{os.path.basename(binary)}.%p.valgrind"]


def sanitizer_report(log):
    """An ASan/UBSan/LSan report in a daemon's log (its first 40 lines, so
    that a failure in CI shows the stack, not just that there was one), or
    None."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if ("ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line
                or "runtime error:" in line):
            return "\n".join(x.rstrip() for x in lines[i:i + 40])[:4000]
    return None


class Daemon:
    def __init__(self, argv, log_path, env=None):
        self.name = os.path.basename(argv[0])
        self.argv = valgrind_prefix(argv[0]) + list(argv)
        self.log_path = log_path
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        timeout *= SLOWDOWN
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.argv[0]} did not stop within {timeout}s on {sig}")
        finally:
            self.log.close()

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
            self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop_and_check(self, must_be_running=False):
        """Stop with SIGTERM if it runs; what was wrong with how it ended: a
        status other than 0 on that SIGTERM (must_be_running: also when it
        had ended before), a sanitizer report in its log.  A daemon killed on
        purpose earlier is only checked for the report."""
        was_alive = self.alive()
        code = self.stop()
        problems = []
        if (was_alive or must_be_running) and code != 0:   # negative: killed by that signal
            problems.append(f"{self.name} ended with {code} on SIGTERM (log {self.log_path})")
        report = sanitizer_report(self.output())
        if report:
            problems.append(f"{self.name}: {report} (log {self.log_path})")
        return problems

    def stop_cleanly(self):
        """stop_and_check, failing on any problem."""
        problems = self.stop_and_check()
        assert not problems, "; ".join(problems)


def cmdline(pid):
    """The command line of process pid (bytes, NUL-separated; b"" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def processes_naming(directory):
    """The pids (strings) of the processes whose command line names directory."""
    marker = os.path.abspath(directory).encode()
    return [pid for pid in os.listdir("/proc")
            if pid.isdigit() and int(pid) != os.getpid() and marker in cmdline(pid)]


def kill_processes_under(directory):
    """Pods deliberately outlive their plugin (their supervisors are detached);
    a finished test kills every process whose command line names its dir."""
    for pid in processes_naming(directory):
        try:
            os.killpg(int(pid), signal.SIGKILL)
        except OSError:
            pass
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


class Stack:
    """interlink + a plugin (interlink-local unless plugin names another) on
    unix sockets under tmpdir."""

    def __init__(self, tmpdir, runtime="host", api_extra=None, plugin_extra=None,
                 plugin="interlink-local"):
        self.dir = str(tmpdir)
        self.plugin_name = plugin
        os.makedirs(self.dir, exist_ok=True)
        self.plugin_sock = os.path.join(self.dir, "plugin.sock")
        self.api_sock = os.path.join(self.dir, "interlink.sock")
        self.plugin_addr = "unix://" + self.plugin_sock
        self.api_addr = "unix://" + self.api_sock
        self.plugin_cfg = write_yaml(os.path.join(self.dir, "local.yaml"), {
            "Socket": self.plugin_addr,
            "DataRootFolder": os.path.join(self.dir, "local-data"),
            "ContainerRuntime": runtime,
            "VerboseLogging": True,
            **(plugin_extra or {}),
        })
        self.api_cfg = write_yaml(os.path.join(self.dir, "interlink.yaml"), {
            "InterlinkAddress": self.api_addr,
            "SidecarURL": self.plugin_addr,
            "DataRootFolder": os.path.join(self.dir, "api-data"),
            "VerboseLogging": True,
            **(api_extra or {}),
        })
        self.plugin = None
        self.api = None

    def start_plugin(self):
        self.plugin = Daemon([binary(self.plugin_name), "--config", self.plugin_cfg],
                             os.path.join(self.dir, "plugin.log")).start()
        wait_for_socket(self.plugin_addr, self.plugin.proc)
        return self.plugin

    def start_api(self):
        self.api = Daemon([binary("interlink"), "--config", self.api_cfg],
                          os.path.join(self.dir, "interlink.log")).start()
        wait_for_socket(self.api_addr, self.api.proc)
        return self.api

    def start(self):
        self.start_plugin()
        self.start_api()
        return self

    def stop_and_check(self, must_be_running=False):
        """Stops both daemons; their problems (Daemon.stop_and_check)."""
        problems = []
        try:
            for d in (self.api, self.plugin):
                if d is not None:
                    problems += d.stop_and_check(must_be_running)
        finally:
            kill_processes_under(self.dir)
        return problems

    def stop(self):
        """Stops both daemons; fails when one did not exit 0 on SIGTERM or
        logged a sanitizer report (the ASan+UBSan build of make test)."""
        problems = self.stop_and_check()
        assert not problems, "; ".join(problems)

    # -- the calls the virtual kubelet makes --------------------------------
    def create(self, req, session=None):
        hdrs = {"InterLink-Http-Session": session} if session else None
        return request_json(self.api_addr, "POST", "/create", req, headers=hdrs)

    def status(self, pods):
        return request_json(self.api_addr, "GET", "/status", pods)

    def delete(self, pod):
        return request_json(self.api_addr, "DELETE", "/delete", pod)

    def logs(self, log_struct, timeout=60):
        return request(self.api_addr, "GET", "/getLogs", log_struct, timeout=timeout)

    def ping(self):
        return request(self.api_addr, "POST", "/pinglink")

    def wait_phase(self, pod, phases=("Succeeded", "Failed"), timeout=60):
        """Poll /status until the pod's containers are all terminated."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            code, body = self.status([pod])
            if code == 200 and body:
                last = body[0]
                phase = derive_phase(last)
                if phase in phases:
                    return phase, last
            time.sleep(0.2)
        raise AssertionError(f"pod {pod['metadata']['name']} not in {phases} after {timeout}s: {last}")


def derive_phase(pod_status):
    """Kubernetes' phase from a PodStatus (restartPolicy Never/OnFailure view)."""
    inits = pod_status.get("initContainers") or []
    conts = pod_status.get("containers") or []
    for c in inits:
        t = (c.get("state") or {}).get("terminated")
        if t and t.get("exitCode", 0) != 0:
            return "Failed"
    states = [(c.get("state") or {}) for c in conts]
    if conts and all("terminated" in s for s in states):
        return "Succeeded" if all(s["terminated"].get("exitCode", 0) == 0 for s in states) else "Failed"
    if any("running" in s for s in states):
        return "Running"
    return "Pending"


def make_pod(name, containers, init_containers=None, volumes=None, namespace="default",
             annotations=None, grace=None, restart_policy="Never"):
    spec = {"containers": containers, "restartPolicy": restart_policy}
    if init_containers:
        spec["initContainers"] = init_containers
    if volumes:
        spec["volumes"] = volumes
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                     "annotations": annotations or {}},
        "spec": spec,
        "status": {"phase": "Pending"},
    }


def container(name, command, args=None, env=None, mounts=None, image="busybox", workdir=None):
    c = {"name": name, "image": image, "command": command}
    if args is not None:
        c["args"] = args
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if mounts:
        c["volumeMounts"] = mounts
    if workdir:
        c["workingDir"] = workdir
    return c


# Ports handed to daemons come from below the kernel's ephemeral range
# (32768-60999 by default): a port the kernel picked for bind(0) is a port it
# may hand to the next outgoing connection before our daemon binds it (a VK's
# kubelet port was once taken by a client socket in between). The fixed bases
# of the shared services (SLURM 16817+, Kubernetes 16843+, HTCondor 19618)
# stay below this range.
FREE_PORT_RANGE = (20000, 32000)


def free_port():
    """A TCP port nothing listens on now, on any address (tests run side by
    side on one machine, so the pick is random within FREE_PORT_RANGE)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(*FREE_PORT_RANGE)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port in {FREE_PORT_RANGE} after 200 tries")


def wait_for(what, fn, timeout=30, interval=0.1):
    """Poll fn() until it returns a truthy value; fail with `what` and the last value."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def sh(name, script, **kw):
    """A container running `script` with /bin/sh -c."""
    return container(name, ["/bin/sh", "-c", script], **kw)


def ctr(status, name):
    """The status of container or init container `name` in a PodStatus."""
    for c in (status.get("initContainers") or []) + (status.get("containers") or []):
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name} in {status}")


def logs(stack, pod, name):
    """Container `name`'s whole log through interlink's /getLogs."""
    code, data = stack.logs(log_struct(pod, name))
    assert code == 200, data
    return data


def configmap(name, data, namespace="default"):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())},
            "data": data}


def secret(name, data, namespace="default"):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())},
            "data": {k: base64.b64encode(v.encode() if isinstance(v, str) else v).decode()
                     for k, v in data.items()}}


def create_request(pod, configmaps=None, secrets=None, projected=None):
    """A PodCreateRequests body, as the virtual kubelet sends it."""
    return {"pod": pod, "configmaps": configmaps, "secrets": secrets,
            "projectedvolumesmaps": projected, "jobscriptURL": ""}


def log_struct(pod, container_name, **opts):
    o = {"Tail": 0, "Bytes": 0, "Timestamps": False, "Follow": False, "Previous": False,
         "SinceSeconds": 0, "SinceTime": "0001-01-01T00:00:00Z"}
    o.update(opts)
    return {"Namespace": pod["metadata"]["namespace"], "PodUID": pod["metadata"]["uid"],
            "PodName": pod["metadata"]["name"], "ContainerName": container_name, "Opts": o}
