"""interlink-slurm with SubmitMode: rest against a real slurmrestd (Debian's
22.05, rest_auth/jwt, tokens from `scontrol token`) in front of the real
SLURM of tests/slurm (SLURM_UP_REST=1, one cluster for the module).

SbatchPath points at a wrapper that records its argv, so every test knows
whether a pod went through slurmrestd or fell back to sbatch.  About 40 s."""
import json
import os
import socket
import subprocess
import threading
import time

import jwt
import pytest

import harness as h
from harness import sh, ctr, logs
import slurmutil as su


@pytest.fixture(scope="module")
def cluster():
    c = su.start_cluster(cpus=16, rest=True)
    try:
        if c.error:
            pytest.skip(f"SLURM with slurmrestd cannot start here: {c.error}")
        yield c
    finally:
        su.stop_cluster(c)


def sbatch_wrapper(path, calls):
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\necho \"$*\" >> '{calls}'\nexec sbatch \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def sbatch_calls(stack):
    return open(stack.calls).read().splitlines() if os.path.exists(stack.calls) else []


def rest_stack(tmp_path, cluster, name="s", **extra):
    cluster.wait_idle()
    d = tmp_path / name
    d.mkdir()
    calls = str(d / "sbatch.calls")
    cfg = {"SubmitMode": "rest", "SlurmrestdURL": cluster.rest_url,
           "SbatchPath": sbatch_wrapper(str(d / "sbatch"), calls),
           "CommandTimeoutSeconds": 4, **extra}
    s = su.SlurmStackWithPods(d / "stack", cluster, plugin_extra=cfg).start()
    s.calls = calls
    return s


@pytest.fixture
def stack(tmp_path, cluster):
    s = rest_stack(tmp_path, cluster)
    yield s
    s.cleanup()


def jobs_named(cluster, pod):
    return [j for j in cluster.squeue_ids() if j[1] == pod["metadata"]["uid"]]


def show_job(cluster, job_id):
    r = cluster.run("scontrol", "show", "job", job_id)
    assert r.returncode == 0, r.stderr
    return r.stdout


def token_file(tmp_path, text):
    path = tmp_path / f"token-{time.monotonic_ns()}"
    path.write_text(text)
    return str(path)


# ---- the REST path ---------------------------------------------------------

def test_pod_created_run_logged_deleted_through_slurmrestd(stack, cluster):
    pod = h.make_pod("rest", [sh("main", "echo from-rest $((6*7)); echo err >&2")],
                     annotations={"slurm-job.vk.io/flags": "--time=3 --mem=200M --nice=5"})
    code, body = stack.create(h.create_request(pod))
    assert code == 200, body
    phase, st = stack.wait_phase(pod, timeout=90)
    assert phase == "Succeeded", st
    assert ctr(st, "main")["state"]["terminated"]["exitCode"] == 0
    assert logs(stack, pod, "main") == b"from-rest 42\nerr\n"
    assert sbatch_calls(stack) == []   # not one sbatch process
    (job,) = jobs_named(cluster, pod)
    shown = show_job(cluster, job[0])
    # the options sbatch would have been given, as slurmctld recorded them
    assert "TimeLimit=00:03:00" in shown and "MinMemoryNode=200M" in shown, shown
    assert "Nice=5" in shown and f"StdOut={stack.pod_dir(pod)}/job.out" in shown, shown
    assert f"WorkDir={stack.pod_dir(pod)}" in shown, shown

    # a running pod deleted through the same plugin
    pod2 = h.make_pod("rest2", [sh("main", "sleep 300")])
    code, body = stack.create(h.create_request(pod2))
    assert code == 200, body
    stack.wait_running(pod2)
    (job2,) = jobs_named(cluster, pod2)
    assert stack.delete(pod2)[0] == 200
    assert job2[2] != "RUNNING" or not cluster.squeue_ids("R")
    assert all(j[1] != pod2["metadata"]["uid"] for j in cluster.squeue_ids("PD,R,CG"))
    assert sbatch_calls(stack) == []


