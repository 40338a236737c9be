"""ContainerRuntime apptainer on the real HTCondor pool of ../shared/htcondor
(skipped with the reason when absent): the job's supervisor (the shared
runner, as under SLURM) starts every container through `apptainer exec`.
Apptainer cannot be installed here, so ApptainerPath is the double of
tests/pylib/fake_apptainer.py (a sandbox directory as `/` under bubblewrap,
APPTAINERENV_ variables, --bind, --pwd, --containall); the image is a
busybox root filesystem made here.  The pool's slots offer no container
support of HTCondor's own (HasContainer, HasDocker and HasSingularity are
undefined), so container_image is not exercised on it."""
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

import pytest

import harness as h
from harness import sh, ctr, logs
import htcondorutil as hu

APPLETS = ["sh", "cat", "echo", "pwd", "ls", "id", "sleep", "env", "true", "["]


@pytest.fixture(scope="module")
def pool():
    with hu.module_pool() as p:
        yield p


@pytest.fixture
def tools():
    """The double and a sandbox image, where the jobs' account reaches them."""
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("busybox is not installed (scripts/deps.sh installs busybox-static)")
    d = tempfile.mkdtemp(prefix="ilhtc-appt-", dir="/tmp")
    os.chmod(d, 0o755)
    fake = os.path.join(d, "apptainer")
    shutil.copy(os.path.join(h.SRC_DIR, "tests", "pylib", "fake_apptainer.py"), fake)
    os.chmod(fake, 0o755)
    calls = os.path.join(d, "apptainer.calls")
    open(calls, "w").close()
    os.chmod(calls, 0o666)
    img = os.path.join(d, "img")
    for sub in ("bin", "etc", ".singularity.d"):
        os.makedirs(os.path.join(img, sub))
    shutil.copy(busybox, os.path.join(img, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(img, "bin", a))
    with open(os.path.join(img, "etc", "image-marker"), "w") as f:
        f.write("inside the image\n")
    with open(os.path.join(img, ".singularity.d", "runscript"), "w") as f:
        f.write("#!/bin/sh\necho runscript \"$@\"\n")
    os.chmod(os.path.join(img, ".singularity.d", "runscript"), 0o755)
    for root, dirs, _ in os.walk(img):   # the double's bind mount points are made in it
        for x in dirs + ["."]:
            os.chmod(os.path.join(root, x), 0o777)
    yield fake, img, calls
    shutil.rmtree(d, ignore_errors=True)


def test_apptainer_runtime_in_the_job(tmp_path, pool, tools):
    fake, img, calls = tools
    s = hu.CondorStack(tmp_path / "s", pool, runtime="apptainer",
                       plugin_extra={"ApptainerPath": fake}).start()
    try:
        cm = h.configmap("cfg", {"a.conf": "alpha\n"})
        vols = [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "work", "emptyDir": {}}]
        mounts = [{"name": "cfg", "mountPath": "/config", "readOnly": True},
                  {"name": "work", "mountPath": "/work"}]
        init = dict(sh("init", "echo from-init > /work/x", mounts=mounts), image=img)
        main = dict(sh("main", 'i=0; while [ ! -e /tmp/hooked ] && [ $i -lt 300 ]; do '
                               'sleep 0.1; i=$((i+1)); done; cat /tmp/hooked; '
                               'cat /etc/image-marker /config/a.conf /work/x; echo "$GREETING";'
                               ' pwd; exit 5', mounts=mounts, env={"GREETING": "hi $(there)"},
                       workdir="/work"), image=img)
        # through nsenter into the double's bwrap container, as the job's account
        main["lifecycle"] = {"postStart": {"exec": {"command": [
            "/bin/sh", "-c", "echo hooked in $(pwd) > /tmp/hooked"]}}}
        runscript = {"name": "rs", "image": img, "args": ["a b", "c"]}
        pod = h.make_pod("appt", [main, runscript], init_containers=[init], volumes=vols)
        assert s.create(h.create_request(pod, configmaps=[cm]))[0] == 200
        phase, st = s.wait_phase(pod, timeout=120)
        assert phase == "Failed", st
        assert ctr(st, "main")["state"]["terminated"]["exitCode"] == 5, json.dumps(st)
        assert ctr(st, "init")["state"]["terminated"]["exitCode"] == 0, st
        assert logs(s, pod, "main") == b"hooked in /work\ninside the image\nalpha\nfrom-init\n" \
            b"hi $(there)\n/work\n"
        assert logs(s, pod, "rs") == b"runscript a b c\n"
        argvs = [json.loads(line) for line in open(calls)]
        assert len(argvs) == 3, argvs
        main_argv = next(a for a in argvs if "main" not in a and "exit 5" in a[-1])
        assert main_argv[:3] == ["exec", "--no-eval", "--containall"], main_argv
        assert ["run", "--no-eval", "--containall"] == \
            next(a for a in argvs if a[0] == "run")[:3]
        assert len(pool.jobs_of(pod["metadata"]["uid"])) == 1
    finally:
        s.cleanup()
        pool.wait_gone(s.pods)


