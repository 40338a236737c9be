"""Pods through the whole chain onto the real SLURM: the fake API server ->
interlink-vk -> interlink -> interlink-slurm -> the single-node SLURM of
tests/slurm (started once for this module, stopped at the end; the module is
skipped with the reason when SLURM cannot start).  A pod runs to Succeeded as
a batch job with its container statuses, a failing container fails the pod
with its exit code, and deleting a running pod cancels the job before the
pod object goes away.  About 20-30 s on the 2-core machine."""
import json
import os
import threading
import time

import pytest

import harness as h
import slurmutil as su
import vkutil
from vkutil import condition, sh, wait_for

# A job in any other state is still in SLURM's hands (pending, running, completing, ...).
FINAL = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "DEADLINE", "OUT_OF_MEMORY",
         "NODE_FAIL", "PREEMPTED", "BOOT_FAIL"}


@pytest.fixture(scope="module")
def cluster():
    with su.module_cluster(cpus=8) as c:
        yield c


class SlurmVKEnv(vkutil.VKEnv):
    """The fake API server, interlink + interlink-slurm, and interlink-vk, in one dir."""

    def __init__(self, directory, cluster):
        self.cluster = cluster
        stack = su.SlurmStack(os.path.join(str(directory), "stack"), cluster).start()
        super().__init__(directory, stack=stack)

    def wait_phase(self, name, phases=("Succeeded", "Failed"), timeout=60):
        return super().wait_phase(name, phases, timeout)

    def job_of(self, name):
        job = self.job_annotation(name)
        assert job and job.isdigit(), f"JobID annotation of {name}: {job!r}"
        return job

    def squeue(self, job):
        """SLURM's (name, state) of the job, None once SLURM has forgotten it."""
        r = self.cluster.run("squeue", "-h", "-t", "all", "-j", job, "-o", "%i|%j|%T")
        if r.returncode != 0 and "Invalid job id" in r.stderr:
            return None
        assert r.returncode == 0, r.stderr
        for line in r.stdout.split():
            jid, name, state = line.split("|")
            if jid == job:
                return name, state
        return None

    def job_active(self, job):
        row = self.squeue(job)
        return row is not None and row[1] not in FINAL


@pytest.fixture(scope="module")
def env(tmp_path_factory, cluster):
    e = SlurmVKEnv(tmp_path_factory.mktemp("vkslurm"), cluster)
    e.wait_ready()
    yield e
    e.stop()


def test_node_reflects_the_partition(env):
    node = env.kube.node()
    assert node["status"]["capacity"]["cpu"] == "8", node["status"]["capacity"]
    assert not [t for t in node["spec"].get("taints") or []
                if t["key"] == "interlink.slurm/partition-unavailable"]


def test_pod_runs_to_succeeded_as_a_slurm_job(env):
    pod = env.kube.create_pod("hello", [sh("a", "echo one"), sh("b", "echo two; sleep 1")],
                              initContainers=[sh("init", "echo init")])
    done = env.wait_phase("hello")
    st = done["status"]
    assert st["phase"] == "Succeeded", st
    assert [c["name"] for c in st["containerStatuses"]] == ["a", "b"]
    assert [c["name"] for c in st["initContainerStatuses"]] == ["init"]
    for cs in st["containerStatuses"] + st["initContainerStatuses"]:
        term = cs["state"]["terminated"]
        assert term["exitCode"] == 0 and term["reason"] == "Completed", cs
        assert term["startedAt"] and term["finishedAt"], cs
        assert cs["restartCount"] == 0, cs
    # As a kubelet reports them: a finished init container is ready, a finished app container is not.
    assert [c["ready"] for c in st["initContainerStatuses"]] == [True]
    assert [c["ready"] for c in st["containerStatuses"]] == [False, False]
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Initialized"]["status"] == "True"
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "PodCompleted"
    # The JobID annotation is the SLURM job, named after the pod's UID.
    job = env.job_of("hello")
    # SLURM keeps it for MinJobAge (30 s); the supervisor writes the final
    # states a moment before the job itself ends.
    def ended():
        row = env.squeue(job)
        return "forgotten" if row is None else row[1] == "COMPLETED" and row
    row = wait_for(f"job {job} COMPLETED or forgotten", ended, timeout=20)
    assert row == "forgotten" or row[0] == pod["metadata"]["uid"], row
    assert vkutil.logs_from_plugin(env.stack, done, "b") == "two\n"
    wait_for("Started events", lambda: "Started" in
             [e["reason"] for e in env.kube.events("hello")], timeout=30)


