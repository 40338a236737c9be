"""Tests OF the fake Kubernetes API server: each test pins one semantic of the
real API that a kubelet depends on.  A few run through python3-kubernetes
(an independent, real client library) to show the double speaks Kubernetes.
"""

import base64
import json
import os
import signal
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import kube_patch
from fake_apiserver import FakeAPIServer
from kube_client import KubeClient

HERE = os.path.dirname(os.path.abspath(__file__))
PODS = "/api/v1/namespaces/default/pods"
NODES = "/api/v1/nodes"

try:
    import kubernetes  # noqa: F401
    HAVE_K8S = True
except ImportError:
    HAVE_K8S = False
needs_k8s = pytest.mark.skipif(not HAVE_K8S, reason="python3-kubernetes is not installed")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = FakeAPIServer(tmp_path_factory.mktemp("apiserver"), bookmark_interval=0.3,
                      csr_sign_delay=0.05).start()
    yield s
    s.stop()


@pytest.fixture
def kc(srv):
    return KubeClient(srv)


_n = [0]


def uniq(prefix="p"):
    _n[0] += 1
    return "%s-%d-%d" % (prefix, os.getpid() % 1000, _n[0])


def pod(name, node=None, labels=None, containers=("main",)):
    p = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
         "spec": {"containers": [{"name": c, "image": "busybox:1.36"} for c in containers]}}
    if node:
        p["spec"]["nodeName"] = node
    return p


def make_pod(kc, name, node=None, **kw):
    code, obj = kc.post(PODS, pod(name, node, **kw))
    assert code == 201, obj
    return obj


def assert_status(obj, code, reason):
    assert obj["kind"] == "Status" and obj["apiVersion"] == "v1", obj
    assert obj["status"] == "Failure" and obj["code"] == code and obj["reason"] == reason, obj
    assert obj["message"]


def wait_for(pred, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


# ==========================================================================
# patch algorithms (pure functions)
# ==========================================================================

def test_merge_patch_rfc7386():
    assert kube_patch.merge_patch({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]},
                                  {"a": None, "b": {"c": 9}, "l": [3]}) == {"b": {"c": 9, "d": 3}, "l": [3]}


def test_json_patch_rfc6902():
    doc = {"a": [1, 2], "b": {"c": "x"}}
    out = kube_patch.json_patch(doc, [
        {"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b/c", "value": "y"},
        {"op": "copy", "from": "/b/c", "path": "/d"}, {"op": "move", "from": "/d", "path": "/e"},
        {"op": "remove", "path": "/a/0"}, {"op": "test", "path": "/e", "value": "y"},
        {"op": "add", "path": "/f~1g", "value": True}])
    assert out == {"a": [2, 3], "b": {"c": "y"}, "e": "y", "f/g": True}
    assert doc == {"a": [1, 2], "b": {"c": "x"}}          # input untouched
    with pytest.raises(kube_patch.PatchError):
        kube_patch.json_patch(doc, [{"op": "test", "path": "/a/0", "value": 5}])
    with pytest.raises(kube_patch.PatchError):
        kube_patch.json_patch(doc, [{"op": "replace", "path": "/nope", "value": 5}])


def test_strategic_merge_patch_directives():
    schema = {"l": "name", "s": kube_patch.SET}
    orig = {"l": [{"name": "a", "v": 1}, {"name": "b", "v": 2}], "s": ["x", "y"], "m": {"k": 1, "j": 2},
            "atomic": [1, 2]}
    out = kube_patch.strategic_merge_patch(orig, {
        "l": [{"name": "b", "v": 3}, {"name": "c", "v": 4}, {"name": "a", "$patch": "delete"}],
        "s": ["z"], "$deleteFromPrimitiveList/s": ["x"], "m": {"$patch": "replace", "n": 5},
        "atomic": [3]}, schema)
    assert out == {"l": [{"name": "b", "v": 3}, {"name": "c", "v": 4}], "s": ["y", "z"], "m": {"n": 5},
                   "atomic": [3]}
    out = kube_patch.strategic_merge_patch(orig, {"$setElementOrder/l": [{"name": "b"}, {"name": "a"}],
                                                  "l": [{"name": "a", "v": 7}]}, schema)
    assert out["l"] == [{"name": "b", "v": 2}, {"name": "a", "v": 7}]


# ==========================================================================
# start-up, TLS, authentication
# ==========================================================================

def test_cli_writes_files_serves_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fake_apiserver.py"),
                             "--port", "0", "--dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(wait_for(lambda: (tmp_path / "port").exists() and (tmp_path / "port").read_text().strip(),
                            10, "port file"))
        kcfg = (tmp_path / "kubeconfig").read_text()
        assert "server: https://127.0.0.1:%d" % port in kcfg and "token:" in kcfg
        assert "client-certificate-data:" in kcfg
        ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        import http.client
        for host in ("127.0.0.1", "localhost"):          # both SANs verify
            c = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
            c.request("GET", "/healthz")
            assert c.getresponse().read() == b"ok"
            c.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unauthenticated_and_bad_token_get_401(srv):
    code, obj = KubeClient(srv, use_token=False).get(PODS)
    assert code == 401
    assert_status(obj, 401, "Unauthorized")
    code, obj = KubeClient(srv, token="not-a-token").get(PODS)
    assert code == 401
    assert_status(obj, 401, "Unauthorized")



def test_client_certificate_from_another_ca_is_rejected(srv, tmp_path):
    crt, key = str(tmp_path / "rogue.crt"), str(tmp_path / "rogue.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-subj", "/O=system:masters/CN=rogue",
                    "-days", "1"], check=True, capture_output=True)
    with pytest.raises((ssl.SSLError, ConnectionError)):   # like the real server: TLS handshake fails
        KubeClient(srv, cert=(crt, key)).get(PODS)


def test_token_and_client_certificate_both_authenticate(srv):
    code, _ = KubeClient(srv).get(PODS)
    assert code == 200
    code, _ = KubeClient(srv, cert=(srv.pki.admin_crt, srv.pki.admin_key)).get(PODS)
    assert code == 200
    users = [r["user"] for r in KubeClient(srv).get("/_test/requests", path=PODS)[1]["items"]]
    assert "kubernetes-admin" in users and "fake-admin" in users


