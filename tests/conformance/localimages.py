"""Local stand-ins for the images the conformance templates name, built into
podman's local storage from software already on this Debian machine (no
registry is ever contacted: interlink-local runs podman with --pull never).

Each recipe builds a root filesystem in a temporary directory and imports it
with `podman import`, setting the image's ENTRYPOINT/CMD/ENV like the real
image, so Kubernetes' command/args semantics (command replaces ENTRYPOINT,
args replace CMD) are exercised for real:

  busybox   busybox-static with every applet linked        CMD ["sh"]
  alpine    the same userland (alpine's /bin/sh is busybox)  CMD ["/bin/sh"]
  python    busybox + Debian's python3.11 with its stdlib   CMD ["python3"], LANG=C.UTF-8
  cowsay    busybox + Debian's bash                         CMD ["/bin/bash"]
  nginx     busybox + the nginx binary of Debian's `nginx` package (the host's
            /usr/sbin/nginx when installed, else `apt-get download nginx`,
            unpacked, never installed)                      ENTRYPOINT ["/docker-entrypoint.sh"]
                                                            CMD ["nginx", "-g", "daemon off;"]

Images carry the label il.conformance.recipe=<RECIPE_VERSION-recipe>; an image
with another label is rebuilt.
"""
import glob
import json
import os
import shlex
import shutil
import subprocess
import tempfile

RECIPE_VERSION = "3"
PREFIX = "localhost/interlink-conformance/"
CACHE_DIR = os.environ.get("IL_CONFORMANCE_CACHE",
                           os.path.join(os.path.expanduser("~"), ".cache", "interlink-conformance"))


class ImageUnavailable(Exception):
    """The stand-in cannot be built here; the message says why."""


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def podman_usable(podman="podman"):
    """None when podman can run a container here, else the reason."""
    if not shutil.which(podman):
        return "podman is not installed"
    try:
        base = image_ref("busybox")
        ensure("busybox", podman)
        r = _run([podman, "--runtime", "runc", "--cgroup-manager", "cgroupfs", "run", "--rm",
                  "--pull", "never", "--network", "host", "--ulimit", "nofile=16384:16384",
                  "--ulimit", "nproc=16384:16384", base, "true"], timeout=120)
    except ImageUnavailable as e:
        return str(e)
    except subprocess.TimeoutExpired:
        return "podman run did not finish within 120 s"
    if r.returncode != 0:
        return "podman cannot run containers here: " + r.stderr.strip()[-300:]
    return None


def image_ref(recipe):
    return {"busybox": PREFIX + "busybox:1.36",
            "alpine": PREFIX + "alpine:3.19",
            "python": PREFIX + "python:3.11-alpine",
            "cowsay": PREFIX + "cowsay:latest",
            "nginx": PREFIX + "nginx:alpine"}[recipe]


# -- root filesystem helpers ----------------------------------------------------------------

def _copy_file(root, path):
    """Copy a host file (following symlinks) to the same path under root."""
    dest = root + os.path.realpath(path) if os.path.islink(path) else root + path
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if not os.path.exists(dest):
        shutil.copy2(os.path.realpath(path), dest)
    if os.path.islink(path) and not os.path.lexists(root + path):
        # keep the name the loader asks for (e.g. libz.so.1 -> libz.so.1.2.13)
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        os.symlink(os.path.realpath(path), root + path)


def _copy_with_libs(root, path, copy_self=True):
    """Copy an ELF file and every shared library ldd resolves for it."""
    if copy_self:
        _copy_file(root, path)
    r = _run(["ldd", path])
    if r.returncode != 0:
        return   # not dynamic (busybox-static) or not ELF
    for line in r.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            lib = line.split("=>", 1)[1].split("(")[0].strip()
            if lib == "not found" or not lib:
                raise ImageUnavailable(f"{path}: a shared library is missing on this host: {line}")
        else:
            lib = line.split("(")[0].strip()
        if lib.startswith("/"):
            _copy_file(root, lib)


