#!/usr/bin/env bash
# bench-memory.sh BINDIR -- resident memory (RSS) of each daemon at idle, with
# many pods, through status cycles, and after every pod is deleted.
#
# Stacks, one after the other:
#   null   interlink + il-bench-plugin (a backend that runs nothing, hashed by
#          UID): BENCH_MEMORY_PODS pods (10000), so interlink and the plugin
#          framework are measured at scale without 10,000 processes;
#   local  interlink + interlink-local, BENCH_MEMORY_LOCAL_PODS real pods (200,
#          `sleep` on the host runtime: a supervisor each);
#   slurm  interlink + interlink-slurm on the real SLURM of tests/slurm,
#          BENCH_MEMORY_SLURM_PODS held jobs (1000; 0 skips it); with
#          BENCH_MEMORY_SLURM_REST=1 they are submitted through slurmrestd
#          (SubmitMode: rest), which 10,000 jobs need to be made in minutes.
# For each: RSS at idle, after the creates, after BENCH_MEMORY_CYCLES (5)
# status cycles (one /status with every pod, what a virtual kubelet sends,
# then 4 clients asking 1-pod statuses for 2 s, then GET /pods), its peak (VmHWM), right
# after the deletes and 3 s later; and the time of one /status over every pod
# through interlink and straight to the plugin.  Prints figures; no thresholds.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BINDIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd -P)
SRC=$(cd "$(dirname "$0")/.." && pwd -P)
NPODS=${BENCH_MEMORY_PODS:-10000}
NLOCAL=${BENCH_MEMORY_LOCAL_PODS:-200}
NSLURM=${BENCH_MEMORY_SLURM_PODS:-1000}
SLURM_REST=${BENCH_MEMORY_SLURM_REST:-0}
CYCLES=${BENCH_MEMORY_CYCLES:-5}
for b in interlink interlink-local interlink-slurm il-bench il-bench-plugin; do
  [ -x "$BIN/$b" ] || { echo "bench-memory: $BIN/$b is not built" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/il-benchmem.XXXXXX)
