"""Tenants: callers named by their credentials (named tokens in
AuthTokenFile, JWT claims) may act only on the namespaces TenantsFile gives
them, through every endpoint and through interlinkctl -- even with the right
pod UID and a namespace of their own in the body (issue 10).

Checked to fail on the code before TenantsFile existed: bob read alice's
TEAM-A-SECRET from her logs and deleted her pod."""
import json
import os
import subprocess
import time

import jwt
import pytest

import harness
from apiutil import host_pod, uid, wait_until

TOKENS = """# token name groups
tok-alice alice
tok-bob bob team-b-grp,other    # a comment
tok-vk vk-cluster
tok-carol carol
tok-plain   # unnamed: the caller "token"
"""

TENANTS = {
    "users": {"alice": ["team-a"], "vk-cluster": ["*"], "jwt-user": ["team-j"]},
    "groups": {"team-b-grp": ["team-b"], "jwt-group": ["team-k"]},
}


@pytest.fixture
def tenant_stack(stack_factory, tmp_path):
    tokens = str(tmp_path / "tokens")
    with open(tokens, "w") as f:
        f.write(TOKENS)
    tenants = harness.write_yaml(str(tmp_path / "tenants.yaml"), TENANTS)
    stack = stack_factory(api_extra={"AuthTokenFile": tokens, "TenantsFile": tenants})
    stack.start()
    yield stack
    for pod in getattr(stack, "made", []):
        call(stack, "tok-vk", "DELETE", "/delete", pod)


