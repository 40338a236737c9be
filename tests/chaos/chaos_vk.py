#!/usr/bin/python3
"""The virtual kubelet in the chaos suite (make chaos): pods go through the
real Kubernetes API server (../shared/k8s, tests/pylib/realkube.py) to
interlink-vk, interlink and a plugin, while a chaos thread kills the VK,
interlink and the plugin with SIGKILL at random moments (restarting each
after a moment), kills the kube-apiserver and starts it again, fills the
data disk for a few seconds and, with SLURM, stops slurmctld.

One trial (chaos.Trial's stack on a small tmpfs, plus the VK): create
CHAOS_VK_PODS pods bound to the VK's node through the API server; delete
about one in six again while they start (a delete racing the create; half
of them forced, --grace-period=0, so the API object is gone at once);
wait for the rest to finish; check them in calm; delete them all through
the API server under chaos again; then check that everything is gone.
Each pod appends its name to a ledger outside the data directories, prints
a marker and exits 0 or 3; one in seven runs until it is deleted.  Per
pod, the checker counts:

  lost        no final phase on the API server (Running for the long ones),
              a terminated reason "Lost", or the pod never ran
  dup         the ledger shows it ran more than once (two backend jobs)
  wrong       the status on the API server is not the truth: phase
              Succeeded/Failed and the container's exit code must match the
              exit code the pod chose and what the backend reports, and no
              other terminal status was ever stored (a watch records them)
  nolog       its log through the API server (the VK's kubelet API) lacks
              its marker
  stuck       after the deletes, its API object is still there (Terminating)
  orphan      after the deletes: an interlink row (pods, pending_deletes), a
              plugin pod directory, a SLURM job, or a process of the trial

Everything is bounded: pod count, per-phase deadlines, the chaos rate.

Environment:
  CHAOS_VK_TRIALS (2), CHAOS_VK_PODS (100): trials with interlink-local
  CHAOS_VK_SLURM_TRIALS (1), CHAOS_VK_SLURM_PODS (30): trials with
    interlink-slurm and a real SLURM (0: none; skipped with a note when SLURM
    cannot start here)
  CHAOS_VK_APISERVER (1): 0 leaves the kube-apiserver alone
  CHAOS_KILL_EVERY (1.5), CHAOS_SEED, IL_BIN_DIR: as for chaos.py
  IL_K8S_PORT_BASE, IL_K8S_STATE_PREFIX: where the control plane goes
Exit status 0 only when no pod of any trial was lost, duplicated, wrong,
log-less, stuck or orphaned."""
import concurrent.futures
import http.client
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chaos  # noqa: E402
from chaos import h, log  # noqa: E402

import realkube  # noqa: E402
from kube_client import NODE  # noqa: E402

TRIALS = int(os.environ.get("CHAOS_VK_TRIALS", "2"))
PODS = int(os.environ.get("CHAOS_VK_PODS", "100"))
SLURM_TRIALS = int(os.environ.get("CHAOS_VK_SLURM_TRIALS", "1"))
SLURM_PODS = int(os.environ.get("CHAOS_VK_SLURM_PODS", "30"))
APISERVER = os.environ.get("CHAOS_VK_APISERVER", "1") == "1"
NS = "default"
PODS_PATH = f"/api/v1/namespaces/{NS}/pods"
FAIL_CODE = 3
COLUMNS = ("lost", "dup", "wrong", "nolog", "stuck", "orphan")


