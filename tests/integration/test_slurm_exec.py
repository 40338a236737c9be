"""exec and port-forward into pods of interlink-slurm on the real SLURM
(tests/slurm/slurm-up.sh), through interlink's /exec and /portforward as
interlink-vk calls them (sessionutil).  Each session is an `srun --overlap`
step in the pod's job whose node side enters the container (runtime
`none`: bubblewrap, entered with nsenter).  About 40 s."""
import os
import time
import uuid

import pytest

import harness as h
from harness import sh, wait_for
import sessionutil as ss
import slurmutil as su

PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def cluster():
    with su.module_cluster(cpus=4) as c:
        yield c


@pytest.fixture(scope="module")
def stack(tmp_path_factory, cluster):
    s = su.SlurmStackWithPods(tmp_path_factory.mktemp("slurmexec") / "s", cluster).start()
    # picked now, not at collection: a port free minutes earlier may be taken
    s.http_port = h.free_port()
    server = ss.http_server(s.http_port, "pod says hi")
    pod = h.make_pod("shell", [h.container("main", [PY, "-c", server], env={"IN_POD": "yes"}),
                               sh("done", "echo bye")])
    code, body = s.create(h.create_request(pod))
    assert code == 200, body
    wait_for("main running and done terminated", lambda: ready(s, pod), timeout=90)
    s.pod = pod
    yield s
    s.cleanup()


def ready(s, pod):
    code, body = s.status([pod])
    if code != 200 or not body:
        return False
    states = {c["name"]: c["state"] for c in body[0]["containers"]}
    return "running" in states.get("main", {}) and "terminated" in states.get("done", {})


def steps(cluster, job_id):
    """The job's steps other than the batch step (ours are srun's)."""
    r = cluster.run("squeue", "-h", "-s", "-j", job_id, "-o", "%i")
    return [s for s in r.stdout.split() if not s.endswith((".batch", ".extern"))]


def test_exec_output_stderr_and_exit_code(stack):
    code, out, err = ss.run(stack.api_addr, stack.pod, "main",
                            ["sh", "-c", "echo hi; echo oops >&2; exit 3"])
    assert code == {"exitCode": 3} and out == b"hi\n" and err == b"oops\n"
    code, out, _ = ss.run(stack.api_addr, stack.pod, "main", ["true"])
    assert code == {"exitCode": 0} and out == b""


def test_exec_runs_inside_the_container(stack):
    """The command is in the container's mount namespace (bubblewrap's)
    and environment, not the node's."""
    code, out, _ = ss.run(stack.api_addr, stack.pod, "main",
                          ["sh", "-c", "readlink /proc/self/ns/mnt; echo $IN_POD"])
    assert code == {"exitCode": 0}, out
    ns, env = out.decode().split()
    assert ns != os.readlink("/proc/self/ns/mnt") and env == "yes", out


def test_exec_stdin_and_its_end(stack):
    data = b"".join(b"line %d\n" % i for i in range(5000))   # several frames, srun chunks
    code, out, _ = ss.run(stack.api_addr, stack.pod, "main", ["sh", "-c", "wc -l; echo done"],
                          stdin_data=data)
    assert code == {"exitCode": 0} and out.split() == [b"5000", b"done"]
    # binary and no trailing newline, byte for byte
    blob = bytes(range(256)) * 64
    code, out, _ = ss.run(stack.api_addr, stack.pod, "main", ["cat"], stdin_data=blob)
    assert code == {"exitCode": 0} and out == blob


def test_exec_tty_size_resize_and_exit_code(stack):
    e = ss.Exec(stack.api_addr, stack.pod, "main",
                ["sh", "-c", "stty size; tty; read x; stty size; echo got=$x; exit 4"],
                stdin=True, tty=True, width=77, height=33)
    assert e.status == 101, e.buf
    try:
        assert e.read(until=b"/dev/pts/", timeout=30) is None
        e.resize(120, 40)
        time.sleep(0.5)   # the size is set before the line that reads it arrives
        e.send(b"ping\r")
        assert e.read(timeout=30) == {"exitCode": 4}
    finally:
        e.close()
    out = e.stdout.replace(b"\r\n", b"\n")
    assert out.startswith(b"33 77\n/dev/pts/"), out
    assert b"40 120\n" in out and b"got=ping" in out, out


def test_command_words_stay_words(stack, tmp_path):
    """The command reaches execve word for word through srun and the node
    side: nothing is run by a shell, no word becomes an option."""
    marker = str(tmp_path / f"pwned-{uuid.uuid4().hex}")
    words = ["$(touch " + marker + ")", "`touch " + marker + "`", "a; touch " + marker,
             "it's \"quoted\"", "line1\nline2", "ünïcödé ✓", "--help", "-", "", "--"]
    prog = "import sys, json; print(json.dumps(sys.argv[1:]))"
    code, out, err = ss.run(stack.api_addr, stack.pod, "main", [PY, "-c", prog, *words])
    assert code == {"exitCode": 0}, err
    import json
    assert json.loads(out) == words
    assert not os.path.exists(marker)
    # a command that looks like an option of srun or of the runner
    code, out, _ = ss.run(stack.api_addr, stack.pod, "main", ["--help"])
    assert code.get("exitCode", 1) != 0, code


def test_bad_container_names_are_refused_before_srun(stack):
    for name in ("nope", "--help", "../main", "main; true", "main\n", "-"):
        status, sock, body = ss.upgrade(stack.api_addr, "/exec", {
            "pod": ss.pod_ref(stack.pod), "container": name, "command": ["true"]})
        assert status in (400, 404) and sock is None, (name, status, body)


