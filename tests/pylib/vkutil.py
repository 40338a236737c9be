"""Helpers for the virtual-kubelet integration tests: the fake Kubernetes API
server (tests/kube/fake_apiserver.py) as a subprocess, interlink-vk as a
daemon against it and a harness.Stack, and polling helpers."""
import os
import signal
import subprocess
import sys
import types

import harness
from harness import free_port, wait_for  # noqa: F401  (the VK tests use them from here)

from kube_client import NODE, KubeClient, KubeObjects  # noqa: F401  (NODE: for the tests)

KUBE_DIR = os.path.join(harness.SRC_DIR, "tests", "kube")



class FakeKube(KubeObjects):
    """tests/kube/fake_apiserver.py in its own process, as a real API server would be."""

    def __init__(self, directory, args=()):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        port_file = os.path.join(self.dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(os.path.join(self.dir, "apiserver.log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(KUBE_DIR, "fake_apiserver.py"), "--port", "0",
             "--dir", self.dir, "--bookmark-interval", "1", *args],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for("the fake API server", lambda: os.path.exists(port_file)
                 and open(port_file).read().strip(), timeout=30)
        self.port = int(open(port_file).read())
        with open(os.path.join(self.dir, "token")) as f:
            self.token = f.read().strip()
        self.pki = types.SimpleNamespace(
            ca_crt=os.path.join(self.dir, "ca.crt"), ca_cn="fake-kubernetes-ca",
            kubelet_client=(os.path.join(self.dir, "kubelet-client.crt"),
                            os.path.join(self.dir, "kubelet-client.key")))
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.api = KubeClient(self)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    # -- the double's own ---------------------------------------------------
    def requests(self, **query):
        code, body = self.api.get("/_test/requests", **query)
        return body.get("items", []) if code == 200 else []

    def hook(self, path, body=None):
        return self.api.post("/_test/" + path, body if body is not None else {})


def condition(obj, ctype):
    for c in (obj or {}).get("status", {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def ready_env(directory, kube=None, **vk_config):
    """A VKEnv whose node the API server has seen Ready."""
    e = VKEnv(directory, kube=kube, **vk_config)
    wait_for("Ready", lambda: (condition(e.kube.node(), "Ready") or {}).get("status") == "True",
             timeout=15)
    return e


def phase(pod):
    return ((pod or {}).get("status") or {}).get("phase")


class VK(harness.Daemon):
    """interlink-vk with a generated config, pointed at the fake API server and a Stack."""

    def __init__(self, directory, kube, stack, kubelet_port=None, **extra):
        self.kubelet_port = kubelet_port or free_port()
        self.cfg = harness.write_yaml(os.path.join(str(directory), "vk.yaml"), {
            "InterlinkURL": stack.api_addr,
            "PingIntervalSeconds": 1,
            "StatusIntervalSeconds": 1,
            "LeaseDurationSeconds": 4,
            "InterlinkTimeoutSeconds": 20,
            "VerboseLogging": True,
            **extra,
        })
        super().__init__([harness.binary("interlink-vk"), "--config", self.cfg,
                          "--nodename", NODE],
                         os.path.join(str(directory), "vk.log"),
                         env={"KUBECONFIG": kube.kubeconfig,
                              "KUBELET_PORT": str(self.kubelet_port),
                              "POD_IP": "127.0.0.1"})


def sh(name, script, **extra):
    """A busybox container running script with /bin/sh -c."""
    return {"name": name, "image": "busybox", "command": ["/bin/sh", "-c", script], **extra}


def logs_from_plugin(stack, pod, container):
    """The container's log as interlink-local has it (through interlink /getLogs)."""
    status, body = stack.logs(harness.log_struct(pod, container))
    return body.decode(errors="replace") if status == 200 else None


class VKEnv:
    """The fake API server, interlink + a plugin (interlink-local unless told
    otherwise), and interlink-vk, in one dir."""

    def __init__(self, directory, kube_args=(), kube=None, stack=None, **vk_config):
        """``kube``: a running API server to use (realkube.RealKube; reset
        here, left running at stop); by default a FakeKube of our own.
        ``stack``: a started stack of another backend (slurmutil.SlurmStack,
        htcondorutil.CondorStack), whose pods are deleted and which is
        stopped at stop; by default interlink + interlink-local."""
        self.dir = str(directory)
        self.vk_config = vk_config
        self.own_kube = kube is None
        if kube is None:
            kube = FakeKube(os.path.join(self.dir, "kube"), kube_args)
        else:
            kube.reset()
        self.kube = kube
        self.own_stack = stack is None
        self.stack = stack if stack else harness.Stack(os.path.join(self.dir, "stack")).start()
        self.kubelet_port = free_port()
        self.vk = VK(self.dir, self.kube, self.stack, self.kubelet_port, **vk_config).start()

    def restart_vk(self):
        self.vk.stop_cleanly()
        self.vk = VK(self.dir, self.kube, self.stack, self.kubelet_port,
                     **self.vk_config).start()

    def stop(self):
        """Stops everything; fails when a daemon did not exit 0 on SIGTERM or
        logged a sanitizer report."""
        try:
            self.vk.stop_cleanly()
        finally:
            try:
                if not self.own_stack:
                    self.delete_held_pods()
                (getattr(self.stack, "cleanup", None) or self.stack.stop)()
            finally:
                if self.own_kube:
                    self.kube.stop()

    def delete_held_pods(self):
        """Batch jobs never outlive the test: delete what interlink still holds."""
        if self.stack.api and self.stack.api.alive():
            code, pods = harness.request_json(self.stack.api_addr, "GET", "/pods")
            for entry in (pods if code == 200 else []):
                self.stack.delete(entry["pod"])

    def plugin_pod_dirs(self):
        pods = os.path.join(self.stack.dir, "local-data", "pods")
        return sorted(os.listdir(pods)) if os.path.isdir(pods) else []

    def interlink_pods(self):
        code, body = harness.request_json(self.stack.api_addr, "GET", "/pods")
        assert code == 200, body
        return {p["UID"]: p for p in body}

    def wait_ready(self, timeout=20):
        wait_for("Ready", lambda: (condition(self.kube.node(), "Ready") or {}).get("status")
                 == "True", timeout=timeout)

    def job_annotation(self, name):
        """The JobID annotation the VK put on pod name, or None."""
        return (self.kube.pod(name)["metadata"].get("annotations") or {}).get("JobID")

    def wait_phase(self, name, phases=("Succeeded", "Failed"), timeout=30):
        return wait_for(f"pod {name} in {phases}",
                        lambda: phase(self.kube.pod(name)) in phases and self.kube.pod(name),
                        timeout)

    def wait_gone(self, name, timeout=30):
        wait_for(f"pod {name} removed from the API", lambda: self.kube.pod(name) is None, timeout)
