"""Pods through interlink-vk: the real API server -> interlink-vk -> interlink ->
interlink-local, and their statuses back.  Covers what the VK gathers for a pod
(ConfigMaps, Secrets, projected tokens, downward API, env), status mapping and
Events, deletion (backend first), a VK restart, and a plugin outage.  The
exact DELETE the VK sends and a watch outage past compaction need the double
(its request log and fault hooks): those two run on `fake_env`."""
import base64
import json
import time

import pytest

import vkutil
from vkutil import ready_env, wait_for

SH = "/bin/sh"


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_kube):
    e = ready_env(tmp_path_factory.mktemp("vkpods"), real_kube)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def fake_env(tmp_path_factory):
    e = ready_env(tmp_path_factory.mktemp("vkpods-double"))
    yield e
    e.stop()


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def sh(name, script, **extra):
    return {"name": name, "image": "busybox", "command": [SH, "-c", script], **extra}


def reasons(env, pod):
    return [e["reason"] for e in env.kube.events(pod)]


def test_pod_runs_to_succeeded(env):
    env.kube.create_pod("ok", [sh("a", "echo one"), sh("b", "echo two")],
                        initContainers=[sh("init", "echo init")])
    pod = env.wait_phase("ok")
    st = pod["status"]
    assert st["phase"] == "Succeeded"
    for cs in st["containerStatuses"] + st["initContainerStatuses"]:
        term = cs["state"]["terminated"]
        assert term["exitCode"] == 0 and term["reason"] == "Completed", cs
        assert term["startedAt"] and term["finishedAt"]
    assert [c["name"] for c in st["containerStatuses"]] == ["a", "b"]
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["PodScheduled"]["status"] == "True"
    assert conds["Initialized"]["status"] == "True"
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "PodCompleted"
    assert pod["metadata"]["annotations"]["JobID"]
    wait_for("Created and Started events",
             lambda: {"Created", "Started"} <= set(reasons(env, "ok")), timeout=30)
    assert vkutil.logs_from_plugin(env.stack, pod, "b") == "two\n"


def test_references_reach_the_container(env):
    env.kube.create("configmaps", {"metadata": {"name": "cfg"},
                                   "data": {"greeting": "hello", "color": "blue"}})
    env.kube.create("secrets", {"metadata": {"name": "sec"}, "type": "Opaque",
                                "data": {"password": base64.b64encode(b"s3cret").decode()}})
    script = ("cat /cfg/greeting; echo; cat /sec/password; echo; cat /dw/podname; echo; "
              "cat /dw/labels; echo; cat /dw/cpu; echo; "
              "echo env $GREETING $PASS $MYNS $CPU_M $CFG_color $MISSING; "
              "cat /var/run/secrets/kubernetes.io/serviceaccount/token; echo; "
              "cat /vault/token; echo; "
              "grep -c BEGIN /var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
    c = sh("main", script,
           resources={"limits": {"cpu": "500m", "memory": "64Mi"}},
           volumeMounts=[{"name": "cfg", "mountPath": "/cfg"},
                         {"name": "sec", "mountPath": "/sec"},
                         {"name": "dw", "mountPath": "/dw"},
                         {"name": "vault", "mountPath": "/vault"},
                         {"name": "opt", "mountPath": "/opt-cfg"}],
           env=[{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg",
                                                                        "key": "greeting"}}},
                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "sec",
                                                                 "key": "password"}}},
                {"name": "MYNS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu",
                                                                      "divisor": "1m"}}},
                {"name": "MISSING", "valueFrom": {"configMapKeyRef": {
                    "name": "nope", "key": "x", "optional": True}}}],
           envFrom=[{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}])
    volumes = [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "sec"}},
        {"name": "opt", "configMap": {"name": "absent", "optional": True}},
        {"name": "dw", "downwardAPI": {"items": [
            {"path": "podname", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "cpu", "resourceFieldRef": {"containerName": "main",
                                                 "resource": "limits.cpu", "divisor": "1m"}}]}},
        {"name": "vault", "projected": {"sources": [{"serviceAccountToken": {
            "audience": "vault", "expirationSeconds": 7200, "path": "token"}}]}},
    ]
    pod = env.kube.create_pod("refs", [c], volumes=volumes)
    done = env.wait_phase("refs")
    out = vkutil.logs_from_plugin(env.stack, done, "main")
    assert done["status"]["phase"] == "Succeeded", (done["status"], out)
    lines = out.splitlines()
    assert lines[0] == "hello" and lines[1] == "s3cret" and lines[2] == "refs", out
    assert lines[4] == "500", out
    assert lines[5] == "env hello s3cret default 500 blue", out
    assert lines[8] == "1", out   # kube-root-ca.crt
    # Tokens the API server issued for this pod: bound to it, with the
    # projection's audience and lifetime (the admission-added kube-api-access
    # source asks for none: the API server's own audience).
    vault, default = jwt_claims(lines[7]), jwt_claims(lines[6])
    for claims in (vault, default):
        assert claims["kubernetes.io"]["pod"] == {"name": "refs", "uid": pod["metadata"]["uid"]}
        assert claims["sub"] == "system:serviceaccount:default:default"
    assert vault["aud"] == ["vault"] and vault["exp"] - vault["iat"] == 7200
    assert default["aud"] != ["vault"]