PIDS=()
SLURM_DIR=
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$SLURM_DIR" ]; then
    scancel --user "$(id -un)" >/dev/null 2>&1 || true
    "$SRC/tests/slurm/slurm-down.sh" "$SLURM_DIR" >/dev/null 2>&1 || true
  fi
  if [ $rc -ne 0 ]; then
    echo "bench-memory: failed; daemon logs:" >&2
    tail -n 20 "$WORK"/*/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_socket() {   # wait until something answers HTTP on the unix socket $1
  for _ in $(seq 400); do
    curl -s -o /dev/null --max-time 1 --unix-socket "$1" http://localhost/ && return 0
    sleep 0.05
  done
  echo "bench-memory: nothing listening on $1" >&2
  return 1
}

TICK=$(getconf CLK_TCK)
cpu_ms() {   # user + system CPU of PID so far, in ms
  awk -v t="$TICK" '{ printf "%d", ($14 + $15) * 1000 / t }' "/proc/$1/stat"
}
child_cpu_ms() {   # the same of PID's finished children (squeue, sbatch)
  awk -v t="$TICK" '{ printf "%d", ($16 + $17) * 1000 / t }' "/proc/$1/stat"
}

rss_mb() {   # rss_mb PID [VmRSS|VmHWM]
  awk -v k="${2:-VmRSS}:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# run_stack NAME PLUGIN_BIN PLUGIN_YAML_EXTRA N CREATE_ARGS...
run_stack() {
  local name=$1 plugin=$2 extra=$3 n=$4
  shift 4
  local dir=$WORK/$name
  mkdir -p "$dir"
  local api=unix://$dir/interlink.sock psock=unix://$dir/plugin.sock
  printf 'Socket: "%s"\nDataRootFolder: "%s/plugin-data"\nErrorsOnlyLogging: true\n%s\n' \
    "$psock" "$dir" "$extra" >"$dir/plugin.yaml"
  printf 'InterlinkAddress: "%s"\nSidecarURL: "%s"\nDataRootFolder: "%s/api-data"\n' \
    "$api" "$psock" "$dir" >"$dir/interlink.yaml"
  echo 'ErrorsOnlyLogging: true' >>"$dir/interlink.yaml"
  "$BIN/$plugin" --config "$dir/plugin.yaml" >"$dir/plugin.log" 2>&1 &
  local ppid=$!
  PIDS+=("$ppid")
  wait_socket "$dir/plugin.sock"
  "$BIN/interlink" --config "$dir/interlink.yaml" >"$dir/interlink.log" 2>&1 &
  local apid=$!
  PIDS+=("$apid")
  wait_socket "$dir/interlink.sock"
  sleep 1
  local idle_a idle_p
  idle_a=$(rss_mb "$apid") idle_p=$(rss_mb "$ppid")

  echo "== $name: creating $n pods through interlink"
  "$BIN/il-bench" create --url "$api" --count "$n" --out "$dir/pods.json" --concurrency 8 "$@"
  local made_a made_p
  made_a=$(rss_mb "$apid") made_p=$(rss_mb "$ppid")

  echo "== $name: $CYCLES status cycles over $n pods"
  for _ in $(seq "$CYCLES"); do
    "$BIN/il-bench" status --url "$api" --pods "$dir/pods.json" --batch "$n" --concurrency 1 \
      --requests 1 --label "cycle"
  done
  # The time of one /status over every pod, through interlink and straight
  # to the plugin, alternating (3 calls each, p50), and the CPU the daemons
  # spent on it (which the machine's load does not change).
  local via direct cpu_a=0 cpu_pa=0 cpu_p=0 cpu_c=0 a0 p0 c0
  for _ in 1 2 3; do
    a0=$(cpu_ms "$apid") p0=$(cpu_ms "$ppid")
    "$BIN/il-bench" status --url "$api" --pods "$dir/pods.json" --batch "$n" --concurrency 1 \
      --requests 1 --label "interlink" | tee -a "$dir/times"
    cpu_a=$((cpu_a + $(cpu_ms "$apid") - a0)) cpu_pa=$((cpu_pa + $(cpu_ms "$ppid") - p0))
    p0=$(cpu_ms "$ppid") c0=$(child_cpu_ms "$ppid")
    "$BIN/il-bench" status --url "$psock" --pods "$dir/pods.json" --batch "$n" \
      --concurrency 1 --requests 1 --label "plugin" | tee -a "$dir/times"
    cpu_p=$((cpu_p + $(cpu_ms "$ppid") - p0))
    cpu_c=$((cpu_c + $(child_cpu_ms "$ppid") - c0))
  done
  via=$(awk '$1 == "interlink" { print $8 }' "$dir/times" | sort -n | sed -n 2p)
  direct=$(awk '$1 == "plugin" { print $8 }' "$dir/times" | sort -n | sed -n 2p)
  printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$name" "$n" "$via" "$direct" $((cpu_a / 3)) \
    $((cpu_pa / 3)) $((cpu_p / 3)) $((cpu_c / 3)) "$(cut -d' ' -f1-3 /proc/loadavg)" \
    >>"$WORK/times"
  "$BIN/il-bench" status --url "$api" --pods "$dir/pods.json" --batch 1 --concurrency 4 \
    --duration 2 --label "1-pod"
  # The list `interlinkctl list` asks for (GET /pods: every pod with a
  # fresh status); the peak below includes it.
  local t0 list_s
  a0=$(cpu_ms "$apid") t0=$(date +%s.%N)
  curl -sf --unix-socket "$dir/interlink.sock" http://localhost/pods -o "$dir/list.json"
  list_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  echo "GET /pods: $(stat -c %s "$dir/list.json") bytes in ${list_s} s, interlink CPU" \
    "$(($(cpu_ms "$apid") - a0)) ms"
  local cyc_a cyc_p hwm_a hwm_p
  cyc_a=$(rss_mb "$apid") cyc_p=$(rss_mb "$ppid")
  hwm_a=$(rss_mb "$apid" VmHWM) hwm_p=$(rss_mb "$ppid" VmHWM)

  echo "== $name: deleting the pods"
  "$BIN/il-bench" delete --url "$api" --pods "$dir/pods.json" --concurrency 8
  local del_a del_p
  del_a=$(rss_mb "$apid") del_p=$(rss_mb "$ppid")
  sleep 3
  printf '%s|interlink|%s|%s|%s|%s|%s|%s|%s\n' "$name" "$n" "$idle_a" "$made_a" "$cyc_a" \
    "$hwm_a" "$del_a" "$(rss_mb "$apid")" >>"$WORK/table"
  printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$name" "$plugin" "$n" "$idle_p" "$made_p" "$cyc_p" \
    "$hwm_p" "$del_p" "$(rss_mb "$ppid")" >>"$WORK/table"
  kill -TERM "$apid" "$ppid"
  wait "$apid" "$ppid" 2>/dev/null || true
}

: >"$WORK/table"
: >"$WORK/times"
run_stack null il-bench-plugin "" "$NPODS" --command "sleep 600"
if [ "$NLOCAL" -gt 0 ]; then
  run_stack local interlink-local 'ContainerRuntime: "host"' "$NLOCAL" --command "sleep 600"
fi
if [ "$NSLURM" -gt 0 ]; then
  SLURM_DIR=$WORK/slurm
  if out=$(SLURM_UP_CPUS=16 SLURM_UP_REST=$SLURM_REST "$SRC/tests/slurm/slurm-up.sh" \
             "$SLURM_DIR" 2>"$WORK/slurm-up.err"); then
    eval "$(tail -n1 <<<"$out")"
    export SLURM_CONF
    submit=
    [ "$SLURM_REST" = 1 ] &&
      submit=$(printf '\nSubmitMode: "rest"\nSlurmrestdURL: "%s"' "$(cat "$SLURM_DIR/slurmrestd.url")")
    run_stack slurm interlink-slurm "ContainerRuntime: \"none\"$submit" "$NSLURM" --command "true" \
      --annotation "slurm-job.vk.io/flags=--hold"
  else
    echo "== slurm: skipped, SLURM did not start: $(tail -n1 "$WORK/slurm-up.err")"
  fi
fi

echo
echo "RSS in MB (peak = VmHWM over the whole run)"
printf '%-6s %-16s %6s %7s %8s %8s %7s %8s %9s\n' stack daemon pods idle "+pods" cycles peak \
  deleted "+3 s"
while IFS='|' read -r stack daemon n idle made cyc hwm del later; do
  printf '%-6s %-16s %6s %7s %8s %8s %7s %8s %9s\n' "$stack" "$daemon" "$n" "$idle" "$made" \
    "$cyc" "$hwm" "$del" "$later"
done <"$WORK/table"

echo
echo "One /status over every pod: time (median of 3 calls) and CPU per call, in ms"
printf '%-6s %6s %10s %8s %8s %12s %11s %9s  %s\n' stack pods interlink plugin "cpu:api" \
  "cpu:plugin*" "cpu:plugin" "cpu:cmds" "load average"
while IFS='|' read -r stack n via direct ca cpa cp cc load; do
  printf '%-6s %6s %10s %8s %8s %12s %11s %9s  %s\n' "$stack" "$n" "$via" "$direct" "$ca" \
    "$cpa" "$cp" "$cc" "$load"
done <"$WORK/times"
echo "(time: through interlink / straight to the plugin; cpu:api: interlink's per call through"
echo " it, cpu:plugin*: the plugin's in those calls, cpu:plugin: the plugin's called directly,"
echo " cpu:cmds: the commands it ran in those direct calls, e.g. squeue)"
