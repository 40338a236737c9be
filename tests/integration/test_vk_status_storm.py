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
    e = vkutil.ready_env(tmp_path_factory.mktemp("vkstorm"))
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


# ---- on the real API server ---------------------------------------------------

@pytest.fixture(scope="module")
def real_env(tmp_path_factory, real_kube):
    e = vkutil.ready_env(tmp_path_factory.mktemp("vkstorm-real"), kube=real_kube)
    yield e
    e.stop()


def server_status_patches(kube):
    """pods/status PATCHes the real server has served (every client's: in
    these tests only the VK and the test itself write pod statuses)."""
    code, text = kube.api.get("/metrics")
    assert code == 200
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{") and 'verb="PATCH"' in line and \
                'resource="pods"' in line and 'subresource="status"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


# Another client rewrites the pod's address: a JSON merge patch of podIP
# alone (the server then sets podIPs from it), one of both fields, or a
# second address (of the other family) after the VK's.
FOREIGN_WRITES = {
    "merge-podip": lambda ip: {"podIP": "10.255.0.1"},
    "merge-both": lambda ip: {"podIP": "10.255.0.2", "podIPs": [{"ip": "10.255.0.2"}]},
    "added-ipv6": lambda ip: {"podIPs": [{"ip": ip}, {"ip": "fd00::1"}]},
}


@pytest.mark.parametrize("kind", sorted(FOREIGN_WRITES))
def test_rewritten_pod_ip_is_corrected_once_then_left_alone(real_env, kind):
    """The VK owns the pod's status: an address another client wrote is put
    back once, and then the status is stable (no PATCH per cycle).  Before,
    the VK's strategic merge kept the foreign entry in podIPs beside its own,
    its change check saw the list differ from what it sends, and it wrote
    the pod on every status cycle from then on."""
    env, name = real_env, f"ip-{kind}"
    env.kube.create_pod(name, [{"name": "main", "image": "busybox",
                                "command": ["/bin/sh", "-c", "sleep 60"]}])
    env.wait_phase(name, phases=("Running",))
    wait_for("ready", lambda: (condition(env.kube.pod(name), "Ready") or {})
             .get("status") == "True", timeout=15)
    ours = env.kube.pod(name)["status"]
    ip = ours["podIP"]
    assert ours["podIPs"] == [{"ip": ip}]
    time.sleep(3)   # quiet cycles
    code, answer = env.kube.api.patch(f"/api/v1/namespaces/default/pods/{name}/status",
                                      {"status": FOREIGN_WRITES[kind](ip)}, kind="merge")
    assert code == 200, answer
    assert answer["status"]["podIPs"] != [{"ip": ip}]
    wait_for("the VK's address back", lambda: (lambda st: (st["podIP"], st["podIPs"]))(
        env.kube.pod(name)["status"]) == (ip, [{"ip": ip}]), timeout=15)
    time.sleep(2)   # the correction and its echo settle
    before = server_status_patches(env.kube)
    time.sleep(5)   # StatusIntervalSeconds 1: about five cycles
    assert server_status_patches(env.kube) - before == 0
    st = env.kube.pod(name)["status"]
    assert (st["podIP"], st["podIPs"]) == (ip, [{"ip": ip}])
    env.kube.delete_pod(name, gracePeriodSeconds=0)
    env.wait_gone(name)
