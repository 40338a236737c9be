"""`interlinkctl setup`: the CA and certificates it makes verify; a second
run changes nothing; interlink and interlink-local started with the configs
it wrote accept the VK's credentials (mTLS, or a token) and refuse a caller
without them; the cluster side applies with `kubectl apply -k` on the real
control plane; bad values are refused before anything is written."""
import hashlib
import os
import subprocess

import pytest

import harness
import vkutil

MANIFESTS = os.path.join(harness.SRC_DIR, "deploy", "kubernetes")


def run_setup(out, port, *extra):
    return subprocess.run(
        [harness.binary("interlinkctl"), "setup", "--backend", "local", "--interlink-host",
         "127.0.0.1", "--port", str(port), "--out", str(out), "--etc-dir", str(out / "edge"),
         "--run-dir", str(out / "run"), "--state-dir", str(out / "state"),
         "--manifests", MANIFESTS, *extra], capture_output=True, text=True, timeout=60)


def snapshot(out):
    return {os.path.relpath(os.path.join(d, f), out):
            hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
            for d, _, fs in os.walk(out) for f in fs}


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def ctl(port, *args):
    return subprocess.run([harness.binary("interlinkctl"), "--url", f"https://127.0.0.1:{port}",
                           *args, "ping"], capture_output=True, text=True, timeout=60)


def start_edge(out):
    """interlink-local and interlink with the configs setup wrote."""
    os.makedirs(out / "run" / "interlink-local", exist_ok=True)
    plugin = harness.Daemon([harness.binary("interlink-local"), "--config",
                             str(out / "edge" / "interlink-local.yaml")],
                            str(out / "plugin.log")).start()
    harness.wait_for_socket("unix://" + str(out / "run" / "interlink-local" / "plugin.sock"),
                            plugin.proc)
    api = harness.Daemon([harness.binary("interlink"), "--config",
                          str(out / "edge" / "InterLinkConfig.yaml")],
                         str(out / "interlink.log")).start()
    return plugin, api


def stop_all(*daemons):
    problems = []
    for d in daemons:
        problems += d.stop_and_check(must_be_running=True)
    assert not problems, problems


def wait_listening(port, proc):
    harness.wait_for("interlink listening", lambda: proc.poll() is None and
                     subprocess.run(["ss", "-Hltn", f"( sport = :{port} )"], capture_output=True,
                                    text=True).stdout.strip(), timeout=20)


def test_mtls_site(tmp_path):
    out, port = tmp_path / "site", vkutil.free_port()
    r = run_setup(out, port)
    assert r.returncode == 0, r.stderr
    assert "Next steps" in r.stdout and f"kubectl apply -k {out}/cluster" in r.stdout
    tls, cluster = out / "edge" / "tls", out / "cluster"
    for cert in (tls / "interlink.crt", cluster / "vk.crt"):
        assert openssl("verify", "-CAfile", str(tls / "ca.crt"), str(cert)).strip().endswith("OK")
    assert "TLS Web Server Authentication" in openssl("x509", "-noout", "-text", "-in",
                                                      str(tls / "interlink.crt"))
    assert "IP Address:127.0.0.1" in openssl("x509", "-noout", "-ext", "subjectAltName", "-in",
                                             str(tls / "interlink.crt"))
    assert "TLS Web Client Authentication" in openssl("x509", "-noout", "-text", "-in",
                                                      str(cluster / "vk.crt"))
    assert oct(os.stat(tls / "ca.key").st_mode & 0o777) == "0o600"
    assert oct(os.stat(tls / "interlink.key").st_mode & 0o777) == "0o640"   # for its group
    # Idempotent: the same flags again change nothing, keys included.
    before = snapshot(out)
    r = run_setup(out, port)
    assert r.returncode == 0 and "created" not in r.stdout, r.stdout
    assert snapshot(out) == before

    plugin, api = start_edge(out)
    try:
        wait_listening(port, api.proc)
        creds = ["--cacert", str(cluster / "ca.crt"), "--cert", str(cluster / "vk.crt"),
                 "--key", str(cluster / "vk.key")]
        r = ctl(port, *creds)
        assert r.returncode == 0 and "status" in r.stdout, r.stdout + r.stderr
        assert ctl(port, "--cacert", str(cluster / "ca.crt")).returncode != 0   # no client cert
    finally:
        stop_all(api, plugin)


def test_token_site(tmp_path):
    out, port = tmp_path / "site", vkutil.free_port()
    r = run_setup(out, port, "--auth", "token")
    assert r.returncode == 0, r.stderr
    cluster = out / "cluster"
    assert open(cluster / "token").read() == open(out / "edge" / "tls" / "tokens").read()
    assert not os.path.exists(cluster / "vk.key")
    plugin, api = start_edge(out)
    try:
        wait_listening(port, api.proc)
        ca = ["--cacert", str(cluster / "ca.crt")]
        r = ctl(port, *ca, "--token-file", str(cluster / "token"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert ctl(port, *ca).returncode != 0
    finally:
        stop_all(api, plugin)


def test_cluster_side_applies(tmp_path, real_kube):
    """The cluster side applies as it is (server-side): config, Secret and
    node name in place."""
    out, port = tmp_path / "site", vkutil.free_port()
    assert run_setup(out, port).returncode == 0
    cluster = out / "cluster"
    r = real_kube.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(cluster))
    code, secret = real_kube.api.get("/api/v1/namespaces/interlink/secrets/interlink-vk-tls")
    assert code == 200 and set(secret["data"]) == {"ca.crt", "vk.crt", "vk.key"}
    code, cm = real_kube.api.get("/api/v1/namespaces/interlink/configmaps/interlink-vk-config")
    assert f"InterlinkPort: \"{port}\"" in cm["data"]["vk.yaml"]
    code, dep = real_kube.api.get("/apis/apps/v1/namespaces/interlink/deployments/interlink-vk")
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"][0] == \
        {"name": "NODENAME", "value": "interlink-vk"}
    real_kube.kubectl("delete", "--wait=true", "--timeout=90s", "-k", str(cluster), check=False)


@pytest.mark.parametrize("flag,value", [
    ("--interlink-host", "a;b"), ("--interlink-host", "$(id)"), ("--interlink-host", "-x"),
    ("--node", "a b"), ("--node", "x\ny"), ("--backend", "condor"), ("--auth", "none"),
    ("--port", "70000"), ("--etc-dir", "/etc/../x"), ("--node", "é"),
])
def test_bad_values_are_refused_before_writing(tmp_path, flag, value):
    out = tmp_path / "site"
    r = run_setup(out, 3000, flag, value)
    assert r.returncode == 1 and "setup:" in r.stderr, r
    assert not os.path.exists(out)
