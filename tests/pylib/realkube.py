"""A real Kubernetes control plane for tests (kube-apiserver, controller-manager
and scheduler v1.23 from ../shared/k8s, started by its start.sh), with the same
interface as vkutil.FakeKube: .port, .token, .pki.ca_crt, .kubeconfig, .api
(a KubeClient) and the object helpers (pod, node, create_pod, create,
delete_pod, events).

One control plane serves a whole pytest session (starting one takes 10-30 s):
the state directory and the API server port are chosen per session, so
sessions run side by side.  Between users, reset() removes what a test left
(pods, nodes, leases, CSRs, ConfigMaps, Secrets of the default namespace).

A real server differs from the double in what it cannot be made to do on
demand: it keeps no request log (requests()), has no fault hooks (hook()),
and approves no kubelet-serving CSR by itself, as in a real cluster.  The CSR
approver thread here plays the site admin (`kubectl certificate approve`)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import types

import harness
from harness import wait_for

from kube_client import NODE, KubeClient, KubeObjects  # noqa: F401  (NODE: for the tests)

K8S_DIR = os.path.abspath(os.environ.get("IL_K8S_DIR")
                          or os.path.join(harness.SRC_DIR, "..", "shared", "k8s"))
# Where state dirs go and the first port tried (helpers running side by side
# on one machine give each session its own range).
STATE_PREFIX = os.environ.get("IL_K8S_STATE_PREFIX", "/tmp/k8s-il-")
PORT_BASE = int(os.environ.get("IL_K8S_PORT_BASE", "16843"))
CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def unavailable():
    """Why no real control plane can run here, or None."""
    if not os.access(os.path.join(K8S_DIR, "start.sh"), os.X_OK):
        return f"no real Kubernetes control plane: {K8S_DIR}/start.sh is absent"
    if not os.access("/usr/bin/etcd", os.X_OK):
        return "no real Kubernetes control plane: /usr/bin/etcd is missing (etcd-server)"
    return None


def _port_free(port):
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RealKube(KubeObjects):
    """start.sh in a fresh state dir on a free port; stop() runs stop.sh and
    removes the state dir."""

    def __init__(self, approve_csrs=True, attempts=5):
        self.dir = tempfile.mkdtemp(prefix=os.path.basename(STATE_PREFIX),
                                    dir=os.path.dirname(STATE_PREFIX) or "/tmp")
        self.log_path = os.path.join(self.dir + ".start.log")
        port = PORT_BASE
        for _ in range(attempts):
            while not _port_free(port):
                port += 1
            if self._start(port):
                break
            port += 1      # taken meanwhile by another session: the next one
        else:
            raise RuntimeError(f"the control plane did not start; see {self.log_path}")
        self.port = port
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        pki = os.path.join(self.dir, "pki")
        self.pki = types.SimpleNamespace(
            ca_crt=os.path.join(pki, "ca.crt"), ca_cn="k8s-test-ca",
            admin=(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key")),
            kubelet_client=(os.path.join(pki, "apiserver-kubelet-client.crt"),
                            os.path.join(pki, "apiserver-kubelet-client.key")))
        self.api = KubeClient(self, cert=self.pki.admin)
        wait_for("the default ServiceAccount", lambda: self.api.get(
            "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200, timeout=60)
        self.token = self._admin_token()
        self.token_user = "system:serviceaccount:kube-system:il-test-admin"
        self._stop = threading.Event()
        self.approved = []
        self._approver = None
        if approve_csrs:
            self._approver = threading.Thread(target=self._approve_loop, daemon=True)
            self._approver.start()

    def _env(self, port):
        return {**os.environ, "K8S_STATE": self.dir, "K8S_APISERVER_PORT": str(port)}

    def _start(self, port):
        with open(self.log_path, "ab") as log:
            rc = subprocess.call([os.path.join(K8S_DIR, "start.sh")], env=self._env(port),
                                 stdout=log, stderr=subprocess.STDOUT, timeout=300)
        if rc != 0:
            subprocess.call([os.path.join(K8S_DIR, "stop.sh")], env=self._env(port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return rc == 0

    def _admin_token(self):
        """A bearer token of a cluster-admin ServiceAccount (the double's .token
        is an admin token too)."""
        sa = {"metadata": {"name": "il-test-admin"}}
        self.api.post("/api/v1/namespaces/kube-system/serviceaccounts", sa)
        self.api.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "metadata": {"name": "il-test-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "il-test-admin",
                          "namespace": "kube-system"}]})
        return self.service_account_token("il-test-admin", "kube-system")

    def service_account_token(self, name, ns, seconds=24 * 3600):
        code, body = self.api.post(f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token",
                                   {"spec": {"expirationSeconds": seconds}})
        assert code == 201, body
        return body["status"]["token"]

    def _approve_loop(self):
        """Approve kubelet-serving CSRs, as a site admin does for a new node."""
        while not self._stop.wait(0.3):
            try:
                code, body = self.api.get(CSRS)
                if code != 200:
                    continue
                for csr in body.get("items", []):
                    if (csr["spec"].get("signerName") != "kubernetes.io/kubelet-serving"
                            or (csr.get("status") or {}).get("conditions")):
                        continue
                    name = csr["metadata"]["name"]
                    csr.setdefault("status", {})["conditions"] = [{
                        "type": "Approved", "status": "True", "reason": "TestApprover",
                        "message": "approved by tests/pylib/realkube.py"}]
                    code, _ = self.api.put(f"{CSRS}/{name}/approval", csr)
                    if code == 200:
                        self.approved.append(name)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        if self._approver:
            self._approver.join(5)
        subprocess.call([os.path.join(K8S_DIR, "stop.sh")], env=self._env(self.port),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    # -- between users -------------------------------------------------------
    def reset(self, ns="default"):
        """Remove what earlier tests left: pods (forced: no kubelet may be
        running them), nodes and their leases, CSRs, ConfigMaps and Secrets."""
        code, pods = self.api.get(f"/api/v1/namespaces/{ns}/pods")
        for p in pods.get("items", []) if code == 200 else []:
            self.api.delete(f"/api/v1/namespaces/{ns}/pods/{p['metadata']['name']}",
                            {"gracePeriodSeconds": 0})
        for plural, keep in (("configmaps", {"kube-root-ca.crt"}), ("secrets", set())):
            code, objs = self.api.get(f"/api/v1/namespaces/{ns}/{plural}")
            for o in objs.get("items", []) if code == 200 else []:
                if o["metadata"]["name"] in keep or \
                        o.get("type") == "kubernetes.io/service-account-token":
                    continue
                self.api.delete(f"/api/v1/namespaces/{ns}/{plural}/{o['metadata']['name']}")
        code, nodes = self.api.get("/api/v1/nodes")
        for n in nodes.get("items", []) if code == 200 else []:
            name = n["metadata"]["name"]
            self.api.delete(f"/api/v1/nodes/{name}")
            self.api.delete(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
        code, csrs = self.api.get(CSRS)
        for c in csrs.get("items", []) if code == 200 else []:
            self.api.delete(f"{CSRS}/{c['metadata']['name']}")
        wait_for("an empty namespace", lambda: not self.api.get(
            f"/api/v1/namespaces/{ns}/pods")[1].get("items"), timeout=30)

    # -- objects beyond KubeObjects ---------------------------------------------
    def logs_via_api(self, name, container, ns="default", **params):
        """kubectl logs: the API server proxies to the node's kubelet endpoint."""
        params["container"] = container
        code, body = self.api.get(f"/api/v1/namespaces/{ns}/pods/{name}/log", **params)
        return code, body if isinstance(body, str) else json.dumps(body)

    def kubectl(self, *args, kubeconfig=None, check=True, **kw):
        r = subprocess.run(["kubectl", "--kubeconfig", kubeconfig or self.kubeconfig, *args],
                           capture_output=True, text=True, timeout=120, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {r.stderr}")
        return r


_session = None
_session_lock = threading.Lock()


def session():
    """The session's control plane (started on first use, stopped at exit by
    the conftest fixture)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = RealKube()
        return _session


def stop_session():
    global _session
    if _session is not None:
        _session.stop()
        _session = None

