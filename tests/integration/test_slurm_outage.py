"""interlink + interlink-slurm while slurmctld is down (a real SLURM from
tests/slurm, its slurmctld stopped and restarted by the test).

A delete during the outage must not orphan the job: the plugin answers 503
with SLURM's reason and keeps the pod's files, interlink keeps the pod
(listed with "deletePending") and retries the delete in the background
until SLURM confirms the job gone -- with no retry from the caller, as
interlinkctl and upstream virtual kubelets do not retry.  A create during
the outage is a 503 (retry later), never a 400."""
import json
import os

import pytest

import harness as h
from harness import sh
import slurmutil as su


@pytest.fixture(scope="module")
def cluster():
    with su.module_cluster(cpus=4) as c:
        yield c


@pytest.fixture
def stack(tmp_path, cluster):
    with su.outage_stack(tmp_path / "s", cluster, pending_delete_retry_s=1) as s:
        yield s


def pods_by_uid(stack):
    code, body = h.request_json(stack.api_addr, "GET", "/pods")
    assert code == 200, body
    return {p["UID"]: p for p in body}


def job_alive(cluster, job_id):
    return any(jid == job_id and state in ("PENDING", "RUNNING", "COMPLETING")
               for jid, _, state in cluster.squeue_ids())


def test_delete_during_outage_is_retried_until_slurm_confirms(stack, cluster):
    pod = h.make_pod("outage", [sh("main", "sleep 300")])
    code, body = stack.create(h.create_request(pod))
    assert code == 200, body
    job_id = body["PodJID"]
    stack.wait_running(pod)
    cluster.stop_slurmctld()
    code, body = stack.delete(pod)
    assert code == 503, (code, body)   # not confirmed: never success
    uid = pod["metadata"]["uid"]
    listed = pods_by_uid(stack)
    assert uid in listed and listed[uid].get("deletePending"), listed.get(uid)
    assert os.path.isdir(stack.pod_dir(pod))   # the plugin kept the job's files
    cluster.restart_slurmctld()
    # Nobody calls /delete again: interlink's own retry completes it.
    h.wait_for("the pending delete confirmed", lambda: uid not in pods_by_uid(stack), timeout=180)
    assert not job_alive(cluster, job_id), cluster.squeue_ids()
    assert not os.path.exists(stack.pod_dir(pod))
    stack.pods.remove(pod)


def test_pending_delete_survives_an_interlink_restart(stack, cluster):
    pod = h.make_pod("restart", [sh("main", "sleep 300")])
    code, body = stack.create(h.create_request(pod))
    assert code == 200, body
    job_id = body["PodJID"]
    stack.wait_running(pod)
    cluster.stop_slurmctld()
    code, _ = stack.delete(pod)
    assert code == 503
    stack.api.kill9()
    cluster.restart_slurmctld()
    stack.start_api()
    uid = pod["metadata"]["uid"]
    h.wait_for("the pending delete confirmed", lambda: uid not in pods_by_uid(stack), timeout=180)
    assert not job_alive(cluster, job_id), cluster.squeue_ids()
    stack.pods.remove(pod)


def test_create_during_outage_is_transient(stack, cluster):
    cluster.stop_slurmctld()
    pod = h.make_pod("later", [sh("main", "echo later")])
    code, body = stack.create(h.create_request(pod))
    assert code == 503, (code, body)
    cluster.restart_slurmctld()
    code, body = stack.create(h.create_request(pod))   # the caller's retry
    assert code == 200, body
    phase, st = stack.wait_phase(pod, timeout=90)
    assert phase == "Succeeded", st


def test_drained_node_named_in_ping(stack, cluster):
    """slurmctld restarted without its state drains the node ("Duplicate
    jobid"); the ping names the node and SLURM's reason (a condition the
    virtual kubelet puts on its Node) besides the NoSchedule taint."""
    node = cluster.run("sinfo", "-h", "-N", "-o", "%N").stdout.split()[0]
    r = cluster.run("scontrol", "update", f"nodename={node}", "state=drain",
                    "reason=Duplicate jobid")
    assert r.returncode == 0, r.stderr
    try:
        code, body = stack.ping()
        assert code == 200, body
        ping = json.loads(body)
        cond = ping["conditions"][0]
        assert cond["type"] == "SlurmNodesUnavailable" and cond["status"] == "True"
        assert node in cond["message"] and "Duplicate jobid" in cond["message"], cond
        assert [t["value"] for t in ping["taints"]] == ["no-usable-node"], ping
    finally:
        cluster.run("scontrol", "update", f"nodename={node}", "state=resume")
    code, body = stack.ping()
    assert "conditions" not in json.loads(body)
