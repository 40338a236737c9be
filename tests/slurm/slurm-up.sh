#!/usr/bin/env bash
# slurm-up.sh DIR — bring up a private, single-node SLURM cluster (munged +
# slurmctld + slurmd, plus MariaDB + slurmdbd with SLURM_UP_ACCOUNTING=1)
# whose every file lives under DIR.
#
# - installs slurm-wlm/munge (and mariadb-server/slurmdbd) from Debian's apt
#   registry if missing
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
#   SLURM_UP_ACCOUNTING=1     real accounting: a private mariadbd (127.0.0.1
#                             only, datadir DIR/mariadb) and slurmdbd, so that
#                             sacct answers.  Default 0: AccountingStorageType
#                             none (sacct says "accounting storage is disabled")
#   SLURM_UP_DB_PORT=N        first port to try for mariadbd (default 16830)
#   SLURM_UP_DBD_PORT=N       first port to try for slurmdbd (default 16831)
#   SLURM_UP_REST=1           also slurmrestd (openapi/v0.0.38, rest_auth/jwt)
#                             on 127.0.0.1, its URL in DIR/slurmrestd.url, and
#                             auth/jwt as AuthAltTypes (key DIR/jwt/jwt_hs256.key)
#                             so that `scontrol token` hands out tokens for it
#   SLURM_UP_REST_PORT=N      first port to try for slurmrestd (default 16840)
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

ACCT=${SLURM_UP_ACCOUNTING:-0}
case "$ACCT" in 0|1) ;; *) die "SLURM_UP_ACCOUNTING must be 0 or 1, not '$ACCT'" ;; esac
REST=${SLURM_UP_REST:-0}
case "$REST" in 0|1) ;; *) die "SLURM_UP_REST must be 0 or 1, not '$REST'" ;; esac

# ---------------------------------------------------------------- install
pkgs=(slurm-wlm munge slurmctld slurmd slurm-client)
[ "$ACCT" = 1 ] && pkgs+=(mariadb-server slurmdbd)
[ "$REST" = 1 ] && pkgs+=(slurmrestd slurm-wlm-jwt-plugin)
need=()
for p in "${pkgs[@]}"; do
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
bins=(munged slurmctld slurmd sinfo sbatch scontrol)
[ "$ACCT" = 1 ] && bins+=(mariadbd mariadb-install-db mariadb-admin mariadb slurmdbd sacctmgr sacct)
[ "$REST" = 1 ] && bins+=(slurmrestd)
for b in "${bins[@]}"; do
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

free_port() {  # free_port START [EXCLUDE...]
    local p=$1
    [[ $p =~ ^[0-9]+$ ]] || die "port '$p' is not a number"
    shift
    while port_busy "$p" || [[ " $* " == *" $p "* ]] || [[ "${RESERVED:- }" == *" $p "* ]]; do
        p=$((p + 1))
        [ "$p" -lt 65000 ] || die "no free port found"
    done
    echo "$p"
}

tails() {
    for f in "$DIR"/log/munged.log "$DIR"/log/mariadbd.log "$DIR"/log/slurmdbd.log \
             "$DIR"/log/slurmctld.log "$DIR"/log/slurmd.log; do
        [ -f "$f" ] || continue
        echo "----- tail $f" >&2
        tail -n 25 "$f" >&2
    done
}

node_state() {
    sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true
}

NODE=$(hostname -s)

# The daemons of this cluster, in start order.  An existing slurm.conf made
# with the other accounting mode does not count as this cluster: it is
# stopped and replaced (full start).
DAEMONS=(munged slurmctld slurmd)
[ "$ACCT" = 1 ] && DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)
[ "$REST" = 1 ] && DAEMONS+=(slurmrestd)
conf_matches() {
    [ -f "$CONF" ] || return 1
    if grep -q '^AuthAltTypes=auth/jwt' "$CONF"; then
        [ "$REST" = 1 ] || return 1
    else
        [ "$REST" = 0 ] || return 1
    fi
    if grep -q '^AccountingStorageType=accounting_storage/slurmdbd' "$CONF"; then
        [ "$ACCT" = 1 ]
    else
        [ "$ACCT" = 0 ]
    fi
}
all_alive() {
    local d
    for d in "${DAEMONS[@]}"; do pid_alive "$DIR/run/$d.pid" "$d" || return 1; done
}
any_alive() {
    local d
    for d in munged mariadbd slurmdbd slurmctld slurmd slurmrestd; do
        pid_alive "$DIR/run/$d.pid" "$d" && return 0
    done
    return 1
}

