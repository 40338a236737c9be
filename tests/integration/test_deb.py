"""The Debian package (`make deb`) in a clean Debian 12 root: dpkg installs
it, its postinst creates the system user, /etc/interlink and the state
directories, and interlink + interlink-local run from the installed paths as
that user (in a mount namespace of their own, the root as their /, as
systemd's units would run them) and take a pod through create, status, logs
and delete.  `make deb-test` runs it with IL_DEB set; the root comes from
scripts/debian-root.sh (mmdebstrap, cached)."""
import os
import re
import shutil
import subprocess
import tarfile

import pytest

import harness
import vkutil

DEB = os.environ.get("IL_DEB")
pytestmark = pytest.mark.skipif(not DEB, reason="IL_DEB is not set: `make deb-test` builds the "
                                "package and runs this test")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("installing into a chroot needs root")
    work = tmp_path_factory.mktemp("debroot")
    tar = str(work / "root.tar")
    r = subprocess.run([os.path.join(harness.SRC_DIR, "scripts", "debian-root.sh"), tar],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode == 77:
        pytest.skip("no Debian 12 root: " + r.stderr.strip().splitlines()[-1])
    assert r.returncode == 0, r.stderr
    path = str(work / "root")
    os.makedirs(path)
    with tarfile.open(tar) as t:
        t.extractall(path, numeric_owner=True)
    os.unlink(tar)
    shutil.copy(DEB, os.path.join(path, "tmp", "interlink.deb"))
    yield path
    harness.kill_processes_under(path)


def in_root(root, *argv, user=None):
    cmd = ["chroot"] + ([f"--userspec={user}:{user}"] if user else []) + [root, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def daemon_in_root(root, name, env, log):
    """The daemon as its unit runs it: the interlink user, /proc of its own,
    the root as / (pivot_root in a mount namespace, not chroot: a chrooted
    process may not create user namespaces, which bubblewrap needs); its
    pid is the daemon's (exec all the way)."""
    inner = ("umount -l /mnt && exec setpriv --reuid=interlink --regid=interlink --init-groups "
             f"env {env} /usr/bin/{name}")
    script = ('mount --bind "$R" "$R" && mount -t proc proc "$R/proc" && '
              'mount --rbind /dev "$R/dev" && cd "$R" && pivot_root . mnt && '
              f"exec /usr/bin/env -i PATH=/usr/bin:/bin /bin/sh -c '{inner}'")
    return harness.Daemon(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          log, env={"R": root})


def test_package_installs_and_its_daemons_run_a_pod(root, tmp_path):
    r = in_root(root, "dpkg", "-i", "/tmp/interlink.deb")
    assert r.returncode == 0, r.stdout + r.stderr
    # postinst: the system user, configs, state directories
    with open(os.path.join(root, "etc", "passwd")) as f:
        user = next(line for line in f if line.startswith("interlink:")).split(":")
    assert int(user[2]) < 1000 and user[5] == "/var/lib/interlink"
    for f in ("InterLinkConfig.yaml", "interlink-local.yaml", "interlink-slurm.yaml", "vk.yaml",
              "gateway.yaml"):
        assert os.path.isfile(os.path.join(root, "etc", "interlink", f)), f
    for d in ("interlink", "interlink-local", "interlink-slurm", "interlink-gateway"):
        st = os.stat(os.path.join(root, "var", "lib", d))
        assert st.st_uid == int(user[2]) and oct(st.st_mode & 0o777) == "0o750", d
    for u in ("interlink", "interlink-local", "interlink-slurm", "interlink-vk",
              "interlink-gateway"):
        assert os.path.isfile(os.path.join(root, "lib", "systemd", "system", u + ".service"))
    r = in_root(root, "/usr/bin/interlink-gateway", "--version")
    assert r.returncode == 0 and r.stdout.startswith("interlink-gateway "), r
    r = in_root(root, "/usr/bin/interlink", "--version")
    assert r.returncode == 0 and r.stdout.startswith("interlink "), r
    uid = int(user[2])

    # The site's files, as docs/deploy.md has the admin make them: interlink
    # on HTTPS with mTLS (on loopback here), relaying to interlink-local.
    port = vkutil.free_port()
    r = in_root(root, "/usr/bin/interlinkctl", "setup", "--backend", "local",
                "--interlink-host", "127.0.0.1", "--port", str(port), "--out", "/root/site")
    assert r.returncode == 0 and "Next steps" in r.stdout, r.stdout + r.stderr
    r = in_root(root, "sh", "-c", "cp -r /root/site/edge/* /etc/interlink/ && "
                "chgrp -R interlink /etc/interlink")
    assert r.returncode == 0, r.stderr
    # InterLinkConfig.yaml now points at interlink-local: an upgrade keeps it.
    cfg = os.path.join(root, "etc", "interlink", "InterLinkConfig.yaml")
    text = open(cfg).read()
    assert "interlink-local/plugin.sock" in text
    r = in_root(root, "dpkg", "-i", "/tmp/interlink.deb")
    assert r.returncode == 0 and open(cfg).read() == text, r.stdout + r.stderr

    # The RuntimeDirectory= systemd would make.
    for d in ("interlink", "interlink-local"):
        p = os.path.join(root, "run", d)
        os.makedirs(p, exist_ok=True)
        os.chown(p, uid, uid)
        os.chmod(p, 0o750)
    plugin = daemon_in_root(root, "interlink-local",
                            "LOCALCONFIGPATH=/etc/interlink/interlink-local.yaml",
                            str(tmp_path / "local.log")).start()
    api = None
    cluster = os.path.join(root, "root", "site", "cluster")
    ctl = [harness.binary("interlinkctl"), "--url", f"https://127.0.0.1:{port}",
           "--cacert", os.path.join(cluster, "ca.crt"), "--cert", os.path.join(cluster, "vk.crt"),
           "--key", os.path.join(cluster, "vk.key")]

    def run(*args):
        return subprocess.run(ctl + list(args), capture_output=True, text=True, timeout=60)
    try:
        harness.wait_for_socket("unix://" + os.path.join(root, "run/interlink-local/plugin.sock"),
                                plugin.proc)
        api = daemon_in_root(root, "interlink",
                             "INTERLINKCONFIGPATH=/etc/interlink/InterLinkConfig.yaml",
                             str(tmp_path / "interlink.log")).start()
        harness.wait_for("interlink answering", lambda: api.proc.poll() is None
                         and run("ping").returncode == 0, timeout=30)
        pod = tmp_path / "pod.yaml"
        pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: from-deb}\nspec:\n"
                       "  containers:\n  - name: main\n    image: busybox\n"
                       "    command: [/bin/sh, -c, 'id -un; echo packaged']\n")
        r = run("apply", "-f", str(pod))
        assert r.returncode == 0, r.stdout + r.stderr
        harness.wait_for("the pod's log", lambda: run("logs", "from-deb").stdout ==
                         "interlink\npackaged\n", timeout=60)
        r = run("get", "pods", "-o", "wide")
        assert re.search(r"from-deb +0/1 +Completed", r.stdout), r.stdout
        # state in the package's directories, owned by the system user
        db = os.path.join(root, "var", "lib", "interlink", "interlink.db")
        assert os.stat(db).st_uid == uid
        pods = os.path.join(root, "var", "lib", "interlink-local", "pods")
        assert len(os.listdir(pods)) == 1
        r = run("delete", "pod", "from-deb")
        assert r.returncode == 0, r.stdout + r.stderr
        harness.wait_for("the pod's directory removed", lambda: not os.listdir(pods), timeout=30)
    finally:
        problems = []
        for d in (api, plugin):
            if d is not None:
                problems += d.stop_and_check()
        assert not problems, problems
