#!/usr/bin/env bash
# Run interlink and interlink-local under valgrind through a short scenario
# (create, status, logs, delete, bad JSON, ping, unknown path), stop them with
# SIGTERM, and fail if valgrind reported any error or definite leak.
#
# usage: tests/valgrind/valgrind.sh [BIN_DIR]   (default build/bin; `make valgrind` passes it)
set -euo pipefail

BIN=$(cd "${1:-build/bin}" && pwd)
for b in interlink interlink-local; do
  [ -x "$BIN/$b" ] || { echo "valgrind: $BIN/$b is not built" >&2; exit 2; }
done
command -v valgrind >/dev/null || { echo "valgrind: valgrind is not installed" >&2; exit 2; }

WORK=$(mktemp -d /tmp/il-valgrind.XXXXXX)
API_SOCK=$WORK/interlink.sock
PLUGIN_SOCK=$WORK/plugin.sock
declare -A PID=()
FAILED=0

cleanup() {
  for name in "${!PID[@]}"; do kill -KILL "${PID[$name]}" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

VALGRIND=(valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
          --trace-children=no --num-callers=30)

start() {   # start NAME BINARY CONFIG: run under valgrind in the background
  "${VALGRIND[@]}" --log-file="$WORK/$1.valgrind" "$BIN/$2" --config "$3" >"$WORK/$1.log" 2>&1 &
  PID[$1]=$!
}

wait_socket() {   # valgrind makes start-up slow: allow a minute
  for _ in $(seq 600); do
    curl -s -o /dev/null --max-time 2 --unix-socket "$1" http://localhost/ && return 0
    sleep 0.1
  done
  echo "valgrind: nothing listening on $1" >&2
  return 1
}

call() {    # call METHOD PATH [BODY] -> prints "CODE BODY"; daemons are slow under valgrind
  local method=$1 path=$2 body=${3:-}
  curl -sS --max-time 60 --unix-socket "$API_SOCK" -X "$method" -H 'Content-Type: application/json' \
    ${body:+--data-binary "$body"} -w ' %{http_code}' "http://localhost$path"
}

BODY=
expect() {  # expect CODE METHOD PATH [BODY]: the answer's body is left in $BODY
  local want=$1; shift
  local out
  out=$(call "$@") || true
  local got=${out##* }
  BODY=${out% *}
  if [ "$got" != "$want" ]; then
    echo "valgrind: $1 $2 answered $got, expected $want: $BODY" >&2
    FAILED=1
  fi
}

cat >"$WORK/local.yaml" <<EOF
Socket: "unix://$PLUGIN_SOCK"
DataRootFolder: "$WORK/local-data"
ContainerRuntime: "host"
VerboseLogging: true
EOF
cat >"$WORK/interlink.yaml" <<EOF
InterlinkAddress: "unix://$API_SOCK"
SidecarURL: "unix://$PLUGIN_SOCK"
DataRootFolder: "$WORK/api-data"
VerboseLogging: true
EOF

start plugin interlink-local "$WORK/local.yaml"
wait_socket "$PLUGIN_SOCK"
start interlink interlink "$WORK/interlink.yaml"
wait_socket "$API_SOCK"

UID_=$(cat /proc/sys/kernel/random/uuid)
POD='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"vg","namespace":"default","uid":"'$UID_'"},'
POD+='"spec":{"restartPolicy":"Never","containers":[{"name":"main","image":"busybox",'
POD+='"command":["sh","-c","echo valgrind-was-here"]}]},"status":{"phase":"Pending"}}'
CREATE='{"pod":'$POD',"configmaps":null,"secrets":null,"projectedvolumesmaps":null,"jobscriptURL":""}'
LOGS='{"Namespace":"default","PodUID":"'$UID_'","PodName":"vg","ContainerName":"main",'
LOGS+='"Opts":{"Tail":0,"Bytes":0,"Timestamps":false,"Follow":false,"Previous":false,'
LOGS+='"SinceSeconds":0,"SinceTime":"0001-01-01T00:00:00Z"}}'

echo "== scenario"
expect 200 POST /create "$CREATE"; echo "create: $BODY"
expect 200 POST /create "$CREATE"                       # idempotent, from the store
for _ in $(seq 150); do                                 # until the container terminated
  expect 200 GET /status "[$POD]"
  case $BODY in *'"terminated"'*) break ;; esac
  sleep 0.2
done
echo "status: $BODY"
expect 200 GET /status "[$POD]"                         # terminal: answered from the store
expect 200 GET /getLogs "$LOGS"
[ "${BODY%$'\n'}" = "valgrind-was-here" ] || { echo "valgrind: logs were '$BODY'" >&2; FAILED=1; }
expect 200 POST /pinglink
expect 200 GET /pods
expect 200 GET /metrics
expect 200 POST /updateCache "$POD"
expect 400 POST /create '{"pod": {"metadata": '
expect 400 DELETE /delete 'not json'
expect 400 GET /getLogs '{"Namespace":"Bad_NS"}'
expect 404 GET /no-such-path
expect 200 DELETE /delete "$POD"
expect 200 GET /healthz

echo "== stopping with SIGTERM"
for name in interlink plugin; do
  kill -TERM "${PID[$name]}"
  rc=0
  wait "${PID[$name]}" || rc=$?
  unset "PID[$name]"
  summary=$(grep -E 'ERROR SUMMARY|definitely lost' "$WORK/$name.valgrind" || true)
  echo "$name: exit $rc; ${summary//$'\n'/; }"
  if [ $rc -eq 99 ] || grep -qE 'ERROR SUMMARY: [1-9]' "$WORK/$name.valgrind"; then
    echo "valgrind: $name has memory errors or definite leaks:" >&2
    cat "$WORK/$name.valgrind" >&2
    FAILED=1
  fi
done

if [ $FAILED -ne 0 ]; then
  echo "valgrind: FAILED" >&2
  exit 1
fi
echo "valgrind: OK (no errors, no definite leaks)"
