#!/usr/bin/env bash
# bench-htcondor.sh BINDIR -- interlink -> interlink-htcondor figures against
# the real HTCondor pool of ../shared/htcondor (skipped with a message when it
# is absent), measured in one run:
#
#   1. submission rate: N pods created through the interlink API by 8
#      concurrent clients, with the plugin gathering concurrent creates into
#      one condor_submit (the default) and with one condor_submit per pod
#      (SubmitBatchMax 1), versus the same N plain `condor_submit` calls (one
#      job each) by 8 concurrent workers, and versus one `condor_submit`
#      queueing all N at once (HTCondor's cheapest way to make N jobs);
#   2. one /status call covering 1000 pods: its duration and how many times
#      condor_q and condor_history ran (CondorBinDir points at wrappers that
#      count invocations).
#
# Every job has `requirements = false` (the plugin's Requirements key), so
# none runs: running them would compete with what is measured.  Everything is
# removed and the pool stopped at the end.  Knobs: BENCH_SUBMIT_N (100),
# BENCH_STATUS_N (1000); CONDOR_STATE (/tmp/htcondor-bench),
# CONDOR_COLLECTOR_PORT (19618).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BINDIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd -P)
SRC=$(cd "$(dirname "$0")/.." && pwd -P)
CONDOR_HOME="${IL_HTCONDOR_DIR:-$SRC/../shared/htcondor}"
if [ ! -x "$CONDOR_HOME/start.sh" ]; then
    echo "bench-htcondor: no HTCondor pool here ($CONDOR_HOME is absent): skipped"
    exit 0
