#!/usr/bin/python3
"""Status PATCHes per cycle of interlink-vk on the real API server
(../shared/k8s): N long-running pods on the virtual node, and the API
server's own request counter (apiserver_request_total, PATCH pods/status)
read over W seconds of steady state.  With nothing changing, a VK that
compares what the server stores writes nothing; issue 14 measured one PATCH
per pod per cycle before that fix.

Usage: K8S_STATE=/tmp/k8s-x K8S_APISERVER_PORT=16543 IL_BIN_DIR=build/bin \\
       bench/vk_status_patches.py [N=100] [W=10]
VK_BIN: another interlink-vk to measure (an older build, for comparison)."""
import base64
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "pylib"))
import harness as h  # noqa: E402
from vkutil import free_port  # noqa: E402
import yaml  # noqa: E402

K8S = os.path.join(HERE, "..", "..", "shared", "k8s")
STATE = os.environ.get("K8S_STATE", "/tmp/k8s-bench")
NODE = "vk-bench"


class Api:
    def __init__(self, kubeconfig, workdir):
        cfg = yaml.safe_load(open(kubeconfig))
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.host, self.port = re.match(r"https://([^:]+):(\d+)", cluster["server"]).groups()
        files = {}
        for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            path = os.path.join(workdir, key)
            src = cluster if key.startswith("certificate-authority") else user
            with open(path, "wb") as f:
                f.write(base64.b64decode(src[key]))
            files[key] = path
        self.ctx = ssl.create_default_context(cafile=files["certificate-authority-data"])
        self.ctx.load_cert_chain(files["client-certificate-data"], files["client-key-data"])

    def call(self, method, path, body=None):
        conn = http.client.HTTPSConnection(self.host, int(self.port), context=self.ctx, timeout=60)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        out = r.read()
        conn.close()
        return r.status, out

    def status_patches(self):
        code, text = self.call("GET", "/metrics")
        total = 0
        for line in text.decode().splitlines():
            if (line.startswith("apiserver_request_total{") and 'verb="PATCH"' in line and
                    'resource="pods"' in line and 'subresource="status"' in line):
                total += float(line.rsplit(" ", 1)[1])
        return total


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    window = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    env = dict(os.environ, K8S_STATE=STATE)
    subprocess.run([os.path.join(K8S, "start.sh")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="ilvkbench-")
    api = Api(os.path.join(STATE, "kubeconfig"), work)
    stack = h.Stack(os.path.join(work, "stack")).start()
    vk_bin = os.environ.get("VK_BIN") or h.binary("interlink-vk")
    vk = h.Daemon([vk_bin, "--config", h.write_yaml(
        os.path.join(work, "vk.yaml"), {"InterlinkURL": stack.api_addr, "PingIntervalSeconds": 5,
                                        "StatusIntervalSeconds": 1}), "--nodename", NODE],
        os.path.join(work, "vk.log"),
        env={"KUBECONFIG": os.path.join(STATE, "kubeconfig"), "KUBELET_PORT": str(free_port()),
             "POD_IP": "127.0.0.1"}).start()
    try:
        for i in range(n):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"steady-{i}", "namespace": "default"},
                   "spec": {"nodeName": NODE, "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "busybox",
                                            "command": ["/bin/sh", "-c", "sleep 600"]}],
                            "tolerations": [{"operator": "Exists"}]}}
            code, body = api.call("POST", "/api/v1/namespaces/default/pods", pod)
            assert code == 201, body
        deadline = time.time() + 120 + n
        while time.time() < deadline:
            code, body = api.call("GET", f"/api/v1/pods?fieldSelector=spec.nodeName={NODE}")
            items = json.loads(body)["items"]
            ready = sum(1 for p in items for c in p.get("status", {}).get("conditions", [])
                        if c["type"] == "Ready" and c["status"] == "True")
            if ready == n:
                break
            assert vk.alive(), vk.output()[-2000:]
            time.sleep(1)
        else:
            raise SystemExit(f"only {ready} of {n} pods ready; see {work}")
        time.sleep(3)
        before = api.status_patches()
        time.sleep(window)
        after = api.status_patches()
        print(f"{vk_bin}: {n} running "
              f"pods, {window} s at StatusIntervalSeconds 1: {after - before:.0f} status "
              f"PATCHes ({(after - before) / window:.1f} per cycle; {before:.0f} before the "
              f"window, while they started)")
    finally:
        for i in range(n):
            api.call("DELETE", f"/api/v1/namespaces/default/pods/steady-{i}",
                     {"gracePeriodSeconds": 0})
        time.sleep(3)
        vk.stop()
        stack.stop()
        subprocess.run([os.path.join(K8S, "stop.sh")], env=env, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
