"""A notebook on an HPC node, used from the cluster: end to end.

A pod running Debian's Jupyter server is created on the real API server,
offloaded by interlink-vk to interlink and interlink-slurm, and run by a
real SLURM as a job (runtime "none": bubblewrap, the host's Python).  The
network is made by the test (tests/pylib/netns.py):

    host netns      kube-apiserver, interlink-vk, interlink, kubectl
    "cluster"       the notebook's client, interlink-gateway (the pod
                    addresses, a /28 local here only)
    "node"          SLURM (slurmctld, slurmd: the job runs here) and
                    interlink-slurm; accepts no connection from outside

    cluster 10.x.y.1/30 <--veth--> 10.x.y.2/30 node

The node namespace drops every packet that does not belong to a connection
it opened itself, so whatever reaches the notebook from the cluster side
got there over a connection the node dialled out.  interlink-slurm and
the gateway's control API are reached over unix sockets (files, not the
network).

The client speaks to the notebook as JupyterLab does: GET /api, a kernel
started over REST, code run over the kernel's WebSocket channel
(tests/pylib/jupyter.py).  Paths: from inside the node namespace (the job
really serves), by the pod's IP and a Service's endpoints from the
cluster namespace (the tunnel), and through `kubectl port-forward` (API server -> VK -> interlink ->
interlink-slurm -> the job).  Deleting the pod ends the job and closes
what led to it."""
import os
import shutil
import socket
import subprocess
import uuid

import pytest

import harness
import jupyter
import netns
import slurmutil as su
import vkutil
from harness import wait_for

KUBECTL = "/usr/bin/kubectl"
JUPYTER = "/usr/bin/jupyter-server"
NODE = "vk-jupyter"
POD = "notebook"
PORT = 8888          # inside the node namespace: no other test's port can be there
TOKEN = uuid.uuid4().hex


def _missing():
    why = netns.available()
    if why:
        return why
    if not os.access(JUPYTER, os.X_OK):
        return f"{JUPYTER} is missing (Debian's jupyter-server, python3-ipykernel)"
    if not os.access(KUBECTL, os.X_OK):
        return "needs kubectl"
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "needs python3-websocket"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


class Gateway:
    """interlink-gateway in the cluster namespace: its tunnel listener on
    the cluster side of the veth (TLS, a certificate for that address), its
    control API on a unix socket for the VK, pod addresses from a /28 that
    is local in the cluster namespace only."""

    def __init__(self, directory, ns, address, pod_network):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ns, self.address, self.pod_network = ns, address, pod_network
        self.cert, key = os.path.join(directory, "gw.crt"), os.path.join(directory, "gw.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=gateway",
                        "-addext", f"subjectAltName=IP:{address}", "-days", "2",
                        "-keyout", key, "-out", self.cert], check=True, capture_output=True)
        self.control = "unix://" + os.path.join(directory, "control.sock")
        self.url = f"https://{address}:7443"
        ns.run(["ip", "route", "add", "local", pod_network, "dev", "lo"])
        cfg = harness.write_yaml(os.path.join(directory, "gateway.yaml"), {
            "TunnelAddress": address, "TunnelPort": "7443",
            "TLS": {"CertFile": self.cert, "KeyFile": key},
            "ControlAddress": self.control, "StateDir": os.path.join(directory, "state"),
            "PodNetwork": pod_network, "VerboseLogging": True})
        self.daemon = harness.Daemon(ns.prefix() + [harness.binary("interlink-gateway"),
                                                    "--config", cfg],
                                     os.path.join(directory, "gateway.log")).start()
        harness.wait_for_socket(self.control, self.daemon.proc)

    def pod_state(self, uid):
        code, body = harness.request_json(self.control, "GET", f"/v1/pods/{uid}")
        return body if code == 200 else None

    def vk_config(self):
        return {"Gateway": {"URL": self.control, "TunnelURL": self.url, "CAFile": self.cert}}


