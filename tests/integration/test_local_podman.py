"""interlink-local with ContainerRuntime podman, end to end through the
plugin API: image resolution with --pull never, argv/env byte for byte,
volumes, exit codes, logs and delete.  Skipped (with the reason) when
podman cannot run containers on this machine."""
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

import harness as h
import sessionutil as ss
from test_local_plugin import Local, ctr, sh, terminated

IMAGE = "localhost/busybox:latest"
ULIMITS = ["--ulimit", "nofile=16384:16384", "--ulimit", "nproc=16384:16384"]


def podman_usable():
    """None if podman can run the busybox image, else why not.  Builds the
    image from busybox-static when it is missing (no registry needed)."""
    if not shutil.which("podman"):
        return "podman is not installed"
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode != 0:
        if not os.path.exists("/bin/busybox"):
            return "no busybox binary to build the test image from"
        with tempfile.TemporaryDirectory() as d:
            root = os.path.join(d, "r")
            os.makedirs(os.path.join(root, "bin"))
            shutil.copy("/bin/busybox", os.path.join(root, "bin"))
            for c in "sh echo cat ls sleep env printf true false test mkdir".split():
                os.symlink("busybox", os.path.join(root, "bin", c))
            tar = os.path.join(d, "bb.tar")
            subprocess.run(["tar", "-C", root, "-cf", tar, "."], check=True)
            r = subprocess.run(["podman", "import", tar, IMAGE], capture_output=True)
            if r.returncode != 0:
                return f"podman import failed: {r.stderr.decode()[-300:]}"
    r = subprocess.run(["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "run",
                        "--rm", "--pull", "never", "--network", "host", *ULIMITS, IMAGE, "true"],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        return f"podman cannot run containers here: {r.stderr.decode()[-300:]}"
    return None


@pytest.fixture(scope="module")
def podman_ok():
    why = podman_usable()
    if why:
        pytest.skip(why)


@pytest.fixture
def local(tmp_path, podman_ok):
    lp = Local(tmp_path, ContainerRuntime="podman").start()
    yield lp
    lp.cleanup()


def test_podman_end_to_end(local, tmp_path):
    marker = str(tmp_path / f"pwned-{uuid.uuid4().hex}")
    hostile = ["$(touch " + marker + ")", "`id`", "a;b", "new\nline", "ünï ✓", "'\""]
    cm = h.configmap("cfg", {"k": "v1\n"})
    vols = [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "work", "emptyDir": {}}]
    mounts = [{"name": "cfg", "mountPath": "/cfg", "readOnly": True},
              {"name": "work", "mountPath": "/work"}]
    main = h.container("main", ["/bin/sh", "-c",
                                'printf "[%s]\\n" "$@"; printf "<%s>\\n" "$HOSTILE"; '
                                'cat /cfg/k /work/f; exit 3', "sh"],
                       args=hostile, env={"HOSTILE": hostile[0] + hostile[3]},
                       mounts=mounts, image="busybox")
    init = sh("init", "echo from-init > /work/f", mounts=mounts)
    pod = h.make_pod("pm", [main], init_containers=[init], volumes=vols)
    code, body = local.create(pod, configmaps=[cm])
    assert code == 200, body
    st = local.wait_done(pod, timeout=60)
    t = terminated(st, "main")
    assert t["exitCode"] == 3 and t["reason"] == "Error"
    assert terminated(st, "init")["exitCode"] == 0
    assert ctr(st, "main")["containerID"].startswith("podman://")
    expected = "".join(f"[{a}]\n" for a in hostile) + f"<{hostile[0] + hostile[3]}>\n"
    assert local.logs(pod, "main").decode() == expected + "v1\nfrom-init\n"
    assert not os.path.exists(marker)


def test_podman_attach_stdin(local):
    """attach -i into a podman container with stdin: true: what the attacher
    sends reaches the process through podman run --interactive, and the
    container outlives the attacher."""
    c = sh("main", 'read l; echo "got $l"; read m; echo "got $m"; sleep 300', image="busybox")
    c["stdin"] = True
    pod = h.make_pod("pmin", [c], grace=1)
    local.create(pod)
    local.wait_running(pod, "main", timeout=30)
    for word in (b"hello", b"again"):
        a = ss.Exec(local.addr, pod, "main", [], stdin=True, attach=True)
        assert a.status == 101, a.buf
        a.send(word + b"\n")
        h.wait_for("the line read", lambda: b"got " + word in local.logs(pod, "main"),
                   timeout=30)
        a.close()
    assert "running" in ctr(local.status(pod), "main")["state"]


