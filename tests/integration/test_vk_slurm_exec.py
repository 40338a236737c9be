"""kubectl exec, exec -i, exec -it (with a resize), attach and port-forward
into a pod of interlink-slurm: the real API server (conftest's real_kube),
the real kubectl, interlink-vk's kubelet API, interlink, interlink-slurm and
the real SLURM of tests/slurm (runtime `none`).  Each session is an `srun
--overlap` step in the pod's job (docs/interactive.md)."""
import json
import os
import signal
import time

import pytest

import sessionutil as ss
import slurmutil as su
import vkutil
from harness import wait_for

KUBECTL = "/usr/bin/kubectl"
NODE = "vk-slurm-exec"
POD = "shell"

pytestmark = pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason="needs kubectl")

TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"


class Cluster(ss.KubectlNode):
    """The real control plane, SLURM, interlink + interlink-slurm and a VK."""

    def __init__(self, tmp, kube, slurm):
        self.slurm = slurm
        super().__init__(tmp, kube, su.SlurmStack(os.path.join(tmp, "stack"), slurm), NODE)

    def job_id(self):
        uid = self.pod(POD)["metadata"]["uid"]
        return [i for i, name, _ in self.slurm.squeue_ids() if name == uid][0]

    def stop(self):
        super().stop(lambda: wait_for("the jobs gone", lambda: not self.slurm.squeue_ids("PD,R"),
                                      timeout=60))


def states(pod):
    return {c["name"]: c.get("state", {})
            for c in (pod or {}).get("status", {}).get("containerStatuses", [])}


@pytest.fixture(scope="module")
def k(tmp_path_factory, real_kube):
    with su.module_cluster(cpus=4) as slurm:
        c = Cluster(str(tmp_path_factory.mktemp("slurmexec")), real_kube, slurm)
        c.http_port = vkutil.free_port()   # now: one free at collection may be taken by then
        server = ss.http_server(c.http_port, "slurm pod says hi")
        try:
            wait_for("node registered", lambda: c.kubectl("get", "node", NODE, check=False)
                     .returncode == 0, timeout=60)
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD},
                   "spec": {"nodeName": NODE, "tolerations": [{"operator": "Exists"}],
                            "restartPolicy": "Never",
                            "containers": [
                                {"name": "main", "image": "busybox",
                                 "command": ["/usr/bin/python3", "-c", server]},
                                {"name": "ticker", "image": "busybox",
                                 "command": ["sh", "-c", TICKER]},
                                {"name": "done", "image": "busybox",
                                 "command": ["sh", "-c", "echo bye"]},
                                *ss.ATTACH_CONTAINERS]}}
            c.kubectl("apply", "-f", "-", input=json.dumps(pod).encode())
            wait_for("pod running, container done terminated", lambda: "terminated" in
                     states(c.pod(POD)).get("done", {}) and "running" in
                     states(c.pod(POD)).get("main", {}), timeout=120)
            yield c
        finally:
            c.stop()


def test_exec_output_and_exit_code(k):
    p = k.kubectl("exec", POD, "-c", "main", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3",
                  check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout == b"hi\n"
    assert b"oops" in p.stderr


def test_exec_stdin(k):
    data = b"".join(b"line %d\n" % i for i in range(5000))
    p = k.kubectl("exec", "-i", POD, "--", "sh", "-c", "wc -l; echo done", input=data)
    assert p.stdout.split() == [b"5000", b"done"]


def test_exec_tty_with_resize(k):
    """-it: the command's terminal has kubectl's size, follows a resize of
    kubectl's terminal, reads input, and the exit code comes back."""
    def drive(out, master, proc):
        if b"/dev/pts/" in out and not drive.sent:
            ss.set_size(master, 40, 120)
            proc.send_signal(signal.SIGWINCH)   # as the terminal would
            time.sleep(1)
            os.write(master, b"ping\r")
            drive.sent = True
    drive.sent = False
    rc, out = ss.kubectl_tty([KUBECTL, "--kubeconfig", k.kubeconfig, "exec", "-it", POD, "--",
                              "sh", "-c", "stty size; tty; read x; stty size; echo got=$x; "
                              "exit 4"], 33, 77, drive)
    assert b"33 77" in out, out
    assert b"40 120" in out, out
    assert b"got=ping" in out, out
    assert rc == 4, out


def test_attach_streams_live_output(k):
    k.attach_streams_live(POD, "ticker")


def test_attach_stdin_reaches_the_container_and_detach_leaves_it_running(k):
    k.attach_twice(POD)


def test_attach_stdin_once(k):
    k.attach_once(POD)


def test_attach_stdin_refused_without_stdin_true(k):
    k.attach_refused_without_stdin(POD, "ticker")


def test_attach_tty(k):
    k.attach_tty(POD)


def test_port_forward_http_round_trips(k):
    k.port_forward_round_trips(POD, k.http_port, "slurm pod says hi")


def test_port_forward_to_a_closed_port_says_why(k):
    k.port_forward_refused(POD)


def test_killed_kubectl_leaves_no_process_and_no_step(k):
    job = k.job_id()
    k.exec_killed(POD)
    wait_for("no step left", lambda: not [
        s for s in k.slurm.run("squeue", "-h", "-s", "-j", job, "-o", "%i").stdout.split()
        if not s.endswith((".batch", ".extern"))], timeout=30)
    wait_for("no srun left", lambda: not ss.sruns_of(k.slurm, job), timeout=30)


def test_exec_errors(k):
    p = k.kubectl("exec", POD, "-c", "nope", "--", "true", check=False)
    assert p.returncode != 0 and b"nope" in p.stderr
    p = k.kubectl("exec", POD, "-c", "done", "--", "true", check=False)
    assert p.returncode != 0 and b"not running" in p.stderr, p.stderr