def test_exec_into_a_terminated_container_says_so(stack):
    status, sock, body = ss.upgrade(stack.api_addr, "/exec", {
        "pod": ss.pod_ref(stack.pod), "container": "done", "command": ["true"]})
    assert status == 409 and b"not running" in body, (status, body)


def test_port_forward_round_trips(stack):
    for path in (b"/a", b"/b"):   # one step per connection
        status, sock, early = ss.port_forward(stack.api_addr, stack.pod, stack.http_port)
        assert status == 101, early
        try:
            sock.sendall(b"GET " + path + b" HTTP/1.0\r\n\r\n")
            data = early + h.recv_to_eof(sock)
        finally:
            sock.close()
        assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"pod says hi " + path), data


def test_port_forward_to_a_closed_port_says_why(stack):
    closed = h.free_port()
    status, sock, body = ss.port_forward(stack.api_addr, stack.pod, closed)
    assert status == 502 and sock is None, (status, body)
    assert f"connecting to port {closed}".encode() in body and b"refused" in body, body


def test_port_forward_ports_are_numbers(stack):
    for port in (0, 65536, -1, "80", 1e20, "80; true"):
        status, sock, body = ss.port_forward(stack.api_addr, stack.pod, port)
        assert status == 400 and sock is None, (port, status, body)


def test_a_caller_gone_ends_the_command_and_the_step(stack):
    job = stack.job_id(stack.pod)
    command, marker = ss.unique_sleep()
    e = ss.Exec(stack.api_addr, stack.pod, "main", command)
    assert e.status == 101
    assert e.read(until=b"started\n", timeout=30) is None
    ss.sleep_running(marker)
    assert steps(stack.cluster, job)
    assert ss.sruns_of(stack.cluster, job)   # what "srun gone" below looks for
    e.close()
    wait_for("the command killed", lambda: not ss.processes_running(marker), timeout=30)
    wait_for("the step ended", lambda: not steps(stack.cluster, job), timeout=30)
    wait_for("srun gone", lambda: not ss.sruns_of(stack.cluster, job), timeout=30)
    # a forwarded connection the caller drops ends its step too
    status, sock, _ = ss.port_forward(stack.api_addr, stack.pod, stack.http_port)
    assert status == 101
    assert steps(stack.cluster, job)
    sock.close()
    wait_for("the forwarding step ended", lambda: not steps(stack.cluster, job), timeout=30)
    wait_for("srun gone", lambda: not ss.sruns_of(stack.cluster, job), timeout=30)


def test_exec_into_a_finished_pod_is_a_clear_error(stack, cluster):
    pod = h.make_pod("brief", [sh("main", "echo bye")])
    code, body = stack.create(h.create_request(pod))
    assert code == 200, body
    stack.wait_phase(pod, timeout=90)
    job = stack.job_id(pod)
    wait_for("the job no longer running", lambda: not [
        j for j in cluster.squeue_ids("R") if j[0] == job], timeout=60)
    status, sock, body = ss.upgrade(stack.api_addr, "/exec", {
        "pod": ss.pod_ref(pod), "container": "main", "command": ["true"]})
    assert status == 409 and sock is None, (status, body)
    assert b"not running" in body or b"has ended" in body or b"COMPLETED" in body, body
    status, sock, body = ss.port_forward(stack.api_addr, pod, stack.http_port)
    assert status == 409 and sock is None, (status, body)


def test_exec_without_a_shared_filesystem(tmp_path, cluster):
    """SharedFS false, no NodeLocalDir: the node side finds the pod where
    the job unpacked it (the step's $TMPDIR) and tells about a container
    that is not running on the error stream."""
    s = su.SlurmStackWithPods(tmp_path / "s", cluster, plugin_extra={"SharedFS": False}).start()
    try:
        pod = h.make_pod("unshared", [sh("main", "exec sleep 300"), sh("done", "true")])
        code, body = s.create(h.create_request(pod))
        assert code == 200, body
        s.wait_running(pod, timeout=90)

        def answer():
            code, out, _ = ss.run(s.api_addr, pod, "main", ["sh", "-c", "echo $((6*7))"])
            return code if code != {"exitCode": 0} else out
        wait_for("exec answers", lambda: answer() == b"42\n", timeout=30, interval=1)
        wait_for("done terminated on the node", lambda: "not running" in
                 ss.run(s.api_addr, pod, "done", ["true"])[0].get("error", ""), timeout=30,
                 interval=1)
    finally:
        s.cleanup()


def test_plugin_stopped_mid_exec_kills_the_command(stack):
    """Last: interlink-slurm stopped during a session ends it, the command
    and its step; the plugin exits cleanly and comes back for cleanup."""
    job = stack.job_id(stack.pod)
    command, marker = ss.unique_sleep()
    e = ss.Exec(stack.api_addr, stack.pod, "main", command)
    assert e.status == 101
    try:
        assert e.read(until=b"started\n", timeout=30) is None
        ss.sleep_running(marker)
        assert stack.plugin.stop_and_check(must_be_running=True) == []
        # slurmstepd kills the step's tasks once srun is gone: a moment later.
        wait_for("the command killed", lambda: not ss.processes_running(marker), timeout=30)
        wait_for("the step ended", lambda: not steps(stack.cluster, job), timeout=30)
        # srun exits a moment after its step.
        wait_for("no srun left", lambda: not ss.sruns_of(stack.cluster, job), timeout=30)
    finally:
        e.close()
        stack.start_plugin()
