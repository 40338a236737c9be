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
import tempfile

import pytest

import harness as h
import htcondorutil as hu
import identityutil as iu

SUFFIX = str(os.getpid() % 100000)
USERS = {"alice": f"ihca{SUFFIX}", "bob": f"ihcb{SUFFIX}"}
GROUPS = {"alice": "group_a.alice", "bob": "group_b"}
NS = {"alice": "team-a", "bob": "team-b"}


@pytest.fixture(scope="module")
def pool():
    iu.need_useradd()
    with hu.module_pool() as p, iu.unix_users(USERS.values()):
        yield p


@pytest.fixture
def stack(tmp_path, pool):
    top = tempfile.mkdtemp(prefix="ilhtcid-", dir="/tmp")
    plugin_extra, api_extra = iu.write_files(top, {
        name: {"Account": GROUPS[name], "UnixUser": USERS[name], "QoS": "ignored"}
        for name in USERS})
    s = hu.CondorStack(tmp_path / "s", pool,
                       plugin_extra={**plugin_extra, "SubmitBatchWindowMs": 300},
                       api_extra=api_extra).start()
    yield s
    try:
        iu.delete_all(s, s.pods)
        s.stop()
        pool.wait_gone(s.pods)
    finally:
        shutil.rmtree(s.data, ignore_errors=True)
        shutil.rmtree(top, ignore_errors=True)


def test_jobs_submitted_run_and_removed_as_the_mapped_users(stack, pool):
    pods = {who: [h.make_pod(f"whoami-{who}{i}", [h.container(
        "main", ["sh", "-c", "id -un; sleep 300"])], namespace=NS[who], grace=1)
        for i in range(2)] for who in USERS}
    work = [(who, pod) for who in USERS for pod in pods[who]]
    stack.pods += [pod for _, pod in work]
    with cf.ThreadPoolExecutor(len(work)) as ex:
        answers = list(ex.map(lambda w: iu.call(stack, f"tok-{w[0]}", "POST", "/create",
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
        iu.wait_logs_show(stack, who, pod, USERS[who], timeout=90)   # the job's id -un
    for who, pod in work:   # condor_rm as the job's owner: SubmitUser may not
        code, body = iu.call(stack, f"tok-{who}", "DELETE", "/delete", pod)
        assert code == 200, body
        assert pool.jobs_of(pod["metadata"]["uid"]) and \
            all(j[1] != pod["metadata"]["uid"] for j in pool.queue())


def test_unmapped_caller_is_refused(stack, pool):
    iu.assert_unmapped_refused(stack, lambda: [job[1] for job in pool.queue()])
