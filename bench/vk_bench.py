#!/usr/bin/python3
"""vk_bench.py BINDIR WORKDIR -- interlink-vk figures, driven by bench/bench-vk.sh.

Starts, under WORKDIR: a Kubernetes API server -- the real control plane of
../shared/k8s (tests/pylib/realkube.py; BENCH_VK_KUBE=real, the default when it
can run here) or the test double (tests/kube/fake_apiserver.py;
BENCH_VK_KUBE=double) --, interlink + a plugin (BENCH_VK_BACKEND: `local`,
interlink-local with the host runtime, the default; or `toy`, interlink-toy
whose pods start at once and keep running: the VK's own cost) and
interlink-vk, then measures

  1. creation throughput: BENCH_VK_PODS pods (default 200, `sleep 600`) bound
     to the virtual node are POSTed as fast as 8 keep-alive clients can; a
     watch on the node's pods timestamps the event in which each pod is first
     Running.  pods/s = N / (first create sent -> last pod Running), plus
     p50/p99 of each pod's own create -> Running latency;
  2. the status cycle at BENCH_VK_STATUS_PODS pods (default 1000; the pods of
     step 1 plus more, created as a backlog while the VK is stopped: from its
     restart to all Running is the VK's own pace, pods/s and API requests
     per pod): once every pod is Running and
     nothing changes, over BENCH_VK_CYCLES cycles (default 5), the interlink
     /status calls and plugin calls per cycle (interlink's /metrics deltas),
     the API requests per cycle (the real server's apiserver_request_total,
     or the double's request log: pods/status PATCHes should be 0), the
     duration of interlink's /status answer (its log), the whole cycle's
     duration (gap between successive /status calls minus
     StatusIntervalSeconds) and the VK's CPU time per cycle;
  3. deletion of every pod through the API (the VK deletes on the backend
     first, then removes the object): time until all are gone;
  4. the status watch (interlink's GET /watch, the VK's StatusWatch) off and
     on: a VK restarted with StatusIntervalSeconds BENCH_VK_WATCH_INTERVAL
     (default 5, the VK's default) and each setting in turn, BENCH_VK_WATCH_PODS
     pods (default 100) created as in 1: pods/s to Running and p50/p99 of
     create -> Running.  Steps 1-3 run with the watch off (StatusWatch: false),
     so their figures compare with earlier runs and interlink's refresher adds
     no plugin calls to step 2's counts.

Prints a table; no thresholds.  Daemons are stopped and every process whose
command line names WORKDIR is killed at the end, whatever happened.
"""
import calendar
import http.client
import json
import math
import os
import re
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

BIN = os.path.abspath(sys.argv[1])
WORK = os.path.abspath(sys.argv[2])
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
os.environ["IL_BIN_DIR"] = BIN
sys.path.insert(0, os.path.join(SRC, "tests", "pylib"))
import harness as h  # noqa: E402
from realkube import unavailable as realkube_unavailable  # noqa: E402

KUBE_KIND = os.environ.get("BENCH_VK_KUBE", "")
BACKEND = os.environ.get("BENCH_VK_BACKEND", "local")
N_CREATE = int(os.environ.get("BENCH_VK_PODS", "200"))
N_STATUS = max(int(os.environ.get("BENCH_VK_STATUS_PODS", "1000")), N_CREATE)
CYCLES = int(os.environ.get("BENCH_VK_CYCLES", "5"))
INTERVAL = int(os.environ.get("BENCH_VK_STATUS_INTERVAL", "1"))
CLIENTS = int(os.environ.get("BENCH_VK_CLIENTS", "8"))
WATCH_PODS = int(os.environ.get("BENCH_VK_WATCH_PODS", "100"))
WATCH_INTERVAL = int(os.environ.get("BENCH_VK_WATCH_INTERVAL", "5"))
EVENTS_PER_SECOND = os.environ.get("BENCH_VK_EVENTS_PER_SECOND", "")   # the VK's default if unset
WORKERS = os.environ.get("BENCH_VK_WORKERS", "")
NODE = "vk-bench"
NS = "default"


def log(msg):
    print(f"== {msg}", flush=True)


# ---- the API server: the double or the real one ----------------------------------

