"""interlink + interlink-htcondor against the real HTCondor personal pool of
../shared/htcondor (start.sh / stop.sh), for the test_htcondor_* modules.

module_pool() starts the pool for a test module (state in $CONDOR_STATE,
default /tmp/htcondor-interlink-tests; collector on $CONDOR_COLLECTOR_PORT,
default 19618) and stops it at the end; the module is skipped, with the
reason, when ../shared/htcondor is absent or the pool cannot start.  The
plugin runs as root (as the tests do) and submits as SUBMIT_USER, created
when missing: HTCondor refuses jobs owned by root."""
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import harness as h

CONDOR_HOME = os.environ.get("IL_HTCONDOR_DIR") or os.path.join(h.SRC_DIR, "..", "shared",
                                                                 "htcondor")
SUBMIT_USER = "ilcondor"


class Pool:
    def __init__(self):
        self.state = os.environ.get("CONDOR_STATE", "/tmp/htcondor-interlink-tests")
        self.port = os.environ.get("CONDOR_COLLECTOR_PORT", "19618")
        self.bin = os.path.join(os.path.abspath(CONDOR_HOME), "bin")
        self.env = dict(os.environ, CONDOR_STATE=self.state, CONDOR_COLLECTOR_PORT=self.port,
                        CONDOR_CONFIG=os.path.join(self.state, "condor_config"),
                        PATH=self.bin + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        self.error = None

    def up(self):
        if subprocess.run(["id", SUBMIT_USER], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", "-M", "-d",
                            "/nonexistent", SUBMIT_USER], check=True)
        # More (virtual) CPUs than the machine's 2, so concurrent-pod tests
        # are not serialized on two slots; config.d survives start.sh.
        os.makedirs(os.path.join(self.state, "config.d"), exist_ok=True)
        with open(os.path.join(self.state, "config.d", "50-interlink-tests"), "w") as f:
            f.write("NUM_CPUS = 32\nCLAIM_WORKLIFE = 600\n")
        r = subprocess.run([os.path.join(CONDOR_HOME, "start.sh")], env=self.env,
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            self.error = f"start.sh failed ({r.returncode}): {r.stdout[-400:]} {r.stderr[-800:]}"
        return self

    def down(self):
        subprocess.run([os.path.join(CONDOR_HOME, "stop.sh")], env=self.env,
                       capture_output=True, timeout=120)

    def run(self, *argv, user=None):
        argv = list(argv)
        if argv[0] in ("condor_hold", "condor_release"):
            argv[0] = self.rm_alias(argv[0])
        elif user:   # runuser searches PATH as root would: the tool's full path
            argv[0] = os.path.join(self.bin, argv[0])
        if user:
            argv = ["runuser", "-u", user, "--"] + argv
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)

    def schedd_pid(self):
        """The pid of this pool's condor_schedd (the last start in its log)."""
        pid = None
        with open(os.path.join(self.state, "local", "log", "SchedLog"), errors="replace") as f:
            for line in f:
                if "condor_schedd (CONDOR_SCHEDD) STARTING UP" in line:
                    pid = int(line.split("(pid:")[1].split(")")[0])
        assert pid and os.readlink(f"/proc/{pid}/exe").endswith("condor_schedd"), pid
        return pid

    def rm_alias(self, name):
        """condor_hold and condor_release are condor_rm under another name
        (it acts by argv[0]); the pool's copies are link stubs, so a link
        named so is made in a directory of ours."""
        d = os.path.join(self.state, "tools")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        path = os.path.join(d, name)
        if not os.path.islink(path):
            os.symlink(os.path.join(self.bin, "condor_rm"), path)
        return path

    def jobs_of(self, uid):
        """Ids of every job, queued or in the history, that carries uid."""
        c = f'InterLinkPodUID == "{uid}"'
        ids = []
        for tool in ("condor_q", "condor_history"):
            r = self.run(tool, "-af", "ClusterId", "ProcId", "-constraint", c)
            assert r.returncode == 0, r.stderr
            ids += [".".join(line.split()) for line in r.stdout.splitlines() if line.strip()]
        return sorted(set(ids))   # a job leaving the queue is briefly in both

    def job_ad(self, job_id, attrs):
        """The job's ad (those attributes) from the queue or the history."""
        cluster, proc = job_id.split(".")
        c = f"ClusterId == {cluster} && ProcId == {proc}"

        def ad():
            for tool in ("condor_q", "condor_history"):
                r = self.run(tool, "-json", "-attributes", ",".join(attrs), "-constraint", c)
                if r.returncode == 0 and r.stdout.strip().strip("[]").strip():
                    return json.loads(r.stdout)[0]
            return None
        return h.wait_for(f"the ad of job {job_id}", ad, timeout=30, interval=0.5)

    def queue(self):
        """[(id, uid, JobStatus)] of the jobs in the queue that carry a pod UID."""
        r = self.run("condor_q", "-af", "ClusterId", "ProcId", "InterLinkPodUID", "JobStatus",
                     "-constraint", "InterLinkPodUID =!= undefined")
        assert r.returncode == 0, r.stderr
        return [(f"{a}.{b}", u, int(s)) for a, b, u, s in
                (line.split() for line in r.stdout.splitlines() if line.strip())]

    def wait_gone(self, pods, timeout=60):
        """None of these pods' jobs is left in the queue (the pool's state
        directory, and with it its queue, outlives a test run)."""
        uids = {p["metadata"]["uid"] for p in pods}
        h.wait_for("the pods' jobs out of the queue",
                   lambda: not [j for j in self.queue() if j[1] in uids], timeout=timeout,
                   interval=0.5)


