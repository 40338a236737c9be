#!/usr/bin/env bash
# bench-slurm.sh BINDIR -- interlink -> interlink-slurm figures against the
# real single-node SLURM of tests/slurm, measured in one run:
#
#   1. submission rate: N pods created through the interlink API (8
#      concurrent clients, as a virtual kubelet's workers) versus a plain
#      serial loop of `sbatch --wrap true` -- the physical limit here;
#   2. one /status call covering 1000 pods: its duration and how many times
#      squeue ran (SqueuePath points at a wrapper that counts invocations).
#
# Jobs are submitted held (--hold / -H) so that running them does not
# compete with the submission being measured; everything is cancelled and
# SLURM stopped at the end.  Knobs: BENCH_SUBMIT_N (200), BENCH_STATUS_N (1000).
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

# squeue wrapper: one line per invocation.
cat > "$WORK/squeue-count" <<EOF
#!/bin/sh
echo x >> '$WORK/squeue.calls'
exec squeue "\$@"
EOF
chmod +x "$WORK/squeue-count"

IL_BIN_DIR="$BIN" IL_SOURCE_DIR="$SRC" BENCH_WORK="$WORK" \
BENCH_SUBMIT_N="${BENCH_SUBMIT_N:-200}" BENCH_STATUS_N="${BENCH_STATUS_N:-1000}" \
/usr/bin/python3 - <<'PY'
import os, subprocess, sys, threading, time
sys.path.insert(0, os.path.join(os.environ["IL_SOURCE_DIR"], "tests", "integration"))
import harness as h
import slurmutil as su

work = os.environ["BENCH_WORK"]
n_submit = int(os.environ["BENCH_SUBMIT_N"])
n_status = int(os.environ["BENCH_STATUS_N"])
cluster = su.Cluster(os.path.join(work, "slurm"), 16)
cluster.env = dict(os.environ)

def cancel_all():
    subprocess.run(["scancel", "--user", "root"], capture_output=True)
    cluster.wait_idle(timeout=120)

# 1a. the physical limit: a serial loop of sbatch --wrap
t0 = time.time()
for _ in range(n_submit):
    subprocess.run(["sbatch", "--hold", "--output=/dev/null", "--wrap", "true"],
                   check=True, capture_output=True)
plain = n_submit / (time.time() - t0)
cancel_all()

# 1b. the same number of pods through interlink -> interlink-slurm
stack = su.SlurmStack(os.path.join(work, "stack"), cluster, runtime="none",
                      plugin_extra={"SqueuePath": os.path.join(work, "squeue-count"),
                                    "VerboseLogging": False},
                      api_extra={"VerboseLogging": False})
stack.start()
try:
    def pods(n, tag):
        return [h.make_pod(f"{tag}{i}", [h.container("main", ["/bin/true"])],
                           annotations={"slurm-job.vk.io/flags": "--hold"}) for i in range(n)]

    def create_all(batch):
        errors = []
        def worker(chunk):
            for pod in chunk:
                code, body = stack.create(h.create_request(pod))
                if code != 200:
                    errors.append(body)
        threads = [threading.Thread(target=worker, args=(batch[i::8],)) for i in range(8)]
        t = time.time()
        for th in threads: th.start()
        for th in threads: th.join()
        if errors:
            raise SystemExit(f"create failed: {errors[:3]}")
        return time.time() - t

    api = n_submit / create_all(pods(n_submit, "sub"))
    cancel_all()

    # 2. one /status call over n_status pods
    batch = pods(n_status, "st")
    create_all(batch)
    calls = os.path.join(work, "squeue.calls")
    if os.path.exists(calls):
        os.unlink(calls)
    t = time.time()
    code, body = h.request_json(stack.api_addr, "GET", "/status", batch, timeout=300)
    took = time.time() - t
    assert code == 200 and len(body) == n_status, (code, str(body)[:300])
    n_calls = sum(1 for _ in open(calls)) if os.path.exists(calls) else 0
    print(f"submit: {n_submit} pods through interlink->interlink-slurm: {api:.1f} pods/s; "
          f"plain `sbatch --wrap` loop: {plain:.1f} jobs/s; ratio {api / plain:.2f}")
    print(f"status: one /status over {n_status} pods took {took * 1000:.0f} ms "
          f"with {n_calls} squeue invocation(s)")
finally:
    subprocess.run(["scancel", "--user", "root"], capture_output=True)
    stack.stop()
PY
