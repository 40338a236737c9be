"""ContainerRuntime apptainer on the real HTCondor pool of ../shared/htcondor
(skipped with the reason when absent): the job's supervisor (the shared
runner, as under SLURM) starts every container through `apptainer exec`.
Apptainer cannot be installed here, so ApptainerPath is the double of
tests/pylib/fake_apptainer.py (a sandbox directory as `/` under bubblewrap,
APPTAINERENV_ variables, --bind, --pwd, --containall); the image is a
busybox root filesystem made here.  The pool's slots offer no container
support of HTCondor's own (HasContainer, HasDocker and HasSingularity are
undefined), so container_image is not exercised on it."""
import json
import os
import shutil
import tempfile

import pytest

import harness as h
from harness import sh, ctr, logs
import htcondorutil as hu

APPLETS = ["sh", "cat", "echo", "pwd", "ls", "id", "sleep", "env", "true"]


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
        main = dict(sh("main", 'cat /etc/image-marker /config/a.conf /work/x; echo "$GREETING";'
                               ' pwd; exit 5', mounts=mounts, env={"GREETING": "hi $(there)"},
                       workdir="/work"), image=img)
        runscript = {"name": "rs", "image": img, "args": ["a b", "c"]}
        pod = h.make_pod("appt", [main, runscript], init_containers=[init], volumes=vols)
        assert s.create(h.create_request(pod, configmaps=[cm]))[0] == 200
        phase, st = s.wait_phase(pod, timeout=120)
        assert phase == "Failed", st
        assert ctr(st, "main")["state"]["terminated"]["exitCode"] == 5, st
        assert ctr(st, "init")["state"]["terminated"]["exitCode"] == 0, st
        assert logs(s, pod, "main") == b"inside the image\nalpha\nfrom-init\nhi $(there)\n/work\n"
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
