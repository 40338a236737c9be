#!/usr/bin/env bash
# slurm-up.sh DIR — bring up a private, single-node SLURM cluster (munged +
# slurmctld + slurmd) whose every file lives under DIR.
#
# - installs slurm-wlm/munge from Debian's apt registry if missing
# - private munged on DIR/munge/munge.socket with key DIR/munge/munge.key
#   (the system /etc/munge and /run/munge are never touched)
# - DIR/slurm.conf (+ DIR/cgroup.conf), state/spool/logs/pids under DIR
# - waits (bounded) until `sinfo` shows the node idle
# - last line on stdout: `export SLURM_CONF=DIR/slurm.conf`
#
# Idempotent: if the cluster in DIR is already up and healthy it only prints
# the export line. Leftovers of a crashed run (stale pid files, a kill -9'ed
# daemon) are stopped and the cluster restarted; slurmctld recovers its saved
# state (jobs) from DIR/state unless SLURM_UP_CLEAN=1 is set, which wipes it.
#
# Environment knobs (all optional):
#   SLURM_UP_CLEAN=1          start from empty controller state
#   SLURM_UP_CTLD_PORT=N      first port to try for slurmctld (default 16817)
#   SLURM_UP_SLURMD_PORT=N    first port to try for slurmd    (default 16818)
#   SLURM_UP_MIN_JOB_AGE=S    MinJobAge (default 30)
#   SLURM_UP_DEF_MEM_PER_CPU=MB  DefMemPerCPU (default min(1024, mem/cpus))
#   SLURM_UP_TIMEOUT=S        wait for node idle (default 60)
#   SLURM_UP_CLUSTER=NAME     ClusterName (default interlink)
#   SLURM_UP_DEBUG=LEVEL      SlurmctldDebug/SlurmdDebug (default info)
set -euo pipefail