def test_discovery_and_version(kc):
    code, v1 = kc.get("/api/v1")
    names = {r["name"] for r in v1["resources"]}
    assert {"pods", "pods/status", "nodes", "nodes/proxy", "serviceaccounts/token"} <= names
    code, groups = kc.get("/apis")
    assert "coordination.k8s.io" in {g["name"] for g in groups["groups"]}
    code, ver = kc.get("/version")
    assert ver["major"] == "1"
    code, obj = kc.get("/api/v1/nonsense")
    assert code == 404
    assert_status(obj, 404, "NotFound")


# ==========================================================================
# CRUD, selectors, conflicts
# ==========================================================================

def test_create_defaults_and_errors(kc):
    name = uniq()
    obj = make_pod(kc, name, node="n1")
    md = obj["metadata"]
    assert md["uid"] and md["creationTimestamp"] and int(md["resourceVersion"]) > 0
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert obj["spec"]["serviceAccountName"] == "default"
    assert any(v["name"].startswith("kube-api-access-") for v in obj["spec"]["volumes"])
    code, err = kc.post(PODS, pod(name))
    assert code == 409
    assert_status(err, 409, "AlreadyExists")
    assert err["details"] == {"name": name, "kind": "pods"}
    code, gen = kc.post(PODS, {"metadata": {"generateName": "gen-"}, "spec": pod("x")["spec"]})
    assert code == 201 and gen["metadata"]["name"].startswith("gen-") and len(gen["metadata"]["name"]) == 9
    code, err = kc.post("/api/v1/namespaces/nope/pods", pod("a"))
    assert code == 404 and err["message"] == 'namespaces "nope" not found'
    code, err = kc.post(PODS, pod("Bad_Name"))
    assert code == 422
    assert_status(err, 422, "Invalid")
    code, err = kc.post(PODS, {"metadata": {"name": "nocontainers"}, "spec": {}})
    assert code == 422 and "spec.containers" in err["message"]
    code, err = kc.get(PODS + "/does-not-exist")
    assert code == 404 and err["message"] == 'pods "does-not-exist" not found'


def test_list_with_label_and_field_selectors(kc):
    a, b, c = uniq("sel"), uniq("sel"), uniq("sel")
    make_pod(kc, a, node="sel-node-1", labels={"app": "x", "tier": "fe"})
    make_pod(kc, b, node="sel-node-2", labels={"app": "x"})
    make_pod(kc, c, labels={"app": "y"})

    def names(**params):
        code, lst = kc.get(PODS, **params)
        assert code == 200, lst
        assert lst["kind"] == "PodList" and lst["metadata"]["resourceVersion"]
        assert all("kind" not in i for i in lst["items"])       # like the real server
        return {i["metadata"]["name"] for i in lst["items"]} & {a, b, c}

    assert names(fieldSelector="spec.nodeName=sel-node-1") == {a}
    assert names(fieldSelector="spec.nodeName=") >= {c}
    assert names(fieldSelector="metadata.name=%s" % b) == {b}
    assert names(labelSelector="app=x") == {a, b}
    assert names(labelSelector="app=x,tier!=fe") == {b}
    assert names(labelSelector="app in (x,y),!tier") == {b, c}
    assert names(labelSelector="tier") == {a}
    assert names(fieldSelector="spec.nodeName!=sel-node-1", labelSelector="app=x") == {b}
    code, err = kc.get(PODS, fieldSelector="spec.bogus=1")
    assert code == 400 and "field label not supported" in err["message"]
    code, all_ns = kc.get("/api/v1/pods", labelSelector="app=x")
    assert {i["metadata"]["name"] for i in all_ns["items"]} >= {a, b}


def test_list_pagination(kc):
    for i in range(5):
        kc.post("/api/v1/namespaces/default/configmaps",
                {"metadata": {"name": "page-%d" % i, "labels": {"page": "yes"}}})
    seen, cont, pages = [], None, 0
    while True:
        params = {"labelSelector": "page=yes", "limit": 2}
        if cont:
            params["continue"] = cont
        code, lst = kc.get("/api/v1/namespaces/default/configmaps", **params)
        assert code == 200
        pages += 1
        seen += [i["metadata"]["name"] for i in lst["items"]]
        cont = lst["metadata"].get("continue")
        if not cont:
            break
    assert seen == ["page-%d" % i for i in range(5)] and pages == 3


def test_update_optimistic_concurrency_and_noop(kc):
    name = uniq()
    obj = make_pod(kc, name, node="n1")
    stale = json.loads(json.dumps(obj))
    obj["metadata"]["labels"] = {"v": "1"}
    code, new = kc.put(PODS + "/" + name, obj)
    assert code == 200 and int(new["metadata"]["resourceVersion"]) > int(obj["metadata"]["resourceVersion"])
    stale["metadata"]["labels"] = {"v": "2"}
    code, err = kc.put(PODS + "/" + name, stale)
    assert code == 409
    assert_status(err, 409, "Conflict")
    assert "the object has been modified" in err["message"]
    # an update that changes nothing does not produce a new resourceVersion
    code, same = kc.put(PODS + "/" + name, new)
    assert code == 200 and same["metadata"]["resourceVersion"] == new["metadata"]["resourceVersion"]
    # pod spec is (mostly) immutable
    new["spec"]["containers"][0]["name"] = "renamed"
    code, err = kc.put(PODS + "/" + name, new)
    assert code == 422 and "Forbidden" in err["message"]
    code, err = kc.put(PODS + "/other-name", same)
    assert code in (400, 404)


