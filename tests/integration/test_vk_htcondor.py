"""Pods through the whole chain onto the real HTCondor pool: the Kubernetes
API server test double -> interlink-vk -> interlink -> interlink-htcondor ->
the personal pool of ../shared/htcondor (started once for this module and
stopped at the end; skipped with the reason when absent).  A pod runs to
Succeeded as an HTCondor job with its container statuses, a failing
container fails the pod with its exit code, the node shows the pool's
capacity, and deleting a running pod removes the job before the pod object
goes away."""
import os

import pytest

import htcondorutil as hu
import vkutil
from vkutil import sh, wait_for


@pytest.fixture(scope="module")
def pool():
    with hu.module_pool() as p:
        yield p


class CondorVKEnv(vkutil.VKEnv):
    """The fake API server, interlink + interlink-htcondor, and interlink-vk, in one dir."""

    def __init__(self, directory, pool):
        self.pool = pool
        stack = hu.CondorStack(os.path.join(str(directory), "stack"), pool).start()
        super().__init__(directory, stack=stack)

    def wait_phase(self, name, phases=("Succeeded", "Failed"), timeout=90):
        return super().wait_phase(name, phases, timeout)

    def job_of(self, name):
        job = self.job_annotation(name)
        assert job and job.endswith(".0"), f"JobID annotation of {name}: {job!r}"
        return job


@pytest.fixture(scope="module")
def env(tmp_path_factory, pool):
    e = CondorVKEnv(tmp_path_factory.mktemp("vkhtcondor"), pool)
    e.wait_ready()
    yield e
    e.stop()


def test_node_shows_the_pool(env):
    node = env.kube.node()
    assert int(node["status"]["capacity"]["cpu"]) >= 1, node["status"]["capacity"]
    assert not [t for t in node["spec"].get("taints") or []
                if t["key"] == "interlink.htcondor/no-slots"]


def test_pod_runs_to_succeeded_as_an_htcondor_job(env):
    pod = env.kube.create_pod("hello", [sh("a", "echo one"), sh("b", "echo two; sleep 1")],
                              initContainers=[sh("init", "echo init")])
    done = env.wait_phase("hello")
    st = done["status"]
    assert st["phase"] == "Succeeded", st
    for cs in st["containerStatuses"] + st["initContainerStatuses"]:
        term = cs["state"]["terminated"]
        assert term["exitCode"] == 0 and term["reason"] == "Completed", cs
    assert env.pool.jobs_of(pod["metadata"]["uid"]) == [env.job_of("hello")]
    assert vkutil.logs_from_plugin(env.stack, done, "b") == "two\n"


def test_failing_container_fails_the_pod_with_its_exit_code(env):
    env.kube.create_pod("bad", [sh("ok", "true"), sh("main", "echo oops >&2; exit 3")])
    st = env.wait_phase("bad")["status"]
    assert st["phase"] == "Failed", st
    by_name = {c["name"]: c["state"]["terminated"] for c in st["containerStatuses"]}
    assert by_name["main"]["exitCode"] == 3 and by_name["main"]["reason"] == "Error", by_name


def test_delete_running_pod_removes_the_job_before_the_object_goes(env):
    pod = env.kube.create_pod("run", [sh("main", "sleep 300")])
    env.wait_phase("run", phases=("Running",))
    job = env.job_of("run")
    code, body = env.kube.delete_pod("run", gracePeriodSeconds=3)
    assert code == 200 and body["metadata"]["deletionTimestamp"], (code, body)
    wait_for("pod run removed from the API", lambda: env.kube.pod("run") is None, timeout=60)
    assert job not in [j for j, _, _ in env.pool.queue()]
    assert not os.path.exists(env.stack.pod_dir(pod))