def test_unmappable_option_goes_to_sbatch_or_is_refused(tmp_path, cluster):
    flags = {"slurm-job.vk.io/flags": "--nodes=1 --hold"}
    s = rest_stack(tmp_path, cluster, "fallback")
    try:
        pod = h.make_pod("excl", [sh("main", "true")], annotations=flags)
        code, body = s.create(h.create_request(pod))
        assert code == 200, body
        (call,) = sbatch_calls(s)
        assert "--nodes=1" in call and pod["metadata"]["uid"] in call
        assert len(jobs_named(cluster, pod)) == 1
        held = h.make_pod("held", [sh("main", "true")],
                          annotations={"slurm-job.vk.io/flags": "--hold"})
        assert s.create(h.create_request(held))[0] == 200
        assert len(sbatch_calls(s)) == 1      # --hold alone has a JSON form
        (job,) = jobs_named(cluster, held)
        assert "JobHeldUser" in show_job(cluster, job[0])
    finally:
        s.cleanup()
    s = rest_stack(tmp_path, cluster, "refuse", SlurmrestdFallback="refuse")
    try:
        pod = h.make_pod("excl2", [sh("main", "true")], annotations=flags)
        code, body = s.create(h.create_request(pod))
        assert code == 400, body
        assert '"--nodes=1" has no exact form' in body and "refuse" in body, body
        assert sbatch_calls(s) == [] and jobs_named(cluster, pod) == []
        assert not os.path.exists(s.pod_dir(pod))
    finally:
        s.cleanup()


def test_bad_tokens_clear_errors_then_rotation(tmp_path, cluster):
    key = "not-the-cluster-key-" * 3
    now = int(time.time())
    forged = jwt.encode({"sun": "root", "iat": now, "exp": now + 600}, key, algorithm="HS256")
    expired = jwt.encode({"sun": "root", "iat": now - 700, "exp": now - 100}, key,
                         algorithm="HS256")
    path = token_file(tmp_path, "garbage\n")
    s = rest_stack(tmp_path, cluster, "token", SlurmrestdTokenFile=path)
    try:
        pod = h.make_pod("tok", [sh("main", "echo rotated")])
        req = h.create_request(pod)
        for text, said in (("garbage\n", "is not a SLURM JSON Web Token"),
                           (expired, "expired at"),
                           (forged, "an invalid or expired token")):
            tmp = path + ".new"
            open(tmp, "w").write(text)
            os.rename(tmp, path)          # how a rotation job replaces it
            code, body = s.create(req)
            assert code == 503, (text, body)
            assert said in body and path in body, body
            assert jobs_named(cluster, pod) == []
        tmp = path + ".new"
        open(tmp, "w").write("SLURM_JWT=" + cluster.token(600) + "\n")
        os.rename(tmp, path)
        code, body = s.create(req)          # the same create, retried
        assert code == 200, body
        assert s.wait_phase(pod, timeout=90)[0] == "Succeeded"
        assert logs(s, pod, "main") == b"rotated\n"
        assert len(jobs_named(cluster, pod)) == 1 and sbatch_calls(s) == []
    finally:
        s.cleanup()


def test_slurmrestd_down_is_503_and_the_retry_submits_once(stack, cluster):
    pid = int(open(os.path.join(cluster.dir, "run", "slurmrestd.pid")).read())
    os.kill(pid, 9)
    try:
        pod = h.make_pod("down", [sh("main", "true")])
        req = h.create_request(pod)
        code, body = stack.create(req)
        assert code == 503 and "slurmrestd at http://127.0.0.1:" in body, body
        assert "connect" in body.lower(), body
        assert jobs_named(cluster, pod) == []
    finally:
        cluster.up()
    code, body = stack.create(req)
    assert code == 200, body
    # nothing was in flight (never connected): no wait for a lost submission
    assert "may still be in flight" not in stack.plugin.output()
    assert len(jobs_named(cluster, pod)) == 1 and sbatch_calls(stack) == []


class Latch(threading.Event):
    """An Event that keeps what it was set with."""

    def set(self, value=None):
        self.value = value
        super().set()