def test_failing_container_fails_the_pod_with_its_exit_code(env):
    env.kube.create_pod("bad", [sh("ok", "true"), sh("main", "echo oops >&2; exit 3")])
    done = env.wait_phase("bad")
    st = done["status"]
    assert st["phase"] == "Failed", st
    by_name = {c["name"]: c["state"]["terminated"] for c in st["containerStatuses"]}
    assert by_name["main"]["exitCode"] == 3 and by_name["main"]["reason"] == "Error", by_name
    assert by_name["ok"]["exitCode"] == 0, by_name
    wait_for("a Failed event", lambda: "Failed" in
             [e["reason"] for e in env.kube.events("bad")], timeout=30)
    assert vkutil.logs_from_plugin(env.stack, done, "main") == "oops\n"


def test_delete_running_pod_cancels_the_job_before_the_object_goes(env):
    pod = env.kube.create_pod("run", [sh("main", "sleep 300")])
    uid = pod["metadata"]["uid"]
    env.wait_phase("run", phases=("Running",))
    job = env.job_of("run")
    assert env.squeue(job) == (uid, "RUNNING"), env.squeue(job)

    # squeue polled from the start of the delete: the time each call began and
    # whether it still saw the job in SLURM's hands.
    seen, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            t = time.time()
            seen.append((t, env.job_active(job)))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    env.kube.api.delete("/_test/requests")
    poller.start()
    try:
        code, body = env.kube.delete_pod("run", gracePeriodSeconds=5)
        # Graceful: the object stays, with a deletionTimestamp, until the backend confirms.
        assert code == 200 and body["metadata"]["deletionTimestamp"], (code, body)
        wait_for("pod run removed from the API", lambda: env.kube.pod("run") is None, timeout=30)
        assert not env.job_active(job), env.squeue(job)
    finally:
        stop.set()
        poller.join(5)
    removals = [r for r in env.kube.requests(method="DELETE") if r["path"].endswith("/pods/run")
                and json.loads(r["body"] or "{}").get("gracePeriodSeconds") == 0]
    assert len(removals) == 1, removals
    t_removed = removals[0]["time"]
    # No squeue that began after the VK removed the object still saw the job
    # in SLURM's hands.
    assert seen and not [t for t, active in seen if t > t_removed and active], (t_removed, seen)
    assert uid not in [e["pod"]["metadata"]["uid"] for e in
                       h.request_json(env.stack.api_addr, "GET", "/pods")[1]]
    assert not os.path.exists(env.stack.pod_dir(pod))
    row = env.squeue(job)
    assert row is None or row[1] in FINAL, row


def partition_taints(node):
    return [t for t in node["spec"].get("taints") or []
            if t["key"] == "interlink.slurm/partition-unavailable"]


def test_drained_partition_taints_the_node_until_it_is_up(env):
    """The plugin's ping taint reaches the Node's spec (upstream's VK kept it
    to itself), and goes away when SLURM takes pods again."""
    drain = env.cluster.run("scontrol", "update", "PartitionName=debug", "State=DRAIN")
    assert drain.returncode == 0, drain.stderr
    try:
        node = wait_for("the partition-unavailable taint",
                        lambda: partition_taints(env.kube.node()) and env.kube.node(), timeout=20)
        assert partition_taints(node) == [{"key": "interlink.slurm/partition-unavailable",
                                           "value": "down", "effect": "NoSchedule"}], node["spec"]
        # Still reachable: a drained partition is a scheduling matter, not an
        # outage (waited for: one ping slow under load reads NotReady a while).
        wait_for("the node Ready while drained",
                 lambda: condition(env.kube.node(), "Ready")["status"] == "True", timeout=20)
    finally:
        up = env.cluster.run("scontrol", "update", "PartitionName=debug", "State=UP")
        assert up.returncode == 0, up.stderr
    wait_for("the taint lifted", lambda: not partition_taints(env.kube.node()), timeout=20)
    # The VK's own taint stays.
    assert "virtual-node.interlink/no-schedule" in \
        [t["key"] for t in env.kube.node()["spec"]["taints"]]
