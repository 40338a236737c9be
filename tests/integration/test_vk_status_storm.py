"""interlink-vk writes a pod's status only when what the API server stores
would change.  The server drops empty lists ("initContainerStatuses": []
of a pod without init containers), as the fake server now does too; a VK
that compares against what it sent instead re-PATCHed every pod on every
status cycle (the status storm of issue 14)."""
import time

import pytest

import vkutil
from vkutil import condition, wait_for


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = vkutil.VKEnv(tmp_path_factory.mktemp("vkstorm"))
    wait_for("Ready", lambda: (condition(e.kube.node(), "Ready") or {}).get("status") == "True",
             timeout=15)
    yield e
    e.stop()


def status_patches(env, name):
    return [r for r in env.kube.requests(method="PATCH")
            if r["path"] == f"/api/v1/namespaces/default/pods/{name}/status"]


def test_unchanged_running_pod_is_not_repatched(env):
    env.kube.create_pod("steady", [{"name": "main", "image": "busybox",
                                    "command": ["/bin/sh", "-c", "sleep 60"]}])
    env.wait_phase("steady", phases=("Running",))
    wait_for("ready", lambda: (condition(env.kube.pod("steady"), "Ready") or {})
             .get("status") == "True", timeout=15)
    stored = env.kube.pod("steady")["status"]
    assert "initContainerStatuses" not in stored   # dropped, as the real server does
    time.sleep(2)   # let the last transitions settle
    env.kube.api.delete("/_test/requests")
    time.sleep(5)   # StatusIntervalSeconds 1: about five status cycles
    assert status_patches(env, "steady") == []
    env.kube.delete_pod("steady", gracePeriodSeconds=0)
    env.wait_gone("steady")


def test_status_changed_by_another_writer_is_rewritten(env):
    """The VK remembers answers that changed nothing (statuscache.c) only
    for the pod object they were checked against: when someone else
    rewrites the stored status, interlink's answer is the same bytes as
    before, yet the VK must write its status back."""
    env.kube.create_pod("foreign", [{"name": "main", "image": "busybox",
                                     "command": ["/bin/sh", "-c", "sleep 60"]}])
    env.wait_phase("foreign", phases=("Running",))
    ip = env.kube.pod("foreign")["status"]["podIP"]
    time.sleep(3)   # a few quiet cycles: the answer is remembered
    code, _ = env.kube.api.patch("/api/v1/namespaces/default/pods/foreign/status",
                                 {"status": {"podIP": "10.255.0.1"}}, kind="merge")
    assert code == 200
    wait_for("the VK's podIP back", lambda: env.kube.pod("foreign")["status"]["podIP"] == ip,
             timeout=15)
    env.kube.delete_pod("foreign", gracePeriodSeconds=0)
    env.wait_gone("foreign")
