#!/usr/bin/env bash
# bench-vk.sh BINDIR -- interlink-vk figures against a Kubernetes API server (the
# real control plane of ../shared/k8s when it can run, else the test double in
# tests/kube; BENCH_VK_KUBE=real|double), with interlink + interlink-local (host
# runtime) or interlink-toy (BENCH_VK_BACKEND=local|toy):
#
#   1. pods/s from pod creation (BENCH_VK_PODS, default 200, `sleep 600`) to
#      Running on the node, and p50/p99 of each pod's create -> Running;
#   2. one status cycle over BENCH_VK_STATUS_PODS pods (default 1000): its
#      duration, interlink /status and plugin calls per cycle (interlink's
#      /metrics), API writes per cycle (the double's request log);
#   3. deleting them all through the API.
#
# Everything runs in a temp dir that is removed at the end; leftover
# processes started there are killed.  Other knobs: BENCH_VK_CYCLES (5),
# BENCH_VK_STATUS_INTERVAL (StatusIntervalSeconds, 1), BENCH_VK_CLIENTS (8),
# BENCH_VK_KEEP=1 (keep the temp dir and its logs), BENCH_VK_BIN (another interlink-vk
# to measure, an older build say), BENCH_VK_EVENTS_PER_SECOND and BENCH_VK_WORKERS (the VK's
# EventsPerSecond and Workers).  The real control plane's
# state dir and port: IL_K8S_STATE_PREFIX, IL_K8S_PORT_BASE (tests/pylib/realkube.py).
# The work is in bench/vk_bench.py (Debian's /usr/bin/python3, stdlib only).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BINDIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd -P)
SRC=$(cd "$(dirname "$0")/.." && pwd -P)
. "$SRC/bench/benchwork.sh"
bench_work bench-vk BENCH_VK_KEEP interlink interlink-local interlink-vk

/usr/bin/python3 "$SRC/bench/vk_bench.py" "$BIN" "$WORK"
