#!/usr/bin/python3
"""A stand-in for `apptainer` (Apptainer cannot be installed here), faithful
in what the runner's supervisor relies on, for tests only:

    fake_apptainer.py exec|run [--no-eval] [--containall] [--nv] [--pwd DIR]
                      [--bind SRC:DST[:ro|rw]]... IMAGE [COMMAND ARGS...]

IMAGE is a sandbox image: a root filesystem directory (what `apptainer
build --sandbox` makes), given as a path; `docker://` and other registry
references are refused, as an offline apptainer refuses them.  The
container is that directory as `/` under bubblewrap (new mount, pid, ipc
and uts namespaces), read-only as apptainer mounts a sandbox without
--writable, with /proc, a /dev holding the host's null, zero, full, random,
urandom and tty (apptainer's own minimal /dev; bubblewrap's --dev would
nest a second user namespace, which apptainer does not make, and an exec
into the container could not enter the first one's), a fresh /tmp, the --bind mounts, and the
working directory --pwd (else /).  The environment is apptainer's: with
--containall (and --no-eval) none of the caller's, only the
APPTAINERENV_NAME=value variables as NAME=value, plus PATH and HOME (/root
is the default home under --containall: a fresh tmpfs).  `exec` runs
COMMAND; `run` runs the image's /.singularity.d/runscript with the
arguments appended.  The exit status is the command's (127: not found), a
signal as 128+N; unknown options are refused (exit 255) as apptainer
refuses them.  Every invocation appends its argv as one JSON line to
apptainer.calls next to this script when that file exists (a batch job
does not inherit the test's environment)."""
import json
import os
import sys

BWRAP = os.environ.get("FAKE_APPTAINER_BWRAP", "bwrap")
DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def fail(msg):
    print(f"FATAL:   {msg}", file=sys.stderr)
    sys.exit(255)


def main(argv):
    log = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apptainer.calls")
    if os.path.exists(log):
        with open(log, "a") as f:
            f.write(json.dumps(argv) + "\n")
    if not argv or argv[0] not in ("exec", "run"):
        fail(f"unknown command {argv[:1]}: exec and run are implemented")
    verb, rest = argv[0], argv[1:]
    binds, pwd, containall = [], "/", False
    while rest and rest[0].startswith("-"):
        opt = rest.pop(0)
        if opt in ("--no-eval", "--nv", "--cleanenv"):
            continue
        if opt == "--containall":
            containall = True
        elif opt in ("--pwd", "--bind", "-B") and rest:
            value = rest.pop(0)
            if opt == "--pwd":
                pwd = value
            else:
                parts = value.split(":")
                if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                    fail(f"bad --bind {value!r}: SRC:DST[:ro|rw] expected")
                binds.append(parts)
        else:
            fail(f"unknown option {opt}")
    if not rest:
        fail("no image")
    image, command = rest[0], rest[1:]
    if "://" in image:
        fail(f"could not pull {image}: no registry is reachable (sandbox directories only)")
    if not os.path.isdir(image):
        fail(f"image {image} is not a sandbox directory")
    if verb == "exec" and not command:
        fail("exec needs a command")
    if verb == "run":
        command = ["/.singularity.d/runscript"] + command
    env = {} if containall else {k: v for k, v in os.environ.items()
                                 if not k.startswith(("APPTAINERENV_", "FAKE_APPTAINER_"))}
    env.setdefault("PATH", DEFAULT_PATH)
    env["HOME"] = "/root"
    for k, v in os.environ.items():
        if k.startswith("APPTAINERENV_") and len(k) > len("APPTAINERENV_"):
            env[k[len("APPTAINERENV_"):]] = v
    args = [BWRAP, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--bind", image, "/", "--proc", "/proc", "--tmpfs", "/dev"]
    for dev in DEVICES:
        if os.path.exists(dev):
            args += ["--dev-bind", dev, dev]
    args += ["--tmpfs", "/tmp", "--tmpfs", "/root"]
    for b in binds:
        args += ["--ro-bind" if len(b) == 3 and b[2] == "ro" else "--bind", b[0], b[1]]
    args += ["--remount-ro", "/", "--chdir", pwd, "--clearenv"]
    for k, v in env.items():
        args += ["--setenv", k, v]
    args += ["--"] + command
    os.execvp(args[0], args)


if __name__ == "__main__":
    main(sys.argv[1:])