@contextlib.contextmanager
def module_pool():
    if not os.path.isfile(os.path.join(CONDOR_HOME, "start.sh")):
        pytest.skip(f"no HTCondor pool here ({CONDOR_HOME} is absent)")
    pool = Pool().up()
    try:
        if pool.error:
            pytest.skip(f"the HTCondor pool cannot start here: {pool.error}")
        yield pool
    finally:
        pool.down()


class CondorStack(h.Stack):
    """interlink + interlink-htcondor on unix sockets under tmpdir; the pods'
    data in a world-traversable directory (the jobs run as SUBMIT_USER)."""

    def __init__(self, tmpdir, pool, runtime="none", plugin_extra=None, api_extra=None):
        super().__init__(tmpdir, api_extra=api_extra)
        self.pool = pool
        self.data = tempfile.mkdtemp(prefix="ilhtc-", dir="/tmp")
        os.chmod(self.data, 0o755)
        self.plugin_cfg = h.write_yaml(os.path.join(self.dir, "htcondor.yaml"), {
            "Socket": self.plugin_addr,
            "DataRootFolder": self.data,
            "SubmitUser": SUBMIT_USER,
            "CondorBinDir": pool.bin,
            "ContainerRuntime": runtime,
            "VerboseLogging": True,
            **(plugin_extra or {}),
        })
        self.pods = []

    def start_plugin(self):
        self.plugin = h.Daemon([h.binary("interlink-htcondor"), "--config", self.plugin_cfg],
                               os.path.join(self.dir, "plugin.log"), env=self.pool.env).start()
        h.wait_for_socket(self.plugin_addr, self.plugin.proc)
        return self.plugin

    def create(self, req, session=None):
        self.pods.append(req["pod"])
        return super().create(req, session)

    def pod_dir(self, pod):
        return os.path.join(self.data, "pods", pod["metadata"]["uid"])

    def cleanup(self):
        """Deletes the pods it created (no job outlives its test), stops."""
        try:
            if self.api and self.api.alive() and self.plugin and self.plugin.alive():
                for pod in self.pods:
                    self.delete(pod)
            self.stop()
        finally:
            shutil.rmtree(self.data, ignore_errors=True)


def wait_job_status(pool, uid, status, timeout=60):
    """The pod's job id once its JobStatus is `status` (1 idle, 2 running, 5 held),
    or one of a tuple of them."""
    wanted = status if isinstance(status, tuple) else (status,)

    def job():
        return next((j for j, u, s in pool.queue() if u == uid and s in wanted), None)
    return h.wait_for(f"job of {uid} in JobStatus {status}", job, timeout=timeout, interval=0.3)
