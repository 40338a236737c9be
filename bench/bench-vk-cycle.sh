#!/usr/bin/env bash
# bench-vk-cycle.sh BINDIR -- interlink-vk's status cycle at 10,000 pods
# (BENCH_VK_CYCLE_PODS) with interlink + il-bench-plugin, on the API server
# double (BENCH_VK_CYCLE_KUBE=real: the real control plane of ../shared/k8s,
# IL_K8S_STATE_PREFIX / IL_K8S_PORT_BASE): per-cycle wall time, interlink's
# answer and the VK's CPU, steady and with a share of the pods changed.
# BENCH_VK_CYCLE_BACKEND=slurm: interlink-slurm and held jobs on the real
# SLURM of tests/slurm instead of il-bench-plugin.
# Knobs and what is measured: bench/vk_cycle.py.  Bounded by
# BENCH_VK_CYCLE_TIMEOUT (600 s) and, for the Event queue to drain after the
# delete, BENCH_VK_CYCLE_DRAIN (600 s); the temp dir and every process started in
# it are removed at the end.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BINDIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd -P)
SRC=$(cd "$(dirname "$0")/.." && pwd -P)
. "$SRC/bench/benchwork.sh"
bench_work bench-vk-cycle BENCH_VK_CYCLE_KEEP interlink il-bench-plugin interlink-vk

/usr/bin/python3 "$SRC/bench/vk_cycle.py" "$BIN" "$WORK"