class VKTrial(chaos.Trial):
    """chaos.Trial's stack and chaos, with interlink-vk in front and the
    pods driven through the real API server."""

    def __init__(self, number, backend, n_pods, rng, kube, cluster=None,
                 kill_apiserver=APISERVER, force_deletes=True):
        super().__init__(number, backend, n_pods, rng, cluster)
        self.kube = kube
        self.kill_apiserver = kill_apiserver
        self.force_deletes = force_deletes
        self.kills["vk"] = 0
        self.kills["apiserver"] = 0
        self.label = f"vkchaos{number}"
        self.kubelet_port = h.free_port()
        self.vk_cfg = h.write_yaml(os.path.join(self.dir, "vk.yaml"), {
            "InterlinkURL": self.stack.api_addr, "PingIntervalSeconds": 1,
            "StatusIntervalSeconds": 1, "LeaseDurationSeconds": 10,
            "InterlinkTimeoutSeconds": 30, "DisableCSR": True, "VerboseLogging": True})
        self.vk = None
        self.specs = {}      # name -> the exit code it chose
        self.early = set()   # names deleted while they start
        self.running = set() # names that run until deleted
        self.uid_of = {}     # name -> UID, from the API server's answer
        self.pods_lock = threading.Lock()
        self.history = {}    # name -> {(phase, exit code, reason)} the API server stored
        self.stop_watch = threading.Event()

    # -- daemons ----------------------------------------------------------------
    def start_vk(self):
        self.vk = h.Daemon([h.binary("interlink-vk"), "--config", self.vk_cfg,
                            "--nodename", NODE], os.path.join(self.dir, "vk.log"),
                           env={"KUBECONFIG": self.kube.kubeconfig,
                                "KUBELET_PORT": str(self.kubelet_port),
                                "POD_IP": "127.0.0.1"}).start()

    def chaos_events(self):
        # The VK twice as often: it is what this suite is about.
        return ["vk", "vk"] + super().chaos_events() + (["apiserver"] if self.kill_apiserver else [])

    def chaos_apiserver(self):
        """kill -9 the kube-apiserver, and start it again the same way
        (command line, environment, directory) after a moment; the VK's
        watch, PATCHes and deletes meet the outage."""
        pidfile = os.path.join(self.kube.dir, "kube-apiserver.pid")
        pid = int(open(pidfile).read().strip())
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]
        env = dict(e.split(b"=", 1) for e in
                   open(f"/proc/{pid}/environ", "rb").read().split(b"\0") if b"=" in e)
        cwd = os.readlink(f"/proc/{pid}/cwd")
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 30
        while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(self.rng.uniform(0.5, 3))
        with open(os.path.join(self.kube.dir, "logs", "kube-apiserver.log"), "ab") as out:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        with open(pidfile, "w") as f:
            f.write(f"{proc.pid}\n")
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if self.kube.api.get("/readyz")[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.5)
        raise RuntimeError("the kube-apiserver did not come back within 120 s")

    def chaos_vk(self):
        self.vk.kill9()
        time.sleep(self.rng.uniform(0, 2))   # the API server moves on meanwhile
        self.start_vk()

    def ensure_up(self):
        super().ensure_up()
        with self.lock:
            if not self.vk.alive():
                self.start_vk()

    # -- pods -----------------------------------------------------------------
    def pod_object(self, i):
        name = f"{self.label}-{i}"
        code = FAIL_CODE if i % 4 == 0 else 0
        self.specs[name] = code
        pause = self.rng.choice(["0", "0.2", "0.5", "1", "2"])
        if i % 7 == 3:
            self.running.add(name)   # still running when the delete storm comes
            pause = "600"
        script = (f"echo {name} >> {self.ledger}; echo marker-{name}; sleep {pause}; "
                  f"exit {code}")
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": NS, "labels": {"chaos": self.label}},
                "spec": {"containers": [{"name": "main", "image": "busybox",
                                         "command": ["sh", "-c", script]}],
                         "restartPolicy": "Never", "nodeName": NODE,
                         "terminationGracePeriodSeconds": 2,
                         "tolerations": [{"operator": "Exists"}]}}

    def api(self, method, path, body=None):
        """A call the API server may be down for (CHAOS_VK_APISERVER), or
        answer 5xx/429 while it starts: repeated for up to 3 min."""
        last = None
        for _ in range(360):
            try:
                code, answer = self.kube.api.request(method, path, body)
                if code < 500 and code != 429:
                    return code, answer
                last = f"{code} {answer}"
            except (OSError, http.client.HTTPException) as e:   # cut by a kill
                last = e
            time.sleep(0.5)
        raise RuntimeError(f"{method} {path}: {last}")

    def create(self, pod):
        code, body = self.api("POST", PODS_PATH, pod)
        if code == 409:   # an earlier try took it before the API server went away
            code, body = self.api("GET", f"{PODS_PATH}/{pod['metadata']['name']}")
            code = 201 if code == 200 else code
        if code != 201:
            raise RuntimeError(f"create {pod['metadata']['name']}: {code} {body}")
        with self.pods_lock:
            self.uid_of[body["metadata"]["name"]] = body["metadata"]["uid"]
            self.pods.append(body)

    def delete(self, name, force=False):
        """kubectl delete; force: --force --grace-period=0 (the API object
        goes at once: only the VK's watch or its reconciliation with
        interlink's /pods tells it to clean the backend)."""
        code, body = self.api("DELETE", f"{PODS_PATH}/{name}",
                              {"gracePeriodSeconds": 0} if force else None)
        if code not in (200, 202, 404):
            raise RuntimeError(f"delete {name}: {code} {body}")

    def listed(self):
        code, body = self.api("GET", f"{PODS_PATH}?labelSelector=chaos%3D{self.label}")
        if code != 200:
            raise RuntimeError(f"list: {code} {body}")
        return {p["metadata"]["name"]: p for p in body.get("items", [])}

    def wait_pods(self, done, deadline):
        """Poll the API server until done(pods) or the deadline; the pods."""
        pods = {}
        while time.time() < deadline:
            pods = self.listed()
            if done(pods):
                break
            time.sleep(1)
        return pods

    def watch_phases(self):
        """Record every phase and exit code the API server ever stored for
        each pod (a watch, reopened from the last resourceVersion): a wrong
        terminal status the VK corrected later still counts as wrong."""
        version = None
        while not self.stop_watch.is_set():
            params = {"labelSelector": f"chaos={self.label}", "timeoutSeconds": 30,
                      "allowWatchBookmarks": "true"}
            if version:
                params["resourceVersion"] = version
            try:
                w = self.kube.api.watch(PODS_PATH, **params)
            except (OSError, http.client.HTTPException):
                time.sleep(0.5)
                continue
            if w.status != 200:   # the API server is starting: again
                w.close()
                time.sleep(0.5)
                continue
            while not self.stop_watch.is_set() and not (w.ended.is_set() and w.events.empty()):
                try:
                    ev = w.next(timeout=1, skip_bookmarks=False)
                except TimeoutError:
                    continue
                obj = ev.get("object") or {}
                if ev["type"] == "ERROR":
                    version = None   # expired: start again from now
                    break
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if ev["type"] in ("ADDED", "MODIFIED"):
                    term = terminated(obj) or {}
                    seen = (phase(obj), term.get("exitCode"), term.get("reason"))
                    with self.pods_lock:
                        self.history.setdefault(obj["metadata"]["name"], set()).add(seen)
            w.close()

    # -- the trial ----------------------------------------------------------------
    def run(self):
        started = time.time()
        objects = [self.pod_object(i) for i in range(self.n_pods)]
        self.early = {o["metadata"]["name"] for o in objects if self.rng.random() < 1 / 6}
        watcher = threading.Thread(target=self.watch_phases, daemon=True)
        watcher.start()
        self.stack.start()
        self.start_vk()
        self.start_chaos()
        delays = {name: self.rng.uniform(0, 3) for name in self.early}
        forced = {name for name in self.early
                  if self.force_deletes and self.rng.random() < 0.5}
        with concurrent.futures.ThreadPoolExecutor(chaos.CREATE_WORKERS) as pool:
            list(pool.map(self.create, objects))
            for name in sorted(self.early):
                pool.submit(lambda n=name: (time.sleep(delays[n]), self.delete(n, n in forced)))
        kept = set(self.specs) - self.early

        def finished(pods):
            return all(phase(pods.get(n)) == "Running" if n in self.running else
                       phase(pods.get(n)) in ("Succeeded", "Failed") for n in kept)
        self.wait_pods(finished, time.time() + 60 + self.n_pods * 0.5)
        self.end_chaos()
        pods = self.wait_pods(finished, time.time() + 120 + self.n_pods * 0.5)
        self.stop_watch.set()
        watcher.join(10)
        log(f"the watch saw {sum(len(v) for v in self.history.values())} statuses of "
            f"{len(self.history)} pods")
        result = self.check_pods(pods)
        self.start_chaos()
        with concurrent.futures.ThreadPoolExecutor(chaos.CREATE_WORKERS) as pool:
            list(pool.map(self.delete, sorted(kept)))
        self.end_chaos()
        left = self.wait_pods(lambda pods: not pods, time.time() + 90 + self.n_pods * 0.3)
        for name, p in sorted(left.items())[:10]:
            log(f"stuck {name}: deletionTimestamp {p['metadata'].get('deletionTimestamp')}")
        result["stuck"] = len(left)
        self.bad = self.bad or bool(left)
        deadline = time.time() + 60 + self.n_pods * 0.2
        while time.time() < deadline and set(self.api_rows()) & self.uids():
            time.sleep(1)
        time.sleep(2)   # a late re-create would show up now
        result["orphan"] = self.check_orphans()
        result["dup"] = max(result["dup"], self.count_dup())
        result["seconds"] = int(time.time() - started)
        result["kills"] = dict(self.kills)
        return result

    def runs(self):
        counts = {}
        for line in open(self.ledger):
            counts[line.strip()] = counts.get(line.strip(), 0) + 1
        return counts

    def count_dup(self):
        return sum(1 for n in self.runs().values() if n > 1)

    def check_pods(self, pods):
        runs = self.runs()
        backend = self.statuses() or {}
        lost = dup = wrong = nolog = 0
        problems = []
        log_deadline = time.time() + 60
        for name, code in sorted(self.specs.items()):
            n = runs.get(name, 0)
            if n > 1:
                dup += 1
                problems.append(f"duplicated {name}: ran {n} times")
            if name in self.early:
                continue
            pod = pods.get(name)
            if name in self.running:
                ever = {seen for seen in self.history.get(name, ())
                        if seen[0] in ("Succeeded", "Failed")}
                if n == 0 or phase(pod) != "Running" or not container_state(pod, "running"):
                    lost += 1
                    problems.append(f"lost {name} (long): runs={n} phase={phase(pod)}")
                elif ever:
                    wrong += 1
                    problems.append(f"wrong {name} (long): running, once stored {ever}")
                continue
            term = terminated(pod)
            if n == 0 or phase(pod) not in ("Succeeded", "Failed") or not term or \
                    term.get("reason") == "Lost":
                lost += 1
                problems.append(f"lost {name}: runs={n} phase={phase(pod)} state={term}")
                continue
            mine = terminated({"status": {"containerStatuses":
                                          (backend.get(self.uid_of.get(name)) or {})
                                          .get("containers") or []}})
            want = "Succeeded" if code == 0 else "Failed"
            ever = {seen for seen in self.history.get(name, ())
                    if seen[0] in ("Succeeded", "Failed") and seen != (want, code, seen[2])}
            if phase(pod) != want or term.get("exitCode") != code or \
                    not mine or mine.get("exitCode") != code or ever:
                wrong += 1
                problems.append(f"wrong {name}: phase {phase(pod)} exit {term.get('exitCode')},"
                                f" backend {mine}, want {want}/{code}, once stored {ever}")
            status, text = self.logs(name, log_deadline)
            if status != 200 or f"marker-{name}" not in text:
                nolog += 1
                problems.append(f"no log {name}: {status} {text[:200]!r}")
        for p in problems[:10]:
            log(p)
        self.bad = bool(problems)
        return {"lost": lost, "dup": dup, "wrong": wrong, "nolog": nolog}

    def logs(self, name, deadline):
        """kubectl logs, asked again while the answer is a 5xx (the VK the
        chaos just restarted is not listening, or has not listed its pods
        yet: a retry, not a lost log) until the deadline."""
        while True:
            status, text = self.kube.logs_via_api(name, "main")
            if status < 500 or time.time() > deadline:
                return status, text
            time.sleep(1)

    def close(self):
        try:
            if self.vk is not None:
                for p in self.vk.stop_and_check():
                    log(f"daemon problem: {p}")
        finally:
            super().close()


