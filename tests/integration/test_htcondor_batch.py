"""Many pods per condor_submit (interlink-htcondor's batch.c) against the
real HTCondor pool of ../shared/htcondor (skipped with the reason when
absent): concurrent creates share one condor_submit, each pod still gets
exactly one job with its own settings, a plugin killed while a batch
condor_submit runs neither loses nor duplicates a job, and a refused batch
falls back to one submission per pod.

CondorBinDir points at a copy of the pool's tools where condor_submit is a
wrapper: it logs every call (and, when told, sleeps or refuses batches)
before running the real one."""
import concurrent.futures as cf
import os
import pathlib
import shutil
import tempfile

import pytest

import harness as h
from harness import sh, ctr, logs
import htcondorutil as hu


@pytest.fixture(scope="module")
def pool():
    with hu.module_pool() as p:
        yield p


@pytest.fixture
def tools(pool):
    """A tools directory: the pool's, with condor_submit wrapped (where
    SUBMIT_USER can run it).  Files under it steer the wrapper: `sleep`
    (seconds before a batch's real condor_submit, its output lost), `delay`
    (the same, output kept), `refuse` (a batch exits 1)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="ilhtc-tools-", dir="/tmp"))
    os.chmod(d, 0o777)
    for name in os.listdir(pool.bin):
        if name != "condor_submit":
            os.symlink(os.path.join(pool.bin, name), d / name)
    real = os.path.join(pool.bin, "condor_submit")
    (d / "calls").write_text("")
    os.chmod(d / "calls", 0o666)
    (d / "condor_submit").write_text(f"""#!/bin/sh
d='{d}'
for last; do :; done
if grep -q '^queue IL_PodDir' "$last"; then kind=batch; else kind=alone; fi
echo "$kind $$" >> "$d/calls"
if [ "$kind" = batch ] && [ -e "$d/sleep" ]; then
    # condor_submit has read the file and is slow to commit; the plugin is
    # killed meanwhile: nobody reads the output
    cp "$last" "$d/read-$$.sub"
    sleep "$(cat "$d/sleep")"
    exec '{real}' -terse "$d/read-$$.sub" >/dev/null 2>&1