class Kube:
    """What both kinds share: one keep-alive connection per thread."""
    real = False

    def conn(self, fresh=False):
        c = getattr(self.local, "conn", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60)
            self.local.conn = c
        return c

    def call(self, method, path, body=None, ctype="application/json"):
        """One request on this thread's keep-alive connection: (code, JSON)."""
        hdrs = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            hdrs["Content-Type"] = ctype
        for attempt in (0, 1):
            c = self.conn(fresh=attempt > 0)
            try:
                c.request(method, path, body=data, headers=hdrs)
                resp = c.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                if attempt:
                    raise
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")


class RealKube(Kube):
    """The control plane of ../shared/k8s, started for this run (its state
    dir and port from IL_K8S_STATE_PREFIX / IL_K8S_PORT_BASE)."""
    real = True

    def __init__(self):
        import realkube
        self.rk = realkube.RealKube(approve_csrs=False)
        self.port, self.token, self.kubeconfig = self.rk.port, self.rk.token, self.rk.kubeconfig
        self.ctx = ssl.create_default_context(cafile=self.rk.pki.ca_crt)
        self.local = threading.local()

    def counts(self):
        """Requests served so far by kind ("PATCH pods/status"): the API
        server's own apiserver_request_total (every client's, the
        controllers' included)."""
        code, text = self.call("GET", "/metrics")
        out = {}
        for line in (text if isinstance(text, str) else "").splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            lab = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if not lab.get("resource"):
                continue
            key = f"{lab.get('verb')} {lab['resource']}" + \
                (f"/{lab['subresource']}" if lab.get("subresource") else "")
            out[key] = out.get(key, 0) + float(line.rsplit(" ", 1)[1])
        return out

    def stop(self):
        self.rk.stop()


class DoubleKube(Kube):
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.logf = open(os.path.join(directory, "apiserver.log"), "ab")
        # A large event window: 1000 pods make several thousand pod events in
        # a minute; the point is the VK's cost, not relists.
        # The double's handler writes headers and body in two send()s without
        # TCP_NODELAY, so on a keep-alive connection every answer waits for the
        # client's delayed ACK (~40 ms): a test-double artefact (Go's net/http,
        # hence kube-apiserver, sets TCP_NODELAY) that would swamp the VK's own
        # cost.  It is turned on here unless BENCH_VK_DOUBLE_NAGLE=1.
        nodelay = os.environ.get("BENCH_VK_DOUBLE_NAGLE") != "1"
        launcher = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import fake_apiserver as f; "
                    f"f.Handler.disable_nagle_algorithm = {nodelay}; f.main(sys.argv[1:])")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-c", launcher, os.path.join(SRC, "tests", "kube"),
             "--port", "0", "--dir", directory, "--bookmark-interval", "1",
             "--event-window", "50000"],
            stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)
        port_file = os.path.join(directory, "port")
        deadline = time.time() + 30
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the API server double did not start")
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        self.token = open(os.path.join(directory, "token")).read().strip()
        self.kubeconfig = os.path.join(directory, "kubeconfig")
        self.ctx = ssl.create_default_context(cafile=os.path.join(directory, "ca.crt"))
        self.local = threading.local()

    def counts(self):
        """Requests logged so far by kind, as RealKube.counts."""
        code, body = self.call("GET", "/_test/requests")
        out = {}
        for r in body["items"]:
            if r["path"].startswith("/_test"):
                continue
            parts = re.sub(r"^/apis?/(v1/|[^/]+/[^/]+/)", "", r["path"]).split("/")
            if parts[0] == "namespaces" and len(parts) > 2:
                parts = parts[2:]
            key = f"{r['method']} {parts[0]}" + (f"/{parts[2]}" if len(parts) > 2 else "")
            out[key] = out.get(key, 0) + 1
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


