#!/usr/bin/python3
"""The chaos suite (make chaos): create/delete storms while daemons are
killed with SIGKILL at random moments, the backend goes away and the data
disk fills up; then a checker proves, pod by pod, that nothing was lost,
run twice or left behind.

One trial: start interlink and a plugin (interlink-local, or interlink-slurm
in front of a real SLURM from tests/slurm) with both data directories on a
small tmpfs; create CHAOS_PODS pods the way a virtual kubelet does (each
create repeated until it is answered 200), while a chaos thread kills
interlink or the plugin (kill -9, restarted after a moment), stops or kills
slurmctld, and fills the disk for a few seconds.  Every pod appends its UID
to a ledger file outside the data directories when it runs and prints a
marker to its log.  Once every pod is finished, the checker reads, per pod:

  lost        no final status, or a final status "Lost", or the pod never ran
  duplicated  the ledger shows the pod ran more than once (two backend jobs)
  nolog       its log through interlink lacks its marker
  orphaned    after the deletes: a row in interlink's database (pods or
              pending_deletes), a pod directory of the plugin, a process
              naming the trial's directory, or a SLURM job named after it

Half the deletes are sent once (as interlinkctl does; interlink's pending
delete must finish them), half repeated until answered 200 (as the VK does).
Everything is bounded: pod count, kill count, per-phase deadlines.

Environment (defaults are small; the issue's run is CHAOS_TRIALS=10
CHAOS_PODS=1000):
  CHAOS_TRIALS (3), CHAOS_PODS (200): local-plugin trials and pods each
  CHAOS_SLURM_TRIALS (1), CHAOS_SLURM_PODS (50): trials against a real SLURM
    (0 to skip; skipped with a note when SLURM cannot start here)
  CHAOS_KILL_EVERY (1.5): mean seconds between chaos events
  CHAOS_SLURMCTLD_KILL9 (0): 1 kills slurmctld with SIGKILL instead of
    stopping it (SLURM may then forget jobs: those pods end Lost, correctly)
  CHAOS_SEED: random seed (printed, so a run can be repeated)
  IL_BIN_DIR: the daemons (default build/bin)
Exit status 0 only when every trial had no lost, duplicated, nolog or
orphaned pod."""
import concurrent.futures
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
os.environ.setdefault("IL_BIN_DIR", os.path.join(HERE, "..", "..", "build", "bin"))
import harness as h  # noqa: E402

