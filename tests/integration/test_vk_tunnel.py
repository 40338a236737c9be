"""Pod tunnels through interlink-vk on the real API server (../shared/k8s):
the VK registers a pod that declares containerPorts with interlink-gateway,
its status.podIP is the tunnel address, the pod's server answers there, the
tunnel's state is an Event, and deleting the pod closes the tunnel.  (The
gateway's pod network here is in 127.0.0.0/8, which the API server refuses
in Endpoints, so Services are not exercised: docs/interactive.md.)"""
import json
import os
import subprocess
import time

import pytest

import harness
import vkutil
from harness import wait_for
from tunnelutil import Gateway, connects, echo_roundtrip, echo_server_script, wait_port

KUBECTL = "/usr/bin/kubectl"
NODE = "vk-tunnel"

pytestmark = pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason="needs kubectl")


class Cluster:
    def __init__(self, tmp, kube):
        kube.reset()
        self.kubeconfig = kube.kubeconfig
        self.gateway = Gateway(tmp).start()
        self.stack = harness.Stack(os.path.join(tmp, "stack")).start()
        token = os.path.join(self.gateway.dir, "control.token")
        cfg = harness.write_yaml(os.path.join(tmp, "vk.yaml"), {
            "InterlinkURL": self.stack.api_addr, "PingIntervalSeconds": 1,
            "StatusIntervalSeconds": 1, "DisableCSR": True, "VerboseLogging": True,
            "Gateway": {"URL": self.gateway.control, "TokenFile": token,
                        "TunnelURL": self.gateway.url, "CAFile": self.gateway.cert}})
        self.vk = harness.Daemon(
            [harness.binary("interlink-vk"), "--config", cfg, "--nodename", NODE],
            os.path.join(tmp, "vk.log"),
            env={"KUBECONFIG": self.kubeconfig, "KUBELET_PORT": str(vkutil.free_port()),
                 "POD_IP": "127.0.0.1"}).start()

    def kubectl(self, *args, input=None, check=True):
        p = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, *args], input=input,
                           capture_output=True, timeout=60)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    def get(self, kind, name):
        p = self.kubectl("get", kind, name, "-o", "json", check=False)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def stop(self):
        try:
            self.kubectl("delete", "pod", "--all", "--wait=false", check=False)
            self.vk.stop_cleanly()
        finally:
            try:
                self.stack.stop()
            finally:
                self.gateway.stop()


@pytest.fixture(scope="module")
def k(tmp_path_factory, real_kube):
    c = Cluster(str(tmp_path_factory.mktemp("vktunnel")), real_kube)
    try:
        wait_for("node registered", lambda: c.get("node", NODE), timeout=60)
        yield c
    finally:
        c.stop()


def test_pod_reached_by_pod_ip(k):
    port = vkutil.free_port()
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "echo", "labels": {"app": "tunnel-echo"}},
           "spec": {"nodeName": NODE, "tolerations": [{"operator": "Exists"}],
                    "restartPolicy": "Never",
                    "containers": [{"name": "echo", "image": "busybox",
                                    "command": ["/bin/sh", "-c", echo_server_script(port)],
                                    "ports": [{"containerPort": port, "name": "echo"}]}]}}
    k.kubectl("apply", "-f", "-", input=json.dumps(pod).encode())
    st = wait_for("pod running with its tunnel address", lambda: (
        (k.get("pod", "echo") or {}).get("status", {}).get("phase") == "Running" and
        k.get("pod", "echo")["status"].get("podIP", "127.0.0.1") != "127.0.0.1" and
        k.get("pod", "echo")["status"]), timeout=90)
    uid = k.get("pod", "echo")["metadata"]["uid"]
    ip = st["podIP"]
    assert st["podIPs"] == [{"ip": ip}] and st["hostIP"] == "127.0.0.1", st
    state = k.gateway.call("GET", f"/v1/pods/{uid}")[1]
    assert state["podIP"] == ip and state["ports"] == [port], state
    k.gateway.wait_connected({"metadata": {"uid": uid, "name": "echo"}})
    wait_port(ip, port)
    assert echo_roundtrip(ip, port, b"by pod IP") == b"by pod IP"

    # The node's view of the tunnel is an Event on the pod.
    def tunnel_events():
        p = k.kubectl("get", "events", "--field-selector", "involvedObject.name=echo", "-o",
                      "json")
        return [e for e in json.loads(p.stdout)["items"] if e["reason"] == "TunnelConnected"]
    ev = wait_for("a TunnelConnected event", tunnel_events, timeout=30)
    assert ip in ev[0]["message"], ev

    # A restarted VK knows nothing of the address: it asks the gateway again
    # (the same answer) instead of writing the node's address over it.
    def registrations():
        return k.gateway.daemon.output().count(f"({uid}) registered at {ip}")
    before = registrations()
    k.vk.stop_cleanly()
    k.vk.start()
    wait_for("the restarted VK to ask the gateway", lambda: registrations() > before,
             timeout=60)
    time.sleep(3)   # a few status cycles with the answer
    st = k.get("pod", "echo")["status"]
    assert st["podIP"] == ip, st
    assert k.gateway.call("GET", f"/v1/pods/{uid}")[1]["connects"] == 1
    assert echo_roundtrip(ip, port, b"after a VK restart") == b"after a VK restart"

    # Deleting the pod unregisters it: the tunnel and its address close.
    k.kubectl("delete", "pod", "echo", "--wait=false")
    wait_for("the pod to be unregistered",
             lambda: k.gateway.call("GET", f"/v1/pods/{uid}")[0] == 404, timeout=60)
    # the gateway forgets the pod at once; its tunnel thread closes the
    # listener a moment later
    wait_for("the pod's address to close", lambda: not connects(ip, port), timeout=30)
    wait_for("the pod to be gone", lambda: k.get("pod", "echo") is None, timeout=60)


def test_pod_without_ports_keeps_the_node_address(k):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
           "spec": {"nodeName": NODE, "tolerations": [{"operator": "Exists"}],
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox",
                                    "command": ["sh", "-c", "sleep 60"]}]}}
    k.kubectl("apply", "-f", "-", input=json.dumps(pod).encode())
    st = wait_for("pod running", lambda: (k.get("pod", "plain") or {}).get("status", {})
                  .get("phase") == "Running" and k.get("pod", "plain")["status"], timeout=90)
    assert st["podIP"] == "127.0.0.1", st
    assert k.gateway.call("GET", "/v1/pods")[1]["pods"] == []
    k.kubectl("delete", "pod", "plain", "--wait=false")
