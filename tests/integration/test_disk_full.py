"""Full disks: a small tmpfs as a daemon's data directory, filled on purpose.

interlink must never answer 200 to a create it could not record, nor to a
delete whose row it could not remove.  interlink-local's supervisor must
write a pod's final state before its `done` marker, and get it written once
space returns: a finished pod must not read as running forever."""
import errno
import os
import shlex
import subprocess
import time

import pytest

import harness as h
from harness import sh, ctr
from test_local_plugin import Local, terminated  # noqa: F401


@pytest.fixture
def small_disk(tmp_path):
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield d
    h.kill_processes_under(str(tmp_path))
    subprocess.run(["umount", "-l", str(d)], check=False)


def fill(d):
    """Fill the file system holding d; returns the filler's path."""
    path = os.path.join(str(d), "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    chunk = b"\0" * 65536
    try:
        while True:
            os.write(fd, chunk)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    try:   # the last few bytes too
        while True:
            os.write(fd, b"\0")
    except OSError:
        pass
    os.close(fd)
    return path


def test_local_final_state_written_before_done_and_after_space_returns(tmp_path, small_disk):
    local = Local(tmp_path, DataRootFolder=str(small_disk)).start()
    try:
        gate = tmp_path / "go"     # off the small disk
        script = (f"echo before; while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.05; done; "
                  "head -c 20000 /dev/zero | tr '\\0' x; echo")
        pod = h.make_pod("full", [sh("main", script)])
        code, body = local.create(pod)
        assert code == 200, body
        local.wait_running(pod, "main")
        filler = fill(small_disk)
        pod_dir = os.path.join(str(small_disk), "pods", pod["metadata"]["uid"])
        # The container ends while the disk is full: no done marker without
        # the final state; the supervisor waits for space.
        gate.touch()
        time.sleep(3)
        assert not os.path.exists(os.path.join(pod_dir, "done"))
        assert "running" in ctr(local.status(pod), "main")["state"]
        os.unlink(filler)
        st = local.wait_done(pod, timeout=10)
        t = terminated(st, "main")
        assert t["exitCode"] == 0 and t["reason"] == "Completed", st
        assert os.path.exists(os.path.join(pod_dir, "done"))
        # What the container printed while the disk was full was kept and
        # written once space returned, whole.
        assert local.logs(pod, "main") == b"before\n" + b"x" * 20000 + b"\n"
    finally:
        local.cleanup()


def test_interlink_never_acknowledges_what_it_could_not_record(tmp_path, small_disk):
    stack = h.Stack(tmp_path, api_extra={"DataRootFolder": str(small_disk)}).start()
    a = h.make_pod("kept", [sh("main", "sleep 30")])
    b = h.make_pod("refused", [sh("main", "true")])
    try:
        code, body = stack.create(h.create_request(a))
        assert code == 200, body
        filler = fill(small_disk)
        code, body = stack.create(h.create_request(b))
        assert code != 200, body   # the plugin ran it, but interlink could not record it
        code, body = stack.delete(a)
        assert code != 200, body   # the row could not be removed
        os.unlink(filler)
        code, body = stack.create(h.create_request(b))   # the caller's retry
        assert code == 200, body
        code, body = stack.delete(a)
        assert code == 200, body
        code, listed = h.request_json(stack.api_addr, "GET", "/pods")
        assert code == 200
        assert [p["UID"] for p in listed] == [b["metadata"]["uid"]], listed
        stack.delete(b)
    finally:
        stack.stop()


def test_supervisor_started_on_a_full_disk_waits_for_space(tmp_path, small_disk):
    """A supervisor that starts while the disk is full (a SLURM job started
    then) waits to record itself instead of failing without running the pod."""
    from test_local_crash import half_created
    local = Local(tmp_path, DataRootFolder=str(small_disk)).start()
    local.data = str(small_disk)
    try:
        pod, target = half_created(local, "late", "echo ran")
        filler = fill(small_disk)
        subprocess.run([h.binary("interlink-local"), "--run-pod", target], check=True,
                       timeout=10)
        time.sleep(2)
        assert not os.path.exists(os.path.join(target, "supervisor.json"))
        os.unlink(filler)
        st = local.wait_done(pod, timeout=15)
        assert terminated(st, "main")["reason"] == "Completed", st
        assert local.logs(pod, "main") == b"ran\n"
    finally:
        local.cleanup()