# Already up and healthy (and no clean start asked)? Then just print the
# export line.
if [ "${SLURM_UP_CLEAN:-0}" != 1 ] && conf_matches && all_alive; then
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
if [ "${SLURM_UP_CLEAN:-0}" != 1 ] && conf_matches && any_alive; then
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
    log "SLURM_UP_CLEAN=1: wiping controller state, spool and accounting database"
    rm -rf "${DIR:?}/state" "${DIR:?}/spool" "${DIR:?}/mariadb/data"
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
        9>&- >>"$DIR/log/munged.out" 2>&1 || { cat "$DIR/log/munged.out" >&2; tails; die "munged failed to start"; }
    for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$SOCK" ] || { tails; die "munged socket $SOCK did not appear"; }
    if ! munge -S "$SOCK" -n </dev/null | unmunge -S "$SOCK" >/dev/null 2>&1; then
        tails; die "munge round trip over $SOCK failed"
    fi
}

# Ports are picked (free_port) and bound (daemon start) under a machine-wide
# lock, so that clusters started at the same time never pick the same free
# port.  Daemons do not inherit the lock's fd (9>&-): it would stay held.
exec 9>/tmp/.slurm-up-ports.lock
flock -w 120 9 || die "could not take /tmp/.slurm-up-ports.lock within 120 s"

# The ports of the other clusters on this machine stay theirs while their
# daemons are down (an outage test stops slurmctld and starts it again on
# its port, and another cluster starting meanwhile must not take it): a
# registry of "PORT DIR" lines, read and written under the same lock; the
# entries of a DIR without its slurm.conf are dropped.
REG=/tmp/.slurm-up-ports.reg
RESERVED=" "
if [ -f "$REG" ]; then
    while read -r rp rd; do
        if [ "$rd" != "$DIR" ] && [ -f "$rd/slurm.conf" ]; then RESERVED+="$rp "; fi
    done < "$REG"
