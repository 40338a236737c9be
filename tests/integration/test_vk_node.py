"""interlink-vk's Node and Lease against the real API server: registration with
labels, taints, capacity, addresses and endpoints; Ready following the interlink
ping (and saying why when not); the lease renewed every LeaseDurationSeconds/4.
Only the count of status writes needs the double (its request log)."""
import copy
import json
import time

import pytest

import vkutil
from vkutil import NODE, condition, wait_for


CONFIG = {"NodeLabels": ["team=physics"],
          "NodeTaints": [{"Key": "site", "Value": "cnaf", "Effect": "NoExecute"}]}


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_kube):
    e = vkutil.VKEnv(tmp_path_factory.mktemp("vknode"), kube=real_kube, **CONFIG)
    yield e
    e.stop()


@pytest.fixture
def fake_env(tmp_path):
    """The double: a real API server keeps no log of the requests it served."""
    e = vkutil.VKEnv(tmp_path, **CONFIG)
    yield e
    e.stop()


def ready(node):
    return (condition(node, "Ready") or {}).get("status")


def test_node_registered_with_labels_taints_capacity(env):
    node = wait_for("a Ready node", lambda: ready(env.kube.node()) == "True" and env.kube.node(),
                    timeout=15)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == NODE
    assert labels["virtual-node.interlink/type"] == "virtual-kubelet"
    assert labels["kubernetes.io/os"] == "virtual-kubelet"
    assert labels["team"] == "physics"
    taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"]["taints"]}
    assert ("virtual-node.interlink/no-schedule", "true", "NoSchedule") in taints
    assert ("site", "cnaf", "NoExecute") in taints
    st = node["status"]
    # interlink-local's PingResponse says pods: 1000 (the config default is 10000):
    # capacity from the ping reaches the API server (which stores 1000 as 1k).
    assert st["capacity"]["pods"] == "1k" and st["allocatable"]["pods"] == "1k"
    assert int(st["capacity"]["cpu"]) >= 1
    assert {"type": "InternalIP", "address": "127.0.0.1"} in st["addresses"]
    assert st["daemonEndpoints"]["kubeletEndpoint"]["Port"] == env.kubelet_port
    assert st["nodeInfo"]["operatingSystem"] == "linux"
    conn = condition(node, "InterlinkConnectivity")
    assert conn["status"] == "True" and conn["reason"] == "InterlinkPingSuccessful"
    assert node["spec"]["providerID"] == f"external:///{NODE}"


def test_lease_renewed_and_owned_by_the_node(env):
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}"
    first = wait_for("the lease", lambda: env.kube.api.get(path)[1]
                     if env.kube.api.get(path)[0] == 200 else None, timeout=10)
    assert first["spec"]["holderIdentity"] == NODE
    assert first["spec"]["leaseDurationSeconds"] == 4
    owner = first["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Node" and owner["uid"] == env.kube.node()["metadata"]["uid"]
    # LeaseDurationSeconds 4: renewed every second.
    wait_for("a renewal", lambda: env.kube.api.get(path)[1]["spec"]["renewTime"]
             != first["spec"]["renewTime"], timeout=5)


def test_ready_follows_the_ping_with_a_reason(env):
    wait_for("Ready", lambda: ready(env.kube.node()) == "True", timeout=10)
    env.stack.plugin.stop()
    node = wait_for("NotReady", lambda: ready(env.kube.node()) == "False" and env.kube.node(),
                    timeout=10)
    cond = condition(node, "Ready")
    assert cond["reason"] == "InterlinkPingFailed"
    assert "502" in cond["message"], cond   # interlink says its plugin is unreachable
    assert condition(node, "InterlinkConnectivity")["status"] == "False"
    env.stack.start_plugin()
    node = wait_for("Ready again", lambda: ready(env.kube.node()) == "True" and env.kube.node(),
                    timeout=10)
    assert condition(node, "Ready")["reason"] == "KubeletReady"


def status_writes(env):
    """The statuses the VK has PATCHed, in order (the double's request log)."""
    return [json.loads(w["body"])["status"] for w in
            env.kube.requests(method="PATCH", path=f"/api/v1/nodes/{NODE}/status")]


def without_heartbeats(status):
    status = copy.deepcopy(status)
    for c in status.get("conditions") or []:
        c.pop("lastHeartbeatTime", None)
    return status


def test_node_status_written_only_on_change(fake_env):
    """Over three ping periods no status is written that says nothing new.
    A write that does say something is legitimate: under heavy load a ping
    can time out (interlink gives the plugin 2 s) and flip Ready, and the
    VK must write that.  So each write in the window is compared with the
    one before it, heartbeat times aside, instead of expecting none."""
    env = fake_env
    wait_for("Ready, and its first status write", lambda: ready(env.kube.node()) == "True"
             and status_writes(env), timeout=10)
    before = len(status_writes(env))
    time.sleep(3)   # a negative check: three ping periods
    writes = [without_heartbeats(w) for w in status_writes(env)[before - 1:]]
    repeated = [b for a, b in zip(writes, writes[1:]) if a == b]
    assert not repeated, (len(writes) - 1, repeated)
