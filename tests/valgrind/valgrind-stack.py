#!/usr/bin/python3
"""valgrind-stack.py BINDIR -- interlink-vk, interlink and interlink-slurm under
valgrind through one short scenario, against the Kubernetes API server double
(tests/kube) and the real single-node SLURM of tests/slurm.

tests/valgrind/valgrind.sh covers interlink + interlink-local with curl; this covers
the other two daemons and interlink again on their paths: node registration,
lease and ping (sinfo), a pod with a ConfigMap, a Secret, a service-account
token and an init container run to Succeeded as a SLURM job, its logs read
through the API server's proxy from the VK's kubelet API (TLS, client
certificate), a failing pod, a running pod deleted (scancel), then SIGTERM to
every daemon.  Fails when valgrind reports any error or a definite leak in
any of their processes, or when the scenario itself does not work.

Slow by nature (the daemons run 10-50 times slower): a few minutes."""
import glob
import os
import re
import sys
import tempfile
import urllib.parse

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if len(sys.argv) != 2:
    sys.exit("usage: valgrind-stack.py BINDIR")
os.environ["IL_BIN_DIR"] = os.path.abspath(sys.argv[1])
os.environ["IL_SOURCE_DIR"] = SRC
WORK = tempfile.mkdtemp(prefix="il-valgrind-stack-")
LOGS = os.path.join(WORK, "valgrind")
os.makedirs(LOGS)
os.environ["IL_VALGRIND_LOGS"] = LOGS          # read by harness.valgrind_prefix
sys.path.insert(0, os.path.join(SRC, "tests", "pylib"))

import harness as h      # noqa: E402  (after the environment is set)
import slurmutil as su   # noqa: E402
import vkutil            # noqa: E402
from vkutil import wait_for  # noqa: E402

SLOW = 120   # seconds any one step may take under valgrind


def sh(name, script):
    return {"name": name, "image": "busybox", "command": ["/bin/sh", "-c", script]}


def proxied_log(kube, pod, container):
    query = urllib.parse.urlencode({"container": container})
    conn, resp = kube.api.stream(f"/api/v1/namespaces/default/pods/{pod}/log?{query}")
    try:
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def scenario(kube):
    kube.create("configmaps", {"metadata": {"name": "cfg"}, "data": {"greeting": "hello"}})
    kube.create("secrets", {"metadata": {"name": "sec"}, "type": "Opaque",
                            "data": {"word": "c2VjcmV0"}})
    volumes = [{"name": "s", "secret": {"secretName": "sec"}},
               {"name": "tok", "projected": {"sources": [
                   {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}]
    main = sh("main", 'echo "$GREETING $(cat /s/word)"; test -s /tok/token && echo token')
    main["env"] = [{"name": "GREETING",
                    "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}}]
    main["volumeMounts"] = [{"name": "s", "mountPath": "/s"},
                            {"name": "tok", "mountPath": "/tok"}]
    kube.create_pod("vg", [main], volumes=volumes, initContainers=[sh("init", "echo init")])
    pod = wait_for("pod vg done", lambda: vkutil.phase(kube.pod("vg")) in ("Succeeded", "Failed")
                   and kube.pod("vg"), timeout=SLOW)
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    got = proxied_log(kube, "vg", "main")
    assert got == (200, "hello secret\ntoken\n"), got

    kube.create_pod("bad", [sh("main", "exit 3")])
    pod = wait_for("pod bad done", lambda: vkutil.phase(kube.pod("bad")) in ("Succeeded", "Failed")
                   and kube.pod("bad"), timeout=SLOW)
    assert pod["status"]["phase"] == "Failed", pod["status"]

    kube.create_pod("sleeper", [sh("main", "sleep 600")])
    wait_for("pod sleeper running", lambda: vkutil.phase(kube.pod("sleeper")) == "Running",
             timeout=SLOW)
    code, body = kube.delete_pod("sleeper", gracePeriodSeconds=2)
    assert code == 200, body
    wait_for("pod sleeper gone", lambda: kube.pod("sleeper") is None, timeout=SLOW)


def valgrind_verdicts():
    """(log file, problem) for every process valgrind watched."""
    logs = {}
    for path in sorted(glob.glob(os.path.join(LOGS, "*.valgrind"))):
        logs[path.rsplit(".", 2)[-2]] = (path, open(path, errors="replace").read())
    bad, seen = [], 0
    for pid, (path, text) in logs.items():
        summary = re.search(r"ERROR SUMMARY: (\d+)", text)
        parent = re.search(r"Parent PID: (\d+)", text)
        if not summary and parent and parent.group(1) in logs:
            continue   # a child a watched daemon forked, which then exec'd sbatch or a job
        seen += 1
        if not summary:
            bad.append((path, "no ERROR SUMMARY (the process did not exit cleanly)"))
        elif summary.group(1) != "0" or re.search(r"definitely lost: [1-9]", text):
            bad.append((path, text[-6000:]))
    return seen, bad


def main():
    cluster = su.start_cluster(cpus=4)
    kube = stack = vk = None
    failed = []
    try:
        if cluster.error:
            sys.exit(f"valgrind-stack: SLURM cannot start here: {cluster.error}")
        kube = vkutil.FakeKube(os.path.join(WORK, "kube"))
        stack = su.SlurmStack(os.path.join(WORK, "stack"), cluster).start()
        vk = vkutil.VK(WORK, kube, stack, InterlinkTimeoutSeconds=SLOW).start()
        wait_for("node Ready", lambda: (vkutil.condition(kube.node(), "Ready") or {})
                 .get("status") == "True", timeout=SLOW)
        scenario(kube)
        print("valgrind-stack: scenario passed")
    except Exception as e:   # the scenario failing is a failure too, after the verdicts
        failed.append(("scenario", repr(e)))
    finally:
        for daemon in (vk, stack):
            try:
                if daemon is not None:
                    daemon.stop()
            except Exception as e:
                failed.append(("stop", repr(e)))
        if kube is not None:
            kube.stop()
        su.stop_cluster(cluster)
    seen, bad = valgrind_verdicts()
    failed += bad
    if seen < 3:
        failed.append((LOGS, f"only {seen} valgrind logs (interlink-vk, interlink, "
                             f"interlink-slurm expected)"))
    for where, what in failed:
        print(f"valgrind-stack: {where}:\n{what}", file=sys.stderr)
    if failed:
        print(f"valgrind-stack: FAILED (logs kept in {WORK})", file=sys.stderr)
        sys.exit(1)
    print(f"valgrind-stack: OK, {seen} processes, no errors, no definite leaks")


if __name__ == "__main__":
    main()
