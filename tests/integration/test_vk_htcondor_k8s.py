"""The virtual kubelet end to end on the real Kubernetes control plane of
../shared/k8s (kube-apiserver, controller-manager, scheduler) with a pod run
as an HTCondor job on the real pool of ../shared/htcondor: real API server
-> interlink-vk -> interlink -> interlink-htcondor -> HTCondor.  The
control plane is the session's (real_kube), the pool is started for this
module as in test_htcondor_plugin; skipped with the reason when either is
absent or cannot start."""
import json
import os
import subprocess

import pytest

import harness as h
import htcondorutil as hu
import vkutil
from vkutil import condition, wait_for

@pytest.fixture(scope="module")
def k8s(real_kube):
    """The session's real control plane (conftest's real_kube), emptied."""
    real_kube.reset()
    return real_kube.kubeconfig


@pytest.fixture(scope="module")
def pool():
    with hu.module_pool() as p:
        yield p


class KubeCtl:
    """What VK wants of a kube object (kubeconfig), with kubectl for the test."""

    def __init__(self, kubeconfig):
        self.kubeconfig = kubeconfig

    def kubectl(self, *args, stdin=None):
        return subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    def get(self, *what):
        r = self.kubectl("get", *what, "-o", "json")
        return json.loads(r.stdout) if r.returncode == 0 else None


@pytest.fixture(scope="module")
def env(tmp_path_factory, k8s, pool):
    d = str(tmp_path_factory.mktemp("vkk8s"))
    kube = KubeCtl(k8s)
    stack = hu.CondorStack(os.path.join(d, "stack"), pool).start()
    vk = vkutil.VK(d, kube, stack).start()
    try:
        wait_for("node Ready", lambda: (condition(kube.get("node", vkutil.NODE) or {}, "Ready")
                                        or {}).get("status") == "True", timeout=60)
        yield kube, stack, vk, pool
    finally:
        kube.kubectl("delete", "pod", "--all", "--wait=false")
        try:
            assert vk.stop() == 0, vk.output()[-3000:]
        finally:
            stack.cleanup()
            kube.kubectl("delete", "node", vkutil.NODE, "--wait=false")


def test_pod_runs_as_an_htcondor_job_through_the_real_api_server(env):
    kube, stack, vk, pool = env
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "condor-hello"},
           "spec": {"nodeName": vkutil.NODE, "restartPolicy": "Never",
                    "tolerations": [{"operator": "Exists"}],
                    "initContainers": [{"name": "init", "image": "busybox",
                                        "command": ["/bin/sh", "-c", "echo init"]}],
                    "containers": [{"name": "main", "image": "busybox",
                                    "command": ["/bin/sh", "-c", "echo from-condor; exit 3"]}]}}
    r = kube.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    assert r.returncode == 0, r.stderr
    done = wait_for("pod Failed (exit 3)", lambda: (kube.get("pod", "condor-hello") or {})
                    .get("status", {}).get("phase") == "Failed" and kube.get("pod", "condor-hello"),
                    timeout=120)
    st = done["status"]
    main = st["containerStatuses"][0]["state"]["terminated"]
    assert main["exitCode"] == 3 and main["reason"] == "Error", st
    assert st["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0, st
    uid = done["metadata"]["uid"]
    jobs = pool.jobs_of(uid)
    assert len(jobs) == 1, jobs
    assert vkutil.logs_from_plugin(stack, done, "main") == "from-condor\n"
    r = kube.kubectl("delete", "pod", "condor-hello", "--timeout=60s")
    assert r.returncode == 0, r.stderr
    # a finished pod's object may go first; the VK deletes it from interlink after
    wait_for("the pod's files removed", lambda: not os.path.exists(stack.pod_dir(done)),
             timeout=30)
