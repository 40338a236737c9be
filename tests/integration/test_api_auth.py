"""Who may call `interlink`: its HTTPS listener with client certificates
(upstream's TLS.* keys, mTLS), bearer tokens from AuthTokenFile (re-read when
the file changes), JWTs signed by AuthJWT.PublicKeyFile, interlinkctl's
credential flags, and interlink-vk talking to an mTLS + token interlink.

Certificates come from the openssl command (tests/pylib/kube_pki.py); JWTs
are signed with python3-jwt, and by hand for the tokens no library would
make (alg none, HS256 keyed with the public key)."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import ssl
import subprocess
import time

import jwt
import pytest

import harness
import vkutil
from apiutil import free_tcp_port, host_pod, start_api

import kube_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Our CA (server cert for 127.0.0.1, a client cert) and another CA's client cert."""
    ours = kube_pki.PKI(str(tmp_path_factory.mktemp("pki"))).ensure()
    other = kube_pki.PKI(str(tmp_path_factory.mktemp("other-pki"))).ensure()
    return ours, other


def https_stack(stack_factory, pki, **extra):
    """interlink on https://127.0.0.1:PORT requiring client certs of our CA."""
    ours, _ = pki
    port = free_tcp_port()
    stack = stack_factory(api_extra={
        "InterlinkAddress": "https://127.0.0.1", "InterlinkPort": str(port),
        "TLS": {"Enabled": True, "CertFile": ours.server_crt, "KeyFile": ours.server_key,
                "CACertFile": ours.ca_crt},
        **extra})
    stack.start_plugin()
    start_api(stack, address=f"http://127.0.0.1:{port}")   # only waits for the TCP port
    stack.https_port = port
    return stack


