#!/usr/bin/python3
"""vk_cycle.py BINDIR WORKDIR -- the VK's status cycle at scale, driven by
bench/bench-vk-cycle.sh.

interlink + il-bench-plugin (a backend that runs nothing and finds pods by
UID in a hash: bench/plugin/null_plugin.c), so what a cycle costs is the
VK's, interlink's and the plugin framework's own work, and interlink-vk in
front of a Kubernetes API server: the test double (tests/kube/fake_apiserver.py,
the default: 10,000 pods take seconds to create there, ~8 minutes on the real
one) or the real control plane of ../shared/k8s (BENCH_VK_CYCLE_KUBE=real).
The double is faithful for what is measured: in steady state a cycle makes
no API request at all, and a changed pod costs one PATCH on either.

BENCH_VK_CYCLE_PODS pods (default 10000) are created while the VK is not
running; the VK starts on that backlog (the time until all are Running,
and the VK's CPU meanwhile); once all are Running and nothing
changes, it measures BENCH_VK_CYCLE_CYCLES cycles (default 5) in steady state
(no pod changed), then as many with BENCH_VK_CYCLE_CHANGED percent of the
pods (default 1) changed on the API server before each cycle (their hostIP
rewritten: the VK must notice and write its status back).  Per cycle: its
wall time (the VK's interlink_vk_status_cycle_seconds), interlink's /status
answer (interlink's interlink_request_seconds), the VK's CPU (/proc/PID/task/*/stat
but the HTTP listeners' threads, which serve this bench's polling of the
metrics; from the end of one cycle to the end of the next, so whatever else
the VK did in between is in it) and the pods/status PATCHes.  Then the VK's
memory: its RSS every 0.1 s during the cycles (mean, max), its peak
(VmHWM: on the backlog's start-up), its RSS 5 s after every pod was deleted through the API, and its
RSS once it is idle again: its Event queue (interlink_vk_events_queued, the
delete's Killing Events posted at EventsPerSecond) drained, waited for at most
BENCH_VK_CYCLE_DRAIN seconds (600; the table says if it did not drain), then
5 s for the trimmer's next looks (BENCH_VK_CYCLE_HOLD: seconds more the VK
is kept running then, for a look at its memory with gdb or smaps).
BENCH_VK_BIN measures
another interlink-vk (an older build, for before/after).

BENCH_VK_CYCLE_BACKEND=slurm puts interlink-slurm behind interlink instead,
on the real SLURM of tests/slurm (slurmrestd submission, so that 10,000 jobs
take about a minute): every pod's job is held (`--hold`), so the pods stay
Pending with SLURM's word in their status and "up" means that status was
written; each cycle's /status goes through interlink to the plugin and one
squeue.  The jobs are cancelled and SLURM stopped at the end.

BENCH_VK_CYCLE_WATCH=1 turns the VK's StatusWatch on (off by default here,
on by default in a deployment): interlink then also runs its status
refresher while the VK watches, and the table's plugin calls per cycle show
how often it asked beside the cycles.  Prints a table;
no thresholds; every process started under WORKDIR is killed at the end.
"""
import os
import statistics
import threading
import time
import urllib.request

import vk_bench as vb   # argv (BINDIR WORKDIR) is the same; it sets IL_BIN_DIR
h = vb.h

N = int(os.environ.get("BENCH_VK_CYCLE_PODS", "10000"))
CYCLES = int(os.environ.get("BENCH_VK_CYCLE_CYCLES", "5"))
CHANGED = float(os.environ.get("BENCH_VK_CYCLE_CHANGED", "1"))
INTERVAL = int(os.environ.get("BENCH_VK_CYCLE_INTERVAL", "2"))
KUBE = os.environ.get("BENCH_VK_CYCLE_KUBE", "double")
BUDGET = float(os.environ.get("BENCH_VK_CYCLE_TIMEOUT", "600"))   # whole run, seconds
DRAIN = float(os.environ.get("BENCH_VK_CYCLE_DRAIN", "600"))   # the Event queue, after it
BACKEND = os.environ.get("BENCH_VK_CYCLE_BACKEND", "null")   # or slurm
UP = "with SLURM's status" if BACKEND == "slurm" else "Running"
WATCH = os.environ.get("BENCH_VK_CYCLE_WATCH", "0") == "1"   # StatusWatch: interlink's refresher runs


