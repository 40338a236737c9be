"""Readiness through interlink-vk: the plugin (interlink-local, host
runtime) runs the probes; the pod's containerStatuses[].ready/started and
its ContainersReady / Ready conditions follow them, with transition times,
and the status written to the API server holds no nulls."""
import os

import pytest

import vkutil
from vkutil import condition, wait_for


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_kube):
    e = vkutil.ready_env(tmp_path_factory.mktemp("vkprobes"), kube=real_kube)
    yield e
    e.stop()


def nulls(v, path="status"):
    """Paths of the nulls in v (but lastProbeTime: a real API server renders
    the unset time as null whatever the VK wrote)."""
    if path.endswith(".lastProbeTime"):
        return []
    if v is None:
        return [path]
    if isinstance(v, dict):
        return [p for k, x in v.items() for p in nulls(x, f"{path}.{k}")]
    if isinstance(v, list):
        return [p for i, x in enumerate(v) for p in nulls(x, f"{path}[{i}]")]
    return []


def cond(env, name, ctype):
    return condition(env.kube.pod(name), ctype) or {}


def test_ready_condition_follows_readiness(env):
    c = {"name": "web", "image": "busybox",
         "command": ["/bin/sh", "-c", "echo up; sleep 300"],
         "volumeMounts": [{"name": "www", "mountPath": "/www"}],
         "readinessProbe": {"exec": {"command": ["/bin/sh", "-c",
                                                 "echo x >> /www/probed; test -e /www/ready"]},
                            "periodSeconds": 1, "failureThreshold": 1}}
    env.kube.create_pod("probed", [c], volumes=[{"name": "www", "emptyDir": {}}],
                        restartPolicy="Never")
    pod = env.wait_phase("probed", phases=("Running",))
    www = os.path.join(env.stack.dir, "local-data", "pods", pod["metadata"]["uid"], "volumes",
                       "www")
    probed = os.path.join(www, "probed")
    # The probe has demonstrably run (and failed) a few times.
    wait_for("failed probes", lambda: os.path.exists(probed) and
             len(open(probed).read().split()) >= 3)
    wait_for("started, not ready", lambda: (env.kube.pod("probed")["status"].get(
        "containerStatuses") or [{}])[0].get("started") is True)
    pod = env.kube.pod("probed")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["ready"] is False and "running" in cs["state"], cs
    for t in ("ContainersReady", "Ready"):
        c = condition(pod, t)
        assert c["status"] == "False" and c["reason"] == "ContainersNotReady", c
        assert "web" in c["message"]
    not_ready_since = condition(pod, "Ready")["lastTransitionTime"]
    assert nulls(pod["status"]) == [], nulls(pod["status"])
    # The kubelet sets startTime before any container starts.
    assert pod["status"]["startTime"] <= cs["state"]["running"]["startedAt"]

    open(os.path.join(www, "ready"), "w").close()
    wait_for("Ready", lambda: cond(env, "probed", "Ready").get("status") == "True")
    pod = env.kube.pod("probed")
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    ready = condition(pod, "Ready")
    assert condition(pod, "ContainersReady")["status"] == "True"
    assert "reason" not in ready and "message" not in ready, ready   # deleted, not left stale
    assert ready["lastTransitionTime"] >= not_ready_since
    assert nulls(pod["status"]) == [], nulls(pod["status"])

    os.unlink(os.path.join(www, "ready"))
    wait_for("not Ready again", lambda: cond(env, "probed", "Ready").get("status") == "False")
    pod = env.kube.pod("probed")
    assert condition(pod, "Ready")["reason"] == "ContainersNotReady"
    assert condition(pod, "Ready")["lastTransitionTime"] >= ready["lastTransitionTime"]
    assert pod["status"]["phase"] == "Running"
    env.kube.delete_pod("probed", gracePeriodSeconds=1)
    env.wait_gone("probed")
