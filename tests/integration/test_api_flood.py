"""Unauthenticated floods against `interlink` (issue 10, hole 3).

An anonymous caller must cost no memory for its body: credentials are
checked on the headers, 401 goes out at once and the connection closes.
Half-open connections from one address are capped, so an authenticated
caller from another address is still served during such a flood.

Both tests were checked to fail on the code before the fix (bodies were
buffered before the 401; ~1100 half-open connections locked everyone out).
Loops are bounded in count and time."""
import os
import socket
import threading
import time

import harness
from apiutil import free_tcp_port, unix_path, start_api

BIG = 15 * 1024 * 1024
N_BODIES = 20
N_HALF_OPEN = 1100


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def token_stack(stack_factory, tmp_path, **extra):
    tokens = str(tmp_path / "tokens")
    with open(tokens, "w") as f:
        f.write("good-token\n")
    return stack_factory(api_extra={"AuthTokenFile": tokens, **extra})


def headers_of(path, length, token=None):
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {length}\r\n\r\n").encode()


def test_anonymous_refused_on_headers_before_the_body(stack_factory, tmp_path):
    stack = token_stack(stack_factory, tmp_path)
    stack.start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(unix_path(stack.api_addr))
    try:
        s.sendall(headers_of("/create", BIG))   # the body never comes
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 401"), answer
        assert b"bearer token is required" in answer
        rest = b""
        deadline = time.time() + 5
        while time.time() < deadline:   # the server closes: no body is awaited
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        else:
            raise AssertionError("connection left open after the early 401")
    finally:
        s.close()


def send_body(address, out):
    """Send headers and all but the last byte of a BIG body; keep the
    connection open (held in out) so a server that buffers keeps it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(unix_path(address))
    out.append(s)
    chunk = b"x" * (1024 * 1024)
    try:
        s.sendall(headers_of("/create", BIG))
        sent = 0
        while sent < BIG - 1:
            n = min(len(chunk), BIG - 1 - sent)
            s.sendall(chunk[:n])
            sent += n
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass   # refused early: what we want


def test_anonymous_big_bodies_do_not_grow_memory(stack_factory, tmp_path):
    stack = token_stack(stack_factory, tmp_path)
    stack.start()
    pid = stack.api.proc.pid
    code, _ = harness.request(stack.api_addr, "POST", "/pinglink",
                              headers={"Authorization": "Bearer good-token"})
    assert code == 200
    before = rss_kib(pid)
    held = []
    threads = [threading.Thread(target=send_body, args=(stack.api_addr, held))
               for _ in range(N_BODIES)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        after = rss_kib(pid)
    finally:
        for s in held:
            s.close()
    grown_mib = (after - before) / 1024
    print(f"\ninterlink RSS {before} -> {after} KiB with {N_BODIES} anonymous "
          f"{BIG >> 20} MiB bodies in flight")
    # N_BODIES x 15 MiB = 300 MiB if bodies were buffered; allow 64 MiB of noise.
    assert grown_mib < 64, f"RSS grew by {grown_mib:.0f} MiB ({before} -> {after} KiB)"
    code, _ = harness.request(stack.api_addr, "POST", "/pinglink",
                              headers={"Authorization": "Bearer good-token"})
    assert code == 200


def ping_tcp(port, token, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=("127.0.0.1", 0))
    try:
        s.sendall(b"POST /pinglink HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                  b"Authorization: Bearer " + token.encode() + b"\r\nConnection: close\r\n\r\n")
        return s.recv(4096)
    finally:
        s.close()


def test_half_open_flood_from_one_address_spares_others(stack_factory, tmp_path):
    port = free_tcp_port()
    stack = token_stack(stack_factory, tmp_path, InterlinkAddress="http://127.0.0.1",
                        InterlinkPort=str(port))
    stack.start_plugin()
    start_api(stack, address=f"http://127.0.0.1:{port}")
    flood = []
    try:
        deadline = time.time() + 60
        for _ in range(N_HALF_OPEN):   # half-open: a partial request line, then silence
            if time.time() > deadline:
                break
            s = socket.socket()
            s.setblocking(True)
            s.settimeout(2)
            s.bind(("127.0.0.2", 0))
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(b"POST /create HTTP/1.1\r\n")
            except OSError:
                pass
            flood.append(s)
        time.sleep(1)
        served = 0
        for _ in range(5):
            try:
                answer = ping_tcp(port, "good-token")
            except OSError:
                answer = b""
            served += answer.startswith(b"HTTP/1.1 200")
        assert served == 5, f"authenticated caller served {served}/5 during the flood"
        assert ping_tcp(port, "bad-token").startswith(b"HTTP/1.1 401")
    finally:
        for s in flood:
            s.close()
    assert stack.api.alive()
    assert os.path.exists(stack.dir)
