"""interlink-local when the plugin dies in the middle of a create.

A create renames the pod directory into place, then starts the pod's
supervisor and waits for its ready byte.  A kill -9 of the plugin between
the two leaves a directory that no supervisor ever ran; a kill just before
the ready byte leaves a supervisor writing to a pipe nobody reads.  Both
states are built here exactly (a finished pod's directory, reset to what
poddir_create leaves), so the tests do not depend on winning a race."""
import json
import os
import shutil
import subprocess
import time
import uuid

import harness as h
from harness import sh, ctr
from test_local_plugin import Local, terminated  # noqa: F401  (fixture helpers)
import pytest


@pytest.fixture
def local(tmp_path):
    lp = Local(tmp_path).start()
    yield lp
    lp.cleanup()


def half_created(local, name, script):
    """A pod whose directory is in place but whose supervisor never ran:
    the state a create leaves when the plugin is killed right after the
    rename.  Returns the pod (same spec, fresh UID) and its directory."""
    model = h.make_pod(name + "-model", [sh("main", script)])
    code, body = local.create(model)
    assert code == 200, body
    local.wait_done(model)
    pods = os.path.join(local.data, "pods")
    src = os.path.join(pods, model["metadata"]["uid"])
    pod = json.loads(json.dumps(model))
    pod["metadata"]["uid"] = str(uuid.uuid4())
    pod["metadata"]["name"] = name
    staging = os.path.join(pods, ".staging-test")
    shutil.copytree(src, staging)
    for f in ("supervisor.json", "supervisor.log", "supervisor.lock", "done"):
        if os.path.exists(os.path.join(staging, f)):
            os.unlink(os.path.join(staging, f))
    text = open(os.path.join(staging, "pod.json")).read()
    text = text.replace(model["metadata"]["uid"], pod["metadata"]["uid"])
    text = text.replace(model["metadata"]["name"], name)
    open(os.path.join(staging, "pod.json"), "w").write(text)
    ctr_dir = os.path.join(staging, "containers", "main")
    open(os.path.join(ctr_dir, "log"), "w").close()
    with open(os.path.join(ctr_dir, "state.json"), "w") as f:
        json.dump({"state": "waiting", "reason": "ContainerCreating", "exitCode": 0,
                   "signal": 0, "pid": 0, "ready": False, "started": False}, f)
    target = os.path.join(pods, pod["metadata"]["uid"])
    os.rename(staging, target)
    local.pods.append(pod)
    return pod, target


def test_repeated_create_starts_a_pod_no_supervisor_ran(local):
    pod, _ = half_created(local, "orphan-dir", "echo ran")
    code, body = local.create(pod)   # the VK's retry of the create that died
    assert code == 200, body
    st = local.wait_done(pod, timeout=20)
    assert terminated(st, "main")["reason"] == "Completed", st
    assert local.logs(pod, "main") == b"ran\n"


def test_repeated_creates_run_the_pod_once(local, tmp_path):
    out = tmp_path / "count"
    pod, _ = half_created(local, "once", f"echo run >> {out}")
    out.unlink()
    for _ in range(3):
        code, body = local.create(pod)
        assert code == 200, body
    local.wait_done(pod, timeout=20)
    time.sleep(0.3)
    assert out.read_text() == "run\n"
    code, body = local.create(pod)   # a repeat after the end does not rerun it
    assert code == 200, body
    time.sleep(0.5)
    assert out.read_text() == "run\n"


def test_supervisor_survives_a_dead_ready_reader(local):
    """The plugin died while its new supervisor was about to write the ready
    byte: the write must fail with EPIPE, and the pod run anyway."""
    pod, target = half_created(local, "sigpipe", "echo survived")
    r, w = os.pipe()
    os.close(r)
    subprocess.run([h.binary("interlink-local"), "--run-pod", target, "--ready-fd", str(w)],
                   pass_fds=(w,), check=True, timeout=10)   # restore_signals: SIGPIPE default
    os.close(w)
    st = local.wait_done(pod, timeout=20)
    assert terminated(st, "main")["reason"] == "Completed", st
    assert local.logs(pod, "main") == b"survived\n"


def test_delete_waits_for_a_create_starting_the_pod(local, tmp_path):
    """A delete that arrives while a create is between publishing the pod's
    directory and starting its supervisor (the create lock held) waits for
    it, then stops the pod; before, it found no supervisor, removed the
    directory under the starting one and the pod ran on (a VK chaos trial:
    an orphaned pod directory)."""
    import fcntl
    import threading
    flag = tmp_path / "model-done"   # the model ends, the copy runs on
    pod, target = half_created(local, "racing", f"test -e {flag} && sleep 600; true")
    flag.touch()
    lock = os.open(os.path.join(target, "create.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)   # the create in flight
    answer = {}
    deleter = threading.Thread(target=lambda: answer.update(result=local.delete(pod)))
    deleter.start()
    time.sleep(1)
    assert os.path.isdir(target), "the delete removed the directory of a pod being started"
    assert deleter.is_alive()
    subprocess.run([h.binary("interlink-local"), "--run-pod", target], check=True, timeout=10)
    h.wait_for("the supervisor recorded", lambda: os.path.exists(
        os.path.join(target, "supervisor.json")), timeout=10)
    fcntl.flock(lock, fcntl.LOCK_UN)   # the create is done
    os.close(lock)
    deleter.join(30)
    assert answer["result"][0] == 200, answer
    assert not os.path.exists(target)
    assert not h.processes_naming(target)
