"""interlink + interlink-htcondor against a real HTCondor 25 personal pool
(../shared/htcondor, started once for this module and stopped at the end;
skipped with the reason when absent).  Pods go through the interlink API as
the virtual kubelet sends them; each becomes one HTCondor job run as the
plugin's SubmitUser, with runtime `none` (bubblewrap)."""
import json
import os
import signal
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
    pool.wait_gone(s.pods)


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


def test_init_containers_volumes_env(stack):
    cm = h.configmap("cfg", {"a.conf": "alpha\n"})
    sec = h.secret("creds", {"password": "s3cr3t"})
    vols = [{"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "creds", "secret": {"secretName": "creds"}},
            {"name": "work", "emptyDir": {}}]
    mounts = [{"name": "cfg", "mountPath": "/config", "readOnly": True},
              {"name": "creds", "mountPath": "/etc/creds"},
              {"name": "work", "mountPath": "/work"}]
    inits = [sh("first", "echo one > /work/data", mounts=mounts),
             sh("second", "echo two >> /work/data", mounts=mounts)]
    main = sh("main", 'cat /config/a.conf /etc/creds/password /work/data; echo "$GREETING"; pwd',
              mounts=mounts, env={"GREETING": "hi there"}, workdir="/work")
    pod = h.make_pod("vols", [main], init_containers=inits, volumes=vols)
    phase, st = run_pod(stack, pod, configmaps=[cm], secrets=[sec])
    assert phase == "Succeeded", st
    assert ctr(st, "second")["state"]["terminated"]["exitCode"] == 0
    assert logs(stack, pod, "main") == b"alpha\ns3cr3tone\ntwo\nhi there\n/work\n"


def test_hostile_strings_intact_nothing_executed(stack, pool, tmp_path):
    marker = f"/tmp/pwned-{uuid.uuid4().hex}"
    hostile = ["$(touch " + marker + ")", "`touch " + marker + "`", "a; touch " + marker,
               "it's \"quoted\" '\\''", "line1\nline2", "$(DOLLAR) $(Owner) $$(Memory)",
               "+Owner = \"root\"", "ünïcödé ✓", "-n", ""]
    env = {"HOSTILE": hostile[0] + "\n" + hostile[5], "QUOTES": "'\"'\"'"}
    prog = ("import sys, os, json; print(json.dumps({'argv': sys.argv[1:], "
            "'env': {k: os.environ.get(k) for k in ('HOSTILE', 'QUOTES')}}))")
    pod = h.make_pod("hostile", [h.container("main", [PY, "-c", prog], args=hostile, env=env)],
                     annotations={"evil": "$(touch " + marker + ")\n+Owner = \"root\"",
                                  "queue": "\nqueue 5\n"})
    phase, st = run_pod(stack, pod)
    assert phase == "Succeeded", st
    got = json.loads(logs(stack, pod, "main"))
    assert got["argv"] == hostile and got["env"] == env
    assert not os.path.exists(marker), "a shell interpreted the input"
    assert pool.jobs_of(pod["metadata"]["uid"]) == [st["JID"]]   # one job, not five


def test_refused_annotations_submit_nothing(stack, pool):
    for ann in ({"htcondor-job.vk.io/accounting-group": "physics\n+Owner = \"root\""},
                {"htcondor-job.vk.io/requirements": "true"},
                {"htcondor-job.vk.io/attributes": '{"Owner": "root"}'},
                {"htcondor-job.vk.io/attributes": '{"Foo": "$(touch /tmp/x)"}'},
                {"htcondor-job.vk.io/attributes": '{"Foo": "a\\\\"}'}):
        pod = h.make_pod("refused", [sh("main", "true")], annotations=ann)
        code, body = stack.create(h.create_request(pod))
        assert code == 400 and "htcondor-job.vk.io/" in str(body), (ann, code, body)
        assert not os.path.exists(stack.pod_dir(pod))
        assert pool.jobs_of(pod["metadata"]["uid"]) == []


def test_run_as_user_only_the_submit_user(stack, pool):
    import pwd
    uid = pwd.getpwnam(hu.SUBMIT_USER).pw_uid
    root = h.make_pod("asroot", [sh("main", "id -u")])
    root["spec"]["securityContext"] = {"runAsUser": 0}
    code, body = stack.create(h.create_request(root))
    assert code == 400 and f"runs this job as {hu.SUBMIT_USER}" in str(body), (code, body)
    assert pool.jobs_of(root["metadata"]["uid"]) == []
    mine = h.make_pod("asme", [sh("main", "id -u")])
    mine["spec"]["containers"][0]["securityContext"] = {"runAsUser": uid}
    phase, st = run_pod(stack, mine)
    assert phase == "Succeeded", st


def test_allowed_annotations_reach_the_job_ad(tmp_path, pool):
    s = hu.CondorStack(tmp_path / "a", pool, plugin_extra={
        "AccountingGroups": ["physics"], "AllowRequirements": True,
        "AllowedAttributes": ["WantFlavour", "Priority2"]}).start()
    try:
        value = 'el9 "x" +Owner = 1 ✓ -n'
        pod = h.make_pod("ann", [sh("main", "true")], annotations={
            "htcondor-job.vk.io/accounting-group": "physics",
            "htcondor-job.vk.io/requirements": 'TARGET.Cpus >= 1 && Name =!= "a)b"',
            "htcondor-job.vk.io/attributes": json.dumps({"WantFlavour": value,
                                                         "Priority2": 7})})
        phase, st = run_pod(s, pod)
        assert phase == "Succeeded", st
        ad = pool.job_ad(st["JID"], ["WantFlavour", "Priority2", "AcctGroup", "Requirements",
                                     "Owner"])
        assert ad["WantFlavour"] == value and ad["Priority2"] == 7, ad
        assert ad["AcctGroup"] == "physics" and ad["Owner"] == hu.SUBMIT_USER, ad
        assert 'Name isnt "a)b"' in ad["Requirements"], ad   # =!= as HTCondor prints it
    finally:
        s.cleanup()


def test_logs_follow(stack):
    pod = h.make_pod("follow", [sh("main", "for i in 1 2 3 4 5; do echo line$i; sleep 0.5; done")])
    assert stack.create(h.create_request(pod))[0] == 200
    stack.wait_phase(pod, phases=("Running", "Succeeded"), timeout=60)
    code, data = stack.logs(h.log_struct(pod, "main", Follow=True), timeout=60)
    assert code == 200 and data == b"line1\nline2\nline3\nline4\nline5\n", data
    code, data = stack.logs(h.log_struct(pod, "main", Tail=2))
    assert code == 200 and data == b"line4\nline5\n", data


def test_hooks_and_exec_probe_as_the_jobs_account(stack):
    """The job's supervisor is SubmitUser, not root: the postStart and preStop
    exec hooks and an exec readiness probe enter the container (the emptyDir
    /hook exists only in its mount namespace) as that account.  nsenter
    --all also re-entered the namespaces the container shares with the job
    (cgroup, net), which an ordinary account may not: FailedPostStartHook."""
    out = os.path.join(stack.data, "out")   # a path the job's account can reach
    os.mkdir(out)
    os.chmod(out, 0o777)
    mounts = [{"name": "hook", "mountPath": "/hook"}, {"name": "out", "mountPath": "/out"}]
    c = sh("main", "trap 'cp /hook/stop /out/term-saw; exit 0' TERM; "
           "for i in $(seq 1 300); do [ -e /hook/start ] && break; sleep 0.1; done; "
           "echo main sees: $(cat /hook/start); id -un; while :; do sleep 0.1; done",
           mounts=mounts)
    c["lifecycle"] = {
        "postStart": {"exec": {"command": ["/bin/sh", "-c", "id -un > /hook/start"]}},
        "preStop": {"exec": {"command": ["/bin/sh", "-c", "id -un > /hook/stop"]}}}
    c["readinessProbe"] = {"exec": {"command": ["cat", "/hook/start"]}, "periodSeconds": 1}
    vols = [{"name": "hook", "emptyDir": {}}, {"name": "out", "hostPath": {"path": out}}]
    pod = h.make_pod("hooks", [c], volumes=vols, grace=5)
    assert stack.create(h.create_request(pod))[0] == 200

    def ready():
        code, body = stack.status([pod])
        main = ctr(body[0], "main") if code == 200 and body else {}
        return main if main.get("ready") or "terminated" in (main.get("state") or {}) else None
    main = h.wait_for("main ready", ready, timeout=90)
    assert "running" in main["state"], main
    h.wait_for("main's log", lambda: logs(stack, pod, "main") ==
               f"main sees: {hu.SUBMIT_USER}\n{hu.SUBMIT_USER}\n".encode(), timeout=30)
    assert stack.delete(pod)[0] == 200
    # SIGTERM came after the preStop hook: the trap copied its file.
    with open(os.path.join(out, "term-saw")) as f:
        assert f.read() == hu.SUBMIT_USER + "\n"


def test_delete_running_honours_grace(stack, pool):
    pod = h.make_pod("stubborn", [sh("main", "trap '' TERM; while :; do sleep 0.2; done")],
                     grace=3)
    assert stack.create(h.create_request(pod))[0] == 200
    stack.wait_phase(pod, phases=("Running",), timeout=60)
    jid = stack.status([pod])[1][0]["JID"]
    t0 = time.time()
    code, body = stack.delete(pod)
    took = time.time() - t0
    assert code == 200, body
    assert 3 <= took < 30, took   # the grace period, then the kill
    assert jid not in [j for j, _, _ in pool.queue()]
    assert not os.path.exists(stack.pod_dir(pod))
    assert stack.delete(pod)[0] == 200   # idempotent


def test_idle_and_held_jobs_status_and_delete(stack, pool):
    idle = h.make_pod("idle", [h.container("main", ["/bin/true"])])
    idle["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "500"}}   # never matches
    held = h.make_pod("held", [sh("main", "sleep 60")])
    for pod in (idle, held):
        assert stack.create(h.create_request(pod))[0] == 200
    # queued, or already running where the negotiator was quick: either can be held
    held_jid = hu.wait_job_status(pool, held["metadata"]["uid"], (1, 2))
    r = pool.run("condor_hold", "-reason", "test hold: disk quota", held_jid,
                 user=hu.SUBMIT_USER)
    assert r.returncode == 0, r.stderr
    hu.wait_job_status(pool, held["metadata"]["uid"], 5)

    def waiting(pod, text):
        code, body = stack.status([pod])
        w = (ctr(body[0], "main")["state"] or {}).get("waiting") or {}
        return w if text in w.get("message", "") else None
    w = h.wait_for("held message", lambda: waiting(held, "test hold: disk quota"))
    assert w["reason"] == "Held", w
    h.wait_for("idle message", lambda: waiting(idle, "is idle"))
    for pod in (idle, held):
        jid = stack.status([pod])[1][0]["JID"]
        code, body = stack.delete(pod)
        assert code == 200, body
        assert jid not in [j for j, _, _ in pool.queue()]
        assert not os.path.exists(stack.pod_dir(pod))


def test_plugin_kill9_mid_run_loses_nothing(stack, pool):
    pods = [h.make_pod(f"dur{i}", [sh("main", f"sleep 3; echo done{i}; exit {i}")])
            for i in range(3)]
    for pod in pods:
        assert stack.create(h.create_request(pod))[0] == 200
    stack.plugin.kill9()
    time.sleep(1)
    stack.start_plugin()
    for pod in pods:   # a repeated create (the VK retrying) is answered, not resubmitted
        assert stack.create(h.create_request(pod))[0] == 200
    for i, pod in enumerate(pods):
        phase, st = stack.wait_phase(pod, timeout=90)
        assert ctr(st, "main")["state"]["terminated"]["exitCode"] == i
        assert logs(stack, pod, "main") == f"done{i}\n".encode()
        assert pool.jobs_of(pod["metadata"]["uid"]) == [st["JID"]]


def test_unrecorded_job_is_adopted_not_resubmitted(stack, pool):
    """A create killed between condor_submit and job.json: the restarted
    plugin finds the job by its pod UID."""
    pod = h.make_pod("adopt", [sh("main", "sleep 2; echo once")])
    assert stack.create(h.create_request(pod))[0] == 200
    stack.plugin.kill9()
    with open(os.path.join(stack.pod_dir(pod), "job.json"), "w"):
        pass   # as if the plugin died before recording the id
    stack.start_plugin()
    phase, st = stack.wait_phase(pod, timeout=90)
    assert phase == "Succeeded", st
    assert pool.jobs_of(pod["metadata"]["uid"]) == [st["JID"]]
    assert "adopted job" in stack.plugin.output()


def test_concurrent_pods(stack, pool):
    import concurrent.futures as cf
    pods = [h.make_pod(f"many{i}", [sh("main", f"echo pod{i}")]) for i in range(24)]
    with cf.ThreadPoolExecutor(12) as ex:
        codes = list(ex.map(lambda p: stack.create(h.create_request(p))[0], pods))
    assert codes == [200] * len(pods)
    # one /status for all of them, until all are done
    def all_done():
        code, body = stack.status(pods)
        return code == 200 and len(body) == len(pods) and \
            all(h.derive_phase(b) == "Succeeded" for b in body)
    h.wait_for("all pods Succeeded", all_done, timeout=180, interval=1)
    for i, pod in enumerate(pods):
        assert logs(stack, pod, "main") == f"pod{i}\n".encode()
        assert len(pool.jobs_of(pod["metadata"]["uid"])) == 1


def test_file_transfer_mode(tmp_path, pool):
    """FileTransfer: the job runs in HTCondor's scratch directory on the
    execute node; the pod's files go in, state files and logs come back."""
    s = hu.CondorStack(tmp_path / "ft", pool, plugin_extra={"FileTransfer": True}).start()
    try:
        cm = h.configmap("cfg", {"a.conf": "alpha\n"})
        vols = [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "work", "emptyDir": {}}]
        mounts = [{"name": "cfg", "mountPath": "/config"}, {"name": "work", "mountPath": "/work"}]
        pod = h.make_pod("ft", [sh("main", "sleep 2; cat /config/a.conf /work/x; exit 4",
                                   mounts=mounts)],
                         init_containers=[sh("init", "echo from-init > /work/x", mounts=mounts)],
                         volumes=vols)
        plain = h.make_pod("ftplain", [sh("main", "echo plain")])
        assert s.create(h.create_request(pod, configmaps=[cm]))[0] == 200
        assert s.create(h.create_request(plain))[0] == 200
        phase, st = s.wait_phase(pod, phases=("Running",), timeout=60)
        assert "running" in ctr(st, "main")["state"], st
        phase, st = s.wait_phase(pod, timeout=90)
        assert phase == "Failed" and ctr(st, "main")["state"]["terminated"]["exitCode"] == 4, st
        assert ctr(st, "init")["state"]["terminated"]["exitCode"] == 0, st
        assert logs(s, pod, "main") == b"alpha\nfrom-init\n"
        assert s.wait_phase(plain)[0] == "Succeeded"
        assert logs(s, plain, "main") == b"plain\n"
        d = s.pod_dir(pod)
        assert "should_transfer_files = YES" in open(os.path.join(d, "job.sub")).read()
        # the job wrote on the execute node; what came back is the copy
        assert not os.path.exists(os.path.join(d, "containers"))
        assert os.path.exists(os.path.join(d, pod["metadata"]["uid"], "containers", "main", "log"))
    finally:
        s.cleanup()


def test_remote_spool_mode(tmp_path, pool):
    """Spool: submitted with -name/-pool/-spool as to a schedd on another
    host; results fetched with condor_transfer_data, then the job leaves
    the queue."""
    r = pool.run("condor_status", "-schedd", "-af", "Name")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    s = hu.CondorStack(tmp_path / "sp", pool, plugin_extra={
        "Spool": True, "ScheddName": r.stdout.split()[0],
        "Pool": f"127.0.0.1:{pool.port}"}).start()
    try:
        pod = h.make_pod("spool", [sh("main", "echo spooled; exit 2")],
                         init_containers=[sh("init", "echo first")])
        assert s.create(h.create_request(pod))[0] == 200
        phase, st = s.wait_phase(pod, timeout=90)
        assert phase == "Failed" and ctr(st, "main")["state"]["terminated"]["exitCode"] == 2, st
        assert logs(s, pod, "main") == b"spooled\n"
        assert logs(s, pod, "init") == b"first\n"
        h.wait_for("the fetched job out of the queue",
                   lambda: st["JID"] not in [j for j, _, _ in pool.queue()], timeout=30)
        assert f"job {st['JID']}: results fetched with condor_transfer_data" in s.plugin.output()
    finally:
        s.cleanup()


def test_duplicate_creates_one_job(stack, pool):
    import concurrent.futures as cf
    pod = h.make_pod("dup", [sh("main", "echo once")])
    with cf.ThreadPoolExecutor(6) as ex:
        answers = list(ex.map(lambda _: stack.create(h.create_request(pod)), range(6)))
    assert all(code == 200 for code, _ in answers), answers
    assert stack.wait_phase(pod)[0] == "Succeeded"
    jobs = pool.jobs_of(pod["metadata"]["uid"])
    assert len(jobs) == 1 and all(body["PodJID"] == jobs[0] for _, body in answers
                                  if isinstance(body, dict) and "PodJID" in body), (jobs, answers)


def test_delete_while_schedd_is_stopped_is_not_acknowledged(tmp_path, pool):
    """A schedd that does not answer (SIGSTOP): the delete answers 503 and
    keeps the pod; once it answers again, the delete succeeds."""
    s = hu.CondorStack(tmp_path / "st", pool, plugin_extra={"CommandTimeoutSeconds": 3}).start()
    try:
        pod = h.make_pod("stopped", [sh("main", "sleep 120")], grace=1)
        assert s.create(h.create_request(pod))[0] == 200
        s.wait_phase(pod, phases=("Running",), timeout=60)
        jid = s.status([pod])[1][0]["JID"]
        pid = pool.schedd_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            code, body = s.delete(pod)
            assert code == 503, (code, body)
            assert os.path.exists(s.pod_dir(pod))
        finally:
            os.kill(pid, signal.SIGCONT)
        code, body = s.delete(pod)
        assert code == 200, body
        assert jid not in [j for j, _, _ in pool.queue()]
        assert not os.path.exists(s.pod_dir(pod))
    finally:
        s.cleanup()