def https_call(stack, pki, method, path, body=None, cert=None, token=None):
    """(status, text) over TLS, verifying interlink against our CA."""
    ours, _ = pki
    ctx = ssl.create_default_context(cafile=ours.ca_crt)
    if cert:
        ctx.load_cert_chain(*cert)
    conn = http.client.HTTPSConnection("127.0.0.1", stack.https_port, context=ctx, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def test_mtls_requires_a_client_certificate_of_the_ca(stack_factory, pki):
    ours, other = pki
    stack = https_stack(stack_factory, pki)
    good = (ours.admin_crt, ours.admin_key)
    code, text = https_call(stack, pki, "POST", "/pinglink", cert=good)
    assert code == 200, text
    code, text = https_call(stack, pki, "POST", "/pinglink")
    assert code == 401 and "client certificate is required" in text, (code, text)
    try:
        code, text = https_call(stack, pki, "POST", "/pinglink",
                                cert=(other.admin_crt, other.admin_key))
        assert code == 401, (code, text)
    except (ssl.SSLError, ConnectionError):
        pass   # refusing the handshake is as good as a 401
    # Liveness probes need no credentials; everything else does.
    assert https_call(stack, pki, "GET", "/healthz")[0] == 200
    assert https_call(stack, pki, "GET", "/pods")[0] == 401
    assert https_call(stack, pki, "GET", "/pods", cert=good)[0] == 200
    # Plain HTTP on the TLS port is not served.
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        harness.request(f"http://127.0.0.1:{stack.https_port}", "GET", "/healthz", timeout=5)


def test_a_pod_over_mtls(stack_factory, pki):
    ours, _ = pki
    stack = https_stack(stack_factory, pki)
    good = (ours.admin_crt, ours.admin_key)
    pod = host_pod("tls", "echo over-tls")
    code, text = https_call(stack, pki, "POST", "/create", harness.create_request(pod), cert=good)
    assert code == 200, text

    def finished():
        code_, body = https_call(stack, pki, "GET", "/status", [pod], cert=good)
        assert code_ == 200, body
        states = json.loads(body)[0]["containers"][0]["state"]
        return "terminated" in states and states["terminated"]
    term = vkutil.wait_for("the pod to finish", finished, timeout=30)
    assert term["exitCode"] == 0, term
    code, text = https_call(stack, pki, "DELETE", "/delete", pod, cert=good)
    assert code == 200, text


def write_tokens(path, *tokens):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("# accepted tokens\n\n" + "".join(f"  {t}  \n" for t in tokens))
    os.replace(tmp, path)   # as a secret volume or a rotation script swaps it


def test_token_file_checked_and_reread_when_it_changes(stack_factory, tmp_path):
    tokens = str(tmp_path / "tokens")
    write_tokens(tokens, "alpha-1", "beta-2")
    stack = stack_factory(api_extra={"AuthTokenFile": tokens})
    stack.start()

    def ping(token=None):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return harness.request(stack.api_addr, "POST", "/pinglink", headers=headers)

    code, body = ping()
    assert code == 401 and b"bearer token is required" in body, body
    assert ping("alpha-1")[0] == 200
    assert ping("beta-2")[0] == 200
    for wrong in ("alpha-", "alpha-12", "ALPHA-1", "", "# accepted tokens"):
        code, body = ping(wrong)
        assert code == 401, (wrong, body)
    write_tokens(tokens, "gamma-3")
    assert ping("gamma-3")[0] == 200
    assert ping("alpha-1")[0] == 401
    os.unlink(tokens)   # unreadable: the tokens read before stay in force
    assert ping("gamma-3")[0] == 200
    assert "AuthTokenFile" in stack.api.output()


def test_cli_sends_credentials(stack_factory, pki, tmp_path):
    ours, _ = pki
    stack = https_stack(stack_factory, pki)
    ctl = harness.binary("interlinkctl")
    url = f"https://127.0.0.1:{stack.https_port}"
    base = [ctl, "--url", url, "--cacert", ours.ca_crt]
    ok = subprocess.run(base + ["--cert", ours.admin_crt, "--key", ours.admin_key, "ping"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(base + ["ping"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "401" in refused.stderr, refused.stderr
    missing = subprocess.run(base + ["--cert", str(tmp_path / "nope.crt"), "ping"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "nope.crt" in missing.stderr, missing.stderr

    tokens = str(tmp_path / "tokens")
    write_tokens(tokens, "cli-token")
    token_stack = stack_factory(api_extra={"AuthTokenFile": tokens})
    token_stack.start()
    with open(tmp_path / "mine", "w") as f:
        f.write("cli-token\n")
    env = dict(os.environ, INTERLINK_TOKEN_FILE=str(tmp_path / "mine"))
    ok = subprocess.run([ctl, "--url", token_stack.api_addr, "get", "pods"],
                        capture_output=True, text=True, timeout=60, env=env)
    assert ok.returncode == 0, ok.stderr


# ---- JWTs ------------------------------------------------------------------

@pytest.fixture(scope="module")
def jwt_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("jwt")
    paths = {}
    for name in ("signer", "stranger"):
        key = str(d / f"{name}.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", key], check=True, capture_output=True)
        pub = str(d / f"{name}.pub")
        subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                       capture_output=True)
        paths[name] = (open(key).read(), pub)
    return paths


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header, claims, sign):
    head = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return head + "." + b64url(sign(head.encode()))


def test_jwt_signature_expiry_issuer_audience(stack_factory, jwt_keys):
    private, public = jwt_keys["signer"]
    stack = stack_factory(api_extra={"AuthJWT": {"PublicKeyFile": public,
                                                 "Issuer": "https://issuer.example",
                                                 "Audience": "interlink"}})
    stack.start()
    now = int(time.time())
    good = {"iss": "https://issuer.example", "aud": ["other", "interlink"], "sub": "vk",
            "exp": now + 600}

    def call(token):
        return harness.request(stack.api_addr, "GET", "/pods",
                               headers={"Authorization": f"Bearer {token}"})

    def refused(token, why):
        code, body = call(token)
        assert code == 401 and why.encode() in body, (why, code, body)

    assert call(jwt.encode(good, private, algorithm="RS256"))[0] == 200
    assert call(jwt.encode(dict(good, aud="interlink"), private, algorithm="RS256"))[0] == 200
    refused(jwt.encode(dict(good, exp=now - 3600), private, algorithm="RS256"), "expired")
    refused(jwt.encode({k: v for k, v in good.items() if k != "exp"}, private,
                       algorithm="RS256"), "no expiry")
    refused(jwt.encode(dict(good, nbf=now + 3600), private, algorithm="RS256"),
            "not valid before")
    refused(jwt.encode(dict(good, iss="https://evil.example"), private, algorithm="RS256"),
            "issuer")
    refused(jwt.encode(dict(good, aud="someone-else"), private, algorithm="RS256"), "audience")
    refused(jwt.encode(good, jwt_keys["stranger"][0], algorithm="RS256"),
            "not a JWT signed by the configured key")
    # The public key is public: an HS256 token keyed with it must not pass.
    pem = open(public, "rb").read()
    refused(hand_made({"alg": "HS256", "typ": "JWT"}, good,
                      lambda m: hmac.new(pem, m, hashlib.sha256).digest()), "")
    refused(hand_made({"alg": "none", "typ": "JWT"}, good, lambda m: b""), "")
    refused("not.a.jwt", "")
    refused("$(touch /tmp/x)`id`\u00e9", "")
    # Extreme times: exp + leeway overflowed (UBSan aborted the server).
    assert call(jwt.encode(dict(good, exp=2**63 - 1), private, algorithm="RS256"))[0] == 200
    refused(jwt.encode(dict(good, exp=-2**63), private, algorithm="RS256"), "")
    refused(jwt.encode(dict(good, nbf=2**63 - 1), private, algorithm="RS256"), "not valid before")
    assert call(jwt.encode(dict(good, nbf=-2**63), private, algorithm="RS256"))[0] == 200


# ---- configuration errors --------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    ({"TLS": {"Enabled": True}}, "TLS.Enabled needs TLS.CertFile and TLS.KeyFile"),
    ({"InterlinkAddress": "https://127.0.0.1", "InterlinkPort": "1"}, "needs TLS.Enabled"),
    ({"TLS": {"CACertFile": "/etc/hostname"}}, "TLS.CACertFile (client certificates) needs"),
    ({"AuthTokenFile": "/nonexistent/tokens"}, "AuthTokenFile"),
    ({"AuthJWT": {"PublicKeyFile": "/nonexistent/key.pem"}}, "AuthJWT.PublicKeyFile"),
])
def test_bad_security_settings_stop_the_start(stack_factory, extra, message):
    stack = stack_factory(api_extra=extra)
    stack.start_plugin()
    proc = subprocess.run([harness.binary("interlink"), "--config", stack.api_cfg],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_vk_over_mtls_with_a_token(tmp_path, pki):
    """interlink-vk with upstream's TLS.* client keys and VKTokenFile runs a pod."""
    ours, _ = pki
    tokens = str(tmp_path / "tokens")
    write_tokens(tokens, "vk-secret")
    with open(tmp_path / "vk-token", "w") as f:
        f.write("vk-secret\n")
    port = free_tcp_port()
    kube = vkutil.FakeKube(str(tmp_path / "kube"))
    stack = harness.Stack(str(tmp_path / "stack"), api_extra={
        "InterlinkAddress": "https://127.0.0.1", "InterlinkPort": str(port),
        "AuthTokenFile": tokens,
        "TLS": {"Enabled": True, "CertFile": ours.server_crt, "KeyFile": ours.server_key,
                "CACertFile": ours.ca_crt}})
    vk = None
    try:
        stack.start_plugin()
        stack.api_addr = f"http://127.0.0.1:{port}"   # for the start-up wait (TCP only)
        stack.start_api()
        vk = vkutil.VK(str(tmp_path), kube, stack, InterlinkURL="https://127.0.0.1",
                       InterlinkPort=str(port), VKTokenFile=str(tmp_path / "vk-token"),
                       TLS={"Enabled": True, "CertFile": ours.admin_crt,
                            "KeyFile": ours.admin_key, "CACertFile": ours.ca_crt}).start()
        kube.create_pod("tls", [{"name": "c", "image": "busybox",
                                 "command": ["sh", "-c", "echo hi"]}])
        pod = vkutil.wait_for("pod tls done", lambda: vkutil.phase(kube.pod("tls"))
                              in ("Succeeded", "Failed") and kube.pod("tls"), timeout=60)
        assert pod["status"]["phase"] == "Succeeded", pod["status"]
        assert not re.search(r"(?<![\d.:])401(?!\d)", vk.output())   # not a timestamp's .401
    finally:
        if vk is not None:
            assert vk.stop() == 0, vk.output()[-3000:]
        stack.stop()
        kube.stop()