class PodWatch:
    """Watch of the node's pods; the monotonic time each pod is first seen
    Running (or, with is_up, first passes that test).  A real API server closes a watch that falls behind (its
    "unresponsive watcher"): the watch is then resumed from a fresh list,
    whose Running pods count as seen at that moment (reconnects says how
    often it happened)."""

    def __init__(self, kube, is_up=None):
        self.kube = kube
        self.is_up = is_up or (lambda obj: (obj.get("status") or {}).get("phase") == "Running")
        self.running = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.closing = False
        self.reconnects = 0
        self.conn = None
        self._open("")
        threading.Thread(target=self._read, daemon=True).start()

    def _open(self, rv):
        self.conn = http.client.HTTPSConnection("127.0.0.1", self.kube.port,
                                                context=self.kube.ctx, timeout=600)
        self.conn.request("GET", f"/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3D{NODE}"
                          f"&allowWatchBookmarks=true&timeoutSeconds=3600&resourceVersion={rv}",
                          headers={"Authorization": "Bearer " + self.kube.token})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.status

    def _seen(self, obj, t):
        if self.is_up(obj):
            name = obj["metadata"]["name"]
            with self.cond:
                if name not in self.running:
                    self.running[name] = t
                    self.cond.notify_all()

    def _relist(self):
        code, body = self.kube.call(
            "GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{NODE}")
        t = time.monotonic()
        for obj in body.get("items", []):
            self._seen(obj, t)
        return body["metadata"]["resourceVersion"]

    def _read(self):
        while not self.closing:
            try:
                line = self.resp.readline()
            except Exception:   # noqa: BLE001 - closed: resumed below
                line = b""
            if not line:
                if self.closing:
                    return
                try:
                    self.conn.close()
                    self.reconnects += 1
                    self._open(self._relist())
                except Exception:   # noqa: BLE001 - try again shortly
                    time.sleep(1)
                continue
            t = time.monotonic()
            if not line.strip():
                continue
            ev = json.loads(line)
            if ev.get("type") in ("ADDED", "MODIFIED"):
                self._seen(ev.get("object") or {}, t)

    def wait_running(self, names, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                missing = [n for n in names if n not in self.running]
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return missing
                self.cond.wait(min(left, 1.0))

    def close(self):
        self.closing = True
        try:
            self.conn.sock.shutdown(2)
        except Exception:
            pass
        self.conn.close()


def pod_manifest(name):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "vk-bench"}},
            "spec": {"nodeName": NODE, "restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "busybox",
                                     "command": ["sleep", "600"]}],
                     "tolerations": [{"key": "virtual-node.interlink/no-schedule",
                                      "operator": "Exists"}]}}


def parallel(kube, items, fn):
    """fn(item) on CLIENTS threads; returns the errors."""
    errors, it, lock = [], iter(items), threading.Lock()

    def run():
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                return
            try:
                err = fn(item)
            except Exception as e:   # noqa: BLE001 - reported below
                err = f"{item}: {e}"
            if err:
                with lock:
                    errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def create_pods(kube, names, sent):
    def one(name):
        sent[name] = time.monotonic()
        code, body = kube.call("POST", f"/api/v1/namespaces/{NS}/pods", pod_manifest(name))
        return None if code == 201 else f"create {name}: {code} {str(body)[:200]}"
    t0 = time.monotonic()
    errors = parallel(kube, names, one)
    if errors:
        raise RuntimeError(f"{len(errors)} creates failed, first: {errors[0]}")
    return time.monotonic() - t0


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(p / 100.0 * len(v)) - 1))]


# ---- interlink figures --------------------------------------------------------

def metrics(stack):
    code, data = h.request(stack.api_addr, "GET", "/metrics")
    assert code == 200, data
    out = {}
    for line in data.decode().splitlines():
        m = re.match(r'^(\w+)\{([^}]*)\} ([\d.eE+-]+)$', line)
        if m:
            out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def delta(before, after, name, **labels):
    total = 0.0
    for (n, lab), v in after.items():
        if n != name or not all(f'{k}="{val}"' in lab for k, val in labels.items()):
            continue
        total += v - before.get((n, lab), 0.0)
    return total


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


STATUS_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z .*GET /status \[[^]]*\] "
                         r"-> (\d+) in ([\d.]+)s")