TRIALS = int(os.environ.get("CHAOS_TRIALS", "3"))
PODS = int(os.environ.get("CHAOS_PODS", "200"))
SLURM_TRIALS = int(os.environ.get("CHAOS_SLURM_TRIALS", "1"))
SLURM_PODS = int(os.environ.get("CHAOS_SLURM_PODS", "50"))
EVERY = float(os.environ.get("CHAOS_KILL_EVERY", "1.5"))
CTLD_KILL9 = os.environ.get("CHAOS_SLURMCTLD_KILL9", "0") == "1"
SEED = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
CREATE_WORKERS = 8
DISK_SIZE = "512m"


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Trial:
    def __init__(self, number, backend, n_pods, rng, cluster=None):
        self.number, self.backend, self.n_pods, self.rng = number, backend, n_pods, rng
        self.cluster = cluster
        self.dir = tempfile.mkdtemp(prefix=f"ilchaos-{backend}-", dir="/tmp")
        self.disk = os.path.join(self.dir, "disk")
        os.makedirs(self.disk)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", self.disk],
                       check=True)
        self.ledger = os.path.join(self.dir, "ledger")
        open(self.ledger, "w").close()
        os.chmod(self.ledger, 0o666)
        self.kills = {"interlink": 0, "plugin": 0, "slurmctld": 0, "diskfull": 0}
        self.stop_chaos = threading.Event()
        self.lock = threading.Lock()   # daemons are restarted by one thread at a time
        api_extra = {"DataRootFolder": os.path.join(self.disk, "api"),
                     "PendingDeleteRetrySeconds": 1, "VerboseLogging": False}
        plugin_extra = {"DataRootFolder": os.path.join(self.disk, "plugin"),
                        "VerboseLogging": False}
        if backend == "slurm":
            import slurmutil as su
            plugin_extra["CommandTimeoutSeconds"] = 20
            self.stack = su.SlurmStack(os.path.join(self.dir, "s"), cluster,
                                       plugin_extra=plugin_extra, api_extra=api_extra)
        else:
            self.stack = h.Stack(os.path.join(self.dir, "s"), api_extra=api_extra,
                                 plugin_extra=plugin_extra)
        self.pods = []

    # -- the storm ------------------------------------------------------------
    def make_pods(self):
        for i in range(self.n_pods):
            pod = h.make_pod(f"chaos-{self.number}-{i}", [h.sh("main", "true")])
            uid = pod["metadata"]["uid"]
            pause = self.rng.choice(["0", "0.2", "0.5", "1"])
            pod["spec"]["containers"][0]["command"][2] = (
                f"echo {uid} >> {self.ledger}; echo marker-{uid}; sleep {pause}")
            self.pods.append(pod)

    def call(self, method, path, body, timeout=60):
        try:
            return h.request_json(self.stack.api_addr, method, path, body, timeout=timeout)
        except (OSError, ValueError) as e:
            return 0, str(e)

    def create_until_ok(self, pod, deadline):
        while time.time() < deadline:
            code, _ = self.call("POST", "/create", h.create_request(pod))
            if code == 200:
                return True
            time.sleep(0.2)
        return False

    def chaos_events(self):
        return ["interlink", "plugin", "diskfull"] + (["slurmctld"] if self.cluster else [])

    def chaos_loop(self):
        events = self.chaos_events()
        while not self.stop_chaos.wait(self.rng.expovariate(1 / EVERY)):
            what = self.rng.choice(events)
            with self.lock:
                try:
                    getattr(self, "chaos_" + what)()
                    self.kills[what] += 1
                except Exception as e:   # a failed restart is retried by the next event
                    log(f"chaos {what}: {e}")

    def chaos_interlink(self):
        self.stack.api.kill9()
        time.sleep(self.rng.uniform(0, 0.5))
        self.stack.start_api()

    def chaos_plugin(self):
        self.stack.plugin.kill9()
        time.sleep(self.rng.uniform(0, 0.5))
        self.stack.start_plugin()

    def chaos_diskfull(self):
        filler = os.path.join(self.disk, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * (1 << 20))
        except OSError:
            pass
        finally:
            os.close(fd)
        time.sleep(self.rng.uniform(0.5, 3))
        os.unlink(filler)

    def chaos_slurmctld(self):
        pidfile = os.path.join(self.cluster.dir, "run", "slurmctld.pid")
        pid = int(open(pidfile).read().strip())
        os.kill(pid, signal.SIGKILL if CTLD_KILL9 else signal.SIGTERM)
        deadline = time.time() + 30
        while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(self.rng.uniform(1, 5))   # the outage
        self.cluster.up()

    def ensure_up(self):
        with self.lock:
            if not self.stack.api or not self.stack.api.alive():
                self.stack.start_api()
            if not self.stack.plugin or not self.stack.plugin.alive():
                self.stack.start_plugin()
            if self.cluster:
                self.cluster.up()

    def statuses(self):
        out = {}
        for i in range(0, len(self.pods), 200):
            code, body = self.call("GET", "/status", self.pods[i:i + 200])
            if code != 200 or not isinstance(body, list):
                return None
            out.update({st["UID"]: st for st in body})
        return out

    def start_chaos(self):
        self.stop_chaos.clear()
        self.chaos_thread = threading.Thread(target=self.chaos_loop, daemon=True)
        self.chaos_thread.start()

    def end_chaos(self):
        self.stop_chaos.set()
        self.chaos_thread.join()
        self.ensure_up()

    def run(self):
        """Chaos during the create storm and while the pods run, calm for
        the status and log checks, chaos again during the delete storm,
        calm for the orphan check."""
        started = time.time()
        self.make_pods()
        self.stack.start()
        self.start_chaos()
        deadline = time.time() + 120 + self.n_pods * 0.5
        with concurrent.futures.ThreadPoolExecutor(CREATE_WORKERS) as pool:
            created = list(pool.map(lambda p: self.create_until_ok(p, deadline), self.pods))
        self.wait_final(deadline=time.time() + 60 + self.n_pods * 0.2)
        self.end_chaos()
        final = self.wait_final(deadline=time.time() + 120 + self.n_pods * 0.3)
        result = self.check_runs(created, final)
        self.start_chaos()
        self.delete_all()
        self.end_chaos()
        deadline = time.time() + 60 + self.n_pods * 0.2
        while time.time() < deadline and set(self.api_rows()) & self.uids():
            time.sleep(1)
        result["orphaned"] = self.check_orphans()
        result["seconds"] = int(time.time() - started)
        result["kills"] = dict(self.kills)
        return result

    def uids(self):
        return {p["metadata"]["uid"] for p in self.pods}

    def wait_final(self, deadline):
        last = {}
        while time.time() < deadline:
            sts = self.statuses()
            if sts is not None:
                last = sts
                if len(sts) == len(self.pods) and all(finished(s) for s in sts.values()):
                    break
            time.sleep(1)
        return last

    def check_runs(self, created, final):
        runs = {}
        for line in open(self.ledger):
            runs[line.strip()] = runs.get(line.strip(), 0) + 1
        lost, dup, nolog, problems = 0, 0, 0, []
        for pod, ok in zip(self.pods, created):
            uid = pod["metadata"]["uid"]
            st = final.get(uid)
            n = runs.get(uid, 0)
            if not ok or not st or not finished(st) or is_lost(st) or n == 0:
                lost += 1
                problems.append(f"lost {uid}: created={ok} runs={n} status={brief(st)}")
            if n > 1:
                dup += 1
                problems.append(f"duplicated {uid}: ran {n} times")
            if st and n:
                code, data = self.stack.logs(h.log_struct(pod, "main"))
                if code != 200 or f"marker-{uid}".encode() not in data:
                    nolog += 1
                    problems.append(f"no log {uid}: {code} {data[:200]!r}")
        for p in problems[:10]:
            log(p)
        self.bad = bool(problems)
        return {"lost": lost, "duplicated": dup, "nolog": nolog}

    def delete_all(self):
        """Half sent once (repeated only when interlink could not take the
        delete on: unreachable, or "repeat the delete"), half repeated until
        200; then interlink's pending deletes must finish the rest."""
        def delete(i_pod):
            i, pod = i_pod
            for _ in range(60):
                code, body = self.call("DELETE", "/delete", pod)
                if code == 200:
                    return
                # The once-only callers repeat only what interlink did not
                # take on (it says "repeat"), as a person at interlinkctl.
                if i % 2 and "repeat the delete" not in str(body) and code != 0:
                    return
                time.sleep(0.5)
        with concurrent.futures.ThreadPoolExecutor(CREATE_WORKERS) as pool:
            list(pool.map(delete, enumerate(self.pods)))

    def api_rows(self):
        db = os.path.join(self.disk, "api", "interlink.db")
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
            rows = [r[0] for r in con.execute("SELECT uid FROM pods UNION "
                                              "SELECT uid FROM pending_deletes")]
            con.close()
            return rows
        except sqlite3.Error as e:
            return [f"database error: {e}"]

    def check_orphans(self):
        ours = self.uids()
        found = {"interlink row": set(self.api_rows()) & ours}
        pods_dir = os.path.join(self.disk, "plugin", "pods")
        if os.path.isdir(pods_dir):
            found["plugin directory"] = set(os.listdir(pods_dir)) & ours
        if self.cluster:
            found["SLURM job"] = {name for _, name, _ in self.cluster.squeue_ids("PD,R,CG")} & ours
        found["process"] = {pid for pid in os.listdir("/proc") if pid.isdigit() and
                            self.dir.encode() in h.cmdline(pid) and b"--config" not in h.cmdline(pid)}
        for kind, items in found.items():
            for item in sorted(items)[:10]:
                log(f"orphaned {kind}: {item}")
        self.bad = self.bad or any(found.values())
        return len(set().union(*[v for k, v in found.items() if k != "process"])) + \
            len(found["process"])

    def close(self):
        self.stop_chaos.set()
        try:
            problems = self.stack.stop_and_check()
            for p in problems:
                log(f"daemon problem: {p}")
        finally:
            h.kill_processes_under(self.dir)
            if getattr(self, "bad", False):   # keep the evidence: logs and the data disk
                keep = os.path.join(self.dir, "disk-copy")
                shutil.copytree(self.disk, keep, symlinks=True, ignore_dangling_symlinks=True,
                                dirs_exist_ok=True)
                log(f"trial kept for inspection in {self.dir}")
            subprocess.run(["umount", "-l", self.disk], check=False)
            if not getattr(self, "bad", False):
                shutil.rmtree(self.dir, ignore_errors=True)



