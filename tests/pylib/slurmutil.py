"""interlink + interlink-slurm against the real single-node SLURM of
tests/slurm (slurm-up.sh / slurm-down.sh), for the test_slurm_* modules.

module_cluster() brings SLURM up in a temp dir for a test module and takes it
down at the end; the module is skipped with the reason when SLURM cannot
start.  SlurmStack mirrors harness.Stack (which starts
interlink-local) with interlink-slurm behind interlink."""
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import harness as h

SLURM_DIR = os.path.join(h.SRC_DIR, "tests", "slurm")


class Cluster:
    """A running SLURM: its directory and the environment its clients need."""

    def __init__(self, directory, cpus, min_job_age=30, accounting=False, rest=False,
                 prefix=()):
        self.dir = directory
        self.rest = rest               # slurmrestd with JWT: rest_url, token()
        self.rest_url = None
        self.prefix = list(prefix)   # e.g. netns.Namespace.prefix(): SLURM in a namespace
        self.cpus = cpus
        self.min_job_age = min_job_age
        self.accounting = accounting   # MariaDB + slurmdbd: sacct answers
        self.env = None
        self.error = None

    def up(self):
        env = dict(os.environ, SLURM_UP_CPUS=str(self.cpus),
                   SLURM_UP_MIN_JOB_AGE=str(self.min_job_age),
                   SLURM_UP_ACCOUNTING="1" if self.accounting else "0",
                   SLURM_UP_REST="1" if self.rest else "0")
        r = subprocess.run(self.prefix + [os.path.join(SLURM_DIR, "slurm-up.sh"), self.dir],
                           env=env,
                           capture_output=True, text=True, timeout=300)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if r.returncode != 0 or not last.startswith("export SLURM_CONF="):
            why = [line for line in r.stderr.splitlines() if line.startswith("slurm-up:")]
            self.error = (f"slurm-up.sh failed ({r.returncode}): {' / '.join(why[-3:])}\n"
                          f"{r.stderr[-800:]}")
            return self
        self.env = dict(os.environ, SLURM_CONF=last[len("export SLURM_CONF="):])
        if self.rest:
            with open(os.path.join(self.dir, "slurmrestd.url")) as f:
                self.rest_url = f.read().strip()
        return self

    def token(self, lifespan=3600):
        """A JWT for slurmrestd from `scontrol token` (SLURM_UP_REST=1)."""
        r = self.run("scontrol", "token", f"lifespan={lifespan}")
        assert r.returncode == 0 and r.stdout.startswith("SLURM_JWT="), r.stderr
        return r.stdout.strip()[len("SLURM_JWT="):]

    def down(self):
        subprocess.run(self.prefix + [os.path.join(SLURM_DIR, "slurm-down.sh"), self.dir],
                       capture_output=True, timeout=120)

    def run(self, *argv):
        return subprocess.run(self.prefix + list(argv), env=self.env, capture_output=True,
                              text=True, timeout=60)

    def squeue_ids(self, states="all"):
        r = self.run("squeue", "-h", "-t", states, "-o", "%i|%j|%T")
        return [line.split("|") for line in r.stdout.split()]

    def slurmctld_pid(self):
        with open(os.path.join(self.dir, "run", "slurmctld.pid")) as f:
            return int(f.read().strip())

    def stop_slurmctld(self):
        """A clean stop: slurmctld saves its state, nothing is forgotten."""
        pid = self.slurmctld_pid()
        os.kill(pid, signal.SIGTERM)
        h.wait_for("slurmctld stopped", lambda: not os.path.exists(f"/proc/{pid}"), timeout=30)

    def restart_slurmctld(self):
        """slurm-up.sh restarts only the daemons that are not running.  It can
        time out on a loaded machine (the node not idle within its limit): try
        again then, and fail with its reason rather than go on without SLURM."""
        for _ in range(3):
            self.error = None
            self.up()
            if not self.error:
                return
        raise AssertionError(f"slurmctld did not come back: {self.error}")

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
        self.plugin = h.Daemon(self.cluster.prefix + [h.binary("interlink-slurm"), "--config",
                                                      self.plugin_cfg],
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


class SlurmStackWithPods(SlurmStack):
    """Deletes the pods it created when the test ends (jobs never leak)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.pods = []

    def create(self, req, session=None):
        self.pods.append(req["pod"])
        return super().create(req, session)

    def cleanup(self):
        if self.api and self.api.alive():
            for pod in self.pods:
                self.delete(pod)
        self.stop()


@contextlib.contextmanager
def module_cluster(cpus):
    """For a module-scoped fixture: a fresh cluster, stopped afterwards; skips
    the module, with the reason, when SLURM cannot start here."""
    cluster = start_cluster(cpus)
    try:
        if cluster.error:
            pytest.skip(f"SLURM cannot start here: {cluster.error}")
        yield cluster
    finally:
        stop_cluster(cluster)


@contextlib.contextmanager
def outage_stack(path, cluster, pending_delete_retry_s):
    """For a function-scoped fixture of tests that stop slurmctld: a stack on
    cluster whose plugin gives SLURM's commands 20 s, interlink retrying an
    unconfirmed delete every pending_delete_retry_s; afterwards slurmctld is
    restarted (a test may leave it stopped or SLURM may have forgotten jobs)
    and the stack cleaned up."""
    cluster.wait_idle()
    s = SlurmStackWithPods(path, cluster, plugin_extra={"CommandTimeoutSeconds": 20},
                           api_extra={"PendingDeleteRetrySeconds": pending_delete_retry_s})
    s.start()
    try:
        yield s
    finally:
        cluster.restart_slurmctld()
        s.cleanup()


def start_cluster(cpus, min_job_age=30, accounting=False, rest=False, prefix=()):
    """A fresh cluster in its own short temp dir (munge's socket path limit);
    accounting: with MariaDB + slurmdbd (SLURM_UP_ACCOUNTING=1); rest: with
    slurmrestd and JWT (SLURM_UP_REST=1); prefix: the argv prefix its daemons
    and clients run under (a network namespace)."""
    directory = tempfile.mkdtemp(prefix="ilslurm-", dir="/tmp")
    return Cluster(directory, cpus, min_job_age, accounting, rest, prefix).up()


def stop_cluster(cluster):
    cluster.down()
    shutil.rmtree(cluster.dir, ignore_errors=True)