def notebook_pod():
    """The notebook as a user writes it: the server on PORT, its state in
    an emptyDir, the token from the Secret notebook-token."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD, "labels": {"app": "notebook"}},
            "spec": {"nodeName": NODE, "tolerations": [{"operator": "Exists"}],
                     "restartPolicy": "Never",
                     "volumes": [{"name": "home", "emptyDir": {}}],
                     "containers": [{
                         "name": "jupyter", "image": "debian:bookworm",
                         "command": [JUPYTER, "--allow-root", "--no-browser", "--ip=0.0.0.0",
                                     f"--port={PORT}", "--ServerApp.root_dir=/home/jovyan"],
                         "env": [{"name": "JUPYTER_TOKEN", "valueFrom": {"secretKeyRef": {
                                      "name": "notebook-token", "key": "token"}}},
                                 {"name": "HOME", "value": "/home/jovyan"},
                                 {"name": "JUPYTER_RUNTIME_DIR",
                                  "value": "/home/jovyan/.runtime"}],
                         "ports": [{"name": "http", "containerPort": PORT}],
                         "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]}]}}


class World:
    """The namespaces, SLURM in the node namespace, interlink + the plugin,
    the VK on the session's real control plane."""

    def __init__(self, tmp, kube):
        self.tmp = tmp
        self.kube = kube
        self.nss = netns.Namespaces()
        self.cluster_ns = self.nss.add("cluster")
        self.node_ns = self.nss.add("node")
        self.cluster_addr, self.node_addr = self.nss.link(self.cluster_ns, self.node_ns)
        self.node_ns.outbound_only()
        self.slurm = self.stack = self.vk = None
        self.kernel = None     # the notebook's kernel, once started
        self.gateway = None

    def start(self):
        self.slurm = su.start_cluster(cpus=4, prefix=self.node_ns.prefix())
        if self.slurm.error:
            pytest.skip(f"SLURM cannot start here: {self.slurm.error}")
        self.stack = su.SlurmStack(os.path.join(self.tmp, "stack"), self.slurm).start()
        net = self.cluster_addr.rsplit(".", 1)[0]
        self.gateway = Gateway(os.path.join(self.tmp, "gateway"), self.cluster_ns,
                               self.cluster_addr, f"{net}.128/28")
        self.kube.reset()
        self.kubelet_port = vkutil.free_port()
        cfg = harness.write_yaml(os.path.join(self.tmp, "vk.yaml"), {
            "InterlinkURL": self.stack.api_addr, "PingIntervalSeconds": 1,
            "StatusIntervalSeconds": 1, "DisableCSR": True, "VerboseLogging": True,
            **self.gateway.vk_config()})
        self.vk = harness.Daemon(
            [harness.binary("interlink-vk"), "--config", cfg, "--nodename", NODE],
            os.path.join(self.tmp, "vk.log"),
            env={"KUBECONFIG": self.kube.kubeconfig, "KUBELET_PORT": str(self.kubelet_port),
                 "POD_IP": "127.0.0.1"}).start()
        wait_for("node registered", lambda: self.kube.node(NODE), timeout=60)
        return self

    def pod(self):
        return self.kube.pod(POD)

    def jobs(self):
        """SLURM's jobs still pending, running or completing."""
        return self.slurm.squeue_ids("PD,R,CG")

    def stop(self):
        try:
            if self.vk:
                self.kube.delete_pod(POD, gracePeriodSeconds=0)
                self.kube.api.delete(f"/api/v1/namespaces/default/services/{POD}")
                self.vk.stop_cleanly()
            if self.gateway:
                self.gateway.daemon.stop_cleanly()
        finally:
            try:
                if self.stack:
                    self.stack.stop()
            finally:
                # Everything SLURM runs is in the node namespace: killing it
                # all at once is quicker than slurm-down's grace periods and
                # its search of the whole machine for stray job steps.
                self.node_ns.kill_all()
                if self.slurm and self.node_ns.pids():
                    su.stop_cluster(self.slurm)
                elif self.slurm:
                    shutil.rmtree(self.slurm.dir, ignore_errors=True)
                self.nss.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory, real_kube):
    w = World(str(tmp_path_factory.mktemp("jupyter")), real_kube)
    try:
        w.start()
        w.kube.create("secrets", harness.secret("notebook-token", {"token": TOKEN}))
        w.kube.create("pods", notebook_pod())
        wait_for("notebook pod running", lambda: (w.pod() or {}).get("status", {})
                 .get("phase") == "Running", timeout=60)
        with w.node_ns.entered():
            assert jupyter.wait_listening("127.0.0.1", PORT, timeout=60), \
                "the notebook server never listened in the node namespace"
        yield w
    finally:
        w.stop()