def test_status_subresource_separates_spec_and_status(kc):
    name = uniq()
    obj = make_pod(kc, name, node="n1")
    obj["status"]["phase"] = "Running"
    code, after = kc.put(PODS + "/" + name, obj)           # main resource ignores status
    assert code == 200 and after["status"]["phase"] == "Pending"
    after["status"]["phase"] = "Running"
    after["spec"]["activeDeadlineSeconds"] = 99
    code, st = kc.put(PODS + "/" + name + "/status", after)  # /status ignores spec
    assert code == 200 and st["status"]["phase"] == "Running"
    assert "activeDeadlineSeconds" not in st["spec"]
    assert st["status"]["qosClass"] == "BestEffort"
    # terminal phases are final
    code, _ = kc.patch(PODS + "/" + name + "/status", {"status": {"phase": "Succeeded"}})
    assert code == 200
    code, err = kc.patch(PODS + "/" + name + "/status", {"status": {"phase": "Running"}})
    assert code == 422
    # node taints live in spec: a /status patch cannot set them
    node = uniq("node")
    kc.post(NODES, {"metadata": {"name": node}, "spec": {}})
    code, n = kc.patch(NODES + "/" + node + "/status",
                       {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
                        "status": {"capacity": {"cpu": "4"}}})
    assert code == 200 and "taints" not in n["spec"] and n["status"]["capacity"] == {"cpu": "4"}
    code, n = kc.patch(NODES + "/" + node, {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
                                            "status": {"capacity": {"cpu": "8"}}})
    assert n["spec"]["taints"] == [{"key": "k", "effect": "NoSchedule"}] and n["status"]["capacity"] == {"cpu": "4"}


def test_strategic_merge_patch_on_pod_and_node_status(kc):
    name = uniq()
    make_pod(kc, name, node="n1", containers=("a", "b"))
    path = PODS + "/" + name + "/status"
    cs = lambda n, ready: {"name": n, "ready": ready, "restartCount": 0, "image": "busybox", "imageID": "",  # noqa
                           "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}
    code, p = kc.patch(path, {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}],
        "containerStatuses": [cs("a", False), cs("b", False)]}})
    assert code == 200, p
    code, p = kc.patch(path, {"status": {"conditions": [{"type": "Ready", "status": "True"}],
                                         "containerStatuses": [cs("a", True)]}})
    conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
    assert conds == {"Ready": "True", "Initialized": "True"}        # merged by type
    # containerStatuses has no patchMergeKey in k8s.io/api: the list is replaced
    assert [c["name"] for c in p["status"]["containerStatuses"]] == ["a"]
    code, p = kc.patch(path, {"status": {"conditions": [{"type": "Initialized", "$patch": "delete"}]}})
    assert [c["type"] for c in p["status"]["conditions"]] == ["Ready"]
    node = uniq("node")
    kc.post(NODES, {"metadata": {"name": node}, "status": {
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": node}],
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]}})
    code, n = kc.patch(NODES + "/" + node + "/status", {"status": {
        "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
        "conditions": [{"type": "Ready", "status": "True"}]}})
    assert code == 200
    assert {a["type"]: a["address"] for a in n["status"]["addresses"]} == {"InternalIP": "10.0.0.2", "Hostname": node}
    assert {c["type"]: c["status"] for c in n["status"]["conditions"]} == {"Ready": "True", "MemoryPressure": "False"}


def test_nulls_in_writes_are_decoded_as_typed_objects(kc):
    """A real API server decodes every write into the k8s.io/api structs: a
    null pointer or omitempty field is gone from what it stores and serves
    (a kubelet writing `{"waiting": null, "running": {...}}` reads back only
    `running`), a zero metav1.Time stays null, a null label value becomes ""."""
    name = uniq()
    code, obj = kc.post(PODS, {**pod(name, node="n1"), "metadata": {
        "name": name, "labels": {"a": None, "b": "2"}, "annotations": None}})
    assert code == 201, obj
    assert obj["metadata"]["labels"] == {"a": "", "b": "2"} and "annotations" not in obj["metadata"]
    path = PODS + "/" + name + "/status"
    state = {"waiting": None, "running": {"startedAt": "2024-01-01T00:00:00Z"}, "terminated": None}
    code, p = kc.patch(path, {"status": {
        "phase": "Running", "message": None, "reason": None,
        "conditions": [{"type": "Ready", "status": "True", "reason": None, "message": None,
                        "lastProbeTime": None, "lastTransitionTime": "2024-01-01T00:00:00Z"}],
        "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0, "image": "busybox",
                               "imageID": "", "containerID": None, "state": state,
                               "lastState": {"terminated": None}}]}})
    assert code == 200, p
    for served in (p, kc.get(PODS + "/" + name)[1]):
        st = served["status"]
        assert "message" not in st and "reason" not in st
        cs = st["containerStatuses"][0]
        assert cs["state"] == {"running": {"startedAt": "2024-01-01T00:00:00Z"}}, cs
        assert cs["lastState"] == {} and "containerID" not in cs, cs
        ready = [c for c in st["conditions"] if c["type"] == "Ready"][0]
        assert "reason" not in ready and "message" not in ready, ready
        assert ready["lastTransitionTime"] == "2024-01-01T00:00:00Z", ready
    # merge patch (RFC 7386): null deletes the key; nulls inside the replaced list go too
    code, p = kc.patch(path, {"status": {"containerStatuses": [
        {"name": "main", "ready": False, "restartCount": 0, "image": "busybox", "imageID": "",
         "state": {"waiting": None, "terminated": {"exitCode": 0, "reason": None,
                                                   "startedAt": None, "finishedAt": None}}}],
        "conditions": None}}, "merge")
    assert code == 200, p
    assert "conditions" not in p["status"]
    assert p["status"]["containerStatuses"][0]["state"] == {"terminated": {
        "exitCode": 0, "startedAt": None, "finishedAt": None}}
    # JSON patch values go through the same decode
    code, p = kc.patch(path, [{"op": "add", "path": "/status/hostIP", "value": None},
                              {"op": "add", "path": "/status/podIPs", "value": [{"ip": "10.0.0.9"}]},
                              {"op": "add", "path": "/status/nominatedNodeName", "value": "x"},
                              {"op": "replace", "path": "/status/nominatedNodeName", "value": None}],
                       "json")
    assert code == 200, p
    assert "hostIP" not in p["status"] and "nominatedNodeName" not in p["status"]
    assert p["status"]["podIPs"] == [{"ip": "10.0.0.9"}]