fi
reserve() {  # reserve PORT...: record them as DIR's
    local tmp="$REG.$$" p d
    : > "$tmp"
    if [ -f "$REG" ]; then
        while read -r p d; do
            if [ "$d" = "$DIR" ] || [ -f "$d/slurm.conf" ]; then echo "$p $d" >> "$tmp"; fi
        done < "$REG"
    fi
    for p in "$@"; do echo "$p $DIR" >> "$tmp"; done
    mv -f "$tmp" "$REG"
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
reserve "$CTLD_PORT" "$SLURMD_PORT"

# Accounting: where slurmctld finds slurmdbd, and which munge socket it
# uses for that connection (AccountingStoragePass; AuthInfo is not read
# there: without it slurmctld would try /run/munge).
if [ "$ACCT" = 1 ]; then
    old_db=""; old_dbd=""
    [ -f "$DIR/mariadb/my.cnf" ] && old_db=$(sed -n 's/^port=//p' "$DIR/mariadb/my.cnf")
    [ -f "$DIR/slurmdbd.conf" ] && old_dbd=$(sed -n 's/^DbdPort=//p' "$DIR/slurmdbd.conf")
    DB_PORT=$(free_port "${old_db:-${SLURM_UP_DB_PORT:-16830}}" "$CTLD_PORT" "$SLURMD_PORT")
    DBD_PORT=$(free_port "${old_dbd:-${SLURM_UP_DBD_PORT:-16831}}" "$CTLD_PORT" "$SLURMD_PORT" "$DB_PORT")
    reserve "$DB_PORT" "$DBD_PORT"
    ACCT_CONF="# Accounting (SLURM_UP_ACCOUNTING=1): slurmdbd on 127.0.0.1:$DBD_PORT, MariaDB behind it.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$SOCK"
else
    ACCT_CONF="# No slurmdbd => sacct has no data (\"accounting storage is disabled\").
AccountingStorageType=accounting_storage/none"
fi

# SLURM_UP_CPUS=N advertises N CPUs (1 socket x N cores) instead of the real
# count, e.g. to run more jobs at once on a 2-core box; slurmd accepts the
# mismatch thanks to SlurmdParameters=config_overrides.
OVERRIDE=""
if [ -n "${SLURM_UP_CPUS:-}" ]; then
    CPUS=$SLURM_UP_CPUS BOARDS=1 SOCKETS=1 CORES=$SLURM_UP_CPUS THREADS=1
    OVERRIDE="SlurmdParameters=config_overrides"
fi

# slurmrestd (SLURM_UP_REST=1): its clients send a JWT that slurmctld
# checks with this key (auth/jwt as an alternative to munge).
REST_CONF=""
if [ "$REST" = 1 ]; then
    mkdir -p "$DIR/jwt"
    chmod 700 "$DIR/jwt"
    [ -s "$DIR/jwt/jwt_hs256.key" ] || ( umask 077; head -c 32 /dev/urandom > "$DIR/jwt/jwt_hs256.key" )
    chmod 0600 "$DIR/jwt/jwt_hs256.key"
    REST_CONF="# slurmrestd's clients authenticate with tokens (scontrol token).
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$DIR/jwt/jwt_hs256.key"
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
$REST_CONF

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
$ACCT_CONF
# Finished jobs are also appended (state, exit code, times) to a text file.
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

if [ "$ACCT" = 1 ]; then
    # MariaDB: only this file is read (no /etc/mysql), TCP on 127.0.0.1
    # only (slurmdbd cannot be given a unix socket path), small InnoDB
    # files so that initialising the datadir stays cheap.  slurmdbd logs
    # "Database settings not recommended values" for them: harmless here.
    mkdir -p "$DIR/mariadb"
    chmod 700 "$DIR/mariadb"
    cat > "$DIR/mariadb/my.cnf" <<EOF2
# Generated by tests/slurm/slurm-up.sh (SLURM_UP_ACCOUNTING=1)
[mariadbd]
datadir=$DIR/mariadb/data
socket=$DIR/mariadb/mariadbd.sock
pid-file=$DIR/run/mariadbd.pid
log-error=$DIR/log/mariadbd.log
port=$DB_PORT
bind-address=127.0.0.1
user=root
skip-name-resolve
performance_schema=OFF
innodb_buffer_pool_size=32M
innodb_log_file_size=8M
innodb_flush_log_at_trx_commit=2
innodb_lock_wait_timeout=900
[client]
socket=$DIR/mariadb/mariadbd.sock
EOF2
    # The database password lives only in slurmdbd.conf (0600, SlurmUser
    # root); kept across restarts of the same DIR.
    DB_PASS=""
    [ -f "$DIR/slurmdbd.conf" ] && DB_PASS=$(sed -n 's/^StoragePass=//p' "$DIR/slurmdbd.conf")
    [ -n "$DB_PASS" ] || DB_PASS=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    ( umask 077; cat > "$DIR/slurmdbd.conf" <<EOF2
# Generated by tests/slurm/slurm-up.sh (SLURM_UP_ACCOUNTING=1)
AuthType=auth/munge
AuthInfo=socket=$SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=${SLURM_UP_DEBUG:-info}
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF2
    )
    chown root:root "$DIR/slurmdbd.conf"
    chmod 0600 "$DIR/slurmdbd.conf"
else
    rm -f "$DIR/slurmdbd.conf" "$DIR/mariadb/my.cnf"
fi
fi  # MODE=full

# ------------------------------------------------------- daemons
# SLURM_CONF (exported above) ends up in every slurmstepd's environment;
# slurm-down uses it to find the slurmstepd processes of this cluster.
# slurmdbd reads DIR/slurmdbd.conf, next to SLURM_CONF.
MYCNF="$DIR/mariadb/my.cnf"
db_sql() { mariadb --defaults-file="$MYCNF" -u root "$@"; }

# mariadbd does not daemonize: it runs in the background in its own
# session, with no tie to our stdout (a caller capturing it would hang).
# root logs in over the unix socket only (unix_socket authentication);
# slurmdbd uses the user `slurm` over TCP.
start_mariadbd() {
    if [ ! -d "$DIR/mariadb/data/mysql" ]; then
        rm -rf "${DIR:?}/mariadb/data"
        mariadb-install-db --defaults-file="$MYCNF" --auth-root-authentication-method=socket \
            --skip-test-db >>"$DIR/log/mariadbd.out" 2>&1 \
            || { cat "$DIR/log/mariadbd.out" >&2; die "mariadb-install-db failed"; }
    fi
    rm -f "$DIR/mariadb/mariadbd.sock"
    setsid mariadbd --defaults-file="$MYCNF" </dev/null >>"$DIR/log/mariadbd.out" 2>&1 9>&- &
    for _ in $(seq 300); do
        mariadb-admin --defaults-file="$MYCNF" -u root ping >/dev/null 2>&1 && break
        kill -0 $! 2>/dev/null || { tails; die "mariadbd exited"; }
        sleep 0.1
    done
    mariadb-admin --defaults-file="$MYCNF" -u root ping >/dev/null 2>&1 \
        || { tails; die "mariadbd did not answer within 30 s"; }
    local pass
    pass=$(sed -n 's/^StoragePass=//p' "$DIR/slurmdbd.conf")
    db_sql -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
               ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
               GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
        || { tails; die "creating the slurm database user failed"; }
}

# slurmdbd daemonizes once it listens; the first start also creates the
# schema.  Ready when sacctmgr gets an answer through it.
start_slurmdbd() {
    if ! slurmdbd 9>&- >>"$DIR/log/slurmdbd.out" 2>&1; then
        cat "$DIR/log/slurmdbd.out" >&2; tails; die "slurmdbd failed to start"
    fi
    for _ in $(seq 300); do
        timeout 10 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1 && break
        [ -s "$DIR/run/slurmdbd.pid" ] && ! pid_alive "$DIR/run/slurmdbd.pid" slurmdbd \
            && { tails; die "slurmdbd exited"; }
        sleep 0.1
    done
    timeout 10 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1 \
        || { tails; die "slurmdbd did not answer within 30 s"; }
    # slurmctld only reports to a cluster slurmdbd knows.
    local name
    name=$(sed -n 's/^ClusterName=//p' "$CONF")
    if [ -z "$(timeout 10 sacctmgr -n -P show cluster where cluster="$name" format=cluster 2>/dev/null)" ]; then
        timeout 20 sacctmgr -i add cluster "$name" >>"$DIR/log/slurmdbd.out" 2>&1 \
            || { tails; die "sacctmgr add cluster $name failed"; }
    fi
}
start_slurmctld() {
    if ! slurmctld -f "$CONF" 9>&- >>"$DIR/log/slurmctld.out" 2>&1; then
        cat "$DIR/log/slurmctld.out" >&2; tails; die "slurmctld failed to start"
    fi
}
# slurmrestd does not daemonize (like mariadbd above).  It refuses to run
# as root, and as nobody it reads slurm.conf only after dropping root, so
# it reads a copy in a directory of its own that nobody can reach (DIR's
# parents may be 0700), recorded in DIR/run/slurmrestd.confdir for
# slurm-down.  SLURM_JWT=daemon: it has no token of its own and passes
# each client's on.  The port is kept across restarts of DIR.
start_slurmrestd() {
    local port old="" confdir
    [ -f "$DIR/slurmrestd.url" ] && old=$(sed -n 's|^http://127.0.0.1:||p' "$DIR/slurmrestd.url")
    port=$(free_port "${old:-${SLURM_UP_REST_PORT:-16840}}" \
           "$(sed -n 's/^SlurmctldPort=//p' "$CONF")" "$(sed -n 's/^SlurmdPort=//p' "$CONF")")
    reserve "$port"
    confdir=$(cat "$DIR/run/slurmrestd.confdir" 2>/dev/null || true)
    [ -n "$confdir" ] && [ -d "$confdir" ] || confdir=$(mktemp -d /tmp/slurm-up-rest-XXXXXX)
    echo "$confdir" > "$DIR/run/slurmrestd.confdir"
    chmod 755 "$confdir"
    install -m 0644 "$CONF" "$confdir/slurm.conf"
    SLURM_JWT=daemon SLURM_CONF="$confdir/slurm.conf" setsid slurmrestd -f "$confdir/slurm.conf" \
        -a rest_auth/jwt -s openapi/v0.0.38 -u nobody \
        "127.0.0.1:$port" </dev/null >>"$DIR/log/slurmrestd.log" 2>&1 9>&- &
    echo $! > "$DIR/run/slurmrestd.pid"
    for _ in $(seq 100); do
        port_busy "$port" && break
        kill -0 $! 2>/dev/null || { tail -n 25 "$DIR/log/slurmrestd.log" >&2; die "slurmrestd exited"; }
        sleep 0.1
    done
    port_busy "$port" || { tail -n 25 "$DIR/log/slurmrestd.log" >&2; die "slurmrestd did not listen on $port"; }
    echo "http://127.0.0.1:$port" > "$DIR/slurmrestd.url"
}
start_slurmd() {
    if ! slurmd -f "$CONF" 9>&- >>"$DIR/log/slurmd.out" 2>&1; then
        cat "$DIR/log/slurmd.out" >&2; tails; die "slurmd failed to start"
    fi
}

if [ "$MODE" = partial ]; then
    # Some daemons survived (e.g. slurmctld was kill -9'ed): restart only
    # the dead ones with the existing slurm.conf. slurmctld recovers its
    # state, slurmd re-attaches to the running slurmstepds, so jobs survive.
    pid_alive "$DIR/run/munged.pid" munged || { log "restarting munged"; start_munged; }
    if [ "$ACCT" = 1 ]; then
        pid_alive "$DIR/run/mariadbd.pid" mariadbd || { log "restarting mariadbd"; start_mariadbd; }
        pid_alive "$DIR/run/slurmdbd.pid" slurmdbd || { log "restarting slurmdbd"; start_slurmdbd; }
    fi
    pid_alive "$DIR/run/slurmctld.pid" slurmctld || { log "restarting slurmctld"; start_slurmctld; }
    pid_alive "$DIR/run/slurmd.pid" slurmd || { log "restarting slurmd"; start_slurmd; }
    [ "$REST" = 1 ] && ! pid_alive "$DIR/run/slurmrestd.pid" slurmrestd \
        && { log "restarting slurmrestd"; start_slurmrestd; }
else
    start_munged
    if [ "$ACCT" = 1 ]; then
        start_mariadbd
        start_slurmdbd
    fi
    start_slurmctld
    start_slurmd
    [ "$REST" = 1 ] && start_slurmrestd
fi
exec 9>&-   # the ports are bound: release the lock

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
    for d in "${DAEMONS[@]}"; do
        if [ -s "$DIR/run/$d.pid" ] && ! pid_alive "$DIR/run/$d.pid" "$d"; then
            tails; die "$d exited"
        fi
    done
    sleep 0.5
done
[ "$REST" = 1 ] && log "slurmrestd: $(cat "$DIR/slurmrestd.url") (rest_auth/jwt; tokens: scontrol token)"
[ "$ACCT" = 1 ] && log "accounting: slurmdbd on port $(sed -n 's/^DbdPort=//p' "$DIR/slurmdbd.conf"), mariadbd on $(sed -n 's/^port=//p' "$MYCNF")"
log "up: node $NODE $st ($(sinfo -h -N -n "$NODE" -o '%c CPUs, %m MB' 2>/dev/null | head -n1)), ports $(sed -n 's/^SlurmctldPort=//p' "$CONF")/$(sed -n 's/^SlurmdPort=//p' "$CONF"), logs in $DIR/log"
echo "export SLURM_CONF=$CONF"
