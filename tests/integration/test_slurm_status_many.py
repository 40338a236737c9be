"""/status over more jobs than interlink-slurm names to squeue (real SLURM).

Up to 100 jobs, the plugin asks `squeue --jobs ID,...`; above that, squeue's
own filter costs more than printing every job (it walks the whole id list for
each job), so the plugin asks for every job (`--all`) and keeps the ones it
asked about.  Both ways must give the same statuses, whatever else is in the
queue.  squeue runs behind a wrapper that records its arguments.  About a
minute (105 held jobs through sbatch)."""
import concurrent.futures as cf
import os
import stat

import pytest

import harness as h
from harness import sh, ctr
import slurmutil as su

N_PODS = 105   # above the plugin's 100-id squeue filter


@pytest.fixture(scope="module")
def cluster():
    with su.module_cluster(cpus=4) as c:
        yield c


@pytest.fixture
def stack(tmp_path, cluster):
    calls = tmp_path / "squeue.calls"
    wrapper = tmp_path / "squeue"
    wrapper.write_text("#!/bin/sh\n"
                       f"printf '%s\\n' \"$*\" >> '{calls}'\n"
                       f"exec '{cluster.run('sh', '-c', 'command -v squeue').stdout.strip()}'"
                       " \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    s = su.SlurmStackWithPods(tmp_path / "s", cluster,
                              plugin_extra={"SqueuePath": str(wrapper)}).start()
    s.squeue_calls = calls
    yield s
    s.cleanup()


def held_pod(i):
    return h.make_pod(f"held{i}", [sh("main", "true")],
                      annotations={"slurm-job.vk.io/flags": "--hold"})


def squeue_calls_since(stack, mark):
    with open(stack.squeue_calls) as f:
        return f.read().splitlines()[mark:]


def test_many_jobs_one_squeue_of_every_job_same_statuses(stack, cluster):
    pods = [held_pod(i) for i in range(N_PODS)]
    with cf.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda p: stack.create(h.create_request(p))[0], pods))
    assert codes == [200] * N_PODS
    # Someone else's job in the queue, and one of ours cancelled behind the
    # plugin's back: SLURM's word on it must reach the pod either way.
    foreign = cluster.run("sbatch", "--hold", "--parsable", "-J", "foreign", "-o", "/dev/null",
                          "--wrap", "true")
    assert foreign.returncode == 0, foreign.stderr
    code, body = stack.status(pods[:1])
    assert code == 200, body
    cancelled = body[0]["JID"]
    assert cluster.run("scancel", cancelled).returncode == 0

    mark = len(squeue_calls_since(stack, 0)) if os.path.exists(stack.squeue_calls) else 0
    code, every = stack.status(pods)
    assert code == 200 and len(every) == N_PODS, every
    calls = squeue_calls_since(stack, mark)
    assert len(calls) == 1 and "--all" in calls[0] and "--jobs" not in calls[0], calls

    mark += len(calls)
    by_id = []
    for i in range(0, N_PODS, 50):
        code, part = stack.status(pods[i:i + 50])
        assert code == 200, part
        by_id += part
    calls = squeue_calls_since(stack, mark)
    assert calls and all("--jobs" in c and "--all" not in c for c in calls), calls

    assert every == by_id
    assert [st["UID"] for st in every] == [p["metadata"]["uid"] for p in pods]
    jids = {st["JID"] for st in every}
    assert len(jids) == N_PODS and foreign.stdout.strip() not in jids
    assert ctr(every[0], "main")["state"]["terminated"]["reason"] == "Cancelled", every[0]
    for st in every[1:]:
        msg = ctr(st, "main")["state"]["waiting"]["message"]
        assert msg == f"SLURM job {st['JID']} is PENDING (reason: JobHeldUser)", st
    assert cluster.run("scancel", foreign.stdout.strip()).returncode == 0
