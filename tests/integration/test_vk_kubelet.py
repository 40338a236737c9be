"""The kubelet HTTPS API of interlink-vk: container logs through the real API
server's node proxy (the `kubectl logs` path) and directly, authentication
(client certificates, TokenReview'd bearer tokens) and authorization, and the
three sources of the serving certificate (CSR flow, self-signed, files).

On the double: what needs its request log (CSRs never deleted by the VK,
TokenReviews cached) or its CSR cleaner on a 2 s period, and the self-signed
and certificate-file sources (a VK of their own beside the module's one,
which on the shared real server would be the same node)."""
import base64
import http.client
import json
import os
import ssl
import subprocess
import time
import urllib.parse

import pytest

import vkutil
from vkutil import condition, wait_for

SH = "/bin/sh"


def ready(env):
    wait_for("Ready", lambda: (condition(env.kube.node(), "Ready") or {}).get("status") == "True",
             timeout=15)


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_kube):
    # realkube approves the kubelet-serving CSR as a site admin would.  Its
    # .token is a ServiceAccount's (not in system:masters): allowed by name.
    e = vkutil.VKEnv(tmp_path_factory.mktemp("vkkubelet"), kube=real_kube,
                     KubeletAllowedUsers=["kube-apiserver-kubelet-client", real_kube.token_user])
    ready(e)
    yield e
    e.stop()


def sh(name, script):
    return {"name": name, "image": "busybox", "command": [SH, "-c", script]}


def kubelet(env, path, cert=None, token=None, ca=None, timeout=30):
    """GET on the kubelet port itself: (status, body text)."""
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl._create_unverified_context()
    if cert:
        ctx.load_cert_chain(*cert)
    conn = http.client.HTTPSConnection("127.0.0.1", env.kubelet_port, context=ctx,
                                       timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def proxied_log(env, pod, container, **query):
    """GET pods/{pod}/log through the API server: (status, text)."""
    query["container"] = container
    path = f"/api/v1/namespaces/default/pods/{pod}/log?" + urllib.parse.urlencode(query)
    conn, resp = env.kube.api.stream(path)
    try:
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def kube_file(env, name):
    return os.path.join(env.kube.dir, name)


def admin_cert(env):
    return env.kube.pki.kubelet_client


def ca_signed(env):
    return env.kube.pki.ca_cn in serving_cert_text(env)


def finished_pod(env, name, script):
    env.kube.create_pod(name, [sh("c", script)])
    env.wait_phase(name)


def serving_cert_text(env):
    pem = ssl.get_server_certificate(("127.0.0.1", env.kubelet_port))
    return subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer", "-ext",
                           "subjectAltName"], input=pem.encode(), capture_output=True,
                          check=True).stdout.decode()


# ---- CSR flow and logs through the node proxy ------------------------------------


def test_csr_flow_issues_a_cert_the_proxy_trusts(env):
    def issued():
        code, body = env.kube.api.get("/apis/certificates.k8s.io/v1/certificatesigningrequests")
        items = body.get("items", []) if code == 200 else []
        return [c for c in items if (c.get("status") or {}).get("certificate")]
    csrs = wait_for("an issued kubelet-serving CSR", issued, timeout=30)
    spec = csrs[0]["spec"]
    assert spec["signerName"] == "kubernetes.io/kubelet-serving"
    assert sorted(spec["usages"]) == ["digital signature", "key encipherment", "server auth"]
    assert csrs[0]["metadata"]["name"].startswith("csr-vk-test-")
    wait_for("the CA-signed certificate served", lambda: ca_signed(env), timeout=30)
    text = serving_cert_text(env)
    assert "system:node:vk-test" in text and "system:nodes" in text
    assert "IP Address:127.0.0.1" in text and "DNS:vk-test" in text
    # Verified against the cluster CA, with the host name checked (IP SAN).
    assert kubelet(env, "/healthz", ca=env.kube.pki.ca_crt) == (200, "ok")


CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def test_csrs_are_left_to_the_controller_managers_cleaner(tmp_path):
    """As a kubelet, interlink-vk never deletes a CSR, its own or an earlier
    run's: the API server's CSR cleaner collects them (here after 6 s instead
    of kube-controller-manager's 1 h).  A restart asks for a new certificate
    (the issued one is kept in memory only); once its CSR is collected the VK
    keeps serving the certificate and does not ask again."""
    e = vkutil.VKEnv(tmp_path, kube_args=["--auto-approve-csr", "--csr-gc-finished", "6"])
    try:
        def ca_signed_pem():
            try:
                pem = ssl.get_server_certificate(("127.0.0.1", e.kubelet_port))
            except OSError:
                return None     # the restarted VK is not listening yet
            issuer = subprocess.run(["openssl", "x509", "-noout", "-issuer"], input=pem.encode(),
                                    capture_output=True, check=True).stdout.decode()
            return pem if "fake-kubernetes-ca" in issuer else None
        ready(e)
        first = wait_for("the first CA-signed certificate", ca_signed_pem, timeout=30)
        e.restart_vk()
        second = wait_for("a new CA-signed certificate after the restart",
                          lambda: (ca_signed_pem() or first) != first and ca_signed_pem(),
                          timeout=30)
        wait_for("both CSRs collected by the cleaner",
                 lambda: e.kube.api.get(CSRS)[1]["items"] == [], timeout=30)
        assert len(e.kube.requests(method="POST", path=CSRS)) == 2
        assert e.kube.requests(method="DELETE", pathPrefix=CSRS) == []
        assert ca_signed_pem() == second
        assert kubelet(e, "/healthz", ca=kube_file(e, "ca.crt")) == (200, "ok")
        assert len(e.kube.requests(method="POST", path=CSRS)) == 2
    finally:
        e.stop()


def test_logs_of_a_finished_pod_through_the_proxy(env):
    finished_pod(env, "done", "for i in 1 2 3 4 5; do echo line$i; done")
    wait_for("the CA-signed certificate served", lambda: ca_signed(env), timeout=30)
    assert proxied_log(env, "done", "c") == (200, "line1\nline2\nline3\nline4\nline5\n")
    assert proxied_log(env, "done", "c", tailLines=2) == (200, "line4\nline5\n")
    assert proxied_log(env, "done", "c", limitBytes=8) == (200, "line1\nli")
    code, text = proxied_log(env, "done", "c", timestamps="true")
    assert code == 200
    first = text.splitlines()[0]
    stamp, _, rest = first.partition(" ")
    assert rest == "line1" and stamp[:2] == "20" and stamp.endswith("Z"), first


def test_bad_queries_and_unknown_names(env):
    cert = admin_cert(env)
    assert kubelet(env, "/containerLogs/default/done/c?tailLines=-1", cert)[0] == 400
    assert kubelet(env, "/containerLogs/default/done/c?limitBytes=0", cert)[0] == 400
    code, body = kubelet(env, "/containerLogs/default/done/c?sinceSeconds=5&sinceTime="
                         "2025-01-01T00:00:00Z", cert)
    assert code == 400 and "at most one" in body
    assert kubelet(env, "/containerLogs/default/done/c?follow=maybe", cert)[0] == 400
    assert kubelet(env, "/containerLogs/default/nope/c", cert)[0] == 404
    assert kubelet(env, "/containerLogs/default/done/nope", cert)[0] == 404
    assert kubelet(env, "/containerLogs/default/done", cert)[0] == 404
    assert kubelet(env, "/runningpods/", cert)[0] == 404


def test_follow_streams_until_the_container_ends(env):
    env.kube.create_pod("talker", [sh("c", "for i in 1 2 3 4; do echo tick$i; sleep 1; done")])
    wait_for("talker running", lambda: vkutil.phase(env.kube.pod("talker")) == "Running",
             timeout=30)
    conn, resp = env.kube.api.stream(
        "/api/v1/namespaces/default/pods/talker/log?container=c&follow=true")
    try:
        assert resp.status == 200
        start = time.time()
        first = resp.readline().decode()
        assert first.startswith("tick"), first
        rest = resp.read().decode()   # returns when the container ends
        elapsed = time.time() - start
    finally:
        conn.close()
    lines = (first + rest).splitlines()
    assert lines[-1] == "tick4" and len(lines) >= 2, lines
    assert elapsed >= 1, "the stream should have waited for the container"


