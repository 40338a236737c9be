# benchwork.sh -- sourced by the VK bench scripts after they set BIN and SRC:
# bench_work NAME KEEPVAR BINARY...  checks that every BINARY is built in
# BIN, makes the bench's temp dir WORK (/tmp/NAME-XXXXXX), and on exit
# prints the daemons' last log lines if the bench failed, kills every
# process started under WORK and removes it (kept when $KEEPVAR is 1).
. "$SRC/bench/killunder.sh"

bench_work() {
  BENCH_NAME=$1
  BENCH_KEEP_VAR=$2
  shift 2
  for b in "$@"; do
    [ -x "$BIN/$b" ] || { echo "$BENCH_NAME: $BIN/$b is not built" >&2; exit 2; }
  done
  WORK=$(mktemp -d "/tmp/il$BENCH_NAME-XXXXXX")
  trap bench_work_cleanup EXIT
}

bench_work_cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "$BENCH_NAME: failed; daemon logs:" >&2
    tail -n 15 "$WORK"/vk.log "$WORK"/stack/*.log "$WORK"/kube/apiserver.log >&2 2>/dev/null || true
  fi
  # Anything still running from the temp dir (the python side already does
  # this; a second pass covers an interrupted run).
  kill_processes_under "$WORK"
  if [ "${!BENCH_KEEP_VAR:-}" = 1 ]; then
    echo "$BENCH_NAME: logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