def status_calls_in_log(path, offset):
    """(completion time in s, duration in s) of each /status interlink answered after offset."""
    out = []
    with open(path, "rb") as f:
        f.seek(offset)
        for line in f.read().decode(errors="replace").splitlines():
            m = STATUS_LINE.match(line)
            if m:
                t = calendar.timegm(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S"))
                out.append((t + int(m.group(1)[20:]) / 1000.0, float(m.group(3))))
    return out


# ---- the VK ------------------------------------------------------------------------

def start_vk(kube, stack, tag, interval, status_watch, env=None):
    """interlink-vk at info level (its few lines say when it is settled);
    env: more environment (VK_METRICS_PORT, say)."""
    cfg = h.write_yaml(os.path.join(WORK, f"{tag}.yaml"), {
        "InterlinkURL": stack.api_addr, "PingIntervalSeconds": 10,
        "StatusIntervalSeconds": interval, "InterlinkTimeoutSeconds": 60,
        "StatusWatch": status_watch, "DisableCSR": True,
        **({"EventsPerSecond": int(EVENTS_PER_SECOND)} if EVENTS_PER_SECOND else {}),
        **({"Workers": int(WORKERS)} if WORKERS else {})})
    vk_bin = os.environ.get("BENCH_VK_BIN") or h.binary("interlink-vk")
    return h.Daemon([vk_bin, "--config", cfg, "--nodename", NODE],
                    os.path.join(WORK, f"{tag}.log"),
                    env={"KUBECONFIG": kube.kubeconfig, "KUBELET_PORT": str(h.free_port()),
                         "POD_IP": "127.0.0.1", **(env or {})}).start()


VK_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z .* submitted: job ")


def backlog_breakdown(vk, port, wall0, n, stack, m_il0):
    """Where a backlog's time went, from the VK's log and metrics and
    interlink's: VK start -> every pod submitted (the create stage: a
    TokenRequest and interlink /create per pod, Workers at a time), the
    status cycles that ran meanwhile and what they cost (the write-back
    stage), and the mean API call and /create latencies the VK saw."""
    subs = []
    for line in vk.output().splitlines():
        m = VK_LOG_TIME.match(line)
        if m:
            subs.append(calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) +
                        int(m.group(2)) / 1000.0 - wall0)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    sums = {}
    for line in text.splitlines():
        m = re.match(r'^(interlink_vk_(?:apiserver_request|status_cycle)_seconds_(?:sum|count))'
                     r'(?:\{verb="(\w+)"\})? ([\d.eE+-]+)$', line)
        if m:
            sums[(m.group(1), m.group(2))] = float(m.group(3))
    per_verb = []
    for verb in ("create", "patch"):
        c = sums.get(("interlink_vk_apiserver_request_seconds_count", verb), 0)
        if c:
            total = sums[("interlink_vk_apiserver_request_seconds_sum", verb)]
            per_verb.append(f"{verb} {total / c * 1000:.0f} ms ×{c:.0f}")
    cyc = sums.get(("interlink_vk_status_cycle_seconds_count", None), 0)
    cyc_s = sums.get(("interlink_vk_status_cycle_seconds_sum", None), 0)
    m_il = metrics(stack)
    creates = delta(m_il0, m_il, "interlink_requests_total", endpoint="/create")
    create_s = delta(m_il0, m_il, "interlink_request_seconds_sum", endpoint="/create")
    rows = []
    if subs:
        rows.append(("backlog: VK start -> every pod submitted to interlink (create stage)",
                     f"{max(subs):.2f} s for {len(subs)} pods (first at {min(subs):.2f} s)"))
    rows.append(("backlog: status cycles until all Running: count, mean duration (writes "
                 "included)", f"{cyc:.0f}, {cyc_s / cyc * 1000:.0f} ms" if cyc else "none"))
    rows.append(("backlog: the VK's API calls, mean latency (create = TokenRequest + Events)",
                 ", ".join(per_verb) or "none"))
    p_creates = delta(m_il0, m_il, "interlink_plugin_requests_total", endpoint="/create")
    p_create_s = delta(m_il0, m_il, "interlink_plugin_request_seconds_sum", endpoint="/create")
    if creates:
        rows.append(("backlog: /create, mean: interlink's answer / its call to the plugin",
                     f"{create_s / creates * 1000:.1f} ms / " +
                     (f"{p_create_s / p_creates * 1000:.1f} ms" if p_creates else "-") +
                     f" ×{creates:.0f}"))
    return rows


