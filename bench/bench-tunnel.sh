#!/usr/bin/env bash
# bench-tunnel.sh BINDIR -- pod tunnel figures: throughput and round-trip
# latency through interlink-gateway and the tunnel client against a direct
# TCP connection on this machine, and what an idle tunnel costs the gateway
# (docs/interactive.md, "Capacity and cost").  Direct and tunnel alternate in
# each round, so the ratios hold on a loaded machine.  The work is in
# bench/tunnel_bench.py; knobs: BENCH_TUNNEL_SECONDS (2, per iperf3 run),
# BENCH_TUNNEL_REPEAT (5 rounds), BENCH_TUNNEL_ROUNDS (1000 round trips per
# round), BENCH_TUNNEL_IDLE (200).  Needs iperf3 (scripts/deps.sh demo).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BINDIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd -P)
SRC=$(cd "$(dirname "$0")/.." && pwd -P)
. "$SRC/bench/killunder.sh"
for b in interlink interlink-local interlink-gateway; do
  [ -x "$BIN/$b" ] || { echo "bench-tunnel: $BIN/$b is not built" >&2; exit 2; }
done
command -v iperf3 >/dev/null || { echo "bench-tunnel: iperf3 missing (scripts/deps.sh demo)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/iltunbench-XXXXXX)
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "bench-tunnel: failed; daemon logs:" >&2
    tail -n 15 "$WORK"/gateway/gateway.log "$WORK"/stack/*.log >&2 2>/dev/null || true
  fi
  kill_processes_under "$WORK"   # the pods' servers too
  rm -rf "$WORK"
}
trap cleanup EXIT

/usr/bin/python3 "$SRC/bench/tunnel_bench.py" "$BIN" "$WORK"