# ---- authentication and authorization ------------------------------------------------


def test_no_credentials_is_401(env):
    code, body = kubelet(env, "/containerLogs/default/done/c")
    assert code == 401 and "Unauthorized" in body
    assert kubelet(env, "/healthz") == (200, "ok")   # open, as a probe needs
    assert kubelet(env, "/nowhere")[0] == 401        # nothing is revealed before auth


def test_anonymous_body_refused_on_the_headers(env):
    """Issue 10, hole 3: 401 before any of an anonymous body is read (checked
    to hang on the code before: the whole body was awaited first)."""
    import socket
    ctx = ssl._create_unverified_context()
    with socket.create_connection(("127.0.0.1", env.kubelet_port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"POST /exec/default/done/c HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 15000000\r\n\r\n")
            answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401"), answer


def test_client_certificate_of_the_cluster_ca(env):
    assert kubelet(env, "/containerLogs/default/done/c?tailLines=1", admin_cert(env)) == \
        (200, "line5\n")


def test_client_certificate_from_another_ca_is_rejected(env, tmp_path):
    key, crt = str(tmp_path / "o.key"), str(tmp_path / "o.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days",
                    "1", "-subj", "/O=system:masters/CN=kube-apiserver-kubelet-client",
                    "-addext", "extendedKeyUsage=clientAuth"], check=True, capture_output=True)
    assert kubelet(env, "/containerLogs/default/done/c", (crt, key))[0] == 401


def test_bearer_token_checked_by_token_review(env):
    path = "/containerLogs/default/done/c?tailLines=1"
    assert kubelet(env, path, token=env.kube.token) == (200, "line5\n")
    assert kubelet(env, path, token="not-a-token")[0] == 401


def test_token_reviews_are_cached(tmp_path):
    e = vkutil.VKEnv(tmp_path, DisableCSR=True)
    try:
        ready(e)
        finished_pod(e, "done", "echo line5")
        e.kube.api.request("DELETE", "/_test/requests")
        path = "/containerLogs/default/done/c?tailLines=1"
        assert kubelet(e, path, token=e.kube.token) == (200, "line5\n")
        assert kubelet(e, path, token=e.kube.token) == (200, "line5\n")
        reviews = e.kube.requests(path="/apis/authentication.k8s.io/v1/tokenreviews")
        assert len(reviews) == 1, "the second request should be answered from the cache"
    finally:
        e.stop()


def test_authenticated_but_not_allowed_is_403(env):
    code, body = env.kube.api.post(
        "/api/v1/namespaces/default/serviceaccounts/default/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"expirationSeconds": 3600}})
    assert code == 201, body
    code, text = kubelet(env, "/containerLogs/default/done/c", token=body["status"]["token"])
    assert code == 403 and "system:serviceaccount:default:default" in text


# ---- other certificate sources -----------------------------------------------------------


def test_self_signed_when_csr_disabled(tmp_path):
    e = vkutil.VKEnv(tmp_path, DisableCSR=True)
    try:
        ready(e)
        text = serving_cert_text(e)
        assert "subject=O = system:nodes, CN = system:node:vk-test" in text
        assert "issuer=O = system:nodes, CN = system:node:vk-test" in text
        code, body = e.kube.api.get("/apis/certificates.k8s.io/v1/certificatesigningrequests")
        assert code == 200 and body["items"] == []
        finished_pod(e, "ss", "echo hello")
        # The proxy does not verify kubelet certificates by default (as the real one).
        assert proxied_log(e, "ss", "c") == (200, "hello\n")
        assert "self-signed certificate (DisableCSR)" in e.vk.output()
    finally:
        e.stop()


def test_certificate_files(tmp_path):
    kube_dir = tmp_path / "kube"
    e = vkutil.VKEnv(tmp_path, KubeletCertFile=str(kube_dir / "apiserver.crt"),
                     KubeletKeyFile=str(kube_dir / "apiserver.key"))
    try:
        ready(e)
        assert "CN = kube-apiserver" in serving_cert_text(e)
        assert kubelet(e, "/healthz", ca=str(kube_dir / "ca.crt")) == (200, "ok")
    finally:
        e.stop()