def test_merge_patch_json_patch_and_patch_errors(kc):
    name = uniq()
    obj = make_pod(kc, name, node="n1", labels={"a": "1", "b": "2"})
    code, p = kc.patch(PODS + "/" + name, {"metadata": {"labels": {"a": None, "c": "3"}}}, "merge")
    assert code == 200 and p["metadata"]["labels"] == {"b": "2", "c": "3"}
    code, p = kc.patch(PODS + "/" + name, [{"op": "add", "path": "/metadata/annotations",
                                            "value": {"x": "y"}}], "json")
    assert code == 200 and p["metadata"]["annotations"] == {"x": "y"}
    code, err = kc.patch(PODS + "/" + name, [{"op": "test", "path": "/metadata/name", "value": "zz"}], "json")
    assert code == 422
    code, err = kc.patch(PODS + "/" + name, {"metadata": {"labels": {"d": "4"}}}, "application/json")
    assert code == 415
    assert_status(err, 415, "UnsupportedMediaType")
    code, err = kc.patch(PODS + "/" + name, {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"],
                                                          "labels": {"e": "5"}}}, "merge")
    assert code == 409                                              # stale RV inside a patch
    code, err = kc.patch(PODS + "/nope", {"metadata": {"labels": {"e": "5"}}}, "merge")
    assert code == 404
    code, err = kc.request("PATCH", PODS + "/" + name, "{not json", "application/merge-patch+json")
    assert code == 400


# ==========================================================================
# watch
# ==========================================================================

def test_list_then_watch_is_continuous_and_filtered(kc):
    node = uniq("wnode")
    code, lst = kc.get(PODS, fieldSelector="spec.nodeName=" + node)
    rv = lst["metadata"]["resourceVersion"]
    a = uniq("w")
    make_pod(kc, a, node=node)                    # after the list, before the watch
    w = kc.watch(PODS, fieldSelector="spec.nodeName=" + node, resourceVersion=rv)
    try:
        make_pod(kc, uniq("w"), node="some-other-node")                       # filtered out
        b = uniq("w")
        make_pod(kc, b)                                                         # unbound, filtered
        ev = w.next()
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == a
        assert ev["object"]["kind"] == "Pod" and ev["object"]["apiVersion"] == "v1"
        code, _ = kc.post(PODS + "/" + b + "/binding", {"apiVersion": "v1", "kind": "Binding",
                                                        "metadata": {"name": b},
                                                        "target": {"kind": "Node", "name": node}})
        assert code == 201
        ev2 = w.next()                 # leaving the selector's complement looks like ADDED
        assert ev2["type"] == "ADDED" and ev2["object"]["metadata"]["name"] == b
        assert ev2["object"]["status"]["conditions"][0]["type"] == "PodScheduled"
        kc.patch(PODS + "/" + a, {"metadata": {"labels": {"x": "y"}}})
        ev3 = w.next()
        assert ev3["type"] == "MODIFIED" and ev3["object"]["metadata"]["labels"] == {"x": "y"}
        kc.delete(PODS + "/" + a, gracePeriodSeconds=0)
        ev4 = w.next()
        assert ev4["type"] == "DELETED" and ev4["object"]["metadata"]["name"] == a
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in (ev, ev2, ev3, ev4)]
        assert rvs == sorted(rvs) and len(set(rvs)) == 4 and rvs[0] > int(rv)
        w.expect_none(0.3)
    finally:
        w.close()


def test_watch_without_resource_version_starts_with_current_state(kc):
    a = uniq("init")
    make_pod(kc, a, labels={"init": a})
    w = kc.watch(PODS, labelSelector="init=" + a)
    try:
        ev = w.next()
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == a
        w.expect_none(0.3)
    finally:
        w.close()


def test_watch_too_old_resource_version_gives_410_then_relist_works(srv, kc):
    code, lst = kc.get(PODS)
    old_rv = lst["metadata"]["resourceVersion"]
    make_pod(kc, uniq("gone"))
    code, out = kc.post("/_test/compact", {})
    assert code == 200
    w = kc.watch(PODS, resourceVersion=old_rv)
    try:
        assert w.status == 200                          # as the real server: 200 + ERROR event
        ev = w.next()
        assert ev["type"] == "ERROR"
        assert_status(ev["object"], 410, "Expired")
        assert ev["object"]["message"].startswith("too old resource version: %s" % old_rv)
        assert w.ended.wait(5)                          # and the stream ends
    finally:
        w.close()
    code, lst = kc.get(PODS)                            # relist, then watch from the new RV
    w = kc.watch(PODS, resourceVersion=lst["metadata"]["resourceVersion"])
    try:
        c = uniq("gone")
        make_pod(kc, c)
        ev = w.next()
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == c
    finally:
        w.close()


def test_event_window_overflow_gives_410_per_resource(tmp_path):
    s = FakeAPIServer(tmp_path, event_window=3).start()
    try:
        kc = KubeClient(s)
        rv = kc.get("/api/v1/namespaces/default/configmaps")[1]["metadata"]["resourceVersion"]
        for i in range(5):
            kc.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c%d" % i}})
        w = kc.watch("/api/v1/namespaces/default/configmaps", resourceVersion=rv)
        assert w.next()["object"]["code"] == 410
        w.close()
        # a watch on another resource type is unaffected (per-resource windows)
        w = kc.watch(PODS, resourceVersion=rv)
        w.expect_none(0.3)
        w.close()
    finally:
        s.stop()


def test_continue_token_expires_after_compaction(kc):
    for i in range(3):
        kc.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": uniq("s")}, "stringData": {"k": "v"}})
    code, page = kc.get("/api/v1/namespaces/default/secrets", limit=1)
    assert page["metadata"]["continue"]
    kc.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": uniq("s")}})   # history moves on
    kc.post("/_test/compact", {"resource": "secrets"})
    code, err = kc.get("/api/v1/namespaces/default/secrets", limit=1, **{"continue": page["metadata"]["continue"]})
    assert code == 410
    assert_status(err, 410, "Expired")