def wait_ready(kube, vk):
    deadline = time.time() + 30
    while True:
        code, node = kube.call("GET", f"/api/v1/nodes/{NODE}")
        conds = {c["type"]: c["status"] for c in
                 ((node or {}).get("status") or {}).get("conditions") or []} \
            if code == 200 else {}
        if conds.get("Ready") == "True":
            return
        if time.time() > deadline or not vk.alive():
            raise RuntimeError(f"node {NODE} not Ready: {code} {conds}\n{vk.output()[-2000:]}")
        time.sleep(0.2)


def stop_all(tag, watch, vk, stack, kube):
    """Stop what a bench started (any may be None), then kill whatever else
    runs from WORK; the VK's exit code, or None."""
    if watch:
        watch.close()
    code = None
    if vk:
        try:
            code = vk.stop()
        except AssertionError as e:
            print(f"{tag}: {e}", file=sys.stderr)
    if stack:
        stack.stop()
    if kube:
        kube.stop()
    h.kill_processes_under(WORK)
    return code


def wait_quiet(kube, interval, limit):
    """Until no pods/status write came for 3 status intervals (the VK has
    settled), at most `limit` seconds."""
    deadline, last_n, last_t = time.monotonic() + limit, None, time.monotonic()
    while time.monotonic() < deadline:
        n = kube.counts().get("PATCH pods/status", 0)
        if n != last_n:
            last_n, last_t = n, time.monotonic()
        elif time.monotonic() - last_t > 3 * interval + 1:
            return
        time.sleep(0.5)


def wait_log(vk, text, timeout=60):
    deadline = time.time() + timeout
    while text not in vk.output():
        if time.time() > deadline or not vk.alive():
            raise RuntimeError(f"interlink-vk never logged {text!r}:\n{vk.output()[-2000:]}")
        time.sleep(0.1)


def delete_all(kube, names):
    parallel(kube, names, lambda n: None if kube.call(
        "DELETE", f"/api/v1/namespaces/{NS}/pods/{n}")[0] in (200, 404) else f"delete {n}")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        code, body = kube.call("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{NODE}")
        if not body["items"]:
            return
        time.sleep(0.5)
    raise RuntimeError("pods of the watch comparison not deleted after 90 s")


def watch_figure(kube, stack, vk, watch, on):
    """Step 4 for one setting: a settled VK (start-up catch-up over, and with
    the watch on, watching), WATCH_PODS pods, create -> Running."""
    tag = "on" if on else "off"
    wait_log(vk, "pod statuses: every")
    if on:
        wait_log(vk, "watching interlink for status changes")
    log(f"watch {tag}: creating {WATCH_PODS} pods, StatusIntervalSeconds {WATCH_INTERVAL}")
    names = [f"watch-{tag}-{i:04d}" for i in range(WATCH_PODS)]
    sent = {}
    create_pods(kube, names, sent)
    missing = watch.wait_running(names, timeout=max(120, 3 * WATCH_INTERVAL))
    done = [n for n in names if n in watch.running]
    if not done:
        raise RuntimeError(f"watch {tag}: no pod reached Running")
    span = max(watch.running[n] for n in done) - min(sent[n] for n in names)
    lat = [watch.running[n] - sent[n] for n in done]
    delete_all(kube, names)
    note = f" ({len(missing)} not Running)" if missing else ""
    return (f"status watch {tag}, interval {WATCH_INTERVAL} s: {WATCH_PODS} pods create -> "
            f"all Running{note}",
            f"{span:.2f} s = **{len(done) / span:.1f} pods/s** (p50 {pct(lat, 50):.2f} s, "
            f"p99 {pct(lat, 99):.2f} s)")


def api_capacity(kube, names):
    """The API server's own pace here, for scale: BENCH_VK_CAPACITY_WRITES
    merge PATCHes (an annotation) of existing pods from 16 clients, as
    many as the VK's Workers by default.  With w API writes per pod, w/s / w
    is the most pods/s any kubelet could start on this machine now."""
    n = int(os.environ.get("BENCH_VK_CAPACITY_WRITES", "400"))
    items = [(i, names[i % len(names)]) for i in range(n)]
    global CLIENTS
    saved, CLIENTS = CLIENTS, 16
    t0 = time.monotonic()
    try:
        errors = parallel(kube, items, lambda it: None if kube.call(
            "PATCH", f"/api/v1/namespaces/{NS}/pods/{it[1]}",
            {"metadata": {"annotations": {"vk-bench/probe": str(it[0])}}},
            "application/merge-patch+json")[0] == 200 else f"patch {it[1]}")
    finally:
        CLIENTS = saved
    el = time.monotonic() - t0
    return n / el, (f"API server alone: {n} pod PATCHes from 16 clients (its ceiling here)",
                    f"{el:.2f} s = {n / el:.0f} writes/s" +
                    (f", {len(errors)} failed" if errors else ""))