def slurm_stack():
    """interlink + interlink-slurm on a fresh SLURM with slurmrestd; the
    pods the bench creates get held jobs.  (stack, cluster)."""
    import slurmutil as su
    cluster = su.start_cluster(16, rest=True)
    if cluster.error:
        raise RuntimeError(cluster.error)
    stack = su.SlurmStack(os.path.join(vb.WORK, "stack"), cluster, runtime="none",
                          api_extra={"VerboseLogging": False},
                          plugin_extra={"SubmitMode": "rest", "SlurmrestdURL": cluster.rest_url,
                                        "VerboseLogging": False})
    plain = vb.pod_manifest
    def held(name):
        manifest = plain(name)
        manifest["metadata"]["annotations"] = {"slurm-job.vk.io/flags": "--hold"}
        return manifest
    vb.pod_manifest = held
    return stack, cluster


def slurm_status_written(obj):
    """A held pod's status as the VK writes it: SLURM's word on its job."""
    for cs in (obj.get("status") or {}).get("containerStatuses") or []:
        if ((cs.get("state") or {}).get("waiting") or {}).get("message", "").startswith("SLURM job"):
            return True
    return False


def vk_cpu(pid):
    """CPU seconds of the VK but those of its HTTP listeners' threads
    (MHD-*: the metrics listener serves this bench's polling, 4 a second,
    each a walk over every pod): the process's total (/proc/PID/stat counts
    the threads that ended too: the workers' and Event senders' are renewed
    when idle) less theirs."""
    def ticks(path):
        with open(path) as f:
            text = f.read()
        fields = text.rsplit(")", 1)[1].split()
        return text[text.index("(") + 1:text.rindex(")")], int(fields[11]) + int(fields[12])
    total = ticks(f"/proc/{pid}/stat")[1]
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm, t = ticks(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue   # the thread ended
        if comm.startswith("MHD-"):
            total -= t
    return total / os.sysconf("SC_CLK_TCK")


def vm_kb(pid, key):
    """VmRSS, VmHWM... of pid from /proc, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """VmRSS of pid every 0.1 s while it runs (a cycle's transient memory
    comes and goes within a second: one reading says little)."""

    def __init__(self, pid):
        self.pid, self.samples, self.stop = pid, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.1):
            self.samples.append(vm_kb(self.pid, "VmRSS"))

    def done(self):
        self.stop.set()
        self.thread.join()
        return statistics.mean(self.samples), max(self.samples)


def delete_all(kube, names, deadline):
    """Delete every pod through the API (the VK deletes each on the backend,
    then removes the object); seconds until none is left."""
    t0 = time.monotonic()
    errs = vb.parallel(kube, names, lambda n: None if kube.call(
        "DELETE", f"/api/v1/namespaces/{vb.NS}/pods/{n}")[0] in (200, 404) else f"delete {n}")
    if errs:
        raise RuntimeError(f"{len(errs)} deletes failed: {errs[0]}")
    while time.monotonic() < deadline:
        code, body = kube.call("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{vb.NODE}")
        if code == 200 and not body["items"]:
            return time.monotonic() - t0
        time.sleep(1)
    raise RuntimeError("pods not all deleted within the bench's budget")


def vk_metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(("interlink_vk_status_cycle_seconds_", "interlink_vk_events_queued ")):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


def next_cycle(port, before, deadline):
    """Wait for the cycle after before (the VK's metrics); its metrics."""
    while True:
        m = vk_metrics(port)
        if m.get("interlink_vk_status_cycle_seconds_count", 0) > \
                before.get("interlink_vk_status_cycle_seconds_count", 0):
            return m
        if time.monotonic() > deadline:
            raise RuntimeError("no status cycle came")
        time.sleep(0.25)


def measure(kube, stack, vk, port, names, changed, deadline):
    """CYCLES cycles; before each, `changed` pods get a foreign podIP on the
    API server.  Per cycle: (wall s, interlink /status s, VK CPU s, PATCHes,
    interlink CPU s, interlink's plugin /status calls per VK cycle)."""
    out = []
    api_pid = stack.api.proc.pid
    m = next_cycle(port, vk_metrics(port), deadline)   # align on a cycle's end
    cpu, im, icpu = vk_cpu(vk.proc.pid), vb.metrics(stack), vb.cpu_seconds(api_pid)
    for c in range(CYCLES):
        if changed:
            pick = names[c * changed % len(names):][:changed]
            pick += names[:changed - len(pick)]
            errs = vb.parallel(kube, pick, lambda n: None if kube.call(
                "PATCH", f"/api/v1/namespaces/{vb.NS}/pods/{n}/status",
                {"status": {"hostIP": "10.255.0.1"}},
                "application/merge-patch+json")[0] == 200 else f"patch {n}")
            if errs:
                raise RuntimeError(f"{len(errs)} status patches failed: {errs[0]}")
            m = vk_metrics(port)   # the cycle that runs now may have begun before them
            cpu, im, icpu = vk_cpu(vk.proc.pid), vb.metrics(stack), vb.cpu_seconds(api_pid)
        counts = kube.counts()
        m2 = next_cycle(port, m, deadline)
        cpu2, im2, icpu2 = vk_cpu(vk.proc.pid), vb.metrics(stack), vb.cpu_seconds(api_pid)
        wall = (m2["interlink_vk_status_cycle_seconds_sum"] -
                m["interlink_vk_status_cycle_seconds_sum"]) / \
            (m2["interlink_vk_status_cycle_seconds_count"] -
             m["interlink_vk_status_cycle_seconds_count"])
        il = vb.delta(im, im2, "interlink_request_seconds_sum", endpoint="/status") / max(
            1, vb.delta(im, im2, "interlink_requests_total", endpoint="/status"))
        patches = kube.counts().get("PATCH pods/status", 0) - counts.get("PATCH pods/status", 0)
        # interlink's calls to the plugin: the cycle's own and its refresher's
        plugin = vb.delta(im, im2, "interlink_plugin_requests_total", endpoint="/status") / max(
            1, m2["interlink_vk_status_cycle_seconds_count"] -
            m["interlink_vk_status_cycle_seconds_count"])
        out.append((wall, il, cpu2 - cpu, patches, icpu2 - icpu, plugin))
        vb.log(f"cycle {c + 1}: {wall * 1000:.0f} ms, interlink {il * 1000:.0f} ms, "
               f"VK CPU {(cpu2 - cpu) * 1000:.0f} ms, interlink CPU {(icpu2 - icpu) * 1000:.0f} "
               f"ms, {patches} PATCHes")
        m, cpu, im, icpu = m2, cpu2, im2, icpu2
    return out


def main():
    t_start = time.monotonic()
    deadline = t_start + BUDGET
    kube = stack = vk = watch = cluster = None
    rows = []
    try:
        vb.log("starting " + ("the real control plane" if KUBE == "real" else
                              "the API server double"))
        kube = vb.RealKube() if KUBE == "real" else vb.DoubleKube(os.path.join(vb.WORK, "kube"))
        if BACKEND == "slurm":
            vb.log("starting SLURM with slurmrestd")
            stack, cluster = slurm_stack()
        else:
            stack = h.Stack(os.path.join(vb.WORK, "stack"), plugin="il-bench-plugin",
                            api_extra={"VerboseLogging": False},
                            plugin_extra={"VerboseLogging": False, "ErrorsOnlyLogging": True})
        stack.start()
        names = [f"cyc-{i:05d}" for i in range(N)]
        vb.log(f"creating {N} pods on node {vb.NODE} (no VK running)")
        made = vb.create_pods(kube, names, {})
        vb.log(f"created in {made:.1f} s")
        watch = vb.PodWatch(kube, slurm_status_written if BACKEND == "slurm" else None)
        port = h.free_port()
        t_vk = time.monotonic()
        vk = vb.start_vk(kube, stack, "vk", INTERVAL, WATCH,
                         {"VK_METRICS_PORT": str(port), "VK_METRICS_ADDRESS": "127.0.0.1"})
        missing = watch.wait_running(names, timeout=max(30.0, deadline - time.monotonic()))
        if missing:
            raise RuntimeError(f"{len(missing)} of {N} pods not {UP}")
        up = time.monotonic() - t_vk
        cpu_up = vk_cpu(vk.proc.pid)   # the start-up's CPU: less at the mercy of the load than its time
        vb.log(f"all {N} {UP} {up:.1f} s after the VK started (its CPU {cpu_up:.1f} s); "
               f"waiting until nothing changes")
        vb.wait_quiet(kube, INTERVAL, 120)
        load = os.getloadavg()
        sampler = RssSampler(vk.proc.pid)
        steady = measure(kube, stack, vk, port, names, 0, deadline)
        n_changed = int(N * CHANGED / 100)
        busy = measure(kube, stack, vk, port, names, n_changed, deadline) if n_changed else []
        load2 = os.getloadavg()
        rss, rss_max = sampler.done()
        hwm = vm_kb(vk.proc.pid, "VmHWM")
        vb.log(f"VK RSS during the cycles {rss:.1f} MB mean, {rss_max:.1f} MB max; "
               f"peak since start {hwm:.1f} MB; deleting the pods")
        gone = delete_all(kube, names, deadline)
        time.sleep(5)
        rss_after = vm_kb(vk.proc.pid, "VmRSS")
        vb.log(f"all deleted in {gone:.1f} s; VK RSS 5 s later {rss_after:.1f} MB; "
               f"waiting for its Event queue to drain")
        t_drain, queued = time.monotonic(), None
        while time.monotonic() - t_drain < DRAIN:
            queued = vk_metrics(port).get("interlink_vk_events_queued")
            if queued == 0:
                break
            time.sleep(1)
        drained = time.monotonic() - t_drain
        time.sleep(5)
        rss_idle = vm_kb(vk.proc.pid, "VmRSS")
        idle_note = (f"queue drained {drained:.0f} s after that" if queued == 0 else
                     f"queue NOT drained after {drained:.0f} s ({queued} left)")
        vb.log(f"{idle_note}; VK RSS 5 s later {rss_idle:.1f} MB")
        time.sleep(float(os.environ.get("BENCH_VK_CYCLE_HOLD", "0")))

        def row(label, data):
            wall = [d[0] for d in data]
            il = [d[1] for d in data]
            cpu = [d[2] for d in data]
            pt = [d[3] for d in data]
            icpu = [d[4] for d in data]
            plugin = [d[5] for d in data]
            rows.append((f"{label}: whole cycle (VK metric) mean / min / max",
                         f"**{statistics.mean(wall) * 1000:.0f} ms** / {min(wall) * 1000:.0f} / "
                         f"{max(wall) * 1000:.0f} ms"))
            rows.append((f"{label}: interlink's /status answer, mean",
                         f"{statistics.mean(il) * 1000:.0f} ms"))
            rows.append((f"{label}: the VK's part of the cycle (whole − interlink's answer), mean",
                         f"{statistics.mean(a - b for a, b in zip(wall, il)) * 1000:.0f} ms"))
            def mean_max(values):
                return f"**{statistics.mean(values) * 1000:.0f} ms** / {max(values) * 1000:.0f} ms"
            rows.append((f"{label}: interlink-vk CPU per cycle (not its HTTP threads), mean / max",
                         mean_max(cpu)))
            rows.append((f"{label}: interlink CPU per cycle (all its threads), mean / max",
                         mean_max(icpu)))
            rows.append((f"{label}: pods/status PATCHes per cycle (the VK's)",
                         f"{statistics.mean(pt):.0f}"))
            rows.append((f"{label}: interlink's plugin /status calls per cycle (the cycle's and "
                         f"its refresher's), mean", f"{statistics.mean(plugin):.1f}"))
        rows.append((f"{N} pods: created on the API server / VK start -> all {UP} "
                     f"(interlink-vk CPU meanwhile)", f"{made:.1f} s / {up:.1f} s ({cpu_up:.1f} s)"))
        row(f"{N} steady pods", steady)
        if busy:
            row(f"{N} pods, {n_changed} changed per cycle", busy)
        rows.append((f"interlink-vk RSS during the cycles (every 0.1 s): mean / max; peak since "
                     f"start (VmHWM, start-up included); 5 s after all {N} pods are deleted",
                     f"**{rss:.1f} MB** / {rss_max:.1f} MB; {hwm:.1f} MB; **{rss_after:.1f} MB**"))
        rows.append((f"interlink-vk RSS once idle: its Event queue drained ({idle_note}), "
                     f"then 5 s", f"**{rss_idle:.1f} MB**"))
        rows.append((f"delete {N} pods -> all objects gone", f"{gone:.1f} s"))
        rows.append(("load average (1 min) before / after the cycles",
                     f"{load[0]:.2f} / {load2[0]:.2f}"))
    finally:
        vb.stop_all("vk-cycle", watch, vk, stack, kube)
        if cluster:
            cluster.run("scancel", "--user", os.environ.get("USER") or "root")
            import slurmutil as su
            su.stop_cluster(cluster)
    backend = ("interlink-slurm, held jobs on the real SLURM" if BACKEND == "slurm"
               else "il-bench-plugin")
    vb.print_table(f"interlink-vk status cycle ({'real API server' if KUBE == 'real' else 'API double'}"
                   f", {backend}, StatusIntervalSeconds {INTERVAL}, {os.cpu_count()} CPUs; "
                   f"run took {time.monotonic() - t_start:.0f} s)", rows)


if __name__ == "__main__":
    threading.stack_size(1 << 20)
    main()