def _base_root(root):
    """A merged-/usr busybox userland with /etc/passwd, /tmp and friends."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        raise ImageUnavailable("busybox is not installed (Debian package busybox-static)")
    for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "root", "var/tmp",
              "proc", "sys", "dev", "run"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib64")):
        os.symlink(target, os.path.join(root, link))
    os.makedirs(os.path.join(root, "tmp"))
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2(os.path.realpath(busybox), os.path.join(root, "usr/bin/busybox"))
    _copy_with_libs(root, os.path.realpath(busybox))   # busybox (non-static) needs libc
    applets = _run([busybox, "--list"]).stdout.split()
    if not applets:
        raise ImageUnavailable(f"{busybox} --list printed no applets")
    for a in applets:
        p = os.path.join(root, "usr/bin", a)
        if not os.path.lexists(p):
            os.symlink("busybox", p)
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")
    with open(os.path.join(root, "etc/group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")


def _python(root):
    py = "/usr/bin/python3.11"
    if not os.path.exists(py):
        raise ImageUnavailable("python3.11 is not installed on this host")
    _copy_with_libs(root, py)
    stdlib = "/usr/lib/python3.11"
    shutil.copytree(stdlib, root + stdlib, symlinks=False, ignore_dangling_symlinks=True,
                    ignore=shutil.ignore_patterns("test", "idlelib", "tkinter", "turtledemo",
                                                  "__pycache__", "EXTERNALLY-MANAGED"),
                    dirs_exist_ok=True)
    for so in glob.glob(root + stdlib + "/lib-dynload/*.so"):
        try:
            _copy_with_libs(root, so[len(root):])
        except ImageUnavailable:
            os.unlink(so)   # an optional extension whose library is absent (e.g. tk)
    for name in ("python3", "python"):
        p = os.path.join(root, "usr/bin", name)
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink("python3.11", p)


def _bash(root):
    bash = "/usr/bin/bash" if os.path.exists("/usr/bin/bash") else "/bin/bash"
    p = os.path.join(root, "usr/bin/bash")
    if os.path.lexists(p):
        os.unlink(p)
    _copy_with_libs(root, os.path.realpath(bash))


def _nginx_binary():
    if os.path.exists("/usr/sbin/nginx"):
        return "/usr/sbin/nginx"
    os.makedirs(CACHE_DIR, exist_ok=True)
    extracted = os.path.join(CACHE_DIR, "nginx-deb")
    binary = os.path.join(extracted, "usr/sbin/nginx")
    if os.path.exists(binary):
        return binary
    debs = glob.glob(os.path.join(CACHE_DIR, "nginx_*.deb"))
    if not debs:
        if not shutil.which("apt-get"):
            raise ImageUnavailable("nginx is not installed and apt-get is not available")
        r = _run(["apt-get", "download", "nginx"], cwd=CACHE_DIR, timeout=300)
        debs = glob.glob(os.path.join(CACHE_DIR, "nginx_*.deb"))
        if r.returncode != 0 or not debs:
            raise ImageUnavailable("nginx is not installed and `apt-get download nginx` failed "
                                   "(scripts/deps.sh test fetches it, with apt-get update): "
                                   + (r.stderr or r.stdout).strip()[-200:])
    r = _run(["dpkg-deb", "-x", debs[0], extracted])
    if r.returncode != 0 or not os.path.exists(binary):
        raise ImageUnavailable(f"cannot unpack {debs[0]}: {r.stderr.strip()[-200:]}")
    return binary


def _nginx(root):
    binary = _nginx_binary()
    dest = os.path.join(root, "usr/sbin/nginx")
    shutil.copy2(binary, dest)
    _copy_with_libs(root, binary, copy_self=False)
    for d in ("var/log/nginx", "var/cache/nginx", "etc/nginx", "run"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "docker-entrypoint.sh"), "w") as f:
        f.write("#!/bin/sh\nexec \"$@\"\n")
    os.chmod(os.path.join(root, "docker-entrypoint.sh"), 0o755)


RECIPES = {
    "busybox": ([], ['CMD ["sh"]']),
    "alpine": ([], ['CMD ["/bin/sh"]']),
    "python": ([_python], ['CMD ["python3"]', "ENV LANG=C.UTF-8",
                          "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"]),
    "cowsay": ([_bash], ['CMD ["/bin/bash"]']),
    "nginx": ([_nginx], ['ENTRYPOINT ["/docker-entrypoint.sh"]',
                        'CMD ["nginx", "-g", "daemon off;"]']),
}


def ensure(recipe, podman="podman"):
    """Build the stand-in image for `recipe` unless an up-to-date one exists;
    return its reference.  Raises ImageUnavailable with the reason."""
    ref = image_ref(recipe)
    label = f"{RECIPE_VERSION}-{recipe}"
    r = _run([podman, "image", "inspect", ref, "--format",
              '{{ index .Config.Labels "il.conformance.recipe" }}'])
    if r.returncode == 0 and r.stdout.strip() == label:
        return ref
    steps, changes = RECIPES[recipe]
    with tempfile.TemporaryDirectory(prefix="ilc-image-") as d:
        root = os.path.join(d, "root")
        os.makedirs(root)
        _base_root(root)
        for step in steps:
            step(root)
        tar = os.path.join(d, "rootfs.tar")
        r = _run(["tar", "--numeric-owner", "-C", root, "-cf", tar, "."])
        if r.returncode != 0:
            raise ImageUnavailable(f"tar failed: {r.stderr.strip()[-200:]}")
        argv = [podman, "import"]
        for c in changes + [f"LABEL il.conformance.recipe={label}"]:
            argv += ["--change", c]
        r = _run(argv + [tar, ref], timeout=300)
        if r.returncode != 0:
            raise ImageUnavailable(f"podman import {ref} failed: {r.stderr.strip()[-300:]}")
    return ref


def _runscript(changes):
    """Apptainer's runscript of an image built from Docker metadata:
    ENTRYPOINT then the run's arguments, or CMD when there are none."""
    entry, cmd = [], []
    for c in changes:
        if c.startswith("ENTRYPOINT "):
            entry = json.loads(c[len("ENTRYPOINT "):])
        elif c.startswith("CMD "):
            cmd = json.loads(c[len("CMD "):])
    q = " ".join(shlex.quote(w) for w in entry)
    default = " ".join(shlex.quote(w) for w in entry + cmd)
    return (f"#!/bin/sh\nif [ $# -gt 0 ]; then exec {q} \"$@\"; fi\n"
            f"exec {default}\n").replace("exec  \"$@\"", "exec \"$@\"")


def sandbox(recipe, parent):
    """The stand-in for `recipe` as an apptainer sandbox image (a root
    directory with /.singularity.d/runscript) under parent, built once;
    every directory writable by all, so a container runtime double can make
    its mount points in it.  Returns its path; raises ImageUnavailable."""
    root = os.path.join(parent, f"{RECIPE_VERSION}-{recipe}")
    if os.path.isdir(root):
        return root
    steps, changes = RECIPES[recipe]
    staging = tempfile.mkdtemp(prefix=f".{recipe}-", dir=parent)
    _base_root(staging)
    for step in steps:
        step(staging)
    os.makedirs(os.path.join(staging, ".singularity.d"))
    script = os.path.join(staging, ".singularity.d", "runscript")
    with open(script, "w") as f:
        f.write(_runscript(changes))
    os.chmod(script, 0o755)
    for d, dirs, _ in os.walk(staging):
        for x in dirs + ["."]:
            p = os.path.join(d, x)
            if not os.path.islink(p):
                os.chmod(p, 0o777)
    os.rename(staging, root)
    return root
