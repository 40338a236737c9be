"""One pod's create as one trace, with the real Kubernetes control plane
(../shared/k8s: kube-apiserver, controller-manager, scheduler v1.23) instead
of the API server double: kubectl-style create through the real API server
-> interlink-vk -> interlink -> interlink-slurm -> the real SLURM of
tests/slurm.  The pod carries the annotation interlink.vk.io/traceparent, so
the VK's span continues the user's trace.  The control plane is the
session's (real_kube); the module is skipped with the reason when it or
SLURM cannot start here.  About 30 s."""
import os

import pytest

import harness as h
import otlp_receiver
import slurmutil as su
import vkutil
from vkutil import wait_for

USER_TRACE = "5af7651916cd43dd8448eb211c80319c"
USER_PARENT = f"00-{USER_TRACE}-c7ad6b7169203331-01"


@pytest.fixture(scope="module")
def control_plane(real_kube):
    """The session's real control plane (conftest's real_kube), emptied."""
    real_kube.reset()
    return real_kube.kubeconfig


@pytest.fixture(scope="module")
def cluster():
    with su.module_cluster(cpus=4) as c:
        yield c


def test_a_pods_create_is_one_trace_from_the_users_parent_to_sbatch(tmp_path, control_plane,
                                                                     cluster):
    from kubernetes import client, config
    config.load_kube_config(control_plane)
    core = client.CoreV1Api()
    wait_for("the default service account", lambda: core.list_namespaced_service_account(
        "default").items, timeout=60)
    receiver = otlp_receiver.Receiver().start()
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    saved = {k: os.environ.get(k) for k in otel}
    os.environ.update(otel)
    stack = vk = None
    try:
        stack = su.SlurmStack(os.path.join(str(tmp_path), "stack"), cluster).start()
        kube = type("Kube", (), {"kubeconfig": control_plane})
        vk = vkutil.VK(str(tmp_path), kube, stack, DisableCSR=True).start()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    try:
        wait_for("the virtual node", lambda: [n for n in core.list_node().items
                                              if n.metadata.name == vkutil.NODE], timeout=30)
        pod = core.create_namespaced_pod("default", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "traced", "annotations": {
                "interlink.vk.io/traceparent": USER_PARENT}},
            "spec": {"nodeName": vkutil.NODE, "restartPolicy": "Never",
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "main", "image": "busybox",
                                     "command": ["/bin/sh", "-c", "echo hi"]}]}})
        uid = pod.metadata.uid
        done = wait_for("pod traced Succeeded", lambda: (lambda p: p.status.phase == "Succeeded"
                                                         and p)(core.read_namespaced_pod(
                                                             "traced", "default")), timeout=90)
        job = done.metadata.annotations["JobID"]
        spans = wait_for("the create's trace", lambda: otlp_receiver.create_trace(receiver, uid),
                         timeout=15)
        # The user's trace: the VK's span is the child of the annotation's span.
        root = [s for s in spans if s["name"] == "create pod"][0]
        assert root["traceId"] == USER_TRACE and root["parentSpanId"] == "c7ad6b7169203331"
        for s in spans:
            if s is root:
                s.pop("parentSpanId")   # the user's span is not ours to receive
        otlp_receiver.assert_create_trace(spans, uid, job, "default")
        events = core.list_namespaced_event("default", field_selector=(
            f"involvedObject.uid={uid}")).items
        assert "Created" in [e.reason for e in events], [(e.reason, e.message) for e in events]
    finally:
        code = vk.stop() if vk else 0
        if stack:
            code_, pods = h.request_json(stack.api_addr, "GET", "/pods")
            for entry in (pods if code_ == 200 else []):
                stack.delete(entry["pod"])
            stack.stop()
        receiver.stop()
    assert code == 0, vk.output()[-3000:]