def finished(st):
    cs = (st.get("initContainers") or []) + (st.get("containers") or [])
    return bool(cs) and all("terminated" in (c.get("state") or {}) for c in cs)


def is_lost(st):
    return any((c.get("state") or {}).get("terminated", {}).get("reason") == "Lost"
               for c in (st.get("containers") or []))


def brief(st):
    if not st:
        return None
    return [(c["name"], list((c.get("state") or {}).items())[:1]) for c in st.get("containers", [])]


def run_plan(plan, make_trial, what=""):
    """Run the trials of plan ((backend, pods) each), made by
    make_trial(number, backend, pods, cluster), starting one SLURM cluster
    for those that need it; the table's rows (number, backend, pods,
    result)."""
    rows, cluster = [], None
    try:
        for n, (backend, n_pods) in enumerate(plan, 1):
            if backend == "slurm" and cluster is None:
                import slurmutil as su
                cluster = su.start_cluster(cpus=16)
                if cluster.error:   # one more try: a port or a daemon raced another cluster
                    su.stop_cluster(cluster)
                    cluster = su.start_cluster(cpus=16)
                if cluster.error:
                    log(f"SLURM trials skipped: {cluster.error.splitlines()[0]}")
                    break
            trial = make_trial(n, backend, n_pods, cluster if backend == "slurm" else None)
            try:
                log(f"trial {n} ({backend}{what}, {n_pods} pods) in {trial.dir}")
                r = trial.run()
            finally:
                trial.close()
            rows.append((n, backend, n_pods, r))
            log(f"trial {n}: {r}")
    finally:
        if cluster is not None:
            import slurmutil as su
            su.stop_cluster(cluster)
    return rows


