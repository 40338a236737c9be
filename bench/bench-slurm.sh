#!/usr/bin/env bash
# bench-slurm.sh BINDIR -- interlink -> interlink-slurm figures against the
# real single-node SLURM of tests/slurm, measured in one run:
#
#   1. submission rate: N pods created through the interlink API by 8
#      concurrent clients (as a virtual kubelet's workers) versus the same N
#      plain `sbatch --hold --output=/dev/null --wrap true` run by 8
#      concurrent workers -- the physical limit here, measured with the same
#      parallelism.  The plain serial loop the issue names as the yardstick
#      is printed and compared too; it leaves one of the two cores idle, so
#      the parallel comparison is the stricter one.
#      The two alternate, BENCH_ROUNDS times, and the means are compared;
#   2. one /status call covering 1000 pods: its duration and how many times
#      squeue and sacct ran (SqueuePath and SacctPath point at wrappers that
#      count invocations).
#
# Jobs are submitted held (--hold) on both sides, so that running them does
# not compete with the submission being measured; everything is cancelled
# and SLURM stopped at the end.  Knobs: BENCH_SUBMIT_N (200),
# BENCH_STATUS_N (1000), BENCH_ROUNDS (3).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BINDIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd -P)
SRC=$(cd "$(dirname "$0")/.." && pwd -P)
WORK=$(mktemp -d /tmp/ilbench-XXXXXX)
SLURM="$WORK/slurm"
cleanup() {
    "$SRC/tests/slurm/slurm-down.sh" "$SLURM" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

eval "$(SLURM_UP_CPUS=16 "$SRC/tests/slurm/slurm-up.sh" "$SLURM" 2>/dev/null | tail -n1)"
export SLURM_CONF

# squeue and sacct wrappers: one line per invocation.
for cmd in squeue sacct; do
    cat > "$WORK/$cmd-count" <<EOF
#!/bin/sh
echo x >> '$WORK/$cmd.calls'
exec $cmd "\$@"
EOF
    chmod +x "$WORK/$cmd-count"
done

IL_BIN_DIR="$BIN" IL_SOURCE_DIR="$SRC" BENCH_WORK="$WORK" \
BENCH_SUBMIT_N="${BENCH_SUBMIT_N:-200}" BENCH_STATUS_N="${BENCH_STATUS_N:-1000}" \
BENCH_ROUNDS="${BENCH_ROUNDS:-3}" \
/usr/bin/python3 - <<'PY'
import os, shutil, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.environ["IL_SOURCE_DIR"], "tests", "pylib"))
import harness as h
import slurmutil as su

work = os.environ["BENCH_WORK"]
n_submit = int(os.environ["BENCH_SUBMIT_N"])
n_status = int(os.environ["BENCH_STATUS_N"])
rounds = int(os.environ["BENCH_ROUNDS"])
CLIENTS = 8
cluster = su.Cluster(os.path.join(work, "slurm"), 16)
cluster.env = dict(os.environ)

def cancel_all():
    subprocess.run(["scancel", "--user", "root"], capture_output=True)
    cluster.wait_idle(timeout=120)

def concurrently(items, fn, clients=CLIENTS):
    """items through fn by `clients` threads; the rate per second."""
    errors = []
    def worker(chunk):
        for item in chunk:
            err = fn(item)
            if err:
                errors.append(err)
    threads = [threading.Thread(target=worker, args=(items[i::clients],))
               for i in range(clients)]
    t = time.time()
    for th in threads: th.start()
    for th in threads: th.join()
    took = time.time() - t
    if errors:
        raise SystemExit(f"failed: {errors[:3]}")
    return len(items) / took

def plain_sbatch(_):
    r = subprocess.run(["sbatch", "--hold", "--output=/dev/null", "--wrap", "true"],
                       capture_output=True)
    return None if r.returncode == 0 else r.stderr

