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
#      The plugin runs twice: SubmitMode sbatch (one sbatch process per pod)
#      and SubmitMode rest (a POST to slurmrestd, docs/slurm.md).  They
#      alternate, BENCH_ROUNDS times, and the medians are compared;
#   2. /status calls covering 1000 pods (submitted through slurmrestd, so
#      that 10,000 take a minute, not ten): the first call's duration (the
#      plugin reads every pod's pod.json once), then BENCH_STATUS_CALLS (3)
#      more, each with the CPU time of interlink, interlink-slurm and the
#      SLURM commands it ran, and how many times squeue and sacct ran
#      (SqueuePath and SacctPath point at wrappers that count invocations);
#   3. the same 1000 jobs' states from one squeue call and from one GET
#      /slurm/v0.0.38/jobs to slurmrestd (medians of 3): whether status
#      through the REST API would be faster;
#   4. deletes: BENCH_DELETE_N (1000) held pods (submitted through
#      slurmrestd, as for 2.) deleted through interlink by 8 concurrent
#      clients, every answer 200: deletes/s, wall time, the CPU of
#      interlink, interlink-slurm and its SLURM commands, and squeue and
#      scancel invocations per delete (ScancelPath counts too); against
#      plain `scancel ID` of as many held jobs by 8 concurrent workers, one
#      id per scancel -- the physical limit here, measured in the same run;
#      then as many more deleted straight to the plugin (interlink's share).
#
# Jobs are submitted held (--hold) on both sides, so that running them does
# not compete with the submission being measured; everything is cancelled
# and SLURM stopped at the end.  Knobs: BENCH_SUBMIT_N (200),
# BENCH_STATUS_N (1000), BENCH_STATUS_CALLS (3), BENCH_ROUNDS (5),
# BENCH_DELETE_N (1000), BENCH_STAGES ("submit status delete": which of
# 1., 2.-3. and 4. run).  The cluster runs slurmrestd
# (SLURM_UP_REST=1), so every client, sbatch included, also loads auth/jwt.
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

eval "$(SLURM_UP_CPUS=16 SLURM_UP_REST=1 "$SRC/tests/slurm/slurm-up.sh" "$SLURM" 2>/dev/null | tail -n1)"
export SLURM_CONF

# squeue and sacct wrappers: one line per invocation.
for cmd in squeue sacct scancel; do
    cat > "$WORK/$cmd-count" <<EOF
#!/bin/sh
echo x >> '$WORK/$cmd.calls'
exec $cmd "\$@"
EOF
    chmod +x "$WORK/$cmd-count"
done

IL_BIN_DIR="$BIN" IL_SOURCE_DIR="$SRC" BENCH_WORK="$WORK" \
BENCH_SUBMIT_N="${BENCH_SUBMIT_N:-200}" BENCH_STATUS_N="${BENCH_STATUS_N:-1000}" \
BENCH_ROUNDS="${BENCH_ROUNDS:-5}" BENCH_STATUS_CALLS="${BENCH_STATUS_CALLS:-3}" \
BENCH_DELETE_N="${BENCH_DELETE_N:-1000}" \
BENCH_STAGES="${BENCH_STAGES:-submit status delete}" \
/usr/bin/python3 - <<'PY'
import json, os, shutil, statistics, subprocess, sys, tempfile, threading, time
import urllib.request
sys.path.insert(0, os.path.join(os.environ["IL_SOURCE_DIR"], "tests", "pylib"))
import harness as h
import slurmutil as su

work = os.environ["BENCH_WORK"]
n_submit = int(os.environ["BENCH_SUBMIT_N"])
n_status = int(os.environ["BENCH_STATUS_N"])
rounds = int(os.environ["BENCH_ROUNDS"])
n_calls = int(os.environ["BENCH_STATUS_CALLS"])
n_delete = int(os.environ["BENCH_DELETE_N"])
stages = os.environ["BENCH_STAGES"].split()
TICK = os.sysconf("SC_CLK_TCK")
CLIENTS = 8
cluster = su.Cluster(os.path.join(work, "slurm"), 16, rest=True)
cluster.env = dict(os.environ)
cluster.rest_url = open(os.path.join(work, "slurm", "slurmrestd.url")).read().strip()

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

def cpu_ms(pid):   # (own, reaped children's) CPU of pid so far
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return ((int(f[11]) + int(f[12])) * 1000 / TICK, (int(f[13]) + int(f[14])) * 1000 / TICK)

def chain_cpu(chain):   # CPU ms so far: interlink, interlink-slurm, its SLURM commands
    (api, _), (plugin, commands) = cpu_ms(chain.api.proc.pid), cpu_ms(chain.plugin.proc.pid)
    return api, plugin, commands

def cpu_since(chain, before):
    return tuple(now - then for now, then in zip(chain_cpu(chain), before))

