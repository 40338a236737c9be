"""A shared token between interlink and a plugin on TCP (issue 10): the
plugin's PluginTokenFile, interlink's SidecarTokenFile.  Without the token
the plugin answers 401 on the headers, before reading a body."""
import socket

import harness
from apiutil import free_tcp_port, host_pod, wait_until


def tcp_stack(stack_factory, tmp_path, sidecar_token=True):
    port = free_tcp_port()
    token = tmp_path / "plugin-token"
    token.write_text("p1ug1n-t0ken\n")
    api_extra = {"SidecarURL": "http://127.0.0.1", "SidecarPort": str(port)}
    if sidecar_token:
        api_extra["SidecarTokenFile"] = str(token)
    stack = stack_factory(plugin_extra={"Socket": "", "SidecarURL": "http://127.0.0.1",
                                        "SidecarPort": str(port),
                                        "PluginTokenFile": str(token)},
                          api_extra=api_extra)
    stack.plugin_addr = f"http://127.0.0.1:{port}"
    stack.port = port
    stack.start()
    return stack


def test_interlink_with_the_token_is_served(stack_factory, tmp_path):
    stack = tcp_stack(stack_factory, tmp_path)
    code, body = stack.ping()
    assert code == 200, body
    pod = host_pod("tok", "echo through")
    code, body = stack.create(harness.create_request(pod))
    assert code == 200, body
    wait_until(lambda: stack.wait_phase(pod)[0] == "Succeeded", timeout=60)
    assert stack.delete(pod)[0] == 200


def test_plugin_refuses_callers_without_the_token_on_the_headers(stack_factory, tmp_path):
    stack = tcp_stack(stack_factory, tmp_path)
    for auth in (b"", b"Authorization: Bearer wrong\r\n"):
        s = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
        try:
            s.sendall(b"POST /create HTTP/1.1\r\nHost: x\r\nContent-Length: 15000000\r\n" +
                      auth + b"\r\n")
            answer = s.recv(4096)   # at once: no body is awaited
            assert answer.startswith(b"HTTP/1.1 401"), answer
        finally:
            s.close()


def test_interlink_without_the_token_is_refused(stack_factory, tmp_path):
    stack = tcp_stack(stack_factory, tmp_path, sidecar_token=False)
    code, body = stack.ping()
    assert code == 401, body