fi
if [ "$kind" = batch ] && [ -e "$d/delay" ]; then sleep "$(cat "$d/delay")"; fi
if [ "$kind" = batch ] && [ -e "$d/refuse" ]; then echo refused >&2; exit 1; fi
exec '{real}' "$@"
""")
    os.chmod(d / "condor_submit", 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def calls(tools):
    return (tools / "calls").read_text().split("\n")[:-1]


def make_stack(tmp_path, pool, tools, **extra):
    return hu.CondorStack(tmp_path / "s", pool, plugin_extra={
        "CondorBinDir": str(tools), "SubmitBatchWindowMs": 400, **extra}).start()


def create_all(stack, pods, workers=None):
    with cf.ThreadPoolExecutor(workers or len(pods)) as ex:
        return list(ex.map(lambda p: stack.create(h.create_request(p)), pods))


def test_concurrent_creates_share_one_submit(tmp_path, pool, tools):
    s = make_stack(tmp_path, pool, tools)
    try:
        pods = [h.make_pod(f"b{i}", [sh("main", f"echo pod{i}; exit {i % 3}")])
                for i in range(10)]
        big = h.make_pod("big", [dict(sh("main", "echo big"),
                                      resources={"requests": {"cpu": "3"}})])
        answers = create_all(s, pods + [big])
        assert [code for code, _ in answers] == [200] * 11, answers
        kinds = calls(tools)
        assert len(kinds) < 11 and any(k.startswith("batch") for k in kinds), kinds
        jids = [body["PodJID"] for _, body in answers]
        assert len(set(jids)) == 11
        clusters = {j.split(".")[0] for j in jids[:10]}
        assert len(clusters) < 10, jids
        for i, pod in enumerate(pods + [big]):
            uid = pod["metadata"]["uid"]
            assert pool.jobs_of(uid) == [jids[i]]
            ad = pool.job_ad(jids[i], ["RequestCpus", "Iwd", "InterLinkPodUID"])
            assert ad["InterLinkPodUID"] == uid and ad["Iwd"] == s.pod_dir(pod)
            assert ad["RequestCpus"] == (3 if pod is big else 1), ad
        for i, pod in enumerate(pods):
            phase, st = s.wait_phase(pod, timeout=120)
            assert ctr(st, "main")["state"]["terminated"]["exitCode"] == i % 3, st
            assert logs(s, pod, "main") == f"pod{i}\n".encode()
        assert "one condor_submit queued" in s.plugin.output()
    finally:
        s.cleanup()
        pool.wait_gone(s.pods)


def test_kill9_during_batch_submit_one_job_each(tmp_path, pool, tools):
    """The plugin dies while a batch condor_submit runs (the wrapper sleeps,
    then submits); restarted at once, it waits for that submission (its
    lock, job.batch) and adopts the jobs instead of submitting again."""
    (tools / "sleep").write_text("8")
    s = make_stack(tmp_path, pool, tools)
    try:
        pods = [h.make_pod(f"k{i}", [sh("main", f"echo k{i}")]) for i in range(5)]
        with cf.ThreadPoolExecutor(len(pods)) as ex:
            futures = [ex.submit(s.create, h.create_request(p)) for p in pods]
            h.wait_for("a batch condor_submit", lambda: any(
                k.startswith("batch") for k in calls(tools)), timeout=30, interval=0.1)
            s.plugin.kill9()
            for f in futures:
                f.result()   # answered with an error: the plugin is gone
        (tools / "sleep").unlink()
        s.start_plugin()
        for pod in pods:   # the VK retrying
            code, body = s.create(h.create_request(pod))
            assert code == 200, body
        for i, pod in enumerate(pods):
            phase, st = s.wait_phase(pod, timeout=120)
            assert phase == "Succeeded", st
            assert logs(s, pod, "main") == f"k{i}\n".encode()
        for pod in pods:
            assert len(pool.jobs_of(pod["metadata"]["uid"])) == 1, pod["metadata"]["name"]
        assert "adopted job" in s.plugin.output()   # at start-up, after the wait
        assert not [k for k in calls(tools) if k.startswith("alone")], calls(tools)
    finally:
        s.cleanup()
        pool.wait_gone(s.pods)


def test_delete_during_batch_submit_leaves_no_job(tmp_path, pool, tools):
    """A delete that arrives while the pod's batch condor_submit runs waits
    for it and removes the job, rather than finding none and leaving the
    job the submission then makes."""
    (tools / "delay").write_text("4")
    s = make_stack(tmp_path, pool, tools)
    try:
        pods = [h.make_pod(f"d{i}", [sh("main", "sleep 300")], grace=1) for i in range(3)]
        with cf.ThreadPoolExecutor(len(pods)) as ex:
            futures = [ex.submit(s.create, h.create_request(p)) for p in pods]
            h.wait_for("a batch condor_submit", lambda: any(
                k.startswith("batch") for k in calls(tools)), timeout=30, interval=0.1)
            code, body = s.delete(pods[0])
            assert code == 200, body
            assert [f.result()[0] for f in futures] == [200] * 3
        uid = pods[0]["metadata"]["uid"]
        assert all(u != uid for _, u, _ in pool.queue()), pool.queue()
        assert len(pool.jobs_of(uid)) == 1   # submitted once, then removed
        assert not os.path.exists(s.pod_dir(pods[0]))
    finally:
        s.cleanup()
        pool.wait_gone(s.pods)


def test_refused_batch_falls_back_to_one_each(tmp_path, pool, tools):
    (tools / "refuse").write_text("")
    s = make_stack(tmp_path, pool, tools)
    try:
        pods = [h.make_pod(f"r{i}", [sh("main", f"echo r{i}")]) for i in range(4)]
        answers = create_all(s, pods)
        assert [code for code, _ in answers] == [200] * 4, answers
        kinds = [k.split()[0] for k in calls(tools)]
        assert "batch" in kinds and kinds.count("alone") >= 2, kinds
        for i, pod in enumerate(pods):
            assert s.wait_phase(pod, timeout=120)[0] == "Succeeded"
            assert len(pool.jobs_of(pod["metadata"]["uid"])) == 1
    finally:
        s.cleanup()
        pool.wait_gone(s.pods)