stack = su.SlurmStack(os.path.join(work, "stack"), cluster, runtime="none",
                      plugin_extra={"SqueuePath": os.path.join(work, "squeue-count"),
                                    "SacctPath": os.path.join(work, "sacct-count"),
                                    "VerboseLogging": False},
                      api_extra={"VerboseLogging": False})
stack.start()
# The same chain with the plugin's DataRootFolder on tmpfs: not durable, so
# no deployment choice, but it tells how much of a create is the disk (the
# pod's files and their fsyncs) rather than our code.
shm = tempfile.mkdtemp(prefix="ilbench-", dir="/dev/shm") if os.path.isdir("/dev/shm") else None
shm_stack = su.SlurmStack(os.path.join(work, "stack-shm"), cluster, runtime="none",
                          plugin_extra={"DataRootFolder": shm, "VerboseLogging": False},
                          api_extra={"VerboseLogging": False}).start() if shm else None
try:
    def pods(n, tag):
        return [h.make_pod(f"{tag}{i}", [h.container("main", ["/bin/true"])],
                           annotations={"slurm-job.vk.io/flags": "--hold"}) for i in range(n)]

    def via(chain):
        def create(pod):
            code, body = chain.create(h.create_request(pod))
            return None if code == 200 else body
        return create
    via_interlink = via(stack)

    # 1. submission, alternating so both sides see the same machine
    serial = concurrently(list(range(n_submit)), plain_sbatch, clients=1)
    cancel_all()
    plain, api, api_shm = [], [], []
    for r in range(rounds):
        plain.append(concurrently(list(range(n_submit)), plain_sbatch))
        cancel_all()
        api.append(concurrently(pods(n_submit, f"sub{r}x"), via_interlink))
        cancel_all()
        if shm_stack:
            api_shm.append(concurrently(pods(n_submit, f"shm{r}x"), via(shm_stack)))
            cancel_all()
    plain_mean, api_mean = sum(plain) / rounds, sum(api) / rounds

    # 2. one /status call over n_status pods
    batch = pods(n_status, "st")
    concurrently(batch, via_interlink)
    for f in ("squeue.calls", "sacct.calls"):
        if os.path.exists(os.path.join(work, f)):
            os.unlink(os.path.join(work, f))
    t = time.time()
    code, body = h.request_json(stack.api_addr, "GET", "/status", batch, timeout=300)
    took = time.time() - t
    assert code == 200 and len(body) == n_status, (code, str(body)[:300])

    def count(f):
        path = os.path.join(work, f)
        return sum(1 for _ in open(path)) if os.path.exists(path) else 0

    rates = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
    print(f"submit: {n_submit} pods, {CLIENTS} concurrent clients on both sides, "
          f"{rounds} alternating rounds (mean, then each round)")
    print(f"  through interlink->interlink-slurm:            {api_mean:6.1f} pods/s ({rates(api)})")
    if api_shm:
        print(f"  the same, plugin DataRootFolder on tmpfs:     {sum(api_shm) / rounds:6.1f} pods/s "
              f"({rates(api_shm)}) (not durable: how much is the disk)")
    print(f"  plain `sbatch --hold --wrap true`, {CLIENTS} workers: {plain_mean:6.1f} jobs/s "
          f"({rates(plain)})")
    print(f"  plain serial loop of `sbatch --hold --wrap true`: {serial:6.1f} jobs/s")
    print(f"  ratio vs the serial loop (the issue's yardstick): {api_mean / serial:.2f}; "
          f"vs {CLIENTS} parallel sbatch workers (stricter): {api_mean / plain_mean:.2f} "
          f"(target 0.9)")
    print(f"status: one /status over {n_status} pods took {took * 1000:.0f} ms with "
          f"{count('squeue.calls')} squeue and {count('sacct.calls')} sacct invocation(s)")
finally:
    subprocess.run(["scancel", "--user", "root"], capture_output=True)
    stack.stop()
    if shm_stack:
        shm_stack.stop()
    if shm:
        shutil.rmtree(shm, ignore_errors=True)
PY
