"""Network namespaces for tests that must prove which way connections go
(`ip netns` + veth pairs; needs root).

    with netns.Namespaces() as nss:
        cluster, node = nss.add("cluster"), nss.add("node")
        c_addr, n_addr = nss.link(cluster, node)      # a private /30
        node.outbound_only()                           # nothing may dial in
        proc = node.popen(["python3", "-m", "http.server"])
        with cluster.entered():                        # this thread, in "cluster"
            socket.create_connection((n_addr, 8000), timeout=1)   # dropped

Every address lives inside the namespaces the test created (10.x.y.z/30 on
veth pairs made directly in them: the host's own interfaces and routes are
never touched).  Teardown kills every process still in a namespace and
deletes it, also when the test failed; namespaces a killed test run left
behind (their names carry the creating pid) are removed by the next run."""
import contextlib
import ctypes
import os
import random
import signal
import subprocess
import threading
import time

PREFIX = "ilt"      # ilt-<pid>-<role>
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def available():
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("/usr/sbin/ip", "/usr/bin/nsenter", "/usr/sbin/iptables"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing (iproute2, util-linux, iptables)"
    return None


def _ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


class Namespace:
    def __init__(self, name):
        self.name = name
        self.path = f"/run/netns/{name}"
        self.started = []

    def prefix(self):
        """The argv prefix that runs a command in this namespace (only the
        network namespace changes; mounts and the rest stay the host's)."""
        return ["nsenter", f"--net={self.path}", "--"]

    def popen(self, argv, wait=True, **kw):
        """Start argv in this namespace; returns once the process is inside
        (right after Popen, nsenter may not have entered yet, and a caller
        that looks for the process there, or deletes the namespace, races
        it), or at once with wait=False."""
        proc = subprocess.Popen(self.prefix() + list(argv), **kw)
        self.started.append(proc)
        if wait:
            self.wait_inside(proc)
        return proc

    def wait_inside(self, proc, timeout=10):
        want = os.stat(self.path).st_ino
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.stat(f"/proc/{proc.pid}/ns/net").st_ino == want:
                    return
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"in {self.name}: exited ({proc.returncode}) before entering")
            time.sleep(0.01)
        raise RuntimeError(f"in {self.name}: pid {proc.pid} not inside after {timeout}s")

    def run(self, argv, check=True, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        r = subprocess.run(self.prefix() + list(argv), **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"in {self.name}: {argv}: {r.stderr}")
        return r

    @contextlib.contextmanager
    def entered(self):
        """The calling thread in this namespace: sockets it creates meanwhile
        belong here (and stay here after the block)."""
        own = f"/proc/self/task/{threading.get_native_id()}/ns/net"
        keep = os.open(own, os.O_RDONLY)
        try:
            _setns(self.path)
            try:
                yield self
            finally:
                if _libc.setns(keep, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the test's namespace")
        finally:
            os.close(keep)

    def pids(self):
        r = _ip("netns", "pids", self.name, check=False)
        return [int(p) for p in r.stdout.split() if p.isdigit()]

    def outbound_only(self):
        """The namespace accepts no new connection from outside: what it
        sent out may come back (conntrack), its loopback is free, every
        other packet in is dropped (a dial-in times out rather than being
        refused, so a test can tell the firewall from a closed port)."""
        for rule in (["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
                     ["-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
                      "-j", "ACCEPT"],
                     ["-P", "INPUT", "DROP"]):
            self.run(["iptables", "-w", "5", *rule])

    def dropped_inbound(self):
        """Packets the INPUT policy dropped so far."""
        out = self.run(["iptables", "-w", "5", "-L", "INPUT", "-v", "-x", "-n"]).stdout
        head = out.splitlines()[0]   # Chain INPUT (policy DROP 3 packets, 180 bytes)
        return int(head.split("policy DROP ")[1].split()[0]) if "policy DROP" in head else 0

    def kill_all(self):
        """SIGKILL every process in the namespace, until none is left.  What
        popen() started is killed by pid too, whatever namespace it is in
        by now (a process of the test is never left running)."""
        for proc in self.started:
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
        self.started = []
        for _ in range(50):
            pids = [p for p in self.pids() if p != os.getpid()]
            if not pids:
                return
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.1)


class Namespaces:
    """The namespaces of one test: made by add(), linked by link(), all
    removed by close() (or leaving the with block)."""

    def __init__(self):
        self.made = []
        self.links = 0
        # One 10.a.b.0/24 per Namespaces, a /30 per link inside it: distinct
        # between tests running side by side (the namespaces are disjoint
        # anyway; distinct addresses keep logs unambiguous).
        self.net = (random.randint(64, 127), random.randint(0, 255))
        remove_stale()

    def add(self, role):
        ns = Namespace(f"{PREFIX}-{os.getpid()}-{role}")
        _ip("netns", "add", ns.name)
        self.made.append(ns)
        _ip("-n", ns.name, "link", "set", "lo", "up")
        return ns

    def link(self, a, b):
        """A veth pair between a and b with a /30 of its own; returns
        (address in a, address in b)."""
        base = self.links * 4
        assert base < 252, "too many links"
        self.links += 1
        ifa, ifb = f"v{self.links}{b.name.rsplit('-', 1)[1]}"[:15], \
            f"v{self.links}{a.name.rsplit('-', 1)[1]}"[:15]
        _ip("link", "add", ifa, "netns", a.name, "type", "veth", "peer", "name", ifb,
            "netns", b.name)
        addr_a = f"10.{self.net[0]}.{self.net[1]}.{base + 1}"
        addr_b = f"10.{self.net[0]}.{self.net[1]}.{base + 2}"
        for ns, ifname, addr in ((a, ifa, addr_a), (b, ifb, addr_b)):
            _ip("-n", ns.name, "addr", "add", f"{addr}/30", "dev", ifname)
            _ip("-n", ns.name, "link", "set", ifname, "up")
        return addr_a, addr_b

    def close(self):
        for ns in reversed(self.made):
            ns.kill_all()
            _ip("netns", "del", ns.name, check=False)
        self.made = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def remove_stale():
    """Delete namespaces whose creating test process is gone."""
    r = _ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit():
            continue
        if os.path.exists(f"/proc/{parts[1]}"):
            continue
        ns = Namespace(name)
        ns.kill_all()
        _ip("netns", "del", name, check=False)
