"""The submitting user reaches SLURM (issue 10): interlink authenticates two
callers by named tokens, passes their identity to interlink-slurm, whose
IdentityMapFile maps each to a SLURM account (created with sacctmgr in a
real SLURM with accounting) and to a local Unix user (created here with
useradd): the job runs as that user, billed to that account, with the
identity in its comment.  A caller the map does not know is refused (403).
"""
import os
import pwd
import shutil
import tempfile

import pytest

import harness as h
import identityutil as iu
import slurmutil as su

SUFFIX = str(os.getpid() % 100000)
USERS = {"alice": f"ila{SUFFIX}", "bob": f"ilb{SUFFIX}"}
ACCOUNTS = {"alice": "acct-a", "bob": "acct-b"}


@pytest.fixture(scope="module")
def cluster():
    iu.need_useradd()
    c = su.start_cluster(cpus=4, accounting=True)
    try:
        if c.error:
            pytest.skip(f"SLURM with accounting cannot start here: {c.error}")
        # the mapped users' sbatch must reach slurm.conf and munge's socket
        os.chmod(c.dir, 0o755)
        os.chmod(os.path.join(c.dir, "munge"), 0o755)
        with iu.unix_users(USERS.values()):
            for name, unix in USERS.items():
                for argv in (["sacctmgr", "-i", "add", "account", ACCOUNTS[name]],
                             ["sacctmgr", "-i", "add", "user", unix,
                              f"account={ACCOUNTS[name]}"]):
                    r = c.run(*argv)
                    assert r.returncode == 0, r.stderr
            yield c
    finally:
        su.stop_cluster(c)


@pytest.fixture
def stack(cluster):
    top = tempfile.mkdtemp(prefix="ilid-", dir="/tmp")
    os.chmod(top, 0o755)   # the jobs, run as the mapped users, live in here
    plugin_extra, api_extra = iu.write_files(top, {
        name: {"Account": ACCOUNTS[name], "UnixUser": USERS[name]} for name in USERS})
    s = su.SlurmStackWithPods(os.path.join(top, "s"), cluster, plugin_extra=plugin_extra,
                              api_extra=api_extra)
    os.chmod(s.dir, 0o755)
    s.start()
    yield s
    try:
        iu.delete_all(s, s.pods)
        s.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def job_fields(cluster, jid):
    r = cluster.run("squeue", "-h", "-j", jid, "-o", "%u|%a|%k")
    return r.stdout.strip()


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_job_runs_as_the_mapped_user_and_account(stack, cluster, who):
    ns = "team-a" if who == "alice" else "team-b"
    pod = h.make_pod(f"whoami-{who}", [h.container("main", ["sh", "-c", "id -un; sleep 60"])],
                     namespace=ns, grace=1)
    stack.pods.append(pod)
    code, body = iu.call(stack, f"tok-{who}", "POST", "/create", h.create_request(pod))
    assert code == 200, body
    jid = body["PodJID"]
    assert job_fields(cluster, jid) == f"{USERS[who]}|{ACCOUNTS[who]}|interlink user={who} " \
                                       f"tenant={ns}"
    pod_dir = stack.pod_dir(pod)
    assert os.stat(pod_dir).st_uid == pwd.getpwnam(USERS[who]).pw_uid
    iu.wait_logs_show(stack, who, pod, USERS[who], timeout=60)   # the job's id -un
    assert iu.call(stack, f"tok-{who}", "DELETE", "/delete", pod)[0] == 200


def test_unmapped_caller_is_refused(stack, cluster):
    iu.assert_unmapped_refused(stack, lambda: [job[1] for job in cluster.squeue_ids()])


def test_oidc_token_from_the_vk_to_a_job_under_the_mapped_account(cluster, tmp_path):
    """The whole path: interlink-vk gets a token from the OIDC issuer
    (client credentials), interlink accepts it by discovery and names the
    caller by its subject, interlink-slurm maps that subject to an account
    and a Unix user, and the pod's job runs so."""
    import vkutil
    from oidc_issuer import Issuer
    issuer = Issuer(clients={"vk-client": ("s3cret", "vk-cluster-1", [])}).start()
    top = tempfile.mkdtemp(prefix="ilid-", dir="/tmp")
    os.chmod(top, 0o755)
    secret = os.path.join(top, "secret")
    with open(secret, "w") as f:
        f.write("s3cret\n")
    tenants = h.write_yaml(os.path.join(top, "tenants.yaml"),
                           {"users": {"vk-cluster-1": ["*"]}})
    idmap = h.write_yaml(os.path.join(top, "idmap.yaml"), {"users": {
        "vk-cluster-1": {"Account": ACCOUNTS["alice"], "UnixUser": USERS["alice"]}}})
    s = su.SlurmStack(os.path.join(top, "s"), cluster,
                      plugin_extra={"IdentityMapFile": idmap},
                      api_extra={"AuthOIDC": {"Issuer": issuer.url}, "TenantsFile": tenants})
    os.chmod(s.dir, 0o755)
    kube = vkutil.FakeKube(str(tmp_path / "kube"))
    vk = None
    try:
        s.start()
        vk = vkutil.VK(str(tmp_path), kube, s, OIDC={
            "TokenURL": issuer.url + "/token", "ClientID": "vk-client",
            "ClientSecretFile": secret}).start()
        kube.create_pod("oidc-slurm", [{"name": "c", "image": "busybox",
                                        "command": ["sh", "-c", "id -un; sleep 30"]}])

        def job():
            for line in cluster.run("squeue", "-h", "-o", "%u|%a|%k").stdout.split("\n"):
                if "interlink user=vk-cluster-1" in line:
                    return line
            return None
        line = h.wait_for("the pod's job in squeue", job, timeout=60)
        assert line.startswith(f"{USERS['alice']}|{ACCOUNTS['alice']}|"), line
        assert issuer.tokens_issued >= 1 and "HTTP 401" not in vk.output()
        kube.delete_pod("oidc-slurm")
        h.wait_for("the job gone", lambda: job() is None, timeout=60)
    finally:
        if vk is not None:
            assert vk.stop() == 0, vk.output()[-3000:]
        s.stop()
        kube.stop()
        issuer.stop()
        shutil.rmtree(top, ignore_errors=True)