def count(f):
    path = os.path.join(work, f)
    return sum(1 for _ in open(path)) if os.path.exists(path) else 0

def reset_counts():
    for f in ("squeue.calls", "sacct.calls", "scancel.calls"):
        if os.path.exists(os.path.join(work, f)):
            os.unlink(os.path.join(work, f))

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
rest_stack = su.SlurmStack(os.path.join(work, "rest"), cluster, runtime="none",
                           plugin_extra={"SubmitMode": "rest", "SlurmrestdURL": cluster.rest_url,
                                         "SqueuePath": os.path.join(work, "squeue-count"),
                                         "SacctPath": os.path.join(work, "sacct-count"),
                                         "ScancelPath": os.path.join(work, "scancel-count"),
                                         "VerboseLogging": False},
                           api_extra={"VerboseLogging": False}).start()
# The same chain with the plugin's DataRootFolder on tmpfs: not durable, so
# no deployment choice, but it tells how much of a create is the disk (the
# pod's files and their fsyncs) rather than our code.
shm = tempfile.mkdtemp(prefix="ilbench-", dir="/dev/shm") if os.path.isdir("/dev/shm") else None
shm_stack = su.SlurmStack(os.path.join(work, "shm"), cluster, runtime="none",
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

    med = statistics.median

    def stage_submit():
        # 1. submission, alternating so both sides see the same machine
        serial = concurrently(list(range(n_submit)), plain_sbatch, clients=1)
        cancel_all()
        plain, api, api_shm, api_rest = [], [], [], []
        for r in range(rounds):
            plain.append(concurrently(list(range(n_submit)), plain_sbatch))
            cancel_all()
            api.append(concurrently(pods(n_submit, f"sub{r}x"), via_interlink))
            cancel_all()
            api_rest.append(concurrently(pods(n_submit, f"rst{r}x"), via(rest_stack)))
            cancel_all()
            if shm_stack:
                api_shm.append(concurrently(pods(n_submit, f"shm{r}x"), via(shm_stack)))
                cancel_all()
        plain_med, api_med, rest_med = med(plain), med(api), med(api_rest)

        rates = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
        print(f"submit: {n_submit} pods, {CLIENTS} concurrent clients on every side, "
              f"{rounds} alternating rounds (median, then each round)")
        print(f"  plain `sbatch --hold --wrap true`, {CLIENTS} workers: {plain_med:6.1f} jobs/s "
              f"({rates(plain)})")
        print(f"  interlink->interlink-slurm, SubmitMode sbatch:  {api_med:6.1f} pods/s ({rates(api)})")
        print(f"  interlink->interlink-slurm, SubmitMode rest:    {rest_med:6.1f} pods/s "
              f"({rates(api_rest)})")
        if api_shm:
            print(f"  sbatch mode, plugin DataRootFolder on tmpfs:   {med(api_shm):6.1f} pods/s "
                  f"({rates(api_shm)}) (not durable: how much is the disk)")
        print(f"  plain serial loop of `sbatch --hold --wrap true`: {serial:6.1f} jobs/s")
        print(f"  ratios vs {CLIENTS} parallel sbatch workers, same run: plugin-sbatch "
              f"{api_med / plain_med:.2f}, plugin-rest {rest_med / plain_med:.2f} (target 1.0); "
              f"rest/sbatch mode {rest_med / api_med:.2f}; plugin-sbatch vs the serial loop "
              f"{api_med / serial:.2f}")

    def stage_status():
        # 2. /status calls over n_status pods
        batch = pods(n_status, "st")
        concurrently(batch, via(rest_stack))
        reset_counts()
        def status_call():
            before = chain_cpu(rest_stack)
            t = time.time()
            code, body = h.request_json(rest_stack.api_addr, "GET", "/status", batch, timeout=300)
            took = time.time() - t
            assert code == 200 and len(body) == n_status, (code, str(body)[:300])
            return body, took, cpu_since(rest_stack, before), os.getloadavg()[0]
        body, took, _, _ = status_call()
        squeue_first = count("squeue.calls")
        again = [status_call()[1:] for _ in range(n_calls)]

        # 3. the same jobs' states: one squeue, one GET /jobs to slurmrestd
        ids = [st["JID"] for st in body]
        token = cluster.token()
        def squeue_once():
            r = subprocess.run(["squeue", "--noheader", "--states=all", "--jobs", ",".join(ids),
                                "--Format", "JobID:|,State:|,Reason:|,exit_code:|,StartTime:|,"
                                "EndTime:|,Name:|"], capture_output=True, text=True)
            assert r.returncode == 0 and len(r.stdout.splitlines()) >= n_status, r.stderr
        def rest_once():
            req = urllib.request.Request(cluster.rest_url + "/slurm/v0.0.38/jobs",
                                         headers={"X-SLURM-USER-NAME": "root",
                                                  "X-SLURM-USER-TOKEN": token})
            with urllib.request.urlopen(req, timeout=120) as resp:
                jobs = json.load(resp)["jobs"]
            assert len(jobs) >= n_status, len(jobs)
        def timed(fn):
            t = time.time()
            fn()
            return time.time() - t
        sq_ms = med([timed(squeue_once) for _ in range(3)]) * 1000
        rest_ms = med([timed(rest_once) for _ in range(3)]) * 1000

        print(f"status: the first /status over {n_status} pods took {took * 1000:.0f} ms with "
              f"{squeue_first} squeue and {count('sacct.calls')} sacct invocation(s) in all calls")
        for i, (t, (api_ms, plugin_ms, cmd_ms), load) in enumerate(again):
            print(f"  call {i + 2}: {t * 1000:.0f} ms; CPU: interlink {api_ms:.0f} ms, "
                  f"interlink-slurm {plugin_ms:.0f} ms, its SLURM commands {cmd_ms:.0f} ms "
                  f"(load average {load:.1f})")
        print(f"status source over the same {n_status} jobs (median of 3): one squeue "
              f"{sq_ms:.0f} ms, one GET /slurm/v0.0.38/jobs {rest_ms:.0f} ms")

    # 4. deletes: plain scancel of held jobs, then held pods through interlink
    def plain_held(_ids):
        def submit(_):
            r = subprocess.run(["sbatch", "--parsable", "--hold", "--output=/dev/null",
                                "--wrap", "true"], capture_output=True, text=True)
            if r.returncode != 0:
                return r.stderr
            _ids.append(r.stdout.strip().split(";")[0])
        return submit

    def plain_scancel(job_id):
        r = subprocess.run(["scancel", job_id], capture_output=True)
        return None if r.returncode == 0 else r.stderr

    def via_delete(chain):
        def delete(pod):
            code, body = chain.delete(pod)
            return None if code == 200 else (code, body)
        return delete

    def plugin_delete(pod):
        code, body = h.request_json(rest_stack.plugin_addr, "DELETE", "/delete", pod,
                                    timeout=300)
        return None if code == 200 else (code, body)

    def stage_delete():
        ids = []
        concurrently(list(range(n_delete)), plain_held(ids))
        t = time.time()
        plain_rate = concurrently(ids, plain_scancel)
        plain_s = time.time() - t
        cancel_all()
        batch = pods(n_delete, "del")
        concurrently(batch, via(rest_stack))
        reset_counts()
        before = chain_cpu(rest_stack)
        t = time.time()
        rate = concurrently(batch, via_delete(rest_stack))
        took = time.time() - t
        api_ms, plugin_ms, commands_ms = cpu_since(rest_stack, before)
        load = os.getloadavg()[0]
        squeues, scancels = count("squeue.calls"), count("scancel.calls")
        uids = {p["metadata"]["uid"] for p in batch}
        left = [j for j in cluster.squeue_ids("PD,R,CG") if j[1] in uids]
        cancel_all()
        direct = pods(n_delete, "dd")
        concurrently(direct, via(rest_stack))
        t = time.time()
        direct_rate = concurrently(direct, plugin_delete)
        direct_s = time.time() - t
        direct_load = os.getloadavg()[0]
        cancel_all()
        print(f"delete: {n_delete} held pods, {CLIENTS} concurrent clients on every side "
              f"(load average {load:.1f} at the end)")
        print(f"  plain `scancel ID`, {CLIENTS} workers: {plain_rate:6.1f} jobs/s "
              f"({plain_s:.1f} s)")
        print(f"  interlink->interlink-slurm /delete: {rate:6.1f} pods/s ({took:.1f} s), "
              f"every answer 200; ratio vs plain scancel {rate / plain_rate:.2f}")
        print(f"  CPU: interlink {api_ms:.0f} ms, interlink-slurm {plugin_ms:.0f} ms, its SLURM "
              f"commands {commands_ms:.0f} ms; per delete: "
              f"{squeues / n_delete:.2f} squeue, {scancels / n_delete:.2f} scancel"
              + (f"; {len(left)} job(s) left!" if left else ""))
        print(f"  straight to interlink-slurm /delete: {direct_rate:6.1f} pods/s "
              f"({direct_s:.1f} s, load average {direct_load:.1f} at the end)")

    if "submit" in stages:
        stage_submit()
    if "status" in stages:
        stage_status()
    if "delete" in stages:
        stage_delete()
finally:
    subprocess.run(["scancel", "--user", "root"], capture_output=True)
    stack.stop()
    rest_stack.stop()
    if shm_stack:
        shm_stack.stop()
    if shm:
        shutil.rmtree(shm, ignore_errors=True)
PY
