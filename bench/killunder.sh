# killunder.sh -- sourced by the bench scripts: kill_processes_under DIR
# sends SIGKILL to every process whose command line names DIR (a bench's
# temp dir: daemons, pods, servers), by pid, never by name, so nothing a
# bench started outlives it, and nothing else is touched.
kill_processes_under() {
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$1"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}
