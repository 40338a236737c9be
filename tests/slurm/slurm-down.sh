#!/usr/bin/env bash
# slurm-down.sh DIR — stop the cluster started by slurm-up.sh DIR.
#
# Cancels the jobs still known to slurmctld (so their processes get killed by
# slurmd), then stops slurmrestd (SLURM_UP_REST=1), slurmd, slurmctld, slurmdbd, mariadbd (the last two
# only run with SLURM_UP_ACCOUNTING=1) and munged via their pid files, waits
# for them to exit (SIGKILL after a grace period), and finally kills any
# slurmstepd (and its job processes) left over from this DIR. Only processes
# that belong to DIR are touched. Safe to call twice / on a half-dead cluster.
# DIR itself (logs, state, job outputs) is kept; `SLURM_UP_CLEAN=1 slurm-up.sh`
# or rm -rf DIR discards it.
set -uo pipefail

log() { echo "slurm-down: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || { log "$1: no such directory, nothing to stop"; exit 0; }
DIR=$(cd "$1" && pwd -P)
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

# pid of a live daemon NAME recorded in PIDFILE, or nothing (guards against
# stale pid files whose pid was reused).
live_pid() {
    local f=$1 name=$2 pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' < "$f")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1  # zombie = dead
    echo "$pid"
}

# gone PID: exited (a zombie counts as gone: this VM's pid 1 reaps orphans
# lazily, so daemons linger as <defunct> for a few seconds).
gone() {
    [ ! -d "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] \
        || [ ! -e "/proc/$1/stat" ]
}

# stop NAME: SIGTERM, wait up to $2 s, then SIGKILL.
stop() {
    local name=$1 grace=${2:-15} pidf="$DIR/run/$1.pid" pid i
    if pid=$(live_pid "$pidf" "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < grace * 10; i++)); do
            gone "$pid" && break
            sleep 0.1
        done
        if ! gone "$pid"; then
            log "$name ($pid) did not exit after ${grace}s, SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do gone "$pid" && break; sleep 0.1; done
        fi
        log "stopped $name ($pid)"
    fi
    rm -f "$pidf"
}

# 1. cancel remaining jobs while the controller is still alive
if live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null && [ -f "$CONF" ]; then
    ids=$(timeout 15 squeue -h -o '%i' 2>/dev/null | tr '\n' ' ')
    if [ -n "${ids// /}" ]; then
        log "cancelling jobs: $ids"
        # shellcheck disable=SC2086
        timeout 15 scancel $ids 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            [ -z "$(timeout 5 squeue -h -t R,CG,CF -o '%i' 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
fi

# 2. daemons, in order. Without a controller slurmd spends ~9 s trying to
# reach it on SIGTERM; no point waiting for that.
stop slurmrestd 5   # SLURM_UP_REST=1: the REST front end first, and its copy of slurm.conf
confdir=$(cat "$DIR/run/slurmrestd.confdir" 2>/dev/null || true)
case "$confdir" in /tmp/slurm-up-rest-*) rm -rf "$confdir" ;; esac
rm -f "$DIR/run/slurmrestd.confdir"
if live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
    stop slurmd 15
else
    stop slurmd 2
fi
stop slurmctld 15
# Accounting (SLURM_UP_ACCOUNTING=1): slurmdbd after slurmctld (which
# flushes its last job records to it), MariaDB after slurmdbd.
stop slurmdbd 15
stop mariadbd 30
rm -f "$DIR/mariadb/mariadbd.sock"
stop munged 10

# 3. leftovers: slurmstepd processes of this cluster (their environment has
# SLURM_CONF=DIR/slurm.conf, inherited from slurmd) and everything below them.
descendants() {  # print pids of $1 and all its descendants
    local tab
    tab=$(ps -e -o pid=,ppid=)
    awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            keep[root] = 1; changed = 1
            while (changed) {
                changed = 0
                for (i in pids) { p = pids[i]
                    if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
            }
            for (p in keep) print p
        }' <<<"$tab"
}
victims=()
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
    if tr '\0' '\n' 2>/dev/null < "$p/environ" | grep -qxF "SLURM_CONF=$CONF"; then
        while read -r d; do victims+=("$d"); done < <(descendants "$pid")
    fi
done
if [ ${#victims[@]} -gt 0 ]; then
    log "killing leftover slurmstepd/job processes: ${victims[*]}"
    kill -KILL "${victims[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive=0
        for v in "${victims[@]}"; do gone "$v" || alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
fi

rm -f "$DIR/munge/munge.socket" "$DIR/munge/munge.socket.lock"
log "down ($DIR)"
exit 0