# Run in the kernel: 42 and the title of the slurmstepd the kernel descends
# from ("slurmstepd: [JOB.batch]"), found through the host's /proc (the
# runtime binds it).
WHERE_AM_I = """import os
pid, step = os.readlink('/proc/self'), None
while pid not in ('0', '1') and step is None:
    stat = open(f'/proc/{pid}/stat').read()
    if stat[stat.index('(') + 1:stat.rindex(')')] == 'slurmstepd':
        step = open(f'/proc/{pid}/cmdline').read().strip('\\0')
    pid = stat[stat.rindex(')') + 2:].split()[1]
print(6 * 7, step)
"""


def notebook_round_trip(world, server):
    """What a notebook user does first: the API answers, the kernel runs code
    over its WebSocket channel; returns what it printed.  The first caller
    starts the kernel (a kernel takes seconds to start on a loaded machine:
    every path shares one, each over a channel of its own)."""
    assert server.version()
    if world.kernel is None:
        world.kernel = server.start_kernel()
    assert world.kernel in server.kernels()
    status, out = server.execute(world.kernel, WHERE_AM_I)
    assert status == "ok", out
    return out


def test_node_namespace_accepts_no_connection(world):
    """The premise: the cluster side cannot dial into the node, the node
    can dial out to the cluster side."""
    with world.cluster_ns.entered():
        listener = socket.socket()
    with listener:
        listener.bind((world.cluster_addr, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        world.node_ns.run(["/usr/bin/python3", "-c", "import socket, sys; socket.create_connection"
                           f"(('{world.cluster_addr}', {port}), timeout=5)"])
        conn, peer = listener.accept()
        conn.close()
        assert peer[0] == world.node_addr
    before = world.node_ns.dropped_inbound()
    with world.cluster_ns.entered():
        with pytest.raises(socket.timeout):    # dropped, not refused: the firewall
            socket.create_connection((world.node_addr, PORT), timeout=1.5)
    assert world.node_ns.dropped_inbound() > before


def test_notebook_runs_as_a_slurm_job_on_the_node(world):
    jobs = world.jobs()
    assert len(jobs) == 1 and jobs[0][2] == "RUNNING", jobs
    with world.node_ns.entered():
        out = notebook_round_trip(world, jupyter.Server("127.0.0.1", PORT, TOKEN))
    assert out == f"42 slurmstepd: [{jobs[0][0]}.batch]\n"     # the code ran in that job
    with world.node_ns.entered():
        code, body = jupyter.Server("127.0.0.1", PORT, "wrong-token").call("GET", "/api/kernels")
    assert code == 403, body


def tunnelled(world):
    """The pod's address: the gateway's, served over the node's tunnel."""
    ip = world.pod()["status"]["podIP"]
    assert ip.rsplit(".", 1)[0] == world.gateway.pod_network.rsplit(".", 1)[0], ip
    wait_for("the tunnel up", lambda: (world.gateway.pod_state(world.pod()["metadata"]["uid"])
                                       or {}).get("tunnel") == "connected", timeout=30)
    return ip


def node_dialled_out(world):
    """The node's established connections to the gateway's tunnel port."""
    out = world.node_ns.run(["ss", "-Htn", "state", "established",
                             f"dst {world.cluster_addr}:7443"]).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_notebook_by_pod_ip_from_the_cluster_side(world):
    ip = tunnelled(world)
    dropped = world.node_ns.dropped_inbound()
    with world.cluster_ns.entered():
        out = notebook_round_trip(world, jupyter.Server(ip, PORT, TOKEN))
    assert out == f"42 slurmstepd: [{world.jobs()[0][0]}.batch]\n"
    # Every packet the node took in belonged to a connection it opened: the
    # tunnel it dialled to the gateway.
    assert world.node_ns.dropped_inbound() == dropped
    assert len(node_dialled_out(world)) == 1


def test_notebook_through_a_service(world):
    """A Service selecting the pod: its endpoints are the pod's address and
    port (what kube-proxy would forward the Service's address to; there is
    no kube-proxy here), reached from the cluster side."""
    ip = tunnelled(world)
    world.kube.create("services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": POD},
        "spec": {"selector": {"app": "notebook"},
                 "ports": [{"name": "http", "port": 80, "targetPort": PORT}]}})

    def endpoint():
        code, ep = world.kube.api.get(f"/api/v1/namespaces/default/endpoints/{POD}")
        subsets = (ep.get("subsets") or []) if code == 200 else []
        return [(a["ip"], p["port"]) for s in subsets for a in s.get("addresses", [])
                for p in s.get("ports", [])]
    assert wait_for("the Service's endpoints", endpoint, timeout=30) == [(ip, PORT)]
    host, port = endpoint()[0]
    with world.cluster_ns.entered():
        assert jupyter.Server(host, port, TOKEN).version()