def test_bookmarks_and_timeout(kc):
    code, lst = kc.get(PODS)
    t0 = time.monotonic()
    w = kc.watch(PODS, resourceVersion=lst["metadata"]["resourceVersion"], allowWatchBookmarks="true",
                 timeoutSeconds=1)
    try:
        ev = w.next(3, skip_bookmarks=False)
        assert ev["type"] == "BOOKMARK"
        assert ev["object"]["kind"] == "Pod" and set(ev["object"]["metadata"]) == {"resourceVersion"}
        assert int(ev["object"]["metadata"]["resourceVersion"]) >= int(lst["metadata"]["resourceVersion"])
        assert w.ended.wait(5)
        assert 0.9 <= time.monotonic() - t0 < 3.5          # timeoutSeconds honoured
    finally:
        w.close()
    w = kc.watch(PODS, resourceVersion=lst["metadata"]["resourceVersion"], timeoutSeconds=1)
    try:
        w.expect_none(1.2, skip_bookmarks=False)           # no bookmarks unless asked
    finally:
        w.close()


def test_close_watches_hook_ends_streams(kc):
    w = kc.watch(PODS, resourceVersion=kc.get(PODS)[1]["metadata"]["resourceVersion"])
    try:
        wait_for(lambda: kc.get("/_test/watches")[1]["items"], what="watch registered")
        kc.post("/_test/close-watches", {})
        assert w.ended.wait(5)
    finally:
        w.close()


# ==========================================================================
# deletion
# ==========================================================================

def test_graceful_delete_of_bound_pod_and_uid_precondition(kc):
    name = uniq("del")
    obj = make_pod(kc, name, node="del-node")
    w = kc.watch(PODS, fieldSelector="metadata.name=" + name, resourceVersion=obj["metadata"]["resourceVersion"])
    try:
        code, d = kc.delete(PODS + "/" + name)
        assert code == 200 and d["kind"] == "Pod"
        assert d["metadata"]["deletionTimestamp"] and d["metadata"]["deletionGracePeriodSeconds"] == 30
        ev = w.next()
        assert ev["type"] == "MODIFIED" and ev["object"]["metadata"]["deletionTimestamp"]
        code, still = kc.get(PODS + "/" + name)
        assert code == 200                                       # still there
        code, d2 = kc.delete(PODS + "/" + name, {"gracePeriodSeconds": 60})
        assert d2["metadata"]["deletionGracePeriodSeconds"] == 30  # can only be shortened
        code, err = kc.delete(PODS + "/" + name, {"gracePeriodSeconds": 0,
                                                  "preconditions": {"uid": "00000000-wrong"}})
        assert code == 409
        assert_status(err, 409, "Conflict")
        assert "Precondition failed: UID in precondition" in err["message"]
        code, gone = kc.delete(PODS + "/" + name, {"apiVersion": "v1", "kind": "DeleteOptions",
                                                   "gracePeriodSeconds": 0,
                                                   "preconditions": {"uid": obj["metadata"]["uid"]}})
        assert code == 200
        ev = w.next()
        assert ev["type"] == "DELETED"
        assert kc.get(PODS + "/" + name)[0] == 404
    finally:
        w.close()


def test_unbound_and_terminal_pods_are_deleted_at_once(kc):
    a = uniq("del")
    make_pod(kc, a)
    code, d = kc.delete(PODS + "/" + a)
    assert code == 200 and kc.get(PODS + "/" + a)[0] == 404
    b = uniq("del")
    make_pod(kc, b, node="n")
    kc.patch(PODS + "/" + b + "/status", {"status": {"phase": "Failed"}})
    kc.delete(PODS + "/" + b)
    assert kc.get(PODS + "/" + b)[0] == 404
    code, st = kc.delete("/api/v1/namespaces/default/configmaps/nope")
    assert code == 404


def test_finalizers_hold_deletion(kc):
    cm = "/api/v1/namespaces/default/configmaps/"
    name = uniq("fin")
    kc.post(cm[:-1], {"metadata": {"name": name, "finalizers": ["example.com/hold"]}})
    code, obj = kc.delete(cm + name)
    assert code == 200 and obj["metadata"]["deletionTimestamp"]
    assert kc.get(cm + name)[0] == 200
    code, obj = kc.patch(cm + name, {"metadata": {"finalizers": None}}, "merge")
    assert code == 200
    assert kc.get(cm + name)[0] == 404
    code, st = kc.post(cm[:-1], {"metadata": {"name": name}})
    code, st = kc.delete(cm + name)
    assert st["kind"] == "Status" and st["status"] == "Success"


def test_namespace_lifecycle(kc):
    ns = uniq("ns")
    code, obj = kc.post("/api/v1/namespaces", {"metadata": {"name": ns}})
    assert code == 201 and obj["status"]["phase"] == "Active"
    assert kc.get("/api/v1/namespaces/%s/serviceaccounts/default" % ns)[0] == 200
    code, cm = kc.get("/api/v1/namespaces/%s/configmaps/kube-root-ca.crt" % ns)
    assert "BEGIN CERTIFICATE" in cm["data"]["ca.crt"]
    code, p = kc.post("/api/v1/namespaces/%s/pods" % ns, pod("bound", node="n"))
    assert code == 201
    code, obj = kc.delete("/api/v1/namespaces/" + ns)
    assert obj["status"]["phase"] == "Terminating"
    code, err = kc.post("/api/v1/namespaces/%s/configmaps" % ns, {"metadata": {"name": "x"}})
    assert code == 403
    assert_status(err, 403, "Forbidden")
    code, p = kc.get("/api/v1/namespaces/%s/pods/bound" % ns)      # waits for the kubelet
    assert p["metadata"]["deletionTimestamp"]
    kc.delete("/api/v1/namespaces/%s/pods/bound" % ns, {"gracePeriodSeconds": 0})
    assert kc.get("/api/v1/namespaces/" + ns)[0] == 404


# ==========================================================================
# other resources the kubelet writes
# ==========================================================================

