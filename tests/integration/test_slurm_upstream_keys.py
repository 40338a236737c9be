"""Upstream SLURM plugin keys and annotations against the real SLURM of
tests/slurm (started once for this module): Flavors / DefaultFlavor and the
flavor annotation (seen by `scontrol show job`), the run-as-uid keys refused,
Taints and ResourceScriptPath in ping, ExportPodData: false, EnableProbes, the
singularity-/enroot- annotations as argv items, and mpi-flags with the real
Open MPI mpiexec.

Apptainer cannot be installed here: the singularity annotations are checked
end to end with ApptainerPath pointing at a small program that prints the
argv it was started with (the job, the supervisor and the runtime's argv
are the real ones)."""
import json
import os
import stat
import time
import uuid

import pytest

import harness as h
from harness import sh, ctr, logs
import slurmutil as su

PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def cluster():
    with su.module_cluster(cpus=8) as c:
        yield c


@pytest.fixture
def make_stack(tmp_path, cluster):
    stacks = []

    def make(runtime="none", **plugin_extra):
        cluster.wait_idle()
        s = su.SlurmStackWithPods(tmp_path / f"s{len(stacks)}", cluster, runtime=runtime,
                                  plugin_extra=plugin_extra).start()
        stacks.append(s)
        return s
    yield make
    for s in stacks:
        s.cleanup()


FLAVORS = [
    {"Name": "small", "Description": "the default", "CPUDefault": 2, "MemoryDefault": "300Mi",
     "SlurmFlags": ["--comment=from-flavor-small", "--time=7"]},
    {"Name": "big", "SlurmFlags": ["-c 3", "--mem=400M", "--comment=from-flavor-big"]},
    {"Name": "gpu1", "SlurmFlags": ["--comment=gpu-flavor", "--gres=gpu:1"]},
]


def scontrol_job(cluster, jid):
    """`scontrol show job` as a dict (Key=Value words; values without spaces)."""
    r = cluster.run("scontrol", "show", "job", jid)
    assert r.returncode == 0, r.stderr
    fields = {}
    for word in r.stdout.split():
        key, _, value = word.partition("=")
        fields.setdefault(key, value)
    return fields


def create_ok(stack, pod, **cr):
    code, body = stack.create(h.create_request(pod, **cr))
    assert code == 200, body
    return body["PodJID"]


# ---- flavors -----------------------------------------------------------------

def test_flavors_reach_sbatch(make_stack, cluster):
    stack = make_stack(Flavors=FLAVORS, DefaultFlavor="small", TimeLimit="20")
    # DefaultFlavor: its flags beat the config's TimeLimit, its CPU/memory
    # defaults apply because no container gives any (upstream ignores them).
    plain = h.make_pod("plain", [sh("main", "true")])
    job = scontrol_job(cluster, create_ok(stack, plain))
    assert job["Comment"] == "from-flavor-small", job
    assert job["TimeLimit"] == "00:07:00" and job["Partition"] == "debug", job
    assert job["NumCPUs"] == "2" and job["MinMemoryNode"] == "300M", job
    # The annotation picks a flavor; the pod's own amounts beat its flags,
    # and the flags annotation beats everything.
    big = h.make_pod("big", [dict(sh("main", "true"),
                                  resources={"limits": {"memory": "200Mi"}})],
                     annotations={"slurm-job.vk.io/flavor": "big",
                                  "slurm-job.vk.io/flags": "--comment=from-annotation"})
    job = scontrol_job(cluster, create_ok(stack, big))
    assert job["Comment"] == "from-annotation", job
    assert job["NumCPUs"] == "3" and job["MinMemoryNode"] == "200M", job
    assert job["TimeLimit"] == "00:20:00", job   # config default: "big" sets no --time
    for pod in (plain, big):
        phase, st = stack.wait_phase(pod, timeout=90)
        assert phase == "Succeeded", st


def test_unknown_flavor_is_400(make_stack, cluster):
    stack = make_stack(Flavors=FLAVORS)
    pod = h.make_pod("nope", [sh("main", "true")],
                     annotations={"slurm-job.vk.io/flavor": "huge"})
    code, body = stack.create(h.create_request(pod))
    assert code == 400, body
    assert 'unknown flavor "huge"' in str(body) and "small, big, gpu1" in str(body)
    assert not [j for j in cluster.squeue_ids() if j[1] == pod["metadata"]["uid"]]