def main():
    rng = random.Random(SEED)
    log(f"seed {SEED}: {TRIALS} local trials x {PODS} pods, {SLURM_TRIALS} slurm trials x "
        f"{SLURM_PODS} pods, a chaos event every ~{EVERY}s")
    plan = [("local", PODS)] * TRIALS + [("slurm", SLURM_PODS)] * SLURM_TRIALS
    rows = run_plan(plan, lambda n, backend, n_pods, cluster:
                    Trial(n, backend, n_pods, rng, cluster))
    print()
    print(f"{'trial':>5} {'backend':>7} {'pods':>5} {'kills':>5} {'ilink':>5} {'plugin':>6} "
          f"{'ctld':>4} {'disk':>4} {'lost':>4} {'dup':>4} {'nolog':>5} {'orphan':>6} {'secs':>5}")
    bad = 0
    for n, backend, n_pods, r in rows:
        k = r["kills"]
        total = k["interlink"] + k["plugin"] + k["slurmctld"]
        print(f"{n:>5} {backend:>7} {n_pods:>5} {total:>5} {k['interlink']:>5} {k['plugin']:>6} "
              f"{k['slurmctld']:>4} {k['diskfull']:>4} {r['lost']:>4} {r['duplicated']:>4} "
              f"{r['nolog']:>5} {r['orphaned']:>6} {r['seconds']:>5}")
        bad += r["lost"] + r["duplicated"] + r["nolog"] + r["orphaned"]
    print(f"seed {SEED}; {'PASS' if bad == 0 else 'FAIL'}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
