"""interlink + interlink-slurm against the real single-node SLURM of
tests/slurm (slurm-up.sh / slurm-down.sh), for the test_slurm_* modules.

`cluster` (session-scoped) brings SLURM up once for the whole run in a temp
dir and takes it down at the end; a module is skipped with the reason when
SLURM cannot start.  SlurmStack mirrors harness.Stack (which starts
interlink-local) with interlink-slurm behind interlink."""
import os
import shutil
import subprocess
import tempfile
import time

import harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
SLURM_DIR = os.path.join(h.SRC_DIR, "tests", "slurm")


class Cluster:
    """A running SLURM: its directory and the environment its clients need."""

    def __init__(self, directory, cpus):
        self.dir = directory
        self.cpus = cpus
        self.env = None
        self.error = None

    def up(self):
        env = dict(os.environ, SLURM_UP_CPUS=str(self.cpus), SLURM_UP_MIN_JOB_AGE="30")
        r = subprocess.run([os.path.join(SLURM_DIR, "slurm-up.sh"), self.dir], env=env,
                           capture_output=True, text=True, timeout=300)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if r.returncode != 0 or not last.startswith("export SLURM_CONF="):
            self.error = f"slurm-up.sh failed ({r.returncode}): {r.stderr[-800:]}"
            return self
        self.env = dict(os.environ, SLURM_CONF=last[len("export SLURM_CONF="):])
        return self

    def down(self):
        subprocess.run([os.path.join(SLURM_DIR, "slurm-down.sh"), self.dir],
                       capture_output=True, timeout=120)

    def run(self, *argv):
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True,
                              timeout=60)

    def squeue_ids(self, states="all"):
        r = self.run("squeue", "-h", "-t", states, "-o", "%i|%j|%T")
        return [line.split("|") for line in r.stdout.split()]

    def wait_idle(self, timeout=120):
        """No job of any earlier test still holds CPUs."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.squeue_ids("PD,R,CG"):
                return
            time.sleep(0.5)
        raise AssertionError(f"SLURM not idle: {self.squeue_ids('PD,R,CG')}")


class SlurmStack(h.Stack):
    """interlink + interlink-slurm on unix sockets under tmpdir."""

    def __init__(self, tmpdir, cluster, runtime="none", plugin_extra=None, api_extra=None):
        super().__init__(tmpdir, api_extra=api_extra)
        self.cluster = cluster
        self.data = os.path.join(self.dir, "slurm-data")
        self.plugin_cfg = h.write_yaml(os.path.join(self.dir, "slurm.yaml"), {
            "Socket": self.plugin_addr,
            "DataRootFolder": self.data,
            "ContainerRuntime": runtime,
            "VerboseLogging": True,
            **(plugin_extra or {}),
        })

    def start_plugin(self):
        self.plugin = h.Daemon([h.binary("interlink-slurm"), "--config", self.plugin_cfg],
                               os.path.join(self.dir, "plugin.log"),
                               env=self.cluster.env).start()
        h.wait_for_socket(self.plugin_addr, self.plugin.proc)
        return self.plugin

    def pod_dir(self, pod):
        return os.path.join(self.data, "pods", pod["metadata"]["uid"])

    def job_id(self, pod):
        code, body = self.status([pod])
        assert code == 200 and body, body
        return body[0]["JID"]

    def wait_running(self, pod, timeout=60):
        return self.wait_phase(pod, ("Running",), timeout=timeout)


def start_cluster(cpus):
    """A fresh cluster in its own short temp dir (munge's socket path limit)."""
    directory = tempfile.mkdtemp(prefix="ilslurm-", dir="/tmp")
    return Cluster(directory, cpus).up()


def stop_cluster(cluster):
    cluster.down()
    shutil.rmtree(cluster.dir, ignore_errors=True)