# ---- the run --------------------------------------------------------------------

def main():
    rows = []
    kube = stack = vk = watch = None
    t_start = time.monotonic()
    try:
        real = KUBE_KIND == "real" or (not KUBE_KIND and realkube_unavailable() is None)
        log("starting " + ("the real control plane (../shared/k8s)" if real else
                           "the API server double"))
        kube = RealKube() if real else DoubleKube(os.path.join(WORK, "kube"))
        plugin_extra = {"VerboseLogging": False, "ErrorsOnlyLogging": True}
        if BACKEND == "toy":
            plugin_extra["RunSeconds"] = 86400
        stack = h.Stack(os.path.join(WORK, "stack"), plugin_extra=plugin_extra,
                        plugin="interlink-toy" if BACKEND == "toy" else "interlink-local")
        stack.start()   # interlink keeps VerboseLogging: its per-request lines time /status
        vk = start_vk(kube, stack, "vk", INTERVAL, False)
        wait_ready(kube, vk)
        watch = PodWatch(kube)

        # 1. creation throughput
        log(f"creating {N_CREATE} pods (sleep 600) on node {NODE}, {CLIENTS} clients; "
            f"StatusIntervalSeconds {INTERVAL}")
        sent = {}
        c_before = kube.counts()
        names = [f"bench-{i:04d}" for i in range(N_CREATE)]
        create_s = create_pods(kube, names, sent)
        missing = watch.wait_running(names, timeout=90)
        done = [n for n in names if n in watch.running]
        if not done:
            raise RuntimeError("no pod reached Running")
        first, last = min(sent[n] for n in names), max(watch.running[n] for n in done)
        lat = [watch.running[n] - sent[n] for n in done]
        note = "" if not missing else f" ({len(missing)} not Running after 90 s)"
        rows += [
            (f"{N_CREATE} pods: POSTs accepted by the API (client side)",
             f"{create_s:.2f} s, {N_CREATE / create_s:.0f} pods/s"),
            (f"{N_CREATE} pods: first create -> all Running{note}",
             f"{last - first:.2f} s = **{len(done) / (last - first):.1f} pods/s**"),
            ("per-pod create -> Running: p50 / p99 / max",
             f"{pct(lat, 50):.2f} s / {pct(lat, 99):.2f} s / {max(lat):.2f} s"),
        ]
        # Where the time goes: the API requests the creation cost, per pod.
        c_after = kube.counts()
        per_pod = {k: (v - c_before.get(k, 0)) / N_CREATE for k, v in c_after.items()
                   if v - c_before.get(k, 0) >= N_CREATE / 2}
        rows.append((f"{N_CREATE} pods: API requests per pod (all clients, ≥0.5)",
                     ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_pod.items()))))

        # 2. status cycle at N_STATUS pods
        more = [f"bench-{i:04d}" for i in range(N_CREATE, N_STATUS)]
        backlog_vk_rate = None
        all_names = names + more
        if more:
            # A backlog: the VK is stopped while they are created, so what
            # follows its restart is its own pace, not the API clients'.
            log(f"stopping interlink-vk; creating {len(more)} more pods, {N_STATUS} in all")
            code, vk = vk.stop(), None
            if code != 0:
                raise RuntimeError(f"interlink-vk exited {code}")
            c_before = kube.counts()
            create_pods(kube, more, sent)
            log("restarting interlink-vk on the backlog")
            t_vk, wall_vk, vk_port = time.monotonic(), time.time(), h.free_port()
            m_il0 = metrics(stack)
            vk = start_vk(kube, stack, "vk-backlog", INTERVAL, False,
                          env={"VK_METRICS_PORT": str(vk_port)})
            budget = max(60.0, 0.2 * len(more))
            missing = watch.wait_running(more, timeout=budget)
            vk_cpu = cpu_seconds(vk.proc.pid)
            rows += backlog_breakdown(vk, vk_port, wall_vk, len(more), stack, m_il0)
            done2 = [n for n in more if n in watch.running]
            if missing:
                log(f"{len(missing)} of the {len(more)} pods not Running after {budget:.0f} s")
            if done2:
                span = max(watch.running[n] for n in done2) - t_vk
                rows.append((f"backlog of {len(more)} pods (on top of {N_CREATE}): VK start -> "
                             "all Running",
                             f"{span:.2f} s = **{len(done2) / span:.1f} pods/s**" +
                             (f" ({len(missing)} not Running)" if missing else "")))
                c_after = kube.counts()
                per_pod = {k: (v - c_before.get(k, 0)) / len(more) for k, v in c_after.items()
                           if v - c_before.get(k, 0) >= len(more) / 2}
                rows.append((f"backlog: API requests per pod (all clients, ≥0.5)",
                             ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_pod.items()))))
                # What the VK stores (a TokenRequest signs a token and stores
                # nothing; POST pods is the bench's own).
                backlog_vk_rate = len(done2) / span * sum(
                    v for k, v in per_pod.items()
                    if k.split()[0] in ("PATCH", "PUT") or k == "POST events")
                rows.append(("backlog: interlink-vk CPU per pod (start-up included)",
                             f"{vk_cpu / len(more) * 1000:.1f} ms"))
        ceiling, row = api_capacity(kube, names)
        rows.append(row)
        if backlog_vk_rate:
            rows.append(("backlog: the VK's API writes/s (rate × writes per pod) ÷ that ceiling",
                         f"{backlog_vk_rate:.0f} / {ceiling:.0f} = "
                         f"**{backlog_vk_rate / ceiling * 100:.0f} %**"))
        n_running = sum(1 for n in all_names if n in watch.running)

        log("waiting until nothing changes (no pods/status write for 3 cycles)")
        wait_quiet(kube, INTERVAL, 60)

        log(f"measuring {CYCLES} status cycles over {n_running} Running pods")
        vk_pid = vk.proc.pid
        ilog = os.path.join(stack.dir, "interlink.log")
        # align on a cycle boundary: wait for the next /status
        m0 = metrics(stack)
        while delta(m0, metrics(stack), "interlink_requests_total", endpoint="/status") < 1:
            time.sleep(0.02)
        m0, cpu0, off0 = metrics(stack), cpu_seconds(vk_pid), os.path.getsize(ilog)
        t0 = time.time()
        c_before = kube.counts()
        while True:
            m1 = metrics(stack)
            if delta(m0, m1, "interlink_requests_total", endpoint="/status") >= CYCLES:
                break
            if time.time() - t0 > CYCLES * (INTERVAL + 30):
                raise RuntimeError("status cycles did not come")
            time.sleep(0.02)
        cpu1, t1 = cpu_seconds(vk_pid), time.time()
        c_after = kube.counts()
        by_kind = {k: v - c_before.get(k, 0) for k, v in c_after.items()
                   if v - c_before.get(k, 0) > 0}
        calls = status_calls_in_log(ilog, off0)
        n_cyc = delta(m0, m1, "interlink_requests_total", endpoint="/status")
        per = lambda x: f"{x / n_cyc:.2f}".rstrip("0").rstrip(".")  # noqa: E731
        il_status_s = delta(m0, m1, "interlink_request_seconds_sum", endpoint="/status") / n_cyc
        plugin, il_reqs = {}, {}
        for (n, lab), v in m1.items():
            d = v - m0.get((n, lab), 0.0)
            ep = re.search(r'endpoint="([^"]*)"', lab)
            if not d or not ep or ep.group(1) == "/metrics":
                continue
            if n == "interlink_plugin_requests_total":
                plugin[ep.group(1)] = plugin.get(ep.group(1), 0) + d
            elif n == "interlink_requests_total":
                il_reqs[ep.group(1)] = il_reqs.get(ep.group(1), 0) + d
        # interlink answers /pinglink with a plugin /status of no pods: those
        # calls come from the VK's ping loop, not from the status cycle.
        pings = il_reqs.get("/pinglink", 0)
        cycle_plugin = dict(plugin)
        if "/status" in cycle_plugin:
            cycle_plugin["/status"] -= pings
        status_patches = by_kind.get("PATCH pods/status", 0)
        gaps = [b[0] - a[0] - INTERVAL for a, b in zip(calls, calls[1:])]
        durs = [d for _, d in calls]
        rows += [
            (f"status cycle over {n_running} pods: interlink /status calls per cycle",
             f"**{per(n_cyc)}**"),
            ("plugin calls per cycle (interlink /metrics)",
             ", ".join(f"{k} {per(v)}" for k, v in sorted(cycle_plugin.items()) if v) or "0"),
            (f"other interlink traffic in the {n_cyc:.0f} cycles (not per cycle)",
             ", ".join(f"{k} ×{v:.0f}" for k, v in sorted(il_reqs.items()) if k != "/status")
             + (f" (each /pinglink is one plugin /status of no pods)" if pings else "")
             or "none"),
            ("pods/status PATCHes per cycle, nothing changing (API server)",
             f"**{per(status_patches)}**"),
            (f"all API requests in the {n_cyc:.0f} cycles (not per cycle)",
             ", ".join(f"{k} ×{v:.0f}" for k, v in sorted(by_kind.items())) or "none"),
            (f"interlink's /status answer ({n_running}-pod body): mean / max",
             f"{il_status_s * 1000:.0f} ms / {max(durs) * 1000:.0f} ms" if durs else
             f"{il_status_s * 1000:.0f} ms"),
        ]
        if gaps:
            rows.append(("whole cycle (gap between /status calls − interval): mean / max",
                         f"{statistics.mean(gaps) * 1000:.0f} ms / {max(gaps) * 1000:.0f} ms"))
        rows.append(("interlink-vk CPU per cycle (whole process, /proc)",
                     f"{(cpu1 - cpu0) / n_cyc * 1000:.0f} ms over {t1 - t0:.1f} s"))

        # 3. delete everything through the API
        log(f"deleting {len(all_names)} pods through the API (backend first, then the object)")
        t0 = time.monotonic()
        errors = parallel(kube, all_names, lambda n: None if kube.call(
            "DELETE", f"/api/v1/namespaces/{NS}/pods/{n}")[0] in (200, 404) else f"delete {n}")
        gone_deadline = time.monotonic() + 90
        left = None
        while time.monotonic() < gone_deadline:
            code, body = kube.call("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{NODE}")
            left = len(body["items"])
            if left == 0:
                break
            time.sleep(0.5)
        el = time.monotonic() - t0
        rows.append((f"delete {len(all_names)} pods -> all objects gone",
                     f"{el:.1f} s = {len(all_names) / el:.0f} pods/s" if not left else
                     f"{left} still there after {el:.0f} s"))
        if errors:
            rows.append(("delete errors", f"{len(errors)}: {errors[0]}"))

        # 4. the status watch off and on
        for on in (False, True):
            code, vk = vk.stop(), None
            if code != 0:
                raise RuntimeError(f"interlink-vk exited {code}")
            vk = start_vk(kube, stack, f"vk-watch-{'on' if on else 'off'}", WATCH_INTERVAL, on)
            rows.append(watch_figure(kube, stack, vk, watch, on))
    finally:
        code = stop_all("vk-bench", watch, vk, stack, kube)
        if code not in (None, 0):
            print(f"vk-bench: interlink-vk exited {code}", file=sys.stderr)

    if watch and watch.reconnects:
        rows.append(("the bench's pod watch, closed by the API server and resumed",
                     f"{watch.reconnects} times"))
    print_table(f"interlink-vk figures ({'real API server' if kube and kube.real else 'API double'}, "
                f"backend {BACKEND}, {os.cpu_count()} CPUs; run took "
                f"{time.monotonic() - t_start:.0f} s)", rows)


def print_table(title, rows):
    """The bench's figures: a title, then a markdown table of (figure, value)."""
    print()
    print(title)
    print()
    w = max(len(r[0]) for r in rows)
    print(f"| {'figure'.ljust(w)} | value |")
    print(f"|{'-' * (w + 2)}|-------|")
    for k, v in rows:
        print(f"| {k.ljust(w)} | {v} |")


if __name__ == "__main__":
    main()