log() { echo "slurm-up: $*" >&2; }
die() { echo "slurm-up: ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR"
[ "$(id -u)" -eq 0 ] || die "must run as root (SlurmUser=root, slurmd needs root)"

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
HERE=$(cd "$(dirname "$0")" && pwd -P)

# AF_UNIX paths are limited to 108 bytes; slurmd spool sockets are
# "<spool>/<node>_<jobid>.<stepid>" and need some headroom too.
SOCK="$DIR/munge/munge.socket"
[ ${#SOCK} -lt 90 ] || die "DIR path too long for unix sockets (${#SOCK} chars): $SOCK"

# ---------------------------------------------------------------- install
need=()
for p in slurm-wlm munge slurmctld slurmd slurm-client; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing: ${need[*]}"
    # Keep the packages' postinst from starting the *system* munge/slurm
    # services (which would use /etc/slurm and /run/munge): install a
    # temporary policy-rc.d unless one already exists.
    tmp_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        tmp_policy=/usr/sbin/policy-rc.d
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 \
            || { [ -n "$tmp_policy" ] && rm -f "$tmp_policy"; die "apt-get install ${need[*]} failed"; }
    fi
    [ -n "$tmp_policy" ] && rm -f "$tmp_policy"
fi
for b in munged slurmctld slurmd sinfo sbatch scontrol; do
    command -v "$b" >/dev/null || die "$b not found after install"
done

CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

# ------------------------------------------------------------ helpers
# pid_alive PIDFILE NAME: true if PIDFILE names a live process whose comm is
# NAME (guards against pid reuse after a crash).
pid_alive() {
    local f=$1 name=$2 pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' < "$f")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]   # zombie = dead
}

port_busy() { ss -Htanl "sport = :$1" 2>/dev/null | grep -q .; }

free_port() {  # free_port START [EXCLUDE]
    local p=$1
    while port_busy "$p" || [ "$p" = "${2:-}" ]; do
        p=$((p + 1))
        [ "$p" -lt 65000 ] || die "no free port found"
    done
    echo "$p"
}

tails() {
    for f in "$DIR"/log/munged.log "$DIR"/log/slurmctld.log "$DIR"/log/slurmd.log; do
        [ -f "$f" ] || continue
        echo "----- tail $f" >&2
        tail -n 25 "$f" >&2
    done
}

node_state() {
    sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true
}

NODE=$(hostname -s)

# Already up and healthy? Then just print the export line.
if [ -f "$CONF" ] && pid_alive "$DIR/run/munged.pid" munged \
   && pid_alive "$DIR/run/slurmctld.pid" slurmctld \
   && pid_alive "$DIR/run/slurmd.pid" slurmd; then
    st=$(node_state)
    case "$st" in
        idle*|mixed*|allocated*|completing*)
            log "already running in $DIR (node $NODE: $st)"
            echo "export SLURM_CONF=$CONF"
            exit 0 ;;
    esac
fi

# Half-up (a daemon crashed or was kill -9'ed, the others still run):
# restart only what is missing, unless SLURM_UP_CLEAN=1. If nothing runs any
# more, stop leftovers (stray slurmstepds, stale pid files) and start afresh.
MODE=full
if [ "${SLURM_UP_CLEAN:-0}" != 1 ] && [ -f "$CONF" ] && {
       pid_alive "$DIR/run/munged.pid" munged ||
       pid_alive "$DIR/run/slurmctld.pid" slurmctld ||
       pid_alive "$DIR/run/slurmd.pid" slurmd; }; then
    MODE=partial
    log "partially running in $DIR: restarting the missing daemons"
elif ls "$DIR"/run/*.pid >/dev/null 2>&1; then
    log "stopping leftovers of a previous run in $DIR"
    "$HERE/slurm-down.sh" "$DIR" >&2 || true
fi

mkdir -p "$DIR"/{munge,run,log,state,spool,jobs}
chmod 755 "$DIR/munge"   # socket must be reachable by job users; key stays 0400
chmod 755 "$DIR"/{run,log,state,spool}
chmod 1777 "$DIR/jobs"   # convenient output dir for test jobs

if [ "${SLURM_UP_CLEAN:-0}" = 1 ]; then
    log "SLURM_UP_CLEAN=1: wiping controller state and spool"
    rm -rf "${DIR:?}/state" "${DIR:?}/spool"
    mkdir -p "$DIR/state" "$DIR/spool"
fi

# ------------------------------------------------------------- munge
# Private key, owned by root mode 0400 (munged checks the key is owned by the
# user it runs as and not readable by others; its directory must not be
# writable by group/other).
KEY="$DIR/munge/munge.key"
if [ ! -s "$KEY" ]; then
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile="$KEY" --force >&2
    else
        dd if=/dev/urandom of="$KEY" bs=1 count=1024 status=none
    fi
fi
chown root:root "$KEY"
chmod 0400 "$KEY"

start_munged() {
    rm -f "$SOCK" "$SOCK.lock"
    # --force: munged refuses to start if it finds a stale socket/lock or if it
    # runs as root with some directory-permission warnings (e.g. DIR under /tmp).
    munged --force \
        --socket="$SOCK" \
        --key-file="$KEY" \
        --pid-file="$DIR/run/munged.pid" \
        --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/munge/munged.seed" \
        --num-threads=4 \
        >>"$DIR/log/munged.out" 2>&1 || { cat "$DIR/log/munged.out" >&2; tails; die "munged failed to start"; }
    for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$SOCK" ] || { tails; die "munged socket $SOCK did not appear"; }
    if ! munge -S "$SOCK" -n </dev/null | unmunge -S "$SOCK" >/dev/null 2>&1; then
        tails; die "munge round trip over $SOCK failed"
    fi
}

if [ "$MODE" = full ]; then
# ------------------------------------------------------- slurm.conf
read -r CPUS BOARDS SOCKETS CORES THREADS MEM < <(
    slurmd -C | awk '/^NodeName=/{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["CPUs"], v["Boards"], v["SocketsPerBoard"], v["CoresPerSocket"], v["ThreadsPerCore"], v["RealMemory"] }')
[ -n "${MEM:-}" ] || die "could not parse 'slurmd -C' output"

# Ports: keep those of a previous config in DIR (so a crash-recovered
# slurmctld and its state agree), else pick free ones.
old_ctld=""; old_slurmd=""
if [ -f "$CONF" ]; then
    old_ctld=$(sed -n 's/^SlurmctldPort=//p' "$CONF")
    old_slurmd=$(sed -n 's/^SlurmdPort=//p' "$CONF")
fi
CTLD_PORT=$(free_port "${old_ctld:-${SLURM_UP_CTLD_PORT:-16817}}")
SLURMD_PORT=$(free_port "${old_slurmd:-${SLURM_UP_SLURMD_PORT:-16818}}" "$CTLD_PORT")

# SLURM_UP_CPUS=N advertises N CPUs (1 socket x N cores) instead of the real
# count, e.g. to run more jobs at once on a 2-core box; slurmd accepts the
# mismatch thanks to SlurmdParameters=config_overrides.
OVERRIDE=""
if [ -n "${SLURM_UP_CPUS:-}" ]; then
    CPUS=$SLURM_UP_CPUS BOARDS=1 SOCKETS=1 CORES=$SLURM_UP_CPUS THREADS=1
    OVERRIDE="SlurmdParameters=config_overrides"
fi

DEF_MEM=${SLURM_UP_DEF_MEM_PER_CPU:-$(( MEM / CPUS < 1024 ? MEM / CPUS : 1024 ))}

cat > "$CONF" <<EOF
# Generated by tests/slurm/slurm-up.sh — single-node test cluster in $DIR
ClusterName=${SLURM_UP_CLUSTER:-interlink}
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT

AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK

StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=${SLURM_UP_DEBUG:-info}
SlurmdDebug=${SLURM_UP_DEBUG:-info}

# No cgroups: this host has cgroup v1 and no CAP_SYS_RESOURCE.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
# No slurmdbd => sacct has no data. Finished jobs are appended (state,
# exit code, times) to a text file instead.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MpiDefault=none

SchedulerType=sched/backfill
# batch_sched_delay defaults to 3 s: every batch job would wait ~2-3 s before
# the scheduler even looks at it. Schedule at once instead.
SchedulerParameters=${SLURM_UP_SCHED_PARAMS:-batch_sched_delay=0,sched_min_interval=0}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM

ReturnToService=2
MinJobAge=${SLURM_UP_MIN_JOB_AGE:-30}
KillWait=5
InactiveLimit=0
Waittime=0
SlurmdTimeout=60
SlurmctldTimeout=30
MaxJobCount=20000
$OVERRIDE

NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# No cgroup.conf is needed: with proctrack/linuxproc, task/none and
# jobacct_gather/linux, slurmd 22.05 never loads a cgroup plugin.
rm -f "$DIR/cgroup.conf"
fi  # MODE=full

# ------------------------------------------------------- daemons
# SLURM_CONF (exported above) ends up in every slurmstepd's environment;
# slurm-down uses it to find the slurmstepd processes of this cluster.
start_slurmctld() {
    if ! slurmctld -f "$CONF" >>"$DIR/log/slurmctld.out" 2>&1; then
        cat "$DIR/log/slurmctld.out" >&2; tails; die "slurmctld failed to start"
    fi
}
start_slurmd() {
    if ! slurmd -f "$CONF" >>"$DIR/log/slurmd.out" 2>&1; then
        cat "$DIR/log/slurmd.out" >&2; tails; die "slurmd failed to start"
    fi
}

if [ "$MODE" = partial ]; then
    # Some daemons survived (e.g. slurmctld was kill -9'ed): restart only
    # the dead ones with the existing slurm.conf. slurmctld recovers its
    # state, slurmd re-attaches to the running slurmstepds, so jobs survive.
    pid_alive "$DIR/run/munged.pid" munged || { log "restarting munged"; start_munged; }
    pid_alive "$DIR/run/slurmctld.pid" slurmctld || { log "restarting slurmctld"; start_slurmctld; }
    pid_alive "$DIR/run/slurmd.pid" slurmd || { log "restarting slurmd"; start_slurmd; }
else
    start_munged
    start_slurmctld
    start_slurmd
fi

deadline=$(( $(date +%s) + ${SLURM_UP_TIMEOUT:-60} ))
st=""
while :; do
    st=$(node_state)
    case "$st" in
        idle*|mixed*|allocated*) break ;;
        down*|drain*|fail*|inval*)
            # A crash can leave the node DOWN with reason "Not responding";
            # ReturnToService=2 normally clears that once slurmd registers.
            scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "node $NODE not idle after ${SLURM_UP_TIMEOUT:-60}s (state: '${st:-<no answer>}')"
        sinfo -N -l >&2 2>&1 || true
        scontrol show node "$NODE" >&2 2>&1 || true
        tails
        die "cluster in $DIR did not come up"
    fi
    for d in slurmctld slurmd; do
        if [ -s "$DIR/run/$d.pid" ] && ! pid_alive "$DIR/run/$d.pid" $d; then
            tails; die "$d exited"
        fi
    done
    sleep 0.5
done
log "up: node $NODE $st ($(sinfo -h -N -n "$NODE" -o '%c CPUs, %m MB' 2>/dev/null | head -n1)), ports $(sed -n 's/^SlurmctldPort=//p' "$CONF")/$(sed -n 's/^SlurmdPort=//p' "$CONF"), logs in $DIR/log"
echo "export SLURM_CONF=$CONF"
