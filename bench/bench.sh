#!/usr/bin/env bash
# Throughput and latency of /status, through interlink and straight to the
# plugin, for batches of 1, 100 and 1000 pods.  Prints figures; no thresholds.
#
# usage: bench/bench.sh [BIN_DIR]   (default build/bin; `make bench` passes it)
# env:   BENCH_DURATION (seconds per case, default 6), BENCH_CONCURRENCY (default 4),
#        BENCH_PODS (pods created, default 1000; the largest batch is capped to it)
set -euo pipefail

BIN=$(cd "${1:-build/bin}" && pwd)
DURATION=${BENCH_DURATION:-6}
CONC=${BENCH_CONCURRENCY:-4}
NPODS=${BENCH_PODS:-1000}
for b in interlink interlink-local il-bench; do
  [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b is not built" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/il-bench.XXXXXX)
API_SOCK=$WORK/interlink.sock
PLUGIN_SOCK=$WORK/plugin.sock
PIDS=()

cleanup() {
  local rc=$?
  if [ -s "$WORK/pods.json" ] && [ -S "$API_SOCK" ]; then
    "$BIN/il-bench" delete --url "unix://$API_SOCK" --pods "$WORK/pods.json" --concurrency 8 \
      >/dev/null 2>&1 || true
  fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    echo "bench: failed; daemon logs:" >&2
    tail -n 20 "$WORK"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_socket() {   # wait until something answers HTTP on the unix socket $1
  for _ in $(seq 200); do
    curl -s -o /dev/null --max-time 1 --unix-socket "$1" http://localhost/ && return 0
    sleep 0.05
  done
  echo "bench: nothing listening on $1" >&2
  return 1
}

cat >"$WORK/local.yaml" <<EOF
Socket: "unix://$PLUGIN_SOCK"
DataRootFolder: "$WORK/local-data"
ContainerRuntime: "host"
ErrorsOnlyLogging: true
EOF
cat >"$WORK/interlink.yaml" <<EOF
InterlinkAddress: "unix://$API_SOCK"
SidecarURL: "unix://$PLUGIN_SOCK"
DataRootFolder: "$WORK/api-data"
ErrorsOnlyLogging: true
EOF

"$BIN/interlink-local" --config "$WORK/local.yaml" >"$WORK/plugin.log" 2>&1 &
PIDS+=($!)
wait_socket "$PLUGIN_SOCK"
"$BIN/interlink" --config "$WORK/interlink.yaml" >"$WORK/interlink.log" 2>&1 &
PIDS+=($!)
wait_socket "$API_SOCK"

echo "== creating $NPODS long-running pods (sleep 600) through interlink"
"$BIN/il-bench" create --url "unix://$API_SOCK" --count "$NPODS" --out "$WORK/pods.json" \
  --concurrency 8 --command "sleep 600"

echo "== /status, ${DURATION}s per case, $CONC connections"
header=--header
for batch in 1 100 1000; do
  [ "$batch" -gt "$NPODS" ] && batch=$NPODS
  for target in interlink plugin; do
    sock=$API_SOCK
    [ $target = plugin ] && sock=$PLUGIN_SOCK
    "$BIN/il-bench" status --url "unix://$sock" --pods "$WORK/pods.json" --batch "$batch" \
      --concurrency "$CONC" --duration "$DURATION" --label "$target" $header
    header=
  done
done

echo "== deleting the pods"
"$BIN/il-bench" delete --url "unix://$API_SOCK" --pods "$WORK/pods.json" --concurrency 8
rm -f "$WORK/pods.json"
for s in bench-vk bench-vk-cycle bench-slurm bench-htcondor bench-memory bench-tunnel; do if [ -x "$(dirname "$0")/$s.sh" ]; then echo "== bench/$s.sh"; "$(dirname "$0")/$s.sh" "$BIN"; fi; done
