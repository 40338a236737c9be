"""Pod tunnel figures (bench/bench-tunnel.sh): interlink-gateway, interlink,
interlink-local (host runtime) and the tunnel client, all real, on this
machine.  A pod runs an iperf3 server and a TCP echo server; the same
servers are measured directly (127.0.0.1:port) and through the tunnel
(podIP:port, TLS), so the difference is what the tunnel costs:

  1. throughput, one connection, both directions (iperf3, BENCH_TUNNEL_SECONDS each);
  2. throughput of 4 connections at once over the one tunnel;
  3. round-trip latency of 64-byte messages (BENCH_TUNNEL_ROUNDS), p50 and p99;
  4. what an idle tunnel costs the gateway: BENCH_TUNNEL_IDLE fake nodes
     (TLS + upgrade, as the client does) connected at once, the gateway's
     RSS and threads before and after.

The machine is shared, so absolute figures move with its load: direct and
tunnel are measured back to back in each of BENCH_TUNNEL_REPEAT rounds
(which goes first alternates), the round trips message by message on the
two connections in turn, and the figures are the per-round ratios (min /
median / max).  CPU seconds per GiB moved (iperf3 client and server for
direct, plus the gateway and the tunnel client for the tunnel) do not
depend on the load much and are the figures to compare between changes.

Prints figures; no thresholds.  Usage: tunnel_bench.py BIN_DIR WORK_DIR."""
import json
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(SRC, "tests", "pylib"))
os.environ["IL_BIN_DIR"] = sys.argv[1]

from harness import Stack, create_request, free_port, make_pod, sh  # noqa: E402
from tunnelutil import Gateway, echo_server_script, wait_port  # noqa: E402

SECONDS = int(os.environ.get("BENCH_TUNNEL_SECONDS", "2"))
ROUNDS = int(os.environ.get("BENCH_TUNNEL_ROUNDS", "1000"))   # per round
REPEAT = int(os.environ.get("BENCH_TUNNEL_REPEAT", "5"))
IDLE = int(os.environ.get("BENCH_TUNNEL_IDLE", "200"))


def iperf(host, port, reverse=False, parallel=1):
    """One iperf3 run: (MiB/s received, GiB moved, CPU seconds of the client)."""
    args = ["iperf3", "-c", host, "-p", str(port), "-t", str(SECONDS), "-J", "-P", str(parallel)]
    if reverse:
        args.append("-R")
    for attempt in range(5):   # the server takes one test at a time; a late one is refused
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=SECONDS + 60)
        if p.returncode == 0:
            got = json.loads(out)["end"]["sum_received"]
            return (got["bits_per_second"] / 8 / 2**20, got["bytes"] / 2**30,
                    cpu_seconds([p.pid], children=True))
        time.sleep(1)
    raise RuntimeError(f"iperf3 {' '.join(args)}: {out[-500:]} {err[-500:]}")


_CHILD_CPU = [0.0]


def cpu_seconds(pids, children=False):
    """CPU seconds (user + system) of live pids; children=True: of the
    children this process has reaped since the last such call."""
    if children:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        now = ru.ru_utime + ru.ru_stime
        took, _CHILD_CPU[0] = now - _CHILD_CPU[0], now
        return took
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def tunnel_pids(gw, pod_dir):
    """The gateway and the pod's interlink-local processes (supervisor and client)."""
    pids = [gw.daemon.proc.pid]
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"--run-pod" in cmd and pod_dir.encode() in cmd:
            pids.append(int(pid))
    return pids


def rtts(direct, tunnel):
    """64-byte round trips on the two connections in turn (so both see the
    same load): the (min, p50, p99) of each, in microseconds."""
    socks = []
    for host, port in (direct, tunnel):
        c = socket.create_connection((host, port), 10)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(c)
    msg = b"x" * 64
    out = ([], [])
    for i in range(ROUNDS + 100):
        for k, c in enumerate(socks):
            t0 = time.perf_counter_ns()
            c.sendall(msg)
            got = 0
            while got < len(msg):
                got += len(c.recv(4096))
            if i >= 100:   # warm-up rounds not counted
                out[k].append((time.perf_counter_ns() - t0) / 1000)
    for c in socks:
        c.close()
    figures = []
    for o in out:
        o.sort()
        figures.append((o[0], statistics.median(o), o[int(len(o) * 0.99)]))
    return figures


def server_pid(port):
    """The pod's iperf3 server (its CPU counts on both paths)."""
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd[:1] == [b"iperf3"] and b"-s" in cmd and str(port).encode() in cmd:
            return int(pid)
    raise RuntimeError("the pod's iperf3 server is not running")


def spread(values):
    """min / median / max of a list, as a string."""
    return f"{min(values):.0f} / {statistics.median(values):.0f} / {max(values):.0f}"


