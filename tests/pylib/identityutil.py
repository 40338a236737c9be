"""Per-tenant identity on a batch plugin (test_slurm_identity,
test_htcondor_identity): local Unix users made for the test, the files
interlink and the plugin read (named tokens, tenants, IdentityMapFile), and
calls made as one caller.

Three callers: alice (tenant team-a) and bob (team-b), whom the test's map
maps, and carol (any tenant), whom it does not."""
import contextlib
import os
import shutil
import subprocess

import pytest

import harness as h

TENANTS = {"alice": ["team-a"], "bob": ["team-b"], "carol": ["*"]}


def need_useradd():
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd")


@contextlib.contextmanager
def unix_users(names):
    """Local accounts (no home directory) for the test, removed at the end."""
    try:
        for unix in names:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", unix],
                           check=True, capture_output=True)
        yield
    finally:
        for unix in names:
            subprocess.run(["userdel", unix], capture_output=True)


def write_files(top, idmap_users):
    """tokens (tok-NAME for each caller), tenants and the IdentityMapFile
    (users: idmap_users) in top: (the plugin's extra config, interlink's)."""
    tokens = os.path.join(top, "tokens")
    with open(tokens, "w") as f:
        f.write("".join(f"tok-{name} {name}\n" for name in TENANTS))
    tenants = h.write_yaml(os.path.join(top, "tenants.yaml"), {"users": TENANTS})
    idmap = h.write_yaml(os.path.join(top, "idmap.yaml"), {"users": idmap_users})
    return {"IdentityMapFile": idmap}, {"AuthTokenFile": tokens, "TenantsFile": tenants}


def call(s, token, method, path, body):
    return h.request_json(s.api_addr, method, path, body,
                          headers={"Authorization": f"Bearer {token}"})


def delete_all(s, pods):
    """Teardown: every pod deleted as carol, who may name any tenant."""
    for pod in pods:
        h.request(s.api_addr, "DELETE", "/delete", pod,
                  headers={"Authorization": "Bearer tok-carol"})


def wait_logs_show(s, who, pod, text, timeout):
    """The pod's main container logs, read as who, come to contain text."""
    def printed():
        code, data = h.request(s.api_addr, "GET", "/getLogs", h.log_struct(pod, "main"),
                               headers={"Authorization": f"Bearer tok-{who}"})
        return code == 200 and text.encode() in data
    h.wait_for(f"{text} in the logs", printed, timeout=timeout)


def assert_unmapped_refused(s, backend_uids):
    """carol's create is refused with 403 naming her, and leaves no pod
    directory and no job (backend_uids(): the pod UIDs the backend has jobs
    for)."""
    pod = h.make_pod("carol", [h.container("main", ["true"])], namespace="team-c")
    code, body = call(s, "tok-carol", "POST", "/create", h.create_request(pod))
    assert code == 403, body
    assert 'user "carol"' in str(body) and "not mapped" in str(body), body
    assert not os.path.exists(s.pod_dir(pod))
    assert pod["metadata"]["uid"] not in backend_uids()