def test_podman_delete_running(local):
    pod = h.make_pod("pmdel", [sh("main", "echo up; sleep 300", image="busybox")], grace=1)
    local.create(pod)
    local.wait_running(pod, "main", timeout=30)
    name = f"il-{pod['metadata']['uid']}-main"
    t0 = time.time()
    assert local.delete(pod)[0] == 200
    assert time.time() - t0 < 20
    assert local.status(pod) is None
    r = subprocess.run(["podman", "container", "exists", name])
    assert r.returncode == 1, "the podman container was left behind"



def test_image_root_cannot_inject_podman_options(local):
    """slurm-job.vk.io/image-root is prepended to the image: "--privileged="
    + image "true" made the image word a podman option (a container with
    every capability, running the next word as its image).  Refused at
    /create, with nothing run; a real prefix still works."""
    probe = ["localhost/busybox:latest", "/bin/sh", "-c", "grep CapEff /proc/self/status"]
    for root, image in (("--privileged=", "true"), ("-v/:/host:", "x"),
                        ("localhost/", "--privileged"), ("", "-it"), ("", "a b"),
                        ("", "busybox\n--privileged"), ("", "docker-archive:/etc/passwd"),
                        ("", "/etc/passwd"), ("../", "busybox"), ("", "busybox:$(id)")):
        main = h.container("main", ["/bin/sh"], args=probe[1:], image=image)
        pod = h.make_pod("inject", [main], annotations={"slurm-job.vk.io/image-root": root})
        code, body = local.create(pod)
        assert code == 400 and "is not an image reference podman can use" in str(body), \
            (root, image, code, body)
        assert local.status(pod) is None, (root, image)
    pod = h.make_pod("rooted", [h.container("main", ["/bin/sh", "-c", "echo rooted"],
                                            image="busybox:latest")],
                     annotations={"slurm-job.vk.io/image-root": "localhost/"})
    code, body = local.create(pod)
    assert code == 200, body
    st = local.wait_done(pod, timeout=60)
    assert terminated(st, "main")["exitCode"] == 0 and local.logs(pod, "main") == b"rooted\n"


def limited(c, **limits):
    c["resources"] = {"limits": limits}
    return c


def test_memory_limit_enforced_and_oom_killed(local):
    """limits.memory is a cgroup limit without swap (PodmanLimits, default on):
    a container writing 200 MiB into one buffer under 50Mi is killed by the
    kernel and reported OOMKilled (137); 4 MiB under the same limit, and
    200 MiB without a limit, run; an exit 137 of its own under the limit
    is an Error, not an OOM kill."""
    dd = "echo start; /bin/busybox dd if=/dev/zero of=/dev/null bs={} count=1 2>/dev/null; echo survived"
    # exec: the OOM killer picks the largest process, which must be PID 1
    hog = limited(sh("hog", "echo start; exec /bin/busybox dd if=/dev/zero of=/dev/null bs=200M count=1",
                     image="busybox"), memory="50Mi", cpu="500m")
    fits = limited(sh("fits", dd.format("4M"), image="busybox"), memory="50Mi")
    free = sh("free", dd.format("200M"), image="busybox")
    fake = limited(sh("fake", "exit 137", image="busybox"), memory="50Mi")
    pod = h.make_pod("oom", [hog, fits, free, fake])
    assert local.create(pod)[0] == 200
    st = local.wait_done(pod, timeout=60)
    t = terminated(st, "hog")
    assert t["exitCode"] == 137 and t["reason"] == "OOMKilled", t
    assert local.logs(pod, "hog") == b"start\n"
    for name in ("fits", "free"):
        t = terminated(st, name)
        assert t["exitCode"] == 0 and t["reason"] == "Completed", (name, t)
        assert local.logs(pod, name) == b"start\nsurvived\n"
    t = terminated(st, "fake")
    assert t["exitCode"] == 137 and t["reason"] == "Error", t
    assert h.derive_phase(st) == "Failed"


def test_podman_limits_false_leaves_containers_unlimited(tmp_path, podman_ok):
    """PodmanLimits: false (podman without cgroup delegation): no limit."""
    lp = Local(tmp_path, ContainerRuntime="podman", PodmanLimits=False).start()
    try:
        hog = limited(sh("hog", "/bin/busybox dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null "
                                "&& echo survived", image="busybox"), memory="50Mi")
        pod = h.make_pod("nolimit", [hog])
        assert lp.create(pod)[0] == 200
        t = terminated(lp.wait_done(pod, timeout=60), "hog")
        assert t["exitCode"] == 0 and lp.logs(pod, "hog") == b"survived\n", t
    finally:
        lp.cleanup()
