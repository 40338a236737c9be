"""Per-tenant identity on the real HTCondor pool of ../shared/htcondor
(skipped with the reason when absent): interlink authenticates two callers
by named tokens and passes their identity to interlink-htcondor, whose
IdentityMapFile (interlink-slurm's format) maps each to a local Unix user
(created here) and an accounting group: the job is submitted as, owned by
and run as that user, under that group, with the caller in its ad; its
delete runs as that user too.  Concurrent creates of the two users never
share a condor_submit.  A caller the map does not know is refused (403)."""
import concurrent.futures as cf
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

import harness as h
import htcondorutil as hu

SUFFIX = str(os.getpid() % 100000)
USERS = {"alice": f"ihca{SUFFIX}", "bob": f"ihcb{SUFFIX}"}
GROUPS = {"alice": "group_a.alice", "bob": "group_b"}
NS = {"alice": "team-a", "bob": "team-b"}


@pytest.fixture(scope="module")
def pool():
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd")
    with hu.module_pool() as p:
        try:
            for unix in USERS.values():
                subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", unix],
                               check=True, capture_output=True)
            yield p
        finally:
            for unix in USERS.values():
                subprocess.run(["userdel", unix], capture_output=True)


@pytest.fixture
def stack(tmp_path, pool):
    top = tempfile.mkdtemp(prefix="ilhtcid-", dir="/tmp")
    tokens = os.path.join(top, "tokens")
    with open(tokens, "w") as f:
        f.write("tok-alice alice\ntok-bob bob\ntok-carol carol\n")
    tenants = h.write_yaml(os.path.join(top, "tenants.yaml"), {
        "users": {"alice": ["team-a"], "bob": ["team-b"], "carol": ["*"]}})
    idmap = h.write_yaml(os.path.join(top, "idmap.yaml"), {"users": {
        name: {"Account": GROUPS[name], "UnixUser": USERS[name], "QoS": "ignored"}
        for name in USERS}})
    s = hu.CondorStack(tmp_path / "s", pool,
                       plugin_extra={"IdentityMapFile": idmap, "SubmitBatchWindowMs": 300},
                       api_extra={"AuthTokenFile": tokens, "TenantsFile": tenants}).start()
    yield s
    try:
        for pod in s.pods:
            h.request(s.api_addr, "DELETE", "/delete", pod,
                      headers={"Authorization": "Bearer tok-carol"})
        s.stop()
        pool.wait_gone(s.pods)
    finally:
        shutil.rmtree(s.data, ignore_errors=True)
        shutil.rmtree(top, ignore_errors=True)


def call(s, token, method, path, body):
    return h.request_json(s.api_addr, method, path, body,
                          headers={"Authorization": f"Bearer {token}"})


def test_jobs_submitted_run_and_removed_as_the_mapped_users(stack, pool):
    pods = {who: [h.make_pod(f"whoami-{who}{i}", [h.container(
        "main", ["sh", "-c", "id -un; sleep 300"])], namespace=NS[who], grace=1)
        for i in range(2)] for who in USERS}
    work = [(who, pod) for who in USERS for pod in pods[who]]
    stack.pods += [pod for _, pod in work]
    with cf.ThreadPoolExecutor(len(work)) as ex:
        answers = list(ex.map(lambda w: call(stack, f"tok-{w[0]}", "POST", "/create",
                                             h.create_request(w[1])), work))
    assert [code for code, _ in answers] == [200] * len(work), answers
    clusters = {}
    for (who, pod), (_, body) in zip(work, answers):
        jid = body["PodJID"]
        clusters.setdefault(jid.split(".")[0], set()).add(who)
        ad = pool.job_ad(jid, ["Owner", "AcctGroup", "InterLinkUser", "InterLinkTenant"])
        assert ad["Owner"] == USERS[who], ad
        assert ad["AcctGroup"] == GROUPS[who], ad
        assert ad["InterLinkUser"] == who and ad["InterLinkTenant"] == NS[who], ad
        assert os.stat(stack.pod_dir(pod)).st_uid == pwd.getpwnam(USERS[who]).pw_uid
    assert all(len(users) == 1 for users in clusters.values()), clusters
    for who, pod in work:
        def printed():
            code, data = h.request(stack.api_addr, "GET", "/getLogs",
                                   h.log_struct(pod, "main"),
                                   headers={"Authorization": f"Bearer tok-{who}"})
            return code == 200 and USERS[who].encode() in data
        h.wait_for("the job's id -un", printed, timeout=90)
    for who, pod in work:   # condor_rm as the job's owner: SubmitUser may not
        code, body = call(stack, f"tok-{who}", "DELETE", "/delete", pod)
        assert code == 200, body
        assert pool.jobs_of(pod["metadata"]["uid"]) and \
            all(j[1] != pod["metadata"]["uid"] for j in pool.queue())


def test_unmapped_caller_is_refused(stack, pool):
    pod = h.make_pod("carol", [h.container("main", ["true"])], namespace="team-c")
    code, body = call(stack, "tok-carol", "POST", "/create", h.create_request(pod))
    assert code == 403, body
    assert 'user "carol"' in str(body) and "not mapped" in str(body), body
    assert not os.path.exists(stack.pod_dir(pod))
    assert all(job[1] != pod["metadata"]["uid"] for job in pool.queue())