def test_gpu_pod_picks_gpu_flavor(make_stack, cluster, tmp_path):
    # This SLURM has no GPUs, so sbatch refuses any --gres=gpu: the real
    # sbatch runs behind a wrapper that records the argv it was given.
    record = tmp_path / "sbatch-argv.json"
    wrapper = script(tmp_path / "sbatch", f"#!{PY}\nimport json, os, shutil, sys\n"
                     f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
                     "os.execv(shutil.which('sbatch'), ['sbatch'] + sys.argv[1:])\n")
    stack = make_stack(Flavors=FLAVORS, DefaultFlavor="small", SbatchPath=wrapper)
    pod = h.make_pod("gpu", [dict(sh("main", "true"),
                                  resources={"limits": {"nvidia.com/gpu": "1"}})])
    code, body = stack.create(h.create_request(pod))
    argv = json.loads(record.read_text())
    assert "--comment=gpu-flavor" in argv and "--gres=gpu:1" in argv, argv
    assert not [a for a in argv if "small" in a or a.startswith("--time")], argv
    assert code == 400 and "gres" in str(body).lower(), (code, body)


def test_bad_flavor_config_stops_startup(tmp_path, cluster):
    cases = [
        ({"Flavors": [{"Name": "x", "SlurmFlags": ["--output=/tmp/x"]}]},
         "Flavors x: SlurmFlags: --output is set by interlink-slurm itself"),
        ({"Flavors": [{"Name": "x"}], "DefaultFlavor": "y"}, "DefaultFlavor y"),
        ({"DefaultUID": 65534}, "DefaultUID 65534"),
        ({"Flavors": [{"Name": "x", "UID": 65534}]}, "Flavors x: UID 65534"),
        ({"Taints": [{"Key": "k", "Effect": "Maybe"}]}, "Taints[0]"),
    ]
    for i, (extra, message) in enumerate(cases):
        cfg = h.write_yaml(str(tmp_path / f"bad{i}.yaml"),
                           {"Socket": "unix://" + str(tmp_path / f"p{i}.sock"),
                            "DataRootFolder": str(tmp_path / f"d{i}"), **extra})
        d = h.Daemon([h.binary("interlink-slurm"), "--config", cfg], str(tmp_path / f"{i}.log"),
                     env=cluster.env).start()
        assert d.proc.wait(30) == 2, extra
        d.log.close()
        assert message in d.output(), (extra, d.output())


def test_run_as_other_user_refused(make_stack):
    stack = make_stack()
    pod = h.make_pod("uid", [sh("main", "id -u")])
    pod["spec"]["securityContext"] = {"runAsUser": 65534}
    code, body = stack.create(h.create_request(pod))
    assert code == 400 and "runAsUser 65534" in str(body), body
    pod = h.make_pod("uid0", [sh("main", "id -u")])
    pod["spec"]["securityContext"] = {"runAsUser": os.geteuid()}
    create_ok(stack, pod)
    assert stack.wait_phase(pod, timeout=90)[0] == "Succeeded"


# ---- ping ----------------------------------------------------------------------

def script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, stat.S_IRWXU)
    return str(path)


def test_ping_taints(make_stack):
    stack = make_stack(Taints=[{"Key": "site/maintenance", "Value": "soon",
                                "Effect": "PreferNoSchedule"}])
    code, body = stack.ping()
    assert code == 200, body
    ping = json.loads(body)
    assert ping["resources"]["cpu"] == "8", ping   # still sinfo's numbers
    assert ping["taints"] == [{"key": "site/maintenance", "value": "soon",
                               "effect": "PreferNoSchedule"}]


