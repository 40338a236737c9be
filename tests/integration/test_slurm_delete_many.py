"""Many concurrent /delete calls against the real SLURM of tests/slurm.

Each delete answers 200 only once SLURM confirmed its own job gone (running
jobs get their SIGTERM first), every delete made while slurmctld is down
answers 503 and keeps its pod's files (then succeeds once it is back), and
a job id that belongs to another pod (by name) is never cancelled -- with
50 deletes in flight at once, as a virtual kubelet's workers and interlink
send them."""
import concurrent.futures
import json
import os

import pytest

import harness as h
from harness import sh
import slurmutil as su

N_PODS = 50
N_RUNNING = 4     # the cluster's CPUs: the rest stay pending


@pytest.fixture(scope="module")
def cluster():
    with su.module_cluster(cpus=N_RUNNING) as c:
        yield c


@pytest.fixture
def stack(tmp_path, cluster):
    # interlink's own retry of a delete kept out of the way: the tests count
    # the plugin's answers
    with su.outage_stack(tmp_path / "s", cluster, pending_delete_retry_s=3600) as s:
        yield s


def create_all(stack, pods):
    for pod in pods:
        code, body = stack.create(h.create_request(pod))
        assert code == 200, body


def held(name):
    return h.make_pod(name, [sh("main", "sleep 300")],
                      annotations={"slurm-job.vk.io/flags": "--hold"})


def plugin_delete(stack, pod):
    """Straight to the plugin: its own answer, not interlink's retry."""
    return h.request_json(stack.plugin_addr, "DELETE", "/delete", pod, timeout=120)


def delete_concurrently(pods, delete):
    with concurrent.futures.ThreadPoolExecutor(len(pods)) as pool:
        return list(pool.map(delete, pods))


def alive(cluster, names):
    return [(jid, name, state) for jid, name, state in cluster.squeue_ids()
            if name in names and state in ("PENDING", "RUNNING", "COMPLETING")]


def test_concurrent_deletes_pending_and_running(stack, cluster):
    running = [h.make_pod(f"run{i}", [sh("main", "sleep 300")]) for i in range(N_RUNNING)]
    pending = [held(f"pend{i}") for i in range(N_PODS - N_RUNNING)]
    create_all(stack, running + pending)
    for pod in running:
        stack.wait_running(pod, timeout=120)
    pods = running + pending
    names = {p["metadata"]["uid"] for p in pods}
    assert len(alive(cluster, names)) == N_PODS
    answers = delete_concurrently(pods, stack.delete)
    assert [code for code, _ in answers] == [200] * N_PODS, answers
    assert alive(cluster, names) == []
    for pod in pods:
        assert not os.path.exists(stack.pod_dir(pod)), pod["metadata"]["name"]
    stack.pods.clear()


def test_outage_fails_every_delete_and_keeps_files(stack, cluster):
    pods = [held(f"out{i}") for i in range(20)]
    create_all(stack, pods)
    names = {p["metadata"]["uid"] for p in pods}
    cluster.stop_slurmctld()
    answers = delete_concurrently(pods, lambda p: plugin_delete(stack, p))
    assert [code for code, _ in answers] == [503] * len(pods), answers
    assert all("squeue" in json.dumps(body) or "slurm" in json.dumps(body).lower()
               for _, body in answers), answers
    for pod in pods:
        assert os.path.isfile(os.path.join(stack.pod_dir(pod), "job.json"))
    cluster.restart_slurmctld()
    assert len(alive(cluster, names)) == len(pods)   # nothing was lost meanwhile
    answers = delete_concurrently(pods, lambda p: plugin_delete(stack, p))
    assert [code for code, _ in answers] == [200] * len(pods), answers
    assert alive(cluster, names) == []
    for pod in pods:
        assert not os.path.exists(stack.pod_dir(pod))
    stack.pods.clear()


def test_job_id_of_another_pod_is_not_cancelled(stack, cluster):
    """A pod whose job.json names a job id that SLURM gives to another
    pod's job (an id reused after a controller lost its state): deleting
    it, among concurrent deletes, leaves that other job alone."""
    victim = held("victim")
    others = [held(f"other{i}") for i in range(10)]
    create_all(stack, [victim] + others)
    victim_job = stack.job_id(victim)
    stray = others[0]
    record = os.path.join(stack.pod_dir(stray), "job.json")
    own_job = json.load(open(record))["jobId"]
    with open(record, "w") as f:
        json.dump({"jobId": victim_job}, f)   # the stray pod now names the victim's job
    answers = delete_concurrently(others, lambda p: plugin_delete(stack, p))
    assert [code for code, _ in answers] == [200] * len(others), answers
    assert alive(cluster, {victim["metadata"]["uid"]}), cluster.squeue_ids()
    cluster.run("scancel", own_job)   # the stray's real job, now nobody's
    stack.pods[:] = [victim]