def test_missing_configmap_keeps_pod_pending_then_runs(env):
    c = sh("main", "cat /late/k", volumeMounts=[{"name": "late", "mountPath": "/late"}])
    env.kube.create_pod("waits", [c], volumes=[{"name": "late", "configMap": {"name": "late"}}])
    pod = wait_for("a message on the pending pod",
                   lambda: (env.kube.pod("waits")["status"].get("message") and env.kube.pod("waits")),
                   timeout=10)
    assert pod["status"]["phase"] == "Pending"
    assert 'configmap "late" not found' in pod["status"]["message"]
    assert "JobID" not in (pod["metadata"].get("annotations") or {})
    wait_for("a FailedMount event", lambda: "FailedMount" in reasons(env, "waits"), timeout=30)
    env.kube.create("configmaps", {"metadata": {"name": "late"}, "data": {"k": "finally"}})
    done = env.wait_phase("waits", timeout=40)
    assert done["status"]["phase"] == "Succeeded"
    assert vkutil.logs_from_plugin(env.stack, done, "main") == "finally"


def test_failing_container_fails_the_pod(env):
    env.kube.create_pod("bad", [sh("main", "echo oops >&2; exit 3")])
    pod = env.wait_phase("bad")
    assert pod["status"]["phase"] == "Failed"
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error", term
    wait_for("a Failed event", lambda: "Failed" in reasons(env, "bad"), timeout=30)


def test_delete_pending_pod(env):
    env.kube.create_pod("pend", [sh("main", "true")],
                        volumes=[{"name": "v", "configMap": {"name": "never"}}])
    wait_for("pending with a message", lambda: env.kube.pod("pend")["status"].get("message"),
             timeout=10)
    env.kube.delete_pod("pend")
    env.wait_gone("pend")


def test_delete_running_pod_backend_first(fake_env):
    env = fake_env
    pod = env.kube.create_pod("run", [sh("main", "sleep 300")])
    uid = pod["metadata"]["uid"]
    env.wait_phase("run", phases=("Running",))
    assert uid in env.plugin_pod_dirs()
    env.kube.api.delete("/_test/requests")
    env.kube.delete_pod("run", gracePeriodSeconds=5)
    env.wait_gone("run")
    assert uid not in env.interlink_pods() and uid not in env.plugin_pod_dirs()
    final = [r for r in env.kube.requests(method="DELETE") if r["path"].endswith("/pods/run")]
    assert json.loads(final[-1]["body"]) == {"apiVersion": "v1", "kind": "DeleteOptions",
                                             "gracePeriodSeconds": 0,
                                             "preconditions": {"uid": uid}}


