"""OIDC for real (issue 10): interlink accepts tokens of an issuer it finds
by discovery (AuthOIDC.Issuer -> /.well-known/openid-configuration ->
jwks_uri), caches the keys, learns a rotated-in key on its unknown kid,
drops a withdrawn one, refuses expired tokens, other issuers and made-up
keys, and does not let made-up kids hammer the issuer.  The issuer is
tests/pylib/oidc_issuer.py: real HTTP, real RS256."""
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import harness
from apiutil import wait_until
from oidc_issuer import Issuer


@pytest.fixture
def issuer():
    i = Issuer().start()
    yield i
    i.stop()


@pytest.fixture
def oidc_stack(stack_factory, tmp_path, issuer):
    tenants = harness.write_yaml(str(tmp_path / "tenants.yaml"), {
        "users": {"alice": ["team-a"]}, "groups": {"ops": ["*"]}})
    stack = stack_factory(api_extra={"AuthOIDC": {"Issuer": issuer.url,
                                                  "MinRefetchSeconds": 1},
                                     "TenantsFile": tenants})
    stack.start()
    return stack


def pods(stack, token, ns="team-a"):
    code, body = harness.request(stack.api_addr, "GET", f"/pods?namespace={ns}",
                                 headers={"Authorization": f"Bearer {token}"})
    return code, body.decode(errors="replace")


def test_discovery_identity_and_expiry(oidc_stack, issuer):
    assert pods(oidc_stack, issuer.token(sub="alice"))[0] == 200
    assert pods(oidc_stack, issuer.token(sub="alice"), "team-b")[0] == 403
    assert pods(oidc_stack, issuer.token(sub="bob", groups=["ops"]), "team-b")[0] == 200
    code, text = pods(oidc_stack, issuer.token(sub="alice", lifetime=-3600))
    assert code == 401 and "expired" in text, text
    other = Issuer().start()   # a valid token of another issuer, same kid
    try:
        code, text = pods(oidc_stack, other.token(sub="alice", kid=issuer.keys[-1][0]))
        assert code == 401, text
    finally:
        other.stop()
    forged = issuer.token(sub="alice", iss="http://127.0.0.1:1/realm")
    assert pods(oidc_stack, forged)[0] == 401
    assert issuer.jwks_fetches == 1   # cached


def test_rotation_mid_run(oidc_stack, issuer):
    old = issuer.token(sub="alice")
    assert pods(oidc_stack, old)[0] == 200
    issuer.rotate(keep_old=False)   # a new key signs; the old one is withdrawn
    time.sleep(1.1)                 # MinRefetchSeconds
    new = issuer.token(sub="alice")
    assert pods(oidc_stack, new)[0] == 200, "the rotated-in key was not learnt"
    assert issuer.jwks_fetches == 2
    code, text = pods(oidc_stack, old)
    assert code == 401 and "not one of issuer" in text, text


def test_unknown_kids_do_not_hammer_the_issuer(oidc_stack, issuer):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert pods(oidc_stack, issuer.token(sub="alice"))[0] == 200
    t0 = time.time()
    for i in range(30):
        code, _ = pods(oidc_stack, issuer.token(sub="alice", key=stranger, kid=f"made-up-{i}"))
        assert code == 401
    elapsed = time.time() - t0
    # one fetch at start, then at most one per MinRefetchSeconds (1 s)
    assert issuer.jwks_fetches <= 2 + int(elapsed), (issuer.jwks_fetches, elapsed)


def test_issuer_down_keeps_known_keys(oidc_stack, issuer):
    token = issuer.token(sub="alice")
    assert pods(oidc_stack, token)[0] == 200
    issuer.stop()
    time.sleep(1.1)
    wait_until(lambda: pods(oidc_stack, token)[0] == 200, timeout=5,
               what="a cached key to keep working")
    code, _ = pods(oidc_stack, issuer.token(sub="alice", kid="unknown"))
    assert code == 401
    assert "cannot load the keys" in oidc_stack.api.output()


def test_vk_gets_and_renews_its_own_token(tmp_path):
    """interlink-vk with OIDC.* (client credentials) runs a pod through an
    interlink that trusts only the issuer; the token is renewed and the
    issuer's key rotated while it runs."""
    import vkutil
    issuer = Issuer(clients={"vk-client": ("s3cret", "vk-cluster-1", [])},
                    token_lifetime=4).start()
    secret = tmp_path / "client-secret"
    secret.write_text("s3cret\n")
    tenants = harness.write_yaml(str(tmp_path / "tenants.yaml"),
                                 {"users": {"vk-cluster-1": ["*"]}})
    kube = vkutil.FakeKube(str(tmp_path / "kube"))
    stack = harness.Stack(str(tmp_path / "stack"), api_extra={
        "AuthOIDC": {"Issuer": issuer.url, "MinRefetchSeconds": 1}, "TenantsFile": tenants})
    vk = None
    try:
        stack.start()
        vk = vkutil.VK(str(tmp_path), kube, stack, InterlinkURL=stack.api_addr,
                       OIDC={"TokenURL": issuer.url + "/token", "ClientID": "vk-client",
                             "ClientSecretFile": str(secret)}).start()
        wait_until(lambda: issuer.tokens_issued >= 1, timeout=30, what="the VK's first token")
        issuer.rotate(keep_old=False)
        kube.create_pod("oidc", [{"name": "c", "image": "busybox",
                                  "command": ["sh", "-c", "sleep 6; echo hi"]}])
        pod = vkutil.wait_for("pod oidc done", lambda: vkutil.phase(kube.pod("oidc"))
                              in ("Succeeded", "Failed") and kube.pod("oidc"), timeout=90)
        assert pod["status"]["phase"] == "Succeeded", pod["status"]
        assert issuer.tokens_issued >= 2, "the token was not renewed"
        assert "HTTP 401" not in vk.output()
    finally:
        if vk is not None:
            assert vk.stop() == 0, vk.output()[-3000:]
        stack.stop()
        kube.stop()
        issuer.stop()
