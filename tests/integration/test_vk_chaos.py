"""The virtual kubelet under chaos, on the real control plane (conftest's
real_kube): a bounded trial of tests/chaos/chaos_vk.py (the full one is
`make chaos`), and what the VK does with a delete interlink answers 404."""
import os
import random
import sys
import time

import pytest

import harness
from apiutil import MisbehavingPlugin
from kube_client import NODE

sys.path.insert(0, os.path.join(harness.SRC_DIR, "tests", "chaos"))


def start_vk(tmp_path, kube, interlink_url):
    cfg = harness.write_yaml(str(tmp_path / "vk.yaml"), {
        "InterlinkURL": interlink_url, "PingIntervalSeconds": 1, "StatusIntervalSeconds": 1,
        "DisableCSR": True, "VerboseLogging": True})
    return harness.Daemon([harness.binary("interlink-vk"), "--config", cfg, "--nodename", NODE],
                          str(tmp_path / "vk.log"),
                          env={"KUBECONFIG": kube.kubeconfig,
                               "KUBELET_PORT": str(harness.free_port()),
                               "POD_IP": "127.0.0.1"}).start()


def pod_on_a_lost_backend(tmp_path, kube, mode):
    """A pod bound to the VK in front of an interlink that answers 404
    (mode "forgot": and [] to /status; "code": 404 to everything)."""
    kube.reset()
    fake = MisbehavingPlugin(str(tmp_path / "interlink.sock"), mode, code=404)
    vk = start_vk(tmp_path, kube, fake.address)
    kube.create_pod("lost", [{"name": "main", "image": "busybox", "command": ["true"]}])
    harness.wait_for("the VK to try the pod", lambda: any(
        r[1] == "/create" for r in fake.requests()), timeout=30)
    code, body = kube.delete_pod("lost")
    assert code == 200, body
    return fake, vk


def test_vk_takes_404_with_an_empty_status_for_gone(tmp_path, real_kube):
    """interlink no longer knows the pod (404 to the delete, nothing in
    /status): the VK removes the API object instead of retrying forever
    (before, the pod stayed Terminating)."""
    fake, vk = pod_on_a_lost_backend(tmp_path, real_kube, "forgot")
    try:
        harness.wait_for("the pod removed from the API", lambda: real_kube.pod("lost") is None,
                         timeout=30)
    finally:
        vk.stop_cleanly()
        fake.stop()


def test_vk_keeps_retrying_a_404_on_every_path(tmp_path, real_kube):
    """An interlink URL that answers 404 to everything (a wrong path, a
    proxy) is not "gone": the pod stays Terminating, with a Warning that
    says why, while the VK retries."""
    fake, vk = pod_on_a_lost_backend(tmp_path, real_kube, "code")
    try:
        harness.wait_for("a FailedKillPod event", lambda: any(
            e.get("reason") == "FailedKillPod" for e in real_kube.events("lost")), timeout=30)
        deletes = sum(1 for r in fake.requests() if r[1] == "/delete")
        time.sleep(2)
        assert real_kube.pod("lost") is not None
        assert sum(1 for r in fake.requests() if r[1] == "/delete") > deletes  # retried
    finally:
        vk.stop_cleanly()
        fake.stop()
        real_kube.reset()


def test_bounded_vk_chaos(tmp_path, real_kube):
    """20 pods through the API server while the VK, interlink and
    interlink-local are killed (an event every ~1.5 s) and the disk fills:
    none lost, run twice, wrong, log-less, stuck Terminating or orphaned."""
    import chaos_vk
    if os.geteuid() != 0:
        pytest.skip("needs root to mount the trial's tmpfs")
    real_kube.reset()
    rng = random.Random(int(os.environ.get("CHAOS_SEED", time.time())))
    # The session's API server is left alone: its restart alone can take 10 s here.
    trial = chaos_vk.VKTrial(1, "local", 20, rng, real_kube, kill_apiserver=False)
    try:
        result = trial.run()
    finally:
        trial.close()
        real_kube.reset()
    bad = {c: result[c] for c in chaos_vk.COLUMNS if result[c]}
    assert not bad, f"{bad} (kills {result['kills']}, log above)"