def throughput(ip, port, pids):
    """Each case, direct and tunnel back to back, REPEAT rounds."""
    srv = server_pid(port)
    print(f"{'throughput MiB/s: min/med/max':<30}{'direct':>20}{'tunnel':>20}"
          f"{'tunnel/direct %':>20}")
    cpu_rows = []
    for label, rev, par in (("to the pod, 1 conn", False, 1),
                            ("from the pod, 1 conn", True, 1),
                            ("from the pod, 4 conns", True, 4)):
        rates = {"direct": [], "tunnel": []}
        cpu = {"direct": [0.0, 0.0], "tunnel": [0.0, 0.0, 0.0]}   # s: endpoints, tunnel; GiB
        ratios = []
        for r in range(REPEAT):
            order = ("direct", "tunnel") if r % 2 == 0 else ("tunnel", "direct")
            got = {}
            for path in order:
                host = "127.0.0.1" if path == "direct" else ip
                s0, t0 = cpu_seconds([srv]), cpu_seconds(pids)
                rate, gib, client_cpu = iperf(host, port, rev, par)
                cpu[path][0] += client_cpu + cpu_seconds([srv]) - s0
                if path == "tunnel":
                    cpu[path][1] += cpu_seconds(pids) - t0
                cpu[path][-1] += gib
                rates[path].append(rate)
                got[path] = rate
            ratios.append(100 * got["tunnel"] / got["direct"])
        print(f"{label:<30}{spread(rates['direct']):>20}{spread(rates['tunnel']):>20}"
              f"{spread(ratios):>20}")
        cpu_rows.append((label, cpu["direct"][0] / cpu["direct"][1],
                         cpu["tunnel"][0] / cpu["tunnel"][2],
                         cpu["tunnel"][1] / cpu["tunnel"][2]))
    print(f"{'CPU s per GiB moved':<30}{'direct':>20}{'tunnel':>20}{'of which tunnel':>20}")
    for label, d, t_end, t_tun in cpu_rows:
        print(f"{label:<30}{d:>20.2f}{t_end + t_tun:>20.2f}{t_tun:>20.2f}")
    print("  (direct: iperf3 client + server; tunnel adds the gateway and the tunnel client)")


def latency(ip, port):
    print(f"{'round trip us: min/med/max':<30}{'direct':>20}{'tunnel':>20}{'added':>20}")
    rows = {"min": [], "p50": [], "p99": []}
    for r in range(REPEAT):
        (d0, d50, d99), (t0, t50, t99) = rtts(("127.0.0.1", port), (ip, port))
        for key, d, t in (("min", d0, t0), ("p50", d50, t50), ("p99", d99, t99)):
            rows[key].append((d, t, t - d))
    for key, vals in rows.items():
        d, t, a = ([v[i] for v in vals] for i in range(3))
        print(f"{key:<30}{spread(d):>20}{spread(t):>20}{spread(a):>20}")


def proc_figures(pid):
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def idle_tunnels(gw, n):
    """n fake nodes, each a registered pod with one port, connected at once."""
    ctx = ssl.create_default_context(cafile=gw.cert)
    pid = gw.daemon.proc.pid
    rss0, threads0 = proc_figures(pid)
    conns = []
    t0 = time.time()
    for i in range(n):
        pod = make_pod(f"idle-{i}", [sh("c", "true")])
        reg = gw.register(pod, [8888])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", gw.tunnel_port), 10),
                            server_hostname="127.0.0.1")
        s.sendall((f"GET /v1/tunnel HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\n"
                   f"Upgrade: interlink-tunnel/1\r\nAuthorization: Bearer {reg['token']}\r\n"
                   f"InterLink-Pod-UID: {pod['metadata']['uid']}\r\n\r\n").encode())
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        conns.append(s)
    took = time.time() - t0
    time.sleep(1)
    rss1, threads1 = proc_figures(pid)
    code, body = gw.call("GET", "/v1/pods")
    connected = sum(1 for p in body["pods"] if p["tunnel"] == "connected")
    for s in conns:
        s.close()
    return {"tunnels": n, "connected": connected, "seconds": took,
            "rss_kib": (rss0, rss1), "threads": (threads0, threads1)}


def main():
    work = sys.argv[2]
    gw = Gateway(work, pod_network=f"127.{100 + os.getpid() % 150}.0.0/16",
                 extra={"VerboseLogging": False}).start()
    stack = Stack(os.path.join(work, "stack"), api_extra={"VerboseLogging": False},
                  plugin_extra={"VerboseLogging": False}).start()
    try:
        iperf_port, echo_port = free_port(), free_port()
        server = sh("iperf", f"exec iperf3 -s -B 127.0.0.1 -p {iperf_port}")
        server["ports"] = [{"containerPort": iperf_port}]
        echo = sh("echo", echo_server_script(echo_port))
        echo["ports"] = [{"containerPort": echo_port}]
        pod = make_pod("bench", [server, echo])
        reg = gw.register(pod, [iperf_port, echo_port])
        req = create_request(pod)
        req["tunnel"] = gw.tunnel_request(reg)
        code, body = stack.create(req)
        assert code == 200, body
        gw.wait_connected(pod)
        ip = reg["podIP"]
        wait_port(ip, echo_port)
        pids = tunnel_pids(gw, os.path.join(stack.dir, "local-data", "pods",
                                            pod["metadata"]["uid"]))
        print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) +
              f": pod {ip}: iperf3 on {iperf_port}, echo on {echo_port}; {REPEAT} rounds of "
              f"{SECONDS} s per throughput case and {ROUNDS} round trips, direct and tunnel "
              f"alternated; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        throughput(ip, iperf_port, pids)
        latency(ip, echo_port)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        idle = idle_tunnels(gw, IDLE)
        (r0, r1), (th0, th1) = idle["rss_kib"], idle["threads"]
        print(f"{IDLE} idle tunnels (fake nodes, 1 port each): {idle['connected']} connected "
              f"in {idle['seconds']:.1f} s; gateway RSS {r0 / 1024:.1f} -> {r1 / 1024:.1f} MiB "
              f"({(r1 - r0) / max(IDLE, 1):.0f} KiB per tunnel), threads {th0} -> {th1}")
    finally:
        stack.stop()
        gw.stop()


if __name__ == "__main__":
    main()
