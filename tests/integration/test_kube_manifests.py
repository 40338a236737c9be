"""deploy/kubernetes against the real control plane: both overlays apply
(`kubectl apply -k --server-side`), and interlink-vk running with the
manifests' ServiceAccount token (not an admin's) and the manifests' own
configuration registers its node, runs a pod through interlink +
interlink-local and serves its logs through the API server -- while what a
virtual kubelet does not need is forbidden to it."""
import base64
import os
import shutil
import subprocess

import pytest
import yaml

import harness
import vkutil
from vkutil import condition, wait_for

KUSTOMIZE = os.path.join(harness.SRC_DIR, "deploy", "kubernetes")
NS = "interlink"
SA = f"system:serviceaccount:{NS}:interlink-vk"
CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"

pytestmark = pytest.mark.skipif(not shutil.which("kubectl"), reason="no kubectl")


def apply(kube, overlay):
    return kube.kubectl("apply", "--server-side", "--force-conflicts", "-k",
                        os.path.join(KUSTOMIZE, "overlays", overlay))


def sa_kubeconfig(kube, path):
    """A kubeconfig with the ServiceAccount's token, as the in-cluster
    config of the Deployment's pod would give the VK."""
    token = kube.service_account_token("interlink-vk", NS, seconds=3600)
    with open(kube.pki.ca_crt, "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{kube.port}",
                                                  "certificate-authority-data": ca}}],
           "users": [{"name": "vk", "user": {"token": token}}],
           "contexts": [{"name": "vk", "context": {"cluster": "c", "user": "vk"}}],
           "current-context": "vk"}
    harness.write_yaml(path, doc)
    return path


@pytest.fixture(scope="module")
def deployed(real_kube, tmp_path_factory):
    real_kube.reset()
    r = apply(real_kube, "in-cluster")
    assert r.returncode == 0, r.stderr
    code, dep = real_kube.api.get(f"/apis/apps/v1/namespaces/{NS}/deployments/interlink-vk")
    assert code == 200, dep
    containers = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    assert containers == ["vk", "interlink", "plugin"], containers
    r = apply(real_kube, "edge")
    assert r.returncode == 0, r.stderr
    yield real_kube
    real_kube.kubectl("delete", "--wait=true", "--timeout=90s", "-k",
                      os.path.join(KUSTOMIZE, "overlays", "edge"), check=False)


def test_edge_deployment_is_hardened(deployed):
    code, dep = deployed.api.get(f"/apis/apps/v1/namespaces/{NS}/deployments/interlink-vk")
    spec = dep["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["vk"]   # edge: the VK alone
    assert spec["serviceAccountName"] == "interlink-vk"
    assert spec["securityContext"]["runAsNonRoot"] is True
    vk = spec["containers"][0]
    assert vk["securityContext"]["allowPrivilegeEscalation"] is False
    assert vk["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert vk["resources"]["limits"]["memory"]
    mounts = {m["mountPath"] for m in vk["volumeMounts"]}
    assert {"/etc/interlink/tls", "/etc/interlink/vk.yaml"} <= mounts


def test_vk_with_the_manifests_service_account(deployed, tmp_path):
    kube = deployed
    code, cm = kube.api.get(f"/api/v1/namespaces/{NS}/configmaps/interlink-vk-config")
    assert code == 200, cm
    cfg = yaml.safe_load(cm["data"]["vk.yaml"])
    assert cfg["TLS"]["Enabled"] is True and cfg["InterlinkURL"].startswith("https://")
    # The manifests' config, pointed at this test's interlink (on a unix
    # socket: the edge's mTLS link is interlink's own tests' business).
    for key in ("InterlinkURL", "InterlinkPort", "TLS", "KubeletPort"):
        cfg.pop(key)
    stack = harness.Stack(tmp_path / "stack").start()
    creds = type("Creds", (), {"kubeconfig": sa_kubeconfig(kube, str(tmp_path / "sa.kubeconfig"))})
    vk = vkutil.VK(tmp_path, creds, stack, **cfg).start()
    try:
        node = wait_for("the node Ready", lambda: (condition(kube.node(), "Ready") or {}).get(
            "status") == "True" and kube.node(), timeout=60)
        assert node["status"]["capacity"]["pods"] in ("1k", "1000")
        kube.create_pod("viasa", [{"name": "c", "image": "busybox",
                                   "command": ["/bin/sh", "-c", "echo served by the SA"]}])
        wait_for("Succeeded", lambda: vkutil.phase(kube.pod("viasa")) == "Succeeded", timeout=60)
        wait_for("the CA-signed kubelet certificate (CSR created by the SA)",
                 lambda: any((c.get("status") or {}).get("certificate")
                             and c["spec"]["username"] == SA
                             for c in kube.api.get(CSRS)[1]["items"]), timeout=30)
        code, text = kube.logs_via_api("viasa", "c")
        assert (code, text) == (200, "served by the SA\n")
        # Deleting the pod: the VK removes it from the backend, then the object.
        kube.delete_pod("viasa")
        wait_for("the pod gone", lambda: kube.pod("viasa") is None, timeout=30)
        # The VK never met a refusal: the role grants all it uses.
        out = vk.output()
        assert "403 Forbidden" not in out and " is forbidden" not in out, out[-3000:]
    finally:
        try:
            vk.stop_cleanly()
        finally:
            stack.stop()


@pytest.mark.parametrize("verb,resource,allowed", [
    ("get", "secrets", True),              # the secrets its pods name
    ("list", "secrets", False),
    ("watch", "configmaps", False),
    ("create", "pods", False),
    ("delete", "nodes", False),
    ("update", "nodes", False),
    ("patch", "pods/status", True),
    ("create", "serviceaccounts/token", True),
    ("create", "deployments.apps", False),
    ("update", "certificatesigningrequests.certificates.k8s.io/approval", False),
    ("patch", "nodes/status", True),
    ("get", "leases.coordination.k8s.io", False),   # all namespaces: no; kube-node-lease only
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", False),
    ("impersonate", "users", False),
])
def test_the_role_is_minimal(deployed, tmp_path, verb, resource, allowed):
    kc = sa_kubeconfig(deployed, str(tmp_path / "sa.kubeconfig"))
    resource, _, sub = resource.partition("/")
    args = ["auth", "can-i", verb, resource, "-A"] + ([f"--subresource={sub}"] if sub else [])
    r = deployed.kubectl(*args, kubeconfig=kc, check=False)
    assert r.stdout.strip() == ("yes" if allowed else "no"), (verb, resource, r.stdout, r.stderr)


def test_real_requests_beyond_the_role_get_403(deployed):
    token = deployed.service_account_token("interlink-vk", NS, seconds=600)
    sa = vkutil.KubeClient(deployed, token=token)
    assert sa.get("/api/v1/secrets")[0] == 403
    assert sa.get(f"/api/v1/namespaces/{NS}/configmaps")[0] == 403
    assert sa.post("/api/v1/namespaces/default/pods", {
        "metadata": {"name": "nope"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})[0] == 403
    assert sa.delete("/api/v1/nodes/anything")[0] == 403
    assert sa.get("/apis/coordination.k8s.io/v1/namespaces/default/leases")[0] == 403
    # what it needs answers (404: allowed, nothing there)
    assert sa.get("/api/v1/namespaces/default/secrets/absent")[0] == 404
    assert sa.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/absent")[0] == 404
