"""interlink-slurm's status for jobs SLURM's queue has forgotten: squeue no
longer lists a job MinJobAge after it ended, and no /status saw how it
ended.  Then the plugin asks, in this order, the pod's own status files (the
supervisor's `done`, shared filesystem), SLURM's job completion log
(JobCompPath) and accounting (SacctPath: one sacct for all such jobs of a
status call); a job none of them knows is Lost, never a success.

Two real single-node clusters (tests/slurm/slurm-up.sh), both with
MinJobAge=2 so finished jobs leave squeue within ~10 s:
  * `acct`:  SLURM_UP_ACCOUNTING=1 -- a private MariaDB and slurmdbd, so
             sacct answers from real accounting records;
  * `plain`: the default test cluster -- no accounting (sacct says
             "accounting storage is disabled"), jobcomp/filetxt log.

Every scenario runs at once (one module fixture): pods that complete, exit
3, are scancel'ed, and hit their time limit (`scontrol update
TimeLimit=0`: TIMEOUT at slurmctld's next 30 s limit check) are created
while the plugin is then killed (-9), so no /status sees them end; once
every job has left squeue the plugin is started again and asked.  sacct and
squeue are wrappers that count their invocations.  Last, slurmdbd is
stopped: a failing sacct must not turn a forgotten job into Lost.  About
45-60 s on 2 busy cores, most of it waiting for the 30 s limit check."""
import json
import os
import shutil
import threading
import time

import pytest

import harness as h
import slurmutil as su

MIN_JOB_AGE = 2


# ---- helpers -------------------------------------------------------------------

def counting_wrapper(directory, command):
    """An executable that logs one line per invocation, then runs command."""
    path = os.path.join(directory, f"{command}-counting")
    calls = os.path.join(directory, f"{command}.calls")
    real = shutil.which(command)
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\necho \"$*\" >> '{calls}'\nexec '{real}' \"$@\"\n")
    os.chmod(path, 0o755)
    return path, calls


def count(calls):
    try:
        with open(calls) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def sh(name, script):
    return h.container(name, ["/bin/sh", "-c", script])


def ctr(status, name="main"):
    for c in status.get("containers") or []:
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name} in {status}")


def terminated(status):
    t = ctr(status)["state"].get("terminated")
    assert t, status
    return t


class Scenario(su.SlurmStack):
    """One plugin configuration against one cluster, with its pods by role."""

    def __init__(self, tmpdir, cluster, shared_fs, jobcomp=False, only_ok=False):
        os.makedirs(str(tmpdir), exist_ok=True)
        self.squeue, self.squeue_calls = counting_wrapper(str(tmpdir), "squeue")
        self.sacct, self.sacct_calls = counting_wrapper(str(tmpdir), "sacct")
        self.jobcomp_copy = os.path.join(str(tmpdir), "jobcomp.txt")
        extra = {"SharedFS": shared_fs, "SqueuePath": self.squeue,
                 "SacctPath": self.sacct,
                 "JobCompPath": self.jobcomp_copy if jobcomp else ""}
        if not shared_fs:
            self.node_dir = os.path.join(str(tmpdir), "node")
            os.makedirs(self.node_dir)
            extra["NodeLocalDir"] = self.node_dir
        super().__init__(tmpdir, cluster, plugin_extra=extra)
        self.shared = shared_fs
        self.only_ok = only_ok
        self.pods = {}

    def add(self, role, pod):
        code, body = self.create(h.create_request(pod))
        assert code == 200, body
        self.pods[role] = pod
        return pod

    def job_id(self, pod):   # from job.json: no /status may run before the end
        with open(os.path.join(self.pod_dir(pod), "job.json")) as f:
            return json.load(f)["jobId"]

    def plugin_status(self, roles):
        """One /status straight to the plugin (interlink answers terminal
        pods from its own store and would not ask again)."""
        pods = [self.pods[r] for r in roles]
        code, body = h.request_json(self.plugin_addr, "GET", "/status", pods)
        assert code == 200 and len(body) == len(pods), body
        return {r: st for r, st in zip(roles, body)}


