#!/usr/bin/env bash
# demo.sh BINDIR -- the example pods end to end on this host.
#
# Starts interlink-local (runtime "host": processes under bubblewrap) and
# interlink on unix sockets in a temporary directory, applies every
# examples/*.yaml with interlinkctl, waits for the pods to finish, shows
# them (get, describe, logs), deletes them and stops the daemons.  Exits 0
# only if every pod Succeeded and every container printed what it should.
# Usage: scripts/demo.sh build/bin     (what `make demo` runs)
set -euo pipefail

BIN=$(cd "${1:?usage: $0 BINDIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WAIT_SECONDS=60

# pod  container  text its log must contain
EXPECTED=(
  "hello-world  hello     hello from interLink"
  "config-demo  show      greeting from a ConfigMap"
  "config-demo  show      password: s3cr3t-from-a-Secret"
  "init-demo    prepare   prepared 2 files"
  "init-demo    reader-a  reader-a read: shared by the init container"
  "init-demo    reader-b  reader-b counted 3 items"
)
PODS=(hello-world config-demo init-demo)

TMP=$(mktemp -d /tmp/interlink-demo.XXXXXX)
CTL=("$BIN/interlinkctl" --url "unix://$TMP/interlink.sock")
DAEMON_PIDS=()
SUCCEEDED=0

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

stop_daemons() {
  local pid i
  for pid in "${DAEMON_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  DAEMON_PIDS=()
}

cleanup() {
  local status=$?
  stop_daemons
  if [ "$SUCCEEDED" = 1 ]; then
    rm -rf "$TMP"
  else
    for log in "$TMP"/plugin.log "$TMP"/interlink.log; do
      [ -f "$log" ] || continue
      printf '\n---- last lines of %s ----\n' "$log" >&2
      tail -n 40 "$log" >&2
    done
    printf '\ndemo: files kept in %s\n' "$TMP" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_configs() {
  cat >"$TMP/local.yaml" <<EOF
Socket: "unix://$TMP/plugin.sock"
DataRootFolder: "$TMP/local"
ContainerRuntime: "host"
EOF
  cat >"$TMP/interlink.yaml" <<EOF
InterlinkAddress: "unix://$TMP/interlink.sock"
SidecarURL: "unix://$TMP/plugin.sock"
DataRootFolder: "$TMP/api"
EOF
}

# start NAME CONFIG SOCKET LOG: run a daemon in the background, wait for its socket.
start() {
  local name=$1 config=$2 socket=$3 log=$4 i
  "$BIN/$name" --config "$config" >"$log" 2>&1 &
  DAEMON_PIDS+=($!)
  for i in $(seq 200); do
    [ -S "$socket" ] && { echo "$name is listening on unix://$socket"; return 0; }
    kill -0 "${DAEMON_PIDS[-1]}" 2>/dev/null || fail "$name exited during startup"
    sleep 0.1
  done
  fail "$name did not create $socket within 20 s"
}

phase_of() {
  local description
  description=$("${CTL[@]}" describe pod "$1") || { echo Unknown; return 0; }
  awk '/^Phase:/ { print $2 }' <<<"$description"
}

wait_for_pods() {
  local deadline=$((SECONDS + WAIT_SECONDS)) pod phase pending
  while :; do
    pending=()
    for pod in "${PODS[@]}"; do
      phase=$(phase_of "$pod")
      case "$phase" in Succeeded|Failed) ;; *) pending+=("$pod:$phase") ;; esac
    done
    [ ${#pending[@]} -eq 0 ] && return 0
    [ $SECONDS -ge $deadline ] && fail "still not finished after ${WAIT_SECONDS}s: ${pending[*]}"
    sleep 0.5
  done
}

# Every pod Succeeded, every expected line in its container's log.
check_results() {
  local pod phase line container text problems=0
  for pod in "${PODS[@]}"; do
    phase=$(phase_of "$pod")
    [ "$phase" = Succeeded ] || { echo "pod/$pod: phase $phase, expected Succeeded"; problems=1; }
  done
  for line in "${EXPECTED[@]}"; do
    read -r pod container text <<<"$line"
    if ! "${CTL[@]}" logs "$pod" -c "$container" | grep -qF -- "$text"; then
      echo "pod/$pod container $container: log lacks \"$text\""
      problems=1
    fi
  done
  return $problems
}

show_pods() {
  local line pod container last=""
  step "interlinkctl get pods -o wide"
  "${CTL[@]}" get pods -o wide
  for pod in "${PODS[@]}"; do
    step "interlinkctl describe pod $pod"
    "${CTL[@]}" describe pod "$pod"
  done
  for line in "${EXPECTED[@]}"; do
    read -r pod container _ <<<"$line"
    [ "$pod/$container" = "$last" ] && continue
    last="$pod/$container"
    step "interlinkctl logs $pod -c $container"
    "${CTL[@]}" logs "$pod" -c "$container"
  done
}

main() {
  step "starting the daemons in $TMP"
  write_configs
  start interlink-local "$TMP/local.yaml" "$TMP/plugin.sock" "$TMP/plugin.log"
  start interlink "$TMP/interlink.yaml" "$TMP/interlink.sock" "$TMP/interlink.log"

  step "interlinkctl ping"
  "${CTL[@]}" ping

  local example
  for example in "$ROOT"/examples/*.yaml; do
    step "interlinkctl apply -f examples/$(basename "$example")"
    "${CTL[@]}" apply -f "$example"
  done

  step "waiting (at most ${WAIT_SECONDS}s) for ${PODS[*]} to finish"
  wait_for_pods
  show_pods

  local verdict=0
  step "checking phases and logs"
  check_results || verdict=1

  step "interlinkctl delete pod ${PODS[*]}"
  "${CTL[@]}" delete pod "${PODS[@]}"

  step "stopping the daemons"
  stop_daemons
  [ $verdict -eq 0 ] || fail "some pods did not do what they should (see above)"
  SUCCEEDED=1
  printf '\ndemo: OK: %d pods Succeeded and printed what they should\n' "${#PODS[@]}"
}

main