def test_resource_script_good_and_bad(make_stack, tmp_path):
    good = script(tmp_path / "good.sh", "#!/bin/sh\n"
                  "echo '{\"resources\": {\"cpu\": \"1234\", \"memory\": \"5Gi\", \"accelerators\":"
                  " [{\"resourceType\": \"nvidia.com/gpu\", \"available\": \"3\"}]},"
                  " \"taints\": [{\"key\": \"a\", \"value\": \"b\", \"effect\": \"NoSchedule\"}]}'\n")
    stack = make_stack(ResourceScriptPath=good,
                       Taints=[{"Key": "a", "Value": "config", "Effect": "NoExecute"}])
    code, body = stack.ping()
    assert code == 200, body
    ping = json.loads(body)
    assert ping["resources"]["cpu"] == "1234" and ping["status"] == "ok"
    assert ping["resources"]["accelerators"][0]["available"] == "3"
    # The configured taint of the same key wins over the script's.
    assert ping["taints"] == [{"key": "a", "value": "config", "effect": "NoExecute"}]
    stack.stop()

    marker = tmp_path / "pwned"
    for i, text in enumerate(["#!/bin/sh\necho 'not json'\n",
                              "#!/bin/sh\necho '{\"resources\": {\"cpu\": 12}}'\n",
                              "#!/bin/sh\necho '{}'; exit 3\n",
                              f"#!/bin/sh\ntouch {marker}\nsleep 30\n"]):
        bad = script(tmp_path / f"bad{i}.sh", text)
        stack = make_stack(ResourceScriptPath=bad, CommandTimeoutSeconds=2)
        code, body = stack.ping()
        assert code == 503, (text, code, body)
        assert "ResourceScriptPath" in body.decode()
        assert f"ResourceScriptPath {bad}" in stack.plugin.output()
        stack.stop()
    assert marker.exists()   # the last script did run (and was stopped by the timeout)


# ---- ExportPodData -------------------------------------------------------------------