def test_plugin_down_pods_keep_status_and_deletes_wait(env):
    keep = env.kube.create_pod("keep", [sh("main", "sleep 15")])
    gone = env.kube.create_pod("gone", [sh("main", "sleep 300")])
    env.wait_phase("keep", phases=("Running",))
    env.wait_phase("gone", phases=("Running",))
    env.stack.plugin.stop()
    env.kube.delete_pod("gone", gracePeriodSeconds=1)
    # The backend cannot confirm: the object stays (with its deletionTimestamp).
    wait_for("VK retrying the delete", lambda: "backend delete failed" in env.vk.output(),
             timeout=10)
    wait_for("a failed status cycle", lambda: "not refreshed" in env.vk.output(), timeout=10)
    assert env.kube.pod("gone")["metadata"]["deletionTimestamp"]
    assert vkutil.phase(env.kube.pod("keep")) == "Running"
    env.stack.start_plugin()
    env.wait_gone("gone", timeout=40)
    assert gone["metadata"]["uid"] not in env.interlink_pods()
    assert env.wait_phase("keep", timeout=60)["status"]["phase"] == "Succeeded"
    assert keep["metadata"]["uid"] in env.plugin_pod_dirs()


def test_vk_restart_no_double_submission_and_cleanup(env):
    mid = env.kube.create_pod("mid", [sh("main", "sleep 3; echo done")])
    doomed = env.kube.create_pod("doomed", [sh("main", "sleep 300")])
    vanish = env.kube.create_pod("vanish", [sh("main", "sleep 300")])
    for name in ("mid", "doomed", "vanish"):
        env.wait_phase(name, phases=("Running",))
    env.vk.stop()
    # While the VK is down: one pod deleted gracefully (stays, with a
    # deletionTimestamp), one removed from the API at once (grace 0).
    env.kube.delete_pod("doomed", gracePeriodSeconds=30)
    env.kube.delete_pod("vanish", gracePeriodSeconds=0)
    assert env.kube.pod("vanish") is None
    env.vk = vkutil.VK(env.dir, env.kube, env.stack).start()
    done = env.wait_phase("mid", timeout=30)
    assert done["status"]["phase"] == "Succeeded"
    env.wait_gone("doomed")
    wait_for("the vanished pod deleted on the backend",
             lambda: vanish["metadata"]["uid"] not in env.interlink_pods(), timeout=15)
    assert doomed["metadata"]["uid"] not in env.interlink_pods()
    assert env.plugin_pod_dirs().count(mid["metadata"]["uid"]) == 1
    # interlink would answer a second /create with the same job id; the VK
    # must not even ask (the JobID annotation says the pod was submitted).
    after_restart = env.vk.output().rsplit("API server", 1)[-1]
    assert "default/mid submitted" not in after_restart
    assert vkutil.logs_from_plugin(env.stack, done, "main") == "done\n"


def test_pod_created_during_a_watch_outage_past_compaction_runs_once(fake_env):
    """The VK's pod watch is cut and refused for a while; a pod bound to the
    node is created meanwhile and the history the VK would resume from is
    compacted away.  Resuming gets 410 Gone (an ERROR event, as a real API
    server sends it), so the VK lists again: the pod runs, once."""
    env = fake_env
    refuse = {"method": "GET", "path": "/api/v1/pods", "query_regex": r"(^|&)watch=",
              "code": 503, "count": -1}
    assert env.kube.hook("faults", refuse)[0] == 200
    env.kube.hook("close-watches")
    wait_for("the VK's pod watch refused",
             lambda: any("watch=" in r["query"] and r["code"] == 503
                         for r in env.kube.requests(method="GET", path="/api/v1/pods")),
             timeout=10)
    gap_start = time.time()
    env.kube.create_pod("gap", [sh("main", "echo in-the-gap")])
    env.kube.create("configmaps", {"metadata": {"name": "after-the-gap"}})  # history moves on
    assert env.kube.hook("compact")[0] == 200
    env.kube.api.request("DELETE", "/_test/faults")

    pod = env.wait_phase("gap", timeout=60)
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    assert "is too old; listing again" in env.vk.output()
    pod_requests = env.kube.requests(method="GET", path="/api/v1/pods")
    lists = [r for r in pod_requests if r["time"] > gap_start and "watch=" not in r["query"]]
    assert lists, "no relist after the 410"
    assert pod["metadata"]["uid"] in env.interlink_pods()
    assert env.vk.output().count("default/gap submitted") == 1
    assert vkutil.logs_from_plugin(env.stack, pod, "main") == "in-the-gap\n"