class ReplyDropper:
    """A TCP relay in front of slurmrestd.  The first request is taken and
    the client's connection closed at once, without an answer; the request
    reaches slurmrestd `delay` seconds later (a submission still in flight
    when the plugin gave up on it).  Later requests are relayed."""

    def __init__(self, target, delay):
        self.delay = delay
        self.forwarded = Latch()
        host, port = target.rsplit("/", 1)[-1].split(":")
        self.target = (host, int(port))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.dropped = 0
        threading.Thread(target=self.serve, daemon=True).start()

    @staticmethod
    def read_message(f):
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = f.readline()
            if not line:
                return None
            head += line
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return head + f.read(length)

    def serve(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.relay, args=(client,), daemon=True).start()

    def relay(self, client):
        upstream = socket.create_connection(self.target)
        cf, uf = client.makefile("rb"), upstream.makefile("rb")
        try:
            while True:
                req = self.read_message(cf)
                if req is None:
                    return
                if self.dropped == 0:
                    self.dropped = 1
                    client.shutdown(socket.SHUT_RDWR)   # the plugin sees no answer ...
                    time.sleep(self.delay)
                    with socket.create_connection(self.target) as late:
                        late.sendall(req)   # ... and the job is submitted later
                        self.forwarded.set(self.read_message(late.makefile("rb")))
                    return
                upstream.sendall(req)
                client.sendall(self.read_message(uf))
        finally:
            client.close()
            upstream.close()

    def close(self):
        self.sock.close()


def test_submission_in_flight_is_adopted_not_submitted_twice(tmp_path, cluster):
    relay = ReplyDropper(cluster.rest_url, delay=2)
    s = rest_stack(tmp_path, cluster, "lost", SlurmrestdURL=relay.url, CommandTimeoutSeconds=8)
    try:
        pod = h.make_pod("lost", [sh("main", "echo once")])
        req = h.create_request(pod)
        code, body = s.create(req)
        assert code == 503 and relay.dropped == 1, body
        t = time.time()
        code, body = s.create(req)                  # the VK's retry, at once
        took = time.time() - t
        assert code == 200, body
        assert relay.forwarded.wait(30) and b'"job_id"' in relay.forwarded.value
        assert len(jobs_named(cluster, pod)) == 1, cluster.squeue_ids()
        # it waited until CommandTimeoutSeconds (8) + 1 after the first attempt
        assert took >= 3, took
        assert s.wait_phase(pod, timeout=90)[0] == "Succeeded"
        assert len(jobs_named(cluster, pod)) == 1, cluster.squeue_ids()
        assert json.load(open(os.path.join(s.pod_dir(pod), "job.json")))["jobId"] == \
            jobs_named(cluster, pod)[0][0]
        assert "adopting job" in open(os.path.join(s.dir, "plugin.log")).read()
    finally:
        s.cleanup()
        relay.close()


def test_delete_waits_for_a_submission_in_flight(tmp_path, cluster):
    """A delete of a pod whose create lost slurmrestd's answer waits as a
    repeated create would (the request may still reach slurmrestd), then
    finds the job and cancels it, rather than leaving it behind."""
    relay = ReplyDropper(cluster.rest_url, delay=2)
    s = rest_stack(tmp_path, cluster, "lostdel", SlurmrestdURL=relay.url,
                   CommandTimeoutSeconds=8)
    pod = h.make_pod("lostdel", [sh("main", "sleep 300")], grace=1)
    try:
        code, body = s.create(h.create_request(pod))
        assert code == 503 and relay.dropped == 1, body
        code, body = s.delete(pod)
        assert code == 200, body
        assert relay.forwarded.wait(30) and b'"job_id"' in relay.forwarded.value
        active = [j for j in cluster.squeue_ids("PD,R,CG") if j[1] == pod["metadata"]["uid"]]
        assert not active, active
        assert not os.path.exists(s.pod_dir(pod))
    finally:
        s.cleanup()
        relay.close()
        cluster.run("scancel", "--name", pod["metadata"]["uid"])


def test_bad_config_stops_the_start(tmp_path, cluster):
    cfg = h.write_yaml(str(tmp_path / "bad.yaml"), {
        "Socket": "unix://" + str(tmp_path / "p.sock"), "DataRootFolder": str(tmp_path / "d"),
        "ContainerRuntime": "none", "SubmitMode": "rest", "SlurmrestdURL": "ftp://x"})
    r = subprocess.run([h.binary("interlink-slurm"), "--config", cfg], env=cluster.env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "SlurmrestdURL" in r.stderr, r.stderr