# ---- podman -------------------------------------------------------------------------------

PODMAN_USER = "ilcpodman"
PODMAN_IMAGE = "localhost/interlink-htcondor-test/busybox:1"
PODMAN_APPLETS = ["sh", "cat", "echo", "id", "printf", "seq", "sleep", "true", "["]


@pytest.fixture(scope="module")
def podman_user():
    """The account podman jobs run as: rootless podman needs a home for its
    image store (~/.local/share/containers), which the jobs' usual account
    (no home) lacks, as a site gives its podman users one.  Without
    /etc/subuid ranges podman maps the account alone, enough for an image
    whose files are all root's (busybox, made here from busybox-static:
    no registry), loaded into that account's store."""
    busybox = shutil.which("busybox")
    if not shutil.which("podman") or not busybox:
        pytest.skip("podman or busybox is not installed (scripts/deps.sh installs both)")
    home = f"/home/{PODMAN_USER}"   # not under /tmp or /var/tmp: private in a job
    if subprocess.run(["id", PODMAN_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-M", "-d", home,
                        PODMAN_USER], check=True)
    elif pwd.getpwnam(PODMAN_USER).pw_dir != home:
        subprocess.run(["usermod", "-d", home, PODMAN_USER], check=True)
    os.makedirs(home, exist_ok=True)
    shutil.chown(home, PODMAN_USER, PODMAN_USER)
    as_user = ["runuser", "-u", PODMAN_USER, "--", "env", f"HOME={home}", "podman"]
    if subprocess.run(as_user + ["image", "exists", PODMAN_IMAGE]).returncode != 0:
        with tempfile.TemporaryDirectory(dir="/tmp") as d:
            os.chmod(d, 0o755)
            os.makedirs(os.path.join(d, "r", "bin"))
            os.makedirs(os.path.join(d, "r", "tmp"))
            os.chmod(os.path.join(d, "r", "tmp"), 0o1777)
            shutil.copy(busybox, os.path.join(d, "r", "bin", "busybox"))
            for a in PODMAN_APPLETS:
                os.symlink("busybox", os.path.join(d, "r", "bin", a))
            tar = os.path.join(d, "bb.tar")
            subprocess.run(["tar", "-C", os.path.join(d, "r"), "-cf", tar, "."], check=True)
            os.chmod(tar, 0o644)
            r = subprocess.run(as_user + ["import", tar, PODMAN_IMAGE], capture_output=True,
                               text=True, timeout=120)
            if r.returncode != 0:
                pytest.skip(f"rootless podman cannot import an image here: {r.stderr[-300:]}")
    yield PODMAN_USER
    # rootless podman keeps a pause process holding its user namespace; the
    # jobs' ones end with their job, this one (from the import) is ours
    uid = pwd.getpwnam(PODMAN_USER).pw_uid
    with contextlib.suppress(OSError, ValueError):
        with open(f"/tmp/podman-run-{uid}/libpod/tmp/pause.pid") as f:
            pid = int(f.read().strip())
        if os.stat(f"/proc/{pid}").st_uid == uid:
            os.kill(pid, signal.SIGKILL)


def test_podman_runtime_in_the_job(tmp_path, pool, podman_user):
    """ContainerRuntime podman in a job (rootless, as the job's account: HTCondor
    refuses root's jobs): hostile args intact, the exit code, and a postStart
    hook through `podman exec`."""
    s = hu.CondorStack(tmp_path / "s", pool, runtime="podman",
                       plugin_extra={"SubmitUser": podman_user}).start()
    try:
        hostile = ["$(id)", "a'b", "new\nline"]
        main = h.container("main", ["/bin/sh", "-c",
                                    "for i in $(seq 1 300); do [ -e /tmp/hooked ] && break; "
                                    'sleep 0.1; done; cat /tmp/hooked; printf "[%s]" "$@"; exit 3',
                                    "sh"], args=hostile, image=PODMAN_IMAGE)
        main["lifecycle"] = {"postStart": {"exec": {"command": [
            "/bin/sh", "-c", "id -u > /tmp/hooked"]}}}
        pod = h.make_pod("pm", [main])
        assert s.create(h.create_request(pod))[0] == 200
        phase, st = s.wait_phase(pod, timeout=120)
        assert ctr(st, "main")["state"]["terminated"]["exitCode"] == 3, json.dumps(st)
        # uid 0 in the container is the job's account outside it (rootless)
        assert logs(s, pod, "main") == b"0\n[$(id)][a'b][new\nline]"
        ad = pool.job_ad(st["JID"], ["Owner"])
        assert ad["Owner"] == podman_user, ad
    finally:
        s.cleanup()
        pool.wait_gone(s.pods)
