"""`interlink` command line and configuration: upstream's flag and env names,
our overrides, listeners on unix sockets and TCP."""
import os
import re

import harness
from apiutil import assert_alive, free_tcp_port, run_interlink, start_api

KEYS = ["InterlinkAddress", "InterlinkPort", "SidecarURL", "SidecarPort", "DataRootFolder",
        "VerboseLogging", "ErrorsOnlyLogging", "MaxBodyBytes", "SidecarTimeoutSeconds"]
ENVS = ["INTERLINKURL", "INTERLINKPORT", "SIDECARURL", "SIDECARPORT"]
LEVEL = re.compile(r"^\S+Z (DEBUG|INFO|WARN|ERROR)\b", re.M)


def test_version():
    out = run_interlink(["--version"])
    assert out.returncode == 0, out.stderr
    assert "0.1.0" in out.stdout + out.stderr


def test_help_config_documents_every_key():
    out = run_interlink(["--help-config"])
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    missing = [k for k in KEYS + ENVS if k not in text]
    assert not missing, f"--help-config does not mention {missing}"


def test_unreadable_config_is_a_clear_error(tmp_path):
    path = str(tmp_path / "absent.yaml")
    out = run_interlink(["--config", path])
    assert out.returncode != 0
    assert path in out.stdout + out.stderr


def test_config_path_from_env_and_from_upstream_flag(stack_factory):
    stack = stack_factory()
    stack.start_plugin()
    start_api(stack, argv=[], env={"INTERLINKCONFIGPATH": stack.api_cfg})
    assert_alive(stack)
    stack.api.stop()
    start_api(stack, argv=["-interlinkconfigpath", stack.api_cfg])
    assert_alive(stack)


def test_interlinkurl_env_overrides_the_file(stack_factory):
    stack = stack_factory()
    stack.start_plugin()
    other = os.path.join(stack.dir, "other.sock")
    start_api(stack, env={"INTERLINKURL": "unix://" + other}, address="unix://" + other)
    code, body = harness.request("unix://" + other, "GET", "/healthz")
    assert (code, body.strip()) == (200, b"ok")
    assert not os.path.exists(stack.api_sock)


def test_tcp_listener_with_port_from_file_and_env(stack_factory):
    port = free_tcp_port()
    stack = stack_factory(api_extra={"InterlinkAddress": "http://127.0.0.1",
                                     "InterlinkPort": str(port)})
    stack.start_plugin()
    start_api(stack, address=f"http://127.0.0.1:{port}")
    code, data = harness.request(f"http://127.0.0.1:{port}", "POST", "/pinglink")
    assert code == 200, data
    stack.api.stop()

    port2 = free_tcp_port()
    start_api(stack, env={"INTERLINKPORT": str(port2)}, address=f"http://127.0.0.1:{port2}")
    code, body = harness.request_json(f"http://127.0.0.1:{port2}", "GET", "/status", [])
    assert (code, body) == (200, [])


def test_errorsonly_flag_silences_info(stack_factory):
    stack = stack_factory(api_extra={"VerboseLogging": False})
    stack.start_plugin()
    start_api(stack, argv=["--config", stack.api_cfg, "--errorsonly"])
    harness.request(stack.api_addr, "GET", "/status", [])
    harness.request(stack.api_addr, "POST", "/pinglink")
    stack.api.stop()
    levels = set(LEVEL.findall(stack.api.output()))
    assert not levels & {"DEBUG", "INFO"}, stack.api.output()


def test_verbose_flag_enables_debug(stack_factory):
    stack = stack_factory(api_extra={"VerboseLogging": False})
    stack.start_plugin()
    start_api(stack)
    harness.request(stack.api_addr, "POST", "/pinglink")
    stack.api.stop()
    quiet = stack.api.output()
    assert "DEBUG" not in set(LEVEL.findall(quiet)), "DEBUG lines without VerboseLogging"

    start_api(stack, argv=["--config", stack.api_cfg, "--verbose"])
    harness.request(stack.api_addr, "POST", "/pinglink")
    stack.api.stop()
    loud = stack.api.output()[len(quiet):]
    assert "DEBUG" in set(LEVEL.findall(loud)), loud
