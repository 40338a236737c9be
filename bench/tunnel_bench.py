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

Prints figures; no thresholds.  Usage: tunnel_bench.py BIN_DIR WORK_DIR."""
import json
import os
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

SECONDS = int(os.environ.get("BENCH_TUNNEL_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_TUNNEL_ROUNDS", "3000"))
IDLE = int(os.environ.get("BENCH_TUNNEL_IDLE", "200"))


def iperf(host, port, reverse=False, parallel=1):
    args = ["iperf3", "-c", host, "-p", str(port), "-t", str(SECONDS), "-J", "-P", str(parallel)]
    if reverse:
        args.append("-R")
    for attempt in range(5):   # the server takes one test at a time; a late one is refused
        out = subprocess.run(args, capture_output=True, text=True, timeout=SECONDS + 60)
        if out.returncode == 0:
            return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 8 / 2**20
        time.sleep(1)
    raise RuntimeError(f"iperf3 {' '.join(args)}: {out.stdout[-500:]} {out.stderr[-500:]}")


def cpu_seconds(pids):
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


def rtts(host, port):
    s = socket.create_connection((host, port), 10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * 64
    out = []
    for i in range(ROUNDS + 100):
        t0 = time.perf_counter_ns()
        s.sendall(msg)
        got = 0
        while got < len(msg):
            got += len(s.recv(4096))
        if i >= 100:   # warm-up rounds not counted
            out.append((time.perf_counter_ns() - t0) / 1000)
    s.close()
    out.sort()
    return out[0], statistics.median(out), out[int(len(out) * 0.99)]


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
        print(f"pod {ip}: iperf3 on {iperf_port}, echo on {echo_port}; "
              f"{SECONDS} s per throughput run, {ROUNDS} round trips; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'case':<34}{'direct':>12}{'tunnel':>12}{'ratio':>9}   tunnel CPU")
        for label, rev, par in (("to the pod, 1 connection", False, 1),
                                ("from the pod, 1 connection", True, 1),
                                ("from the pod, 4 connections", True, 4)):
            d = iperf("127.0.0.1", iperf_port, rev, par)
            c0 = cpu_seconds(pids)
            t = iperf(ip, iperf_port, rev, par)
            cpu = cpu_seconds(pids) - c0
            gib = t * SECONDS / 1024
            print(f"{label + ' (MiB/s)':<34}{d:>12.0f}{t:>12.0f}{t / d:>8.0%}   "
                  f"{cpu / gib:.2f} s per GiB (gateway + client)")
        d0, d50, d99 = rtts("127.0.0.1", echo_port)
        t0, t50, t99 = rtts(ip, echo_port)
        print(f"{'round trip min (us)':<34}{d0:>12.0f}{t0:>12.0f}   added {t0 - d0:.0f} us")
        print(f"{'round trip p50 (us)':<34}{d50:>12.0f}{t50:>12.0f}   added {t50 - d50:.0f} us")
        print(f"{'round trip p99 (us)':<34}{d99:>12.0f}{t99:>12.0f}   added {t99 - d99:.0f} us")
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