def wait_until(what, predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {timeout}s")


def job_state(cluster, job):
    r = cluster.run("squeue", "-h", "-t", "all", "-j", job, "-o", "%T")
    return r.stdout.strip() if r.returncode == 0 else ""


def container_running(scenario, pod):
    path = os.path.join(scenario.pod_dir(pod), "containers", "main", "state.json")
    try:
        with open(path) as f:
            return json.load(f)["state"] == "running"
    except (OSError, ValueError):
        return False


def start_pods(sc):
    """ok (exit 0), fail (exit 3), cancel and timeout (sleep 300)."""
    sc.add("ok", h.make_pod("ok", [sh("main", "exit 0")]))
    if sc.only_ok:
        return
    sc.add("fail", h.make_pod("fail", [sh("main", "echo bye; exit 3")]))
    sc.add("cancel", h.make_pod("cancel", [sh("main", "sleep 300")]))
    sc.add("timeout", h.make_pod("timeout", [sh("main", "sleep 300")],
                                 annotations={"slurm-job.vk.io/flags": "--time=5"}))


def end_long_pods(sc):
    """scancel the `cancel` job behind the plugin's back; time the `timeout`
    job out.  With a shared filesystem only once the container runs, so the
    supervisor is the one stopped by SLURM's signal."""
    cluster = sc.cluster
    for role in () if sc.only_ok else ("cancel", "timeout"):
        pod, job = sc.pods[role], sc.job_id(sc.pods[role])
        if sc.shared:
            wait_until(f"{role} running", lambda: container_running(sc, pod), 60)
        else:
            wait_until(f"{role} running", lambda: job_state(cluster, job) == "RUNNING", 60)
        if role == "cancel":
            assert cluster.run("scancel", job).returncode == 0
        else:
            r = cluster.run("scontrol", "update", f"jobid={job}", "TimeLimit=0")
            assert r.returncode == 0, r.stderr


# ---- the shared world ----------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    clusters = {}

    def up(name, accounting):
        clusters[name] = su.start_cluster(cpus=16, min_job_age=MIN_JOB_AGE,
                                          accounting=accounting)

    t0 = time.time()
    threads = [threading.Thread(target=up, args=("acct", True)),
               threading.Thread(target=up, args=("plain", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\nclusters up in {time.time() - t0:.1f}s (accounting one included)")
    scenarios = {}
    try:
        if clusters["plain"].error:
            pytest.skip(f"SLURM cannot start here: {clusters['plain'].error}")
        base = tmp_path_factory.mktemp("fallback")
        scenarios = {
            "jobcomp_nonshared": Scenario(base / "b1", clusters["plain"], shared_fs=False,
                                          jobcomp=True),
            "files_shared": Scenario(base / "b2", clusters["plain"], shared_fs=True),
        }
        # Without MariaDB/slurmdbd only the accounting tests are skipped.
        if not clusters["acct"].error:
            acct = clusters["acct"]
            scenarios.update({
                "acct_nonshared": Scenario(base / "a1", acct, shared_fs=False),
                "acct_shared": Scenario(base / "a2", acct, shared_fs=True),
                "acct_outage": Scenario(base / "a3", acct, shared_fs=False, only_ok=True),
            })
        for sc in scenarios.values():
            sc.start()
            start_pods(sc)
        files = scenarios["files_shared"]
        files.add("vanish", h.make_pod("vanish", [sh("main", "exit 0")]))
        for sc in scenarios.values():
            end_long_pods(sc)
        # No /status while the jobs end and age out: the plugin is gone.
        for sc in scenarios.values():
            sc.plugin.kill9()
        for sc in scenarios.values():
            jobs = [sc.job_id(p) for p in sc.pods.values()]
            wait_until("every job gone from squeue",
                       lambda: not any(job_state(sc.cluster, j) for j in jobs), 90)
        print(f"all jobs ended and left squeue after {time.time() - t0:.1f}s")
        scenarios["acct_error"] = clusters["acct"].error
        yield scenarios
    finally:
        for sc in scenarios.values():
            if isinstance(sc, Scenario):
                sc.stop()
        for c in clusters.values():
            su.stop_cluster(c)


def accounting(world, name):
    if world["acct_error"]:
        pytest.skip(f"SLURM with accounting (MariaDB + slurmdbd) cannot start here: "
                    f"{world['acct_error']}")
    return world[name]


def restart(sc):
    if sc.plugin.alive():
        sc.plugin.stop()
    sc.start_plugin()


ROLES = ("ok", "fail", "cancel", "timeout")


def assert_slurm_outcomes(got):
    ok, fail = terminated(got["ok"]), terminated(got["fail"])
    assert ok["exitCode"] == 0 and ok["reason"] == "Completed", got["ok"]
    assert h.derive_phase(got["ok"]) == "Succeeded"
    assert fail["exitCode"] == 3 and fail["reason"] == "Error", got["fail"]
    cancel, timeout = terminated(got["cancel"]), terminated(got["timeout"])
    assert cancel["reason"] == "Cancelled" and cancel["exitCode"] != 0, got["cancel"]
    assert timeout["reason"] == "DeadlineExceeded" and timeout["exitCode"] != 0, got["timeout"]
    for role in ("fail", "cancel", "timeout"):
        assert h.derive_phase(got[role]) == "Failed", got[role]


# ---- with accounting: sacct ----------------------------------------------------

def test_sacct_answers_for_forgotten_jobs_in_one_call(world):
    """No shared filesystem: only SLURM knows how the pods ended, and squeue
    has forgotten all four; one sacct covers them."""
    sc = accounting(world, "acct_nonshared")
    sc.start_plugin()
    code, body = sc.status(list(sc.pods.values()))   # through interlink, once
    assert code == 200
    got = {r: st for r, st in zip(sc.pods, body)}
    assert_slurm_outcomes(got)
    assert count(sc.squeue_calls) == 1 and count(sc.sacct_calls) == 1
    with open(sc.sacct_calls) as f:
        listed = f.read().split("--jobs ")[1].split()[0].split(",")
    assert sorted(listed) == sorted(sc.job_id(p) for p in sc.pods.values())
    # Recorded in job.json: asked again, and after a restart, nobody is asked.
    assert_slurm_outcomes(sc.plugin_status(ROLES))
    restart(sc)
    assert_slurm_outcomes(sc.plugin_status(ROLES))
    assert count(sc.squeue_calls) == 1 and count(sc.sacct_calls) == 1


def test_shared_fs_files_first_then_sacct_for_stopped_supervisors(world):
    """Shared filesystem: ok and fail ended by themselves (their files say
    so, nobody is asked); cancel and timeout were stopped by SLURM's signal,
    which only SLURM can explain -- sacct, once, for both."""
    sc = accounting(world, "acct_shared")
    sc.start_plugin()
    got = sc.plugin_status(ROLES)
    assert_slurm_outcomes(got)
    assert count(sc.squeue_calls) == 1 and count(sc.sacct_calls) == 1
    with open(sc.sacct_calls) as f:
        listed = f.read().split("--jobs ")[1].split()[0].split(",")
    assert sorted(listed) == sorted(sc.job_id(sc.pods[r]) for r in ("cancel", "timeout"))
    restart(sc)
    assert_slurm_outcomes(sc.plugin_status(ROLES))
    assert count(sc.squeue_calls) == 1 and count(sc.sacct_calls) == 1


# ---- without accounting: the completion log, the files, Lost --------------------

def test_jobcomp_log_answers_without_accounting(world):
    """No accounting, no shared filesystem: the jobcomp/filetxt log knows
    all four, so sacct is not even run.  The outcome is recorded: with the
    log gone, a restarted plugin still reports it."""
    sc = world["jobcomp_nonshared"]
    shutil.copy(os.path.join(sc.cluster.dir, "log", "jobcomp.txt"), sc.jobcomp_copy)
    sc.start_plugin()
    assert_slurm_outcomes(sc.plugin_status(ROLES))
    assert count(sc.squeue_calls) == 1 and count(sc.sacct_calls) == 0
    os.unlink(sc.jobcomp_copy)
    restart(sc)
    assert_slurm_outcomes(sc.plugin_status(ROLES))
    assert count(sc.squeue_calls) == 1 and count(sc.sacct_calls) == 0


def test_files_answer_and_a_vanished_job_is_lost(world):
    """No accounting (sacct: "accounting storage is disabled", asked once),
    no completion log, shared filesystem.  ok and fail: their own files.
    cancel and timeout: stopped by SLURM, nobody can say why -- what the
    supervisor saw (killed), never success.  vanish: its job ended but its
    files were lost (as if the node died before writing them) -- Lost."""
    sc = world["files_shared"]
    vanish_dir = sc.pod_dir(sc.pods["vanish"])
    state_path = os.path.join(vanish_dir, "containers", "main", "state.json")
    with open(state_path) as f:
        state = json.load(f)
    assert state["state"] == "terminated" and state["exitCode"] == 0, state
    running = {"state": "running", "exitCode": 0, "signal": 0, "pid": 0,
               "startedAt": state.get("startedAt")}
    with open(state_path, "w") as f:
        json.dump(running, f)
    os.unlink(os.path.join(vanish_dir, "done"))

    sc.start_plugin()
    roles = ROLES + ("vanish",)
    got = sc.plugin_status(roles)
    ok, fail = terminated(got["ok"]), terminated(got["fail"])
    assert ok["exitCode"] == 0 and h.derive_phase(got["ok"]) == "Succeeded", got["ok"]
    assert fail["exitCode"] == 3 and h.derive_phase(got["fail"]) == "Failed", got["fail"]
    for role in ("cancel", "timeout"):
        assert h.derive_phase(got[role]) == "Failed", got[role]
        assert terminated(got[role])["exitCode"] != 0, got[role]
    lost = terminated(got["vanish"])
    assert lost["reason"] == "Lost" and lost["exitCode"] == 137, got["vanish"]
    assert "vanished" in lost["message"], lost
    assert h.derive_phase(got["vanish"]) == "Failed"
    assert count(sc.squeue_calls) == 1 and count(sc.sacct_calls) == 1
    # sacct said accounting is disabled: not asked again by this process.
    again = sc.plugin_status(roles)
    assert terminated(again["vanish"])["reason"] == "Lost"
    assert count(sc.squeue_calls) == 2 and count(sc.sacct_calls) == 1
    # Nothing recorded a final state for vanish: still Lost after a restart.
    restart(sc)
    assert terminated(sc.plugin_status(roles)["vanish"])["reason"] == "Lost"
    assert count(sc.squeue_calls) == 3 and count(sc.sacct_calls) == 2


# ---- accounting unreachable: nothing concluded from silence --------------------

def stop_slurmdbd(cluster):
    with open(os.path.join(cluster.dir, "run", "slurmdbd.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, 15)
    wait_until("slurmdbd stopped", lambda: cluster.run("sacct", "-n", "-j", "1").returncode != 0,
               30)


def test_sacct_unreachable_is_not_lost(world):
    """slurmdbd down: sacct fails.  The forgotten job is not declared Lost
    on that silence; once slurmdbd is back, sacct's answer is reported."""
    sc = accounting(world, "acct_outage")
    stop_slurmdbd(sc.cluster)
    try:
        sc.start_plugin()
        st = sc.plugin_status(["ok"])["ok"]
        assert h.derive_phase(st) == "Pending", st
        assert "terminated" not in ctr(st)["state"], st
        assert count(sc.sacct_calls) == 1
        assert "Lost" not in json.dumps(st)
    finally:
        assert sc.cluster.up().error is None, sc.cluster.error   # restarts slurmdbd only
    ok = terminated(sc.plugin_status(["ok"])["ok"])
    assert ok["reason"] == "Completed" and ok["exitCode"] == 0, ok
    assert count(sc.sacct_calls) == 2
