"""tests/pylib/netns.py, the network namespaces the direction-of-connection
tests stand on: what it promises (an outbound-only side, processes inside,
a thread inside, nothing left behind, also after a failure or a killed run)
must hold, or those tests prove nothing."""
import os
import socket
import subprocess
import time

import pytest

import netns

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))


def names():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in r.stdout.splitlines() if line.strip()}


def test_outbound_only_side_and_teardown():
    with netns.Namespaces() as nss:
        a, b = nss.add("a"), nss.add("b")
        addr_a, addr_b = nss.link(a, b)
        b.outbound_only()
        made = {a.name, b.name}
        assert made <= names()
        sleeper = b.popen(["sleep", "600"])
        assert sleeper.pid in b.pids()
        with a.entered():
            listener = socket.socket()
        with listener:
            listener.bind((addr_a, 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            # b dials out to a: allowed, and the answer comes back.
            b.run(["/usr/bin/python3", "-c", "import socket; socket.create_connection("
                   f"('{addr_a}', {port}), timeout=5).sendall(b'hi')"])
            conn, peer = listener.accept()
            assert peer[0] == addr_b and conn.recv(2) == b"hi"
            conn.close()
        # a dials in to b, where something listens: dropped, counted.
        server = b.popen(["/usr/bin/python3", "-c", "import socket, time; s = socket.socket(); "
                          "s.bind(('0.0.0.0', 8000)); s.listen(); time.sleep(600)"])
        b.run(["/usr/bin/python3", "-c", "import socket, time\nfor _ in range(100):\n"
               "    try: socket.create_connection(('127.0.0.1', 8000), 1).close(); break\n"
               "    except OSError: time.sleep(0.05)"])      # b's own loopback is open
        before = b.dropped_inbound()
        with a.entered():
            with pytest.raises(socket.timeout):
                socket.create_connection((addr_b, 8000), timeout=1)
        assert b.dropped_inbound() > before
        # the test's own thread is back in its namespace: b's address is not
        # local here and the veth is not in the host
        assert addr_b not in subprocess.run(["ip", "-br", "addr"], capture_output=True,
                                            text=True).stdout
    assert not made & names()
    assert sleeper.wait(5) == -9 and server.wait(5) == -9


def test_teardown_after_a_failure():
    with pytest.raises(RuntimeError):
        with netns.Namespaces() as nss:
            ns = nss.add("fails")
            proc = ns.popen(["sleep", "600"])
            raise RuntimeError("the test failed")
    assert ns.name not in names()
    assert proc.wait(5) == -9


def test_teardown_kills_a_process_not_yet_inside(monkeypatch):
    """A process started in a namespace that has not entered it yet (nsenter
    still starting: `ip netns pids` cannot see it) is killed all the same
    (CI: it entered after the namespace was deleted and slept on)."""
    late = ["sh", "-c", 'sleep 1; exec nsenter --net="$0" -- "$@"']
    monkeypatch.setattr(netns.Namespace, "prefix", lambda self: late + [self.path])
    with netns.Namespaces() as nss:
        late_ns = nss.add("late")
        proc = late_ns.popen(["sleep", "600"], wait=False)
        assert proc.pid not in late_ns.pids()
    assert proc.wait(5) == -9


def test_leftovers_of_a_killed_run_are_removed(tmp_path):
    """A run killed before its teardown leaves its namespaces (named after
    its pid); the next run removes them and what runs in them."""
    script = tmp_path / "killed.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {os.path.dirname(netns.__file__)!r})\n"
        "import netns\n"
        "ns = netns.Namespaces().add('left')\n"
        "ns.popen(['sleep', '600'], start_new_session=True)\n"
        "print(ns.name, flush=True)\n"
        "time.sleep(600)\n")
    proc = subprocess.Popen(["/usr/bin/python3", str(script)], stdout=subprocess.PIPE, text=True)
    name = proc.stdout.readline().strip()
    proc.kill()
    proc.wait()
    assert name in names()
    left = netns.Namespace(name)
    deadline = time.time() + 5
    while not left.pids() and time.time() < deadline:
        time.sleep(0.05)
    stray = left.pids()
    assert stray
    netns.remove_stale()
    assert name not in names()
    assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2]
                   != "Z" for p in stray)
