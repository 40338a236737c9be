"""`make install` (cmake --install with DESTDIR): the installed tree, the
systemd units (`systemd-analyze verify` clean, hardening measured by
`systemd-analyze security`), and the installed daemons running a pod."""
import os
import re
import shutil
import subprocess

import pytest

import harness

BUILD_DIR = os.path.dirname(os.path.abspath(harness.BIN_DIR))
DAEMONS = ("interlink", "interlink-local", "interlink-slurm", "interlink-vk", "interlink-gateway")
UNITS = [d + ".service" for d in DAEMONS]


def cache_value(key):
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split("=", 1)[1].strip()
    raise KeyError(key)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The tree `make install DESTDIR=root` makes from this build."""
    root = str(tmp_path_factory.mktemp("install") / "root")
    r = subprocess.run(["cmake", "--install", BUILD_DIR], env={**os.environ, "DESTDIR": root},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    prefix = cache_value("CMAKE_INSTALL_PREFIX")
    unitdir = cache_value("IL_SYSTEMD_UNITDIR")
    return {"root": root, "prefix": prefix, "bin": root + prefix + "/bin",
            "units": root + unitdir, "share": root + prefix + "/share/interlink"}


def test_tree_has_binaries_units_and_examples(installed):
    for b in DAEMONS + ("interlinkctl",):
        path = os.path.join(installed["bin"], b)
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and re.search(r"\d+\.\d+\.\d+", r.stdout), (b, r)
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "usage" in (r.stdout + r.stderr).lower(), (b, r)
    for u in UNITS:
        text = open(os.path.join(installed["units"], u)).read()
        # paths filled in for this prefix, nothing left to substitute
        assert f"ExecStart={installed['prefix']}/bin/" in text, u
        assert not re.search(r"@[A-Z_]+@", text), u
    for c in ("InterLinkConfig.yaml", "interlink-local.yaml", "interlink-slurm.yaml", "vk.yaml",
              "gateway.yaml"):
        assert os.path.isfile(os.path.join(installed["share"], "examples", c)), c
    sysusers = installed["root"] + installed["prefix"] + "/lib/sysusers.d/interlink.conf"
    assert open(sysusers).read().splitlines()[-1].startswith("u interlink ")


def units_pointing_into(installed, directory):
    """The installed units with ExecStart pointing at the DESTDIR binaries
    (verify checks that the command exists)."""
    os.makedirs(directory, exist_ok=True)
    out = []
    for u in UNITS:
        text = open(os.path.join(installed["units"], u)).read()
        text = text.replace(f"ExecStart={installed['prefix']}/bin/",
                            f"ExecStart={installed['bin']}/")
        path = os.path.join(directory, u)
        with open(path, "w") as f:
            f.write(text)
        out.append(path)
    return out


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_units_verify_clean_and_hardened(installed, tmp_path):
    units = units_pointing_into(installed, str(tmp_path / "units"))
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r
    exposure = {}
    for path in units:
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", path],
                           capture_output=True, text=True, timeout=120)
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout + r.stderr)
        assert m, r
        exposure[os.path.basename(path)] = float(m.group(1))
    print("systemd-analyze security exposure:", exposure)
    # interlink and the VK only need their sockets and state: locked down.
    # The plugins start pods (user namespaces) and SLURM commands: less so.
    assert exposure["interlink.service"] <= 2.5 and exposure["interlink-vk.service"] <= 2.5
    assert all(v < 8.0 for v in exposure.values()), exposure
    for path in units:
        text = open(path).read()
        for line in ("NoNewPrivileges=yes", "Restart=on-failure", "User=interlink"):
            assert line in text, (path, line)
        assert "ProtectSystem=" in text
        if "interlink-vk" not in path:
            name = os.path.basename(path)[:-len(".service")]
            assert f"RuntimeDirectory={name}" in text and f"StateDirectory={name}" in text


def test_installed_daemons_run_a_pod(installed, tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "BIN_DIR", installed["bin"])
    stack = harness.Stack(tmp_path).start()
    try:
        assert stack.api.proc.args[0].startswith(installed["bin"])
        pod = harness.make_pod("installed", [harness.sh("main", "echo from-the-install")])
        code, body = stack.create(harness.create_request(pod))
        assert code == 200, body
        phase, _ = stack.wait_phase(pod)
        assert phase == "Succeeded"
        assert harness.logs(stack, pod, "main") == b"from-the-install\n"
    finally:
        stack.stop()


def test_deb_builds_every_installed_program():
    """`make deb` builds only named targets before cpack installs them: a
    program installed but not built there breaks the package."""
    src = harness.SRC_DIR
    with open(os.path.join(src, "deploy", "install.cmake")) as f:
        installed = re.search(r"install\(TARGETS\s+([^)]*?)\s+RUNTIME", f.read()).group(1)
    with open(os.path.join(src, "Makefile")) as f:
        recipe = re.search(r"\ndeb:.*?\n((?:\t.*\n)+)", f.read()).group(1)
    built = re.search(r"--target\s+((?:[\w-]+\s|\\\s*)+)", recipe).group(1)
    built = set(built.replace("\\", " ").split())
    assert set(installed.split()) <= built, (installed, built)