def phase(pod):
    return ((pod or {}).get("status") or {}).get("phase")


def container_state(pod, which):
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == "main":
            return (cs.get("state") or {}).get(which)
    return None


def terminated(pod):
    return container_state(pod, "terminated")


def run_trials(plan, seed):
    """plan: (backend, pods) per trial; the rows of the table."""
    rng = random.Random(seed)
    kube = realkube.RealKube()

    def make_trial(n, backend, n_pods, cluster):
        kube.reset()
        return VKTrial(n, backend, n_pods, rng, kube, cluster)
    try:
        return chaos.run_plan(plan, make_trial, " behind the VK")
    finally:
        kube.stop()


def table(rows, seed):
    """Print the table; the number of bad pods."""
    print()
    print(f"{'trial':>5} {'backend':>7} {'pods':>5} {'kills':>5} {'vk':>3} {'ilink':>5} "
          f"{'plugin':>6} {'kapi':>4} {'ctld':>4} {'disk':>4} " +
          " ".join(f"{c:>5}" for c in COLUMNS) + f" {'secs':>5}")
    bad = 0
    for n, backend, n_pods, r in rows:
        k = r["kills"]
        total = k["vk"] + k["interlink"] + k["plugin"] + k["apiserver"] + k["slurmctld"]
        print(f"{n:>5} {backend:>7} {n_pods:>5} {total:>5} {k['vk']:>3} {k['interlink']:>5} "
              f"{k['plugin']:>6} {k['apiserver']:>4} {k['slurmctld']:>4} {k['diskfull']:>4} " +
              " ".join(f"{r[c]:>5}" for c in COLUMNS) + f" {r['seconds']:>5}")
        bad += sum(r[c] for c in COLUMNS)
    print(f"seed {seed}; {'PASS' if bad == 0 else 'FAIL'}")
    return bad


def main():
    why = realkube.unavailable()
    if why:
        log(f"the VK chaos trials are skipped: {why}")
        return 0
    log(f"seed {chaos.SEED}: {TRIALS} local trials x {PODS} pods, {SLURM_TRIALS} slurm trials "
        f"x {SLURM_PODS} pods, behind interlink-vk on the real API server, a chaos event "
        f"every ~{chaos.EVERY}s")
    plan = [("local", PODS)] * TRIALS + [("slurm", SLURM_PODS)] * SLURM_TRIALS
    return 0 if table(run_trials(plan, chaos.SEED), chaos.SEED) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