fi
export CONDOR_STATE="${CONDOR_STATE:-/tmp/htcondor-bench}"
export CONDOR_COLLECTOR_PORT="${CONDOR_COLLECTOR_PORT:-19618}"
WORK=$(mktemp -d /tmp/ilbench-htc-XXXXXX)
chmod 755 "$WORK"
cleanup() {
    CONDOR_STATE="$CONDOR_STATE" "$CONDOR_HOME/stop.sh" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# condor_q, condor_history and condor_submit wrappers: one line per
# invocation; the other tools as they are.
mkdir -p "$WORK/bin"
for t in "$CONDOR_HOME"/bin/condor_*; do ln -s "$t" "$WORK/bin/"; done
for cmd in condor_q condor_history condor_submit; do
    rm "$WORK/bin/$cmd"
    printf '#!/bin/sh\necho x >> %s\nexec %s "$@"\n' "'$WORK/$cmd.calls'" \
        "'$CONDOR_HOME/bin/$cmd'" > "$WORK/bin/$cmd"
    chmod 755 "$WORK/bin/$cmd"
done
touch "$WORK/condor_q.calls" "$WORK/condor_history.calls" "$WORK/condor_submit.calls"
chmod 666 "$WORK/condor_q.calls" "$WORK/condor_history.calls" "$WORK/condor_submit.calls"

IL_BIN_DIR="$BIN" IL_SOURCE_DIR="$SRC" IL_HTCONDOR_DIR="$CONDOR_HOME" BENCH_WORK="$WORK" \
BENCH_SUBMIT_N="${BENCH_SUBMIT_N:-100}" BENCH_STATUS_N="${BENCH_STATUS_N:-1000}" \
/usr/bin/python3 - <<'PY'
import os, shutil, sys, threading, time
sys.path.insert(0, os.path.join(os.environ["IL_SOURCE_DIR"], "tests", "pylib"))
import harness as h
import htcondorutil as hu

work = os.environ["BENCH_WORK"]
n_submit = int(os.environ["BENCH_SUBMIT_N"])
n_status = int(os.environ["BENCH_STATUS_N"])
CLIENTS = 8

pool = hu.Pool().up()
if pool.error:
    raise SystemExit(f"bench-htcondor: the pool cannot start: {pool.error}")
user = hu.SUBMIT_USER
raw_dir = os.path.join(work, "raw")
os.makedirs(raw_dir)
os.chmod(raw_dir, 0o777)


def raw_sub(n):
    path = os.path.join(raw_dir, f"raw{n}.sub")
    with open(path, "w") as f:
        f.write("universe = vanilla\nexecutable = /bin/true\nshould_transfer_files = NO\n"
                f"requirements = false\n+InterLinkPodUID = \"bench\"\nqueue {n}\n")
    return path


def queue_empty():
    return not pool.run("condor_q", "-af", "ClusterId").stdout.strip()


def remove_all():
    pool.run("condor_rm", "-all", user=user)
    h.wait_for("an empty queue", queue_empty, timeout=300, interval=1)


def concurrently(items, fn, clients=CLIENTS):
    errors = []

    def worker(chunk):
        for item in chunk:
            err = fn(item)
            if err:
                errors.append(err)
    threads = [threading.Thread(target=worker, args=(items[i::clients],)) for i in range(clients)]
    t = time.time()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.time() - t
    if errors:
        raise SystemExit(f"failed: {errors[:3]}")
    return len(items) / took


one = raw_sub(1)


def plain_submit(_):
    r = pool.run("condor_submit", "-terse", one, user=user)
    return None if r.returncode == 0 else r.stderr


def make_stack(name, **extra):
    return hu.CondorStack(os.path.join(work, name), pool, plugin_extra={
        "Requirements": "false", "VerboseLogging": False,
        "CondorBinDir": os.path.join(work, "bin"), **extra},
        api_extra={"VerboseLogging": False}).start()


def count(f):
    return sum(1 for _ in open(os.path.join(work, f)))


def reset(f):
    open(os.path.join(work, f), "w").close()


single = make_stack("single", SubmitBatchMax=1)
stack = make_stack("stack")
try:
    def pods(n, tag):
        return [h.make_pod(f"{tag}{i}", [h.container("main", ["/bin/true"])]) for i in range(n)]

    def creator(s):
        def create(pod):
            code, body = s.create(h.create_request(pod))
            return None if code == 200 else body
        return create
    create = creator(stack)

    plain = concurrently(list(range(n_submit)), plain_submit)
    remove_all()
    reset("condor_submit.calls")
    api_single = concurrently(pods(n_submit, "one"), creator(single))
    single_calls = count("condor_submit.calls")
    remove_all()
    reset("condor_submit.calls")
    api = concurrently(pods(n_submit, "sub"), create)
    batch_calls = count("condor_submit.calls")
    remove_all()
    t = time.time()
    r = pool.run("condor_submit", "-terse", raw_sub(n_submit), user=user)
    assert r.returncode == 0, r.stderr
    batched = n_submit / (time.time() - t)
    remove_all()

    batch = pods(n_status, "st")
    concurrently(batch, create)
    for f in ("condor_q.calls", "condor_history.calls"):
        open(os.path.join(work, f), "w").close()
    t = time.time()
    code, body = h.request_json(stack.api_addr, "GET", "/status", batch, timeout=300)
    took = time.time() - t
    assert code == 200 and len(body) == n_status, (code, str(body)[:300])

    print(f"submit: {n_submit} pods/jobs, {CLIENTS} concurrent clients")
    print(f"  through interlink->interlink-htcondor, batched:  {api:6.1f} pods/s "
          f"({batch_calls} condor_submit)")
    print(f"  the same, one condor_submit per pod:             {api_single:6.1f} pods/s "
          f"({single_calls} condor_submit)")
    print(f"  plain `condor_submit` (one job each), {CLIENTS} workers: {plain:6.1f} jobs/s")
    print(f"  one `condor_submit` queueing all {n_submit}:           {batched:6.1f} jobs/s")
    print(f"  ratio vs {CLIENTS} parallel condor_submit workers: {api / plain:.2f} batched, "
          f"{api_single / plain:.2f} one per pod")
    print(f"status: one /status over {n_status} pods took {took * 1000:.0f} ms with "
          f"{count('condor_q.calls')} condor_q and {count('condor_history.calls')} "
          f"condor_history invocation(s)")
finally:
    pool.run("condor_rm", "-all", user=user)
    for s in (stack, single):
        s.stop()
        shutil.rmtree(s.data, ignore_errors=True)
    pool.down()
PY