def call(stack, token, method, path, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    code, data = harness.request(stack.api_addr, method, path, body, headers=headers,
                                 timeout=60)
    return code, data


def create(stack, token, pod):
    stack.made = getattr(stack, "made", []) + [pod]
    return call(stack, token, "POST", "/create", harness.create_request(pod))


def secret_pod(name, ns, text):
    return host_pod(name, f"echo {text}; sleep 60", namespace=ns, grace=1)


def logs(stack, token, pod, **override):
    struct = harness.log_struct(pod, "main")
    struct.update(override)
    return call(stack, token, "GET", "/getLogs", struct)


def test_every_endpoint_keeps_tenants_apart(tenant_stack):
    stack = tenant_stack
    a = secret_pod("pa", "team-a", "TEAM-A-SECRET")
    b = secret_pod("pb", "team-b", "TEAM-B-SECRET")
    assert create(stack, "tok-alice", a)[0] == 200
    assert create(stack, "tok-bob", b)[0] == 200

    # /create: not in a namespace one does not own; nobody listed owns nothing
    code, data = create(stack, "tok-alice", secret_pod("x", "team-b", "X"))
    assert code == 403 and b'"alice" may not act on namespace "team-b"' in data, data
    assert create(stack, "tok-carol", secret_pod("c", "default", "C"))[0] == 403
    assert create(stack, "tok-plain", secret_pod("p", "default", "P"))[0] == 403
    assert call(stack, None, "GET", "/pods")[0] == 401
    # a UID is one pod's: bob cannot take alice's UID into his namespace
    stolen = secret_pod("stolen", "team-b", "S")
    stolen["metadata"]["uid"] = uid(a)
    code, data = call(stack, "tok-bob", "POST", "/create", harness.create_request(stolen))
    assert code == 409, data

    # /getLogs: alice reads hers; bob gets nothing, even claiming his namespace
    wait_until(lambda: b"TEAM-A-SECRET" in logs(stack, "tok-alice", a)[1], what="alice's log")
    for override in ({}, {"Namespace": "team-b"}):
        code, data = logs(stack, "tok-bob", a, **override)
        assert code == 403 and b"TEAM-A-SECRET" not in data, (override, code, data)

    # /status: the stored namespace counts, not the body's
    forged = json.loads(json.dumps(a))
    forged["metadata"]["namespace"] = "team-b"
    for pod in (a, forged):
        assert call(stack, "tok-bob", "GET", "/status", [pod])[0] == 403
    assert call(stack, "tok-bob", "GET", "/status", [b, a])[0] == 403
    code, data = call(stack, "tok-alice", "GET", "/status", [a])
    assert code == 200 and json.loads(data)[0]["UID"] == uid(a)

    # /pods: each sees its own; asking for another's namespace is refused
    def listed(token, query=""):
        code, data = call(stack, token, "GET", "/pods" + query)
        assert code == 200, data
        return sorted(p["UID"] for p in json.loads(data))
    assert listed("tok-alice") == [uid(a)]
    assert listed("tok-bob") == [uid(b)]
    assert listed("tok-vk") == sorted([uid(a), uid(b)])
    assert call(stack, "tok-bob", "GET", "/pods?namespace=team-a")[0] == 403

    # /updateCache
    assert call(stack, "tok-bob", "POST", "/updateCache", a)[0] == 403
    assert call(stack, "tok-alice", "POST", "/updateCache", a)[0] == 200

    # /watch: only one's own namespaces' changes
    code, data = call(stack, "tok-vk", "GET", "/watch?since=0&timeoutSeconds=0")
    gen = json.loads(data)["generation"] - 1   # 410/resync answers carry it too
    c = secret_pod("pc", "team-b", "C2")
    assert create(stack, "tok-bob", c)[0] == 200
    for p, t in ((a, "tok-alice"), (b, "tok-bob"), (c, "tok-bob")):
        call(stack, t, "GET", "/status", [p])

    def watched(token):
        code, data = call(stack, token, "GET", f"/watch?since={gen}&timeoutSeconds=0")
        assert code in (200, 410), data
        return {p["namespace"] for p in json.loads(data)["pods"]}
    wait_until(lambda: "team-b" in watched("tok-vk"), what="a change in the journal")
    assert watched("tok-alice") <= {"team-a"}
    assert watched("tok-bob") <= {"team-b"} and "team-b" in watched("tok-bob")

    # /delete: bob cannot delete alice's pod, even naming his namespace
    for pod in (a, forged):
        assert call(stack, "tok-bob", "DELETE", "/delete", pod)[0] == 403
    code, data = call(stack, "tok-alice", "GET", "/status", [a])
    assert code == 200 and json.loads(data), data
    assert call(stack, "tok-alice", "DELETE", "/delete", a)[0] == 200
    assert call(stack, "tok-vk", "DELETE", "/delete", b)[0] == 200
    assert call(stack, "tok-bob", "DELETE", "/delete", c)[0] == 200
    # /pinglink and /metrics name no pod: any authenticated caller
    assert call(stack, "tok-carol", "POST", "/pinglink")[0] == 200


def test_interlinkctl_as_two_tenants(tenant_stack, tmp_path):
    stack = tenant_stack
    a = secret_pod("alpha", "team-a", "TEAM-A-SECRET")
    b = secret_pod("beta", "team-b", "TEAM-B-SECRET")
    assert create(stack, "tok-alice", a)[0] == 200
    assert create(stack, "tok-bob", b)[0] == 200
    ctl = harness.binary("interlinkctl")

    def run(token, *args):
        path = str(tmp_path / f"{token}.tok")
        with open(path, "w") as f:
            f.write(token + "\n")
        return subprocess.run([ctl, "--url", stack.api_addr, "--token-file", path, *args],
                              capture_output=True, text=True, timeout=60)

    out = run("tok-bob", "get", "pods", "-A")
    assert out.returncode == 0 and "beta" in out.stdout and "alpha" not in out.stdout, out
    out = run("tok-bob", "-n", "team-a", "logs", "alpha")
    assert out.returncode != 0 and "TEAM-A-SECRET" not in out.stdout, out
    assert "403" in out.stderr or "forbidden" in out.stderr, out.stderr
    out = run("tok-bob", "-n", "team-a", "delete", "pod", "alpha")
    assert out.returncode != 0, out
    wait_until(lambda: "TEAM-A-SECRET" in run("tok-alice", "-n", "team-a", "logs",
                                               "alpha").stdout, what="alice's log via ctl")
    out = run("tok-alice", "-n", "team-a", "delete", "pod", "alpha")
    assert out.returncode == 0, out


def test_jwt_subject_and_groups_name_the_caller(stack_factory, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = str(tmp_path / "jwt.pub")
    with open(pub, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    tenants = harness.write_yaml(str(tmp_path / "tenants.yaml"), TENANTS)
    stack = stack_factory(api_extra={"AuthJWT": {"PublicKeyFile": pub, "UserClaim": "uid",
                                                 "GroupsClaim": "roles"},
                                     "TenantsFile": tenants})
    stack.start()

    def token(**claims):
        return jwt.encode({"exp": int(time.time()) + 300, **claims}, key, algorithm="RS256")

    def pods(tok, ns):
        code, data = harness.request(stack.api_addr, "GET", f"/pods?namespace={ns}",
                                     headers={"Authorization": f"Bearer {tok}"})
        return code
    assert pods(token(uid="jwt-user"), "team-j") == 200
    assert pods(token(uid="jwt-user"), "team-k") == 403
    assert pods(token(uid="x", roles=["jwt-group"]), "team-k") == 200
    assert pods(token(uid="x", roles="jwt-group"), "team-k") == 200
    assert pods(token(sub="jwt-user"), "team-j") == 403    # sub is not the claim configured


def test_unauthenticated_mode_says_so(stack_factory):
    stack = stack_factory()
    stack.start()
    assert "UNAUTHENTICATED MODE" in stack.api.output()


def test_tenants_file_needs_authentication_and_a_good_shape(stack_factory, tmp_path):
    from apiutil import run_interlink
    good = harness.write_yaml(str(tmp_path / "t.yaml"), TENANTS)
    bad = harness.write_yaml(str(tmp_path / "bad.yaml"), {"users": {"alice": "team-a"}})
    tokens = str(tmp_path / "tokens")
    with open(tokens, "w") as f:
        f.write(TOKENS)
    for extra, message in (({"TenantsFile": good}, "TenantsFile needs authentication"),
                           ({"TenantsFile": bad, "AuthTokenFile": tokens},
                            "users.alice must be a list")):
        stack = stack_factory(api_extra=extra)
        out = run_interlink(["--config", stack.api_cfg])
        assert out.returncode != 0 and message in out.stderr, out.stderr
    assert os.path.exists(good)


def test_tenants_file_reread_when_it_changes(tenant_stack, tmp_path):
    stack = tenant_stack
    path = str(tmp_path / "tenants.yaml")

    def alice_on_team_c():
        return call(stack, "tok-alice", "GET", "/pods?namespace=team-c")[0]
    assert alice_on_team_c() == 403
    harness.write_yaml(path + ".new", {"users": {"alice": ["team-a", "team-c"]}})
    os.replace(path + ".new", path)
    wait_until(lambda: alice_on_team_c() == 200, timeout=10, what="the new mapping")
    with open(path + ".new", "w") as f:
        f.write("users: {alice: team-a}\n")   # broken: the mapping before stays
    os.replace(path + ".new", path)
    time.sleep(1.5)
    assert alice_on_team_c() == 200
    assert "the mapping read before stays in force" in stack.api.output()