class PortForward:
    """`kubectl port-forward pod/POD LOCAL:PORT` running, on the host."""

    def __init__(self, world):
        self.local = vkutil.free_port()
        self.proc = subprocess.Popen([KUBECTL, "--kubeconfig", world.kube.kubeconfig,
                                      "port-forward", f"pod/{POD}", f"{self.local}:{PORT}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for("port-forward listening", lambda: b"Forwarding" in
                 (self.proc.stdout.readline() if self.proc.poll() is None else b"x"),
                 timeout=30)

    def stop(self):
        """Its stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=10)[1]


def test_notebook_through_kubectl_port_forward(world):
    """kubectl on the API server's side; the bytes reach the job through an
    srun step, SLURM's own channel inside the node: still nothing dials
    into the node from outside."""
    dropped = world.node_ns.dropped_inbound()
    pf = PortForward(world)
    try:
        server = jupyter.Server("127.0.0.1", pf.local, TOKEN)
        out = notebook_round_trip(world, server)
    finally:
        err = pf.stop()
    assert out == f"42 slurmstepd: [{world.jobs()[0][0]}.batch]\n"
    assert b"error" not in err.lower(), err
    assert world.node_ns.dropped_inbound() == dropped


def test_deleting_the_pod_closes_every_way_in(world):
    """Last: with a kernel's WebSocket open through port-forward, the pod is
    deleted: the job ends, the notebook server with it, and the open
    channel is closed under the client."""
    uid, ip = world.pod()["metadata"]["uid"], world.pod()["status"]["podIP"]
    pf = PortForward(world)
    channels = []
    try:
        server = jupyter.Server("127.0.0.1", pf.local, TOKEN)
        world.kernel = world.kernel or server.start_kernel()
        channels.append(server.channel(world.kernel))
        with world.cluster_ns.entered():
            channels.append(jupyter.Server(ip, PORT, TOKEN).channel(world.kernel))
        for ws in channels:
            assert jupyter.run(ws, "print('still here')", 30) == ("ok", "still here\n")
        code, body = world.kube.delete_pod(POD)
        assert code == 200, body
        wait_for("the job gone from SLURM", lambda: not world.jobs(), timeout=30)
        for ws in channels:
            assert jupyter.closed_within(ws, 20), "a kernel channel outlived the pod"
        wait_for("the pod gone", lambda: world.pod() is None, timeout=30)
        with world.node_ns.entered():
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", PORT), timeout=2)
        wait_for("the tunnel closed", lambda: not node_dialled_out(world), timeout=20)
        assert world.gateway.pod_state(uid) is None    # unregistered
        with world.cluster_ns.entered():
            with pytest.raises(OSError):
                socket.create_connection((ip, PORT), timeout=2)
    finally:
        for ws in channels:
            ws.close()
        pf.stop()