def test_export_pod_data_false(make_stack):
    stack = make_stack(ExportPodData=False)
    cm = h.configmap("cfg", {"a.conf": "CONFIGDATA\n"})
    sec = h.secret("creds", {"password": "SECRETDATA"})
    vols = [{"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "creds", "secret": {"secretName": "creds"}},
            {"name": "work", "emptyDir": {}}]
    mounts = [{"name": "cfg", "mountPath": "/config"}, {"name": "creds", "mountPath": "/creds"},
              {"name": "work", "mountPath": "/work"}]
    init = sh("fill", "echo from-init > /work/data", mounts=mounts)
    main = sh("main", "ls /config /creds 2>&1; cat /work/data", mounts=mounts)
    pod = h.make_pod("noexport", [main], init_containers=[init], volumes=vols)
    create_ok(stack, pod, configmaps=[cm], secrets=[sec])
    phase, st = stack.wait_phase(pod, timeout=90)
    assert phase == "Succeeded", st
    out = logs(stack, pod, "main").decode()
    assert "No such file" in out and out.endswith("from-init\n"), out
    for root, _, files in os.walk(stack.pod_dir(pod)):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            assert b"CONFIGDATA" not in data and b"SECRETDATA" not in data, name
            assert b"U0VDUkVUREFUQQ" not in data, name   # base64 of it


# ---- probes --------------------------------------------------------------------------

def readiness_probed_pod(name):
    """A container that sleeps, ready once /www/ready exists (an exec probe)."""
    c = sh("main", "sleep 300", mounts=[{"name": "www", "mountPath": "/www"}])
    c["readinessProbe"] = {"exec": {"command": ["/bin/sh", "-c", "test -e /www/ready"]},
                           "periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 2}
    return h.make_pod(name, [c], volumes=[{"name": "www", "emptyDir": {}}], grace=1)


def main_ready(stack, pod):
    code, body = stack.status([pod])
    assert code == 200, body
    return ctr(body[0], "main").get("ready")


def test_probes_run_in_the_job(make_stack):
    """The supervisor running the pod in the job runs its probes, as a kubelet
    would: readiness follows the exec probe."""
    stack = make_stack()
    pod = readiness_probed_pod("probed")
    create_ok(stack, pod)
    stack.wait_running(pod, timeout=60)
    time.sleep(2.5)                      # two probe periods: the probe fails
    assert main_ready(stack, pod) is False
    open(os.path.join(stack.pod_dir(pod), "volumes", "www", "ready"), "w").close()
    h.wait_for("ready after the probe passes", lambda: main_ready(stack, pod), timeout=15)


def test_enable_probes_false_ignores_them(make_stack):
    """EnableProbes: false (upstream's default): the probe never runs, the
    running container is ready."""
    stack = make_stack(EnableProbes=False)
    pod = readiness_probed_pod("unprobed")
    create_ok(stack, pod)
    stack.wait_running(pod, timeout=60)
    h.wait_for("ready without any probe", lambda: main_ready(stack, pod), timeout=15)
    with open(os.path.join(stack.pod_dir(pod), "runtime.json")) as f:
        assert json.load(f)["probes"] is False


# ---- runtime annotations ----------------------------------------------------------

ARGV_PRINTER = f"#!{PY}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"

HOSTILE_WORDS = ["it's", "$(touch {m})", "`touch {m}`", "a;b", "é ✓ 日本", 'x"y']
HOSTILE_TEXT = ("\"it's\" '$(touch {m})' '`touch {m}`' 'a;b'\n"
                "'é ✓ 日本' 'x\"y'")


def test_singularity_annotations_are_argv_items(make_stack, tmp_path):
    fake = script(tmp_path / "apptainer", ARGV_PRINTER)
    stack = make_stack(runtime="apptainer", ApptainerPath=fake)
    marker = str(tmp_path / f"pwned-{uuid.uuid4().hex}")
    pod = h.make_pod("sing", [h.container("main", ["/bin/true"], image="/img/x.sif")],
                     annotations={
                         "slurm-job.vk.io/singularity-mounts": "--bind /scratch:/scratch",
                         "slurm-job.vk.io/singularity-options":
                             "--cleanenv " + HOSTILE_TEXT.format(m=marker)})
    create_ok(stack, pod)
    phase, st = stack.wait_phase(pod, timeout=90)
    assert phase == "Succeeded", st
    argv = json.loads(logs(stack, pod, "main"))
    words = [w.format(m=marker) for w in HOSTILE_WORDS]
    assert argv == ["exec", "--no-eval", "--containall", "--bind", "/scratch:/scratch",
                    "--cleanenv", *words, "/img/x.sif", "/bin/true"], argv
    assert not os.path.exists(marker), "a shell interpreted the annotation"


def test_runtime_annotations_refused_by_admin(make_stack, tmp_path):
    fake = script(tmp_path / "apptainer", ARGV_PRINTER)
    stack = make_stack(runtime="apptainer", ApptainerPath=fake, AllowRuntimeOptions=False)
    pod = h.make_pod("sing", [h.container("main", ["/bin/true"], image="/img/x.sif")],
                     annotations={"slurm-job.vk.io/singularity-options": "--cleanenv"})
    code, body = stack.create(h.create_request(pod))
    assert code == 400 and "AllowRuntimeOptions" in str(body), body
    pod = h.make_pod("quote", [h.container("main", ["/bin/true"], image="/img/x.sif")],
                     annotations={"slurm-job.vk.io/singularity-mounts": "'--bind"})
    stack2 = make_stack(runtime="apptainer", ApptainerPath=fake)
    code, body = stack2.create(h.create_request(pod))
    assert code == 400 and "unterminated" in str(body), body


# ---- MPI -----------------------------------------------------------------------------

def test_mpi_flags_run_ranks(make_stack, tmp_path):
    mpiexec = "/usr/bin/mpiexec"
    if not os.access(mpiexec, os.X_OK):
        pytest.skip("openmpi-bin is not installed (scripts/deps.sh test)")
    stack = make_stack(MpiexecPath=mpiexec)
    marker = str(tmp_path / f"pwned-{uuid.uuid4().hex}")
    prog = "echo rank=$OMPI_COMM_WORLD_RANK size=$OMPI_COMM_WORLD_SIZE arg=\"$0\""
    pod = h.make_pod("mpi", [sh("main", prog, args=["$(touch " + marker + ")"])],
                     init_containers=[sh("setup", "echo once")],
                     annotations={"slurm-job.vk.io/flags": "--ntasks=2",
                                  "slurm-job.vk.io/mpi-flags":
                                      "--allow-run-as-root --oversubscribe "
                                      "-x 'IL_NOTE=$(touch " + marker + ")'"})
    create_ok(stack, pod)
    phase, st = stack.wait_phase(pod, timeout=120)
    assert phase == "Succeeded", (st, logs(stack, pod, "main"))
    lines = sorted(logs(stack, pod, "main").decode().splitlines())
    arg = "arg=$(touch " + marker + ")"
    assert lines == [f"rank=0 size=2 {arg}", f"rank=1 size=2 {arg}"], lines
    assert logs(stack, pod, "setup") == b"once\n"   # init containers run once
    assert not os.path.exists(marker)
    # Without --ntasks SLURM_NTASKS is unset: the container fails, clearly.
    pod = h.make_pod("mpi1", [sh("main", "true")],
                     annotations={"slurm-job.vk.io/mpi-flags": "--allow-run-as-root"})
    create_ok(stack, pod)
    phase, st = stack.wait_phase(pod, timeout=120)
    assert phase == "Failed", st
    assert "--ntasks" in json.dumps(ctr(st, "main")), st