def test_job_id_rides_on_the_status_write(fake_env):
    """The API server bounds how fast a node starts pods, so the JobID
    annotation costs no write of its own: it goes out with the pod's first
    pods/status PATCH, and the pod object itself is never PATCHed."""
    env = fake_env
    pod = env.kube.create_pod("one-write", [sh("main", "sleep 30")])
    running = env.wait_phase("one-write", phases=("Running",))
    job = wait_for("the JobID annotation", lambda: (
        env.kube.pod("one-write")["metadata"].get("annotations") or {}).get("JobID"), timeout=10)
    assert job == env.interlink_pods()[pod["metadata"]["uid"]]["JID"]
    base = "/api/v1/namespaces/default/pods/one-write"
    assert env.kube.requests(method="PATCH", path=base) == []
    writes = env.kube.requests(method="PATCH", path=base + "/status")
    first = json.loads(writes[0]["body"])
    assert first["metadata"]["annotations"] == {"JobID": job}, first
    assert running["status"]["containerStatuses"]
    env.kube.delete_pod("one-write")
    env.wait_gone("one-write")


def test_first_status_is_written_soon_after_the_create(tmp_path):
    """A pod's first status (and its JobID annotation with it) is due as soon
    as it is submitted, as a kubelet writes a pod's status once it started
    it: the create runs a status cycle soon, not StatusIntervalSeconds
    later.  Before, with the watch off, a pod waited for the next periodic
    cycle: create -> Running at a burst of pods was bound by the interval."""
    env = vkutil.VKEnv(tmp_path, StatusIntervalSeconds=120, StatusWatch=False)
    try:
        env.wait_ready()
        # the start-up cycle ran; the next periodic one is 120 s away
        wait_for("the first status cycle", lambda: "pod statuses: every" in env.vk.output(),
                 timeout=30)
        env.kube.create_pod("soon", [sh("main", "sleep 30")])
        env.wait_phase("soon", phases=("Running",), timeout=45)
        assert (env.kube.pod("soon")["metadata"].get("annotations") or {}).get("JobID")
        env.kube.delete_pod("soon")
        env.wait_gone("soon")
    finally:
        env.stop()


def test_vk_killed_before_any_status_write_gets_its_job_back(fake_env):
    """kill -9 after interlink accepted a pod but before any status write
    (which would carry the JobID): the restarted VK submits again, interlink
    answers with the same job, the backend runs the pod once, and the
    annotation names that job."""
    env = fake_env
    refuse = {"method": "PATCH", "path": "/api/v1/namespaces/default/pods/unwritten/status",
              "code": 503, "count": -1}
    assert env.kube.hook("faults", refuse)[0] == 200
    try:
        pod = env.kube.create_pod("unwritten", [sh("main", "sleep 30")])
        uid = pod["metadata"]["uid"]
        wait_for("interlink holds the pod", lambda: uid in env.interlink_pods(), timeout=15)
        wait_for("a status write refused", lambda: env.kube.requests(
            method="PATCH", path=refuse["path"]), timeout=10)
        env.vk.kill9()
    finally:
        env.kube.api.request("DELETE", "/_test/faults")
    assert "JobID" not in (env.kube.pod("unwritten")["metadata"].get("annotations") or {})
    job = env.interlink_pods()[uid]["JID"]
    env.vk = vkutil.VK(env.dir, env.kube, env.stack).start()
    env.wait_phase("unwritten", phases=("Running",))
    wait_for("the JobID annotation", lambda: (
        env.kube.pod("unwritten")["metadata"].get("annotations") or {}).get("JobID") == job,
        timeout=10)
    assert env.plugin_pod_dirs().count(uid) == 1
    assert env.interlink_pods()[uid]["JID"] == job
    env.kube.delete_pod("unwritten")
    env.wait_gone("unwritten")