def test_leases_and_events(kc):
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "vk"},
             "spec": {"holderIdentity": "vk", "leaseDurationSeconds": 40,
                      "renewTime": "2024-01-01T00:00:00.000000Z"}}
    base = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    code, l1 = kc.post(base, lease)
    assert code == 201
    l1["spec"]["renewTime"] = "2024-01-01T00:00:10.000000Z"
    code, l2 = kc.put(base + "/vk", l1)
    assert code == 200
    code, err = kc.put(base + "/vk", l1)            # renewing from a stale copy
    assert code == 409
    code, err = kc.post(base, dict(lease, metadata={"name": "bad"}, spec={"leaseDurationSeconds": 0}))
    assert code == 422
    # core/v1 and events.k8s.io/v1 are two views of the same events
    ev = {"metadata": {"name": uniq("ev")}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
          "reason": "Started", "message": "hello", "type": "Normal", "source": {"component": "vk"}}
    code, e = kc.post("/api/v1/namespaces/default/events", ev)
    assert code == 201
    code, e2 = kc.get("/apis/events.k8s.io/v1/namespaces/default/events/" + ev["metadata"]["name"])
    assert e2["note"] == "hello" and e2["regarding"]["name"] == "p" and e2["apiVersion"] == "events.k8s.io/v1"
    code, lst = kc.get("/api/v1/namespaces/default/events", fieldSelector="involvedObject.name=p,reason=Started")
    assert ev["metadata"]["name"] in [i["metadata"]["name"] for i in lst["items"]]
    code, err = kc.post("/apis/events.k8s.io/v1/namespaces/default/events",
                        {"metadata": {"name": uniq("ev")}, "note": "x"})
    assert code == 422                               # eventTime, reportingController... required


def test_secrets_string_data_and_validation(kc):
    name = uniq("sec")
    code, s = kc.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": name}, "stringData": {"a": "b"}})
    assert code == 201 and s["data"] == {"a": "Yg=="} and "stringData" not in s and s["type"] == "Opaque"
    code, err = kc.post("/api/v1/namespaces/default/secrets",
                        {"metadata": {"name": uniq("sec")}, "data": {"a": "!!notbase64"}})
    assert code == 422


# ==========================================================================
# TokenRequest / TokenReview
# ==========================================================================

def test_token_request_and_token_review_round_trip(srv, kc):
    p = make_pod(kc, uniq("tok"), node="n1")
    name, uid = p["metadata"]["name"], p["metadata"]["uid"]
    code, tr = kc.post("/api/v1/namespaces/default/serviceaccounts/default/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": ["vault"], "expirationSeconds": 1200,
                 "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": name, "uid": uid}}})
    assert code == 201, tr
    token = tr["status"]["token"]
    assert tr["spec"]["audiences"] == ["vault"] and tr["spec"]["expirationSeconds"] == 1200
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["aud"] == ["vault"] and claims["exp"] - claims["iat"] == 1200
    assert claims["kubernetes.io"]["pod"] == {"name": name, "uid": uid}
    assert claims["sub"] == "system:serviceaccount:default:default"

    def review(tok, aud=None):
        spec = {"token": tok}
        if aud:
            spec["audiences"] = aud
        code, r = kc.post("/apis/authentication.k8s.io/v1/tokenreviews",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec})
        assert code == 201
        return r["status"]

    st = review(token, ["vault"])
    assert st["authenticated"] and st["user"]["username"] == "system:serviceaccount:default:default"
    assert "system:serviceaccounts:default" in st["user"]["groups"] and st["audiences"] == ["vault"]
    assert st["user"]["extra"]["authentication.kubernetes.io/pod-uid"] == [uid]
    assert not review(token, ["other"])["authenticated"]
    assert not review(token)["authenticated"]                     # not for the API server
    assert KubeClient(srv, token=token).get(PODS)[0] == 401
    assert review(srv.token)["authenticated"]                     # the static kubeconfig token
    assert not review(token[:-3] + "AAA", ["vault"])["authenticated"]
    # an API-audience token authenticates requests
    code, api_tr = kc.post("/api/v1/namespaces/default/serviceaccounts/default/token", {"spec": {}})
    assert KubeClient(srv, token=api_tr["status"]["token"]).get(PODS)[0] == 200
    # the bound pod goes away -> the token is dead
    kc.delete(PODS + "/" + name, {"gracePeriodSeconds": 0})
    assert not review(token, ["vault"])["authenticated"]
    # errors
    code, err = kc.post("/api/v1/namespaces/default/serviceaccounts/default/token",
                        {"spec": {"expirationSeconds": 60}})
    assert code == 422
    other = make_pod(kc, uniq("tok"), node="n1")
    code, err = kc.post("/api/v1/namespaces/default/serviceaccounts/default/token",
                        {"spec": {"boundObjectRef": {"kind": "Pod", "name": other["metadata"]["name"],
                                                     "uid": "stale-uid"}}})
    assert code == 409
    code, err = kc.post("/api/v1/namespaces/default/serviceaccounts/nope/token", {"spec": {}})
    assert code == 404


# ==========================================================================
# CertificateSigningRequests
# ==========================================================================

def make_csr(tmp_path, cn="system:node:vk", org="system:nodes", san="IP:127.0.0.1,DNS:vk"):
    key = tmp_path / ("k%d.pem" % len(os.listdir(tmp_path)))
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(key)], check=True, capture_output=True)
    args = ["openssl", "req", "-new", "-key", str(key), "-subj", "/O=%s/CN=%s" % (org, cn)]
    if san:
        args += ["-addext", "subjectAltName=" + san]
    pem = subprocess.run(args, check=True, capture_output=True).stdout
    return base64.b64encode(pem).decode()


def csr_body(name, request, usages=("digital signature", "server auth")):
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": {"request": request, "signerName": "kubernetes.io/kubelet-serving",
                                                 "usages": list(usages), "username": "forged"}}


CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def test_csr_approval_and_signing(srv, kc, tmp_path):
    name = uniq("csr")
    code, csr = kc.post(CSRS, csr_body(name, make_csr(tmp_path)))
    assert code == 201, csr
    assert csr["spec"]["username"] == "kubernetes-admin"          # set by the server, not the client
    assert "system:authenticated" in csr["spec"]["groups"]
    time.sleep(0.3)
    assert "certificate" not in kc.get(CSRS + "/" + name)[1]["status"]    # not without approval
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]}
    code, approved = kc.put(CSRS + "/" + name + "/approval", csr)
    assert code == 200 and approved["status"]["conditions"][0]["type"] == "Approved"
    signed = wait_for(lambda: kc.get(CSRS + "/" + name)[1]["status"].get("certificate"), what="signing")
    pem = base64.b64decode(signed)
    crt = tmp_path / "signed.crt"
    crt.write_bytes(pem)
    out = subprocess.run(["openssl", "verify", "-CAfile", srv.pki.ca_crt, str(crt)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-text"],
                          capture_output=True, text=True).stdout
    assert "TLS Web Server Authentication" in text and "IP Address:127.0.0.1" in text and "DNS:vk" in text
    # approval cannot be withdrawn; status updates cannot approve
    code, cur = kc.get(CSRS + "/" + name)
    cur["status"]["conditions"] = []
    assert kc.put(CSRS + "/" + name + "/approval", cur)[0] == 422


def test_csr_invalid_requests(kc, tmp_path):
    code, err = kc.post(CSRS, csr_body(uniq("csr"), base64.b64encode(b"garbage").decode()))
    assert code == 422
    name = uniq("csr")                                   # kubelet-serving without any SAN
    kc.post(CSRS, csr_body(name, make_csr(tmp_path, san=None)))
    code, cur = kc.get(CSRS + "/" + name)
    cur["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "T", "message": "m"}]}
    kc.put(CSRS + "/" + name + "/approval", cur)
    failed = wait_for(lambda: [c for c in kc.get(CSRS + "/" + name)[1]["status"].get("conditions", [])
                               if c["type"] == "Failed"], what="Failed condition")
    assert failed[0]["reason"] == "SignerValidationFailure"
    assert "certificate" not in kc.get(CSRS + "/" + name)[1]["status"]


def test_csr_auto_approve(tmp_path):
    s = FakeAPIServer(tmp_path / "srv", auto_approve_csr=True, csr_sign_delay=0.05).start()
    try:
        kc = KubeClient(s)
        w = kc.watch(CSRS, resourceVersion=kc.get(CSRS)[1]["metadata"]["resourceVersion"])
        kc.post(CSRS, csr_body("auto", make_csr(tmp_path)))
        types = [w.next()["type"] for _ in range(3)]           # ADDED, approved, signed
        assert types == ["ADDED", "MODIFIED", "MODIFIED"]
        csr = kc.get(CSRS + "/auto")[1]
        assert csr["status"]["conditions"][0]["reason"] == "AutoApproved" and csr["status"]["certificate"]
        w.close()
    finally:
        s.stop()


def test_csr_cleaner_collects_finished_then_pending_csrs(tmp_path):
    """kube-controller-manager's csrcleaner: Approved/Denied/Failed CSRs go an
    hour after their condition's lastUpdateTime (filled in by the server when
    the approver leaves it out), Pending ones a day after creation.  Here the
    ages are 1 s and, later, 1 s for pending too."""
    s = FakeAPIServer(tmp_path / "srv", csr_sign_delay=0.05, csr_gc_finished=1,
                      csr_gc_pending=3600).start()
    try:
        kc = KubeClient(s)
        for name in ("approved", "denied", "pending"):
            assert kc.post(CSRS, csr_body(name, make_csr(tmp_path)))[0] == 201
        for name, verdict in (("approved", "Approved"), ("denied", "Denied")):
            cur = kc.get(CSRS + "/" + name)[1]
            cur["status"] = {"conditions": [{"type": verdict, "status": "True", "reason": "T"}]}
            code, done = kc.put(CSRS + "/" + name + "/approval", cur)
            assert code == 200, done
            cond = done["status"]["conditions"][0]
            assert cond["lastUpdateTime"] and cond["lastTransitionTime"], cond
        wait_for(lambda: [c["metadata"]["name"] for c in kc.get(CSRS)[1]["items"]] == ["pending"],
                 timeout=15, what="the finished CSRs collected")
        assert kc.get(CSRS + "/approved")[0] == 404
        s.csr_gc_pending = 1
        wait_for(lambda: kc.get(CSRS)[1]["items"] == [], timeout=15, what="the pending CSR collected")
    finally:
        s.stop()


# ==========================================================================
# node proxy to the kubelet
# ==========================================================================

class KubeletStub:
    """An HTTPS kubelet that requires a client certificate signed by the cluster CA."""

    def __init__(self, srv, tmp_path):
        self.seen = []
        stub = self
        crt, key = str(tmp_path / "kubelet.crt"), str(tmp_path / "kubelet.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=vk", "-days", "1"],
                       check=True, capture_output=True)

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                cn = dict(x[0] for x in self.connection.getpeercert()["subject"])["commonName"]
                stub.seen.append((cn, self.path))
                if "follow=true" in self.path:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(3):
                        line = b"line %d\n" % i
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                        time.sleep(0.4)
                    self.wfile.write(b"0\r\n\r\n")
                    return
                body = b"hello from %s\n" % self.path.encode()
                code = 404 if "missing" in self.path else 200
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        ctx.load_verify_locations(srv.pki.ca_crt)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_node_proxy_container_logs(srv, kc, tmp_path):
    stub = KubeletStub(srv, tmp_path)
    node = uniq("pnode")
    try:
        kc.post(NODES, {"metadata": {"name": node}, "status": {
            "addresses": [{"type": "Hostname", "address": "no-such-host.invalid"},
                          {"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": stub.port}}}})
        code, body = kc.get(NODES + "/%s/proxy/containerLogs/default/p/c" % node, tailLines=5, timestamps="true")
        assert code == 200 and body.startswith("hello from /containerLogs/default/p/c?")
        assert stub.seen[-1][0] == "kube-apiserver-kubelet-client"
        assert "tailLines=5" in stub.seen[-1][1] and "timestamps=true" in stub.seen[-1][1]
        code, body = kc.get(NODES + "/%s/proxy/containerLogs/default/missing/c" % node)
        assert code == 404                                        # the kubelet's answer, passed through
        # streaming: the first line arrives long before the kubelet finishes
        conn, resp = kc.stream(NODES + "/%s/proxy/containerLogs/default/p/c?follow=true" % node)
        t0 = time.monotonic()
        first = resp.readline()
        assert first == b"line 0\n" and time.monotonic() - t0 < 0.35
        assert resp.read() == b"line 1\nline 2\n"
        conn.close()
        # pods/log goes through the same path, to the pod's node
        p = make_pod(kc, uniq("logs"), node=node, containers=("app",))
        code, body = kc.get(PODS + "/%s/log" % p["metadata"]["name"], limitBytes=10)
        assert code == 200 and "/containerLogs/default/%s/app?limitBytes=10" % p["metadata"]["name"] in body
        q = make_pod(kc, uniq("logs"), node=node, containers=("a", "b"))
        code, err = kc.get(PODS + "/%s/log" % q["metadata"]["name"])
        assert code == 400 and "a container name must be specified" in err["message"]
    finally:
        stub.stop()
    code, err = kc.get(NODES + "/%s/proxy/containerLogs/default/p/c" % node)     # kubelet down
    assert code == 503
    assert_status(err, 503, "ServiceUnavailable")
    assert kc.get(NODES + "/nope/proxy/healthz")[0] == 404


# ==========================================================================
# test hooks
# ==========================================================================

def test_fault_injection_and_request_log(kc):
    name = uniq("fault")
    make_pod(kc, name, node="n1")
    path = PODS + "/" + name + "/status"
    kc.request("DELETE", "/_test/requests")
    kc.post("/_test/faults", {"method": "PATCH", "path": path, "code": 500, "count": 2})
    codes = [kc.patch(path, {"status": {"message": "m%d" % i}})[0] for i in range(3)]
    assert codes == [500, 500, 200]
    kc.post("/_test/faults", {"path_regex": r"/api/v1/namespaces/default/pods/%s" % name, "code": 429,
                              "retry_after": 1})
    code, err = kc.get(PODS + "/" + name)
    assert code == 429 and err["kind"] == "Status"
    kc.post("/_test/faults", {"method": "GET", "path": PODS + "/" + name, "drop": True})
    with pytest.raises(ConnectionError):                  # connection closed, no response
        kc.get(PODS + "/" + name)
    assert kc.get(PODS + "/" + name)[0] == 200           # count=1: only the next request
    reqs = kc.get("/_test/requests", method="PATCH", path=path)[1]["items"]
    assert len(reqs) == 3
    assert all(r["contentType"] == "application/strategic-merge-patch+json" for r in reqs)
    assert [r["code"] for r in reqs] == [500, 500, 200]
    assert json.loads(reqs[-1]["body"]) == {"status": {"message": "m2"}}


def test_quick_pod_hook(kc):
    code, p = kc.post("/_test/pods", {"name": uniq("quick"), "nodeName": "vk", "image": "alpine:3",
                                      "command": ["sh", "-c", "echo hi"]})
    assert code == 201
    assert p["spec"]["nodeName"] == "vk" and p["spec"]["containers"][0]["command"] == ["sh", "-c", "echo hi"]
    assert kc.get(PODS + "/" + p["metadata"]["name"])[0] == 200


# ==========================================================================
# a real client library against the double
# ==========================================================================

@needs_k8s
@pytest.mark.parametrize("context", ["fake", "fake-cert"])
def test_python_kubernetes_client_crud_and_status_patch(srv, context):
    from kubernetes import client, config
    api_client = config.new_client_from_config(srv.kubeconfig, context=context)
    v1 = client.CoreV1Api(api_client)
    name = uniq("k8s")
    body = client.V1Pod(metadata=client.V1ObjectMeta(name=name),
                        spec=client.V1PodSpec(node_name="k8s-node", containers=[
                            client.V1Container(name="c", image="busybox:1.36")]))
    created = v1.create_namespaced_pod("default", body)
    assert created.metadata.uid and created.status.phase == "Pending"
    pods = v1.list_namespaced_pod("default", field_selector="spec.nodeName=k8s-node")
    assert name in [p.metadata.name for p in pods.items]
    patched = v1.patch_namespaced_pod_status(name, "default", {"status": {
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    assert patched.status.phase == "Running" and patched.status.conditions[0].type == "Ready"
    with pytest.raises(client.rest.ApiException) as e:
        v1.create_namespaced_pod("default", body)
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"
    v1.delete_namespaced_pod(name, "default", body=client.V1DeleteOptions(
        grace_period_seconds=0, preconditions=client.V1Preconditions(uid=created.metadata.uid)))
    with pytest.raises(client.rest.ApiException) as e:
        v1.read_namespaced_pod(name, "default")
    assert e.value.status == 404
    coord = client.CoordinationV1Api(api_client)
    lease = coord.create_namespaced_lease("kube-node-lease", client.V1Lease(
        metadata=client.V1ObjectMeta(name=name), spec=client.V1LeaseSpec(holder_identity=name,
                                                                         lease_duration_seconds=40)))
    assert lease.spec.lease_duration_seconds == 40


@needs_k8s
def test_python_kubernetes_watch_and_410(srv):
    from kubernetes import client, config, watch
    api_client = config.new_client_from_config(srv.kubeconfig)
    v1 = client.CoreV1Api(api_client)
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    name = uniq("kw")
    v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name)))
    w = watch.Watch()
    seen = []
    for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["object"].metadata.name == name:
            w.stop()
    assert ("ADDED", name) in seen
    KubeClient(srv).post("/_test/compact", {})
    with pytest.raises(client.rest.ApiException) as e:
        for ev in watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=rv,
                                       timeout_seconds=2):
            pass
    assert e.value.status == 410


@needs_k8s
def test_python_kubernetes_token_review(srv):
    from kubernetes import client, config
    api_client = config.new_client_from_config(srv.kubeconfig)
    tr = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        "default", "default", client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=["a"], expiration_seconds=700)))
    rev = client.AuthenticationV1Api(api_client).create_token_review(client.V1TokenReview(
        spec=client.V1TokenReviewSpec(token=tr.status.token, audiences=["a"])))
    assert rev.status.authenticated and rev.status.user.username == "system:serviceaccount:default:default"
