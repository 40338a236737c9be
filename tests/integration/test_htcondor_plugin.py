"""interlink + interlink-htcondor against a real HTCondor 25 personal pool
(../shared/htcondor, started once for this module and stopped at the end;
skipped with the reason when absent).  Pods go through the interlink API as
the virtual kubelet sends them; each becomes one HTCondor job run as the
plugin's SubmitUser, with runtime `none` (bubblewrap)."""
import json
import os
import subprocess
import time
import uuid

import pytest

import harness as h
from harness import sh, ctr, logs
import htcondorutil as hu

PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def pool():
    with hu.module_pool() as p:
        yield p


@pytest.fixture
def stack(tmp_path, pool):
    s = hu.CondorStack(tmp_path / "s", pool).start()
    yield s
    s.cleanup()
    pool.wait_empty()


def run_pod(stack, pod, timeout=90, **cr):
    code, body = stack.create(h.create_request(pod, **cr))
    assert code == 200, body
    return stack.wait_phase(pod, timeout=timeout)


def test_hello_world_exit_codes_and_ping(stack, pool):
    pod = h.make_pod("hello", [sh("main", "echo hello; echo oops >&2; printf 'no newline'"),
                               sh("side", "exit 3")])
    phase, st = run_pod(stack, pod)
    assert phase == "Failed", st
    t = ctr(st, "main")["state"]["terminated"]
    assert t["exitCode"] == 0 and t["reason"] == "Completed"
    assert ctr(st, "side")["state"]["terminated"]["exitCode"] == 3
    assert st["JID"].endswith(".0")
    assert logs(stack, pod, "main") == b"hello\noops\nno newline"
    sub = open(os.path.join(stack.pod_dir(pod), "job.sub")).read()
    assert f'+InterLinkPodUID = "{pod["metadata"]["uid"]}"' in sub
    code, body = stack.ping()
    assert code == 200
    ping = json.loads(body)
    assert int(ping["resources"]["cpu"]) >= 1 and not ping["taints"], ping
