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
