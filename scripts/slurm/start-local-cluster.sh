#!/usr/bin/env bash
# Start (or repair) a one-node SLURM cluster with accounting on this machine.
#
# Contract:
#   - runs as root, needs no systemd and no stdin; safe to run again: a healthy cluster
#     whose configuration is unchanged is left alone (no-op), a half-started one is repaired;
#   - installs slurm-wlm, slurmdbd, munge and mariadb-server with apt when they are missing;
#   - starts only what is not already running, records what it started under
#     $SLURM_LOCAL_DIR/run (pid file + "*.ours" marker) so stop-local-cluster.sh stops
#     exactly those daemons and nothing else;
#   - regenerates /etc/slurm/slurm.conf on every start (the host name may have changed),
#     backing up a file it did not write; StateSaveLocation is kept between runs so job ids
#     keep increasing (a reused submitit folder would otherwise see an old job's result);
#   - exits non-zero with the relevant log tail when a daemon does not come up in time.
#
# Environment: SLURM_LOCAL_DIR (default /var/lib/slurm-local), SLURM_LOCAL_TIMEOUT_S (60),
#              SLURM_LOCAL_CLUSTER (cluster name, default "local").
set -euo pipefail
# This cluster's daemons and checks read /etc/slurm/slurm.conf; a SLURM_CONF exported for
# another cluster on this machine (start-two-node-cluster.sh) must not redirect them.
unset SLURM_CONF

STATE_DIR="${SLURM_LOCAL_DIR:-/var/lib/slurm-local}"
TIMEOUT_S="${SLURM_LOCAL_TIMEOUT_S:-60}"
CLUSTER="${SLURM_LOCAL_CLUSTER:-local}"
CONF_DIR=/etc/slurm
SLURM_CONF_FILE="$CONF_DIR/slurm.conf"
DBD_CONF_FILE="$CONF_DIR/slurmdbd.conf"
MANAGED_MARK="# Managed by scripts/slurm/start-local-cluster.sh"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "$(id -u)" != 0 ]]; then
    die "must run as root (it starts munged, slurmdbd, slurmctld and slurmd)"
fi

ensure_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] \
            || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        say "installing missing packages: ${missing[*]}"
        apt-get update -q </dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null
    fi
}

ensure_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "munged: already running"
        return
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        say "munged: creating /etc/munge/munge.key"
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    rm -f "$RUN_DIR/munged.pid" /run/munge/munged.pid
    # munged runs as the munge user (it cannot write our run dir, so it keeps its own pid
    # file, copied below); --force reclaims a stale socket left by a dead daemon.
    runuser -u munge -- /usr/sbin/munged --force </dev/null 9>&-
    touch "$RUN_DIR/munged.ours"
    wait_for "munged" /var/log/munge/munged.log \
        bash -c 'munge -n </dev/null | unmunge >/dev/null 2>&1'
    cp /run/munge/munged.pid "$RUN_DIR/munged.pid"
    say "munged: started (pid $(cat "$RUN_DIR/munged.pid" 2>/dev/null || echo ?))"
}

mariadb_root() {
    # Debian's root@localhost authenticates over the socket as the unix root user; some
    # images instead allow root over TCP with an empty password.
    mysql --protocol=socket -uroot "$@" </dev/null 2>/dev/null \
        || mysql -h127.0.0.1 -uroot "$@" </dev/null
}

ensure_mariadb() {
    if mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 \
        || mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1; then
        say "mariadb: already running"
    else
        install -d -o mysql -g mysql -m 0755 /run/mysqld
        if [[ ! -d /var/lib/mysql/mysql ]]; then
            say "mariadb: initialising /var/lib/mysql"
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOG_DIR/mariadb-install.log" 2>&1
        fi
        start-stop-daemon --start --oknodo --background --make-pidfile \
            --pidfile "$RUN_DIR/mariadbd.pid" --output "$LOG_DIR/mariadbd.log" \
            --exec /usr/sbin/mariadbd -- --user=mysql </dev/null 9>&-
        touch "$RUN_DIR/mariadbd.ours"
        wait_for "mariadb" "$LOG_DIR/mariadbd.log" \
            bash -c 'mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 || mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1'
        say "mariadb: started (pid $(cat "$RUN_DIR/mariadbd.pid"))"
    fi
    local pass_file="$STATE_DIR/dbpass"
    if [[ ! -s "$pass_file" ]]; then
        (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$pass_file")
    fi
    DB_PASS="$(cat "$pass_file")"
    # Idempotent: IF NOT EXISTS + ALTER keeps the stored password authoritative.
    mariadb_root -e "
        CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost';
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1';
        ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        FLUSH PRIVILEGES;" \
        || die "cannot create the accounting database as the MariaDB root user"
}

render_slurm_conf() {
    local host cpus mem_mb
    host="$(hostname -s)"
    cpus="$(nproc)"
    # Leave headroom: slurmd drains a node whose RealMemory exceeds what it measures.
    mem_mb=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 ))
    cat <<CONF
$MANAGED_MARK -- regenerated on every start; edit the script, not this file.
ClusterName=$CLUSTER
# Loopback addresses: the cluster works even where the host name does not resolve.
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits for its old credential to expire before it may start again.
AuthInfo=cred_expire=10
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5,batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default every job that omits --mem would take the whole node.
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
# Preemption that submitit can checkpoint: the preempted job gets SIGUSR2 (the
# --signal=USR2 submitit asks for) during GraceTime, checkpoints, and is requeued.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES PriorityTier=1 GraceTime=60 PreemptMode=REQUEUE MaxTime=INFINITE State=UP
PartitionName=high Nodes=$host Default=NO PriorityTier=10 PreemptMode=OFF MaxTime=INFINITE State=UP
CONF
}

render_dbd_conf() {
    cat <<CONF
$MANAGED_MARK -- regenerated on every start.
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF
}

# Writes $2 (content) to $1 atomically; echoes "changed" when the content differs.
write_conf() {
    local path="$1" content="$2" mode="$3"
    if [[ -f "$path" ]] && cmp -s <(printf '%s\n' "$content") "$path"; then
        return 0
    fi
    if [[ -f "$path" ]] && ! grep -qF "$MANAGED_MARK" "$path"; then
        local backup="$path.before-local-cluster.$(date +%Y%m%d%H%M%S)"
        cp -p "$path" "$backup"
        say "backed up existing $path to $backup" >&2
    fi
    local tmp
    tmp="$(mktemp "$path.XXXXXX")"
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    chown root:root "$tmp"
    sync "$tmp"
    mv -f "$tmp" "$path"
    echo changed
}

# Restarts a daemon started by this script (config change); leaves foreign ones alone.
restart_if_ours() {
    local name="$1"
    if [[ -f "$RUN_DIR/$name.ours" ]] && daemon_alive "$name"; then
        say "$name: configuration changed, restarting"
        stop_daemon "$name"
    fi
}

# Runs a forking daemon's launcher (fd 9, the start lock, closed); if the launcher itself
# fails (a config it rejects), exits with its log tail instead of a bare set -e stop.
launch_daemon() {
    local name="$1" log="$2"
    shift 2
    if ! "$@" </dev/null 9>&-; then
        echo "[slurm-local] ERROR: $name refused to start" >&2
        show_log_tail "$log"
        exit 1
    fi
}

ensure_slurmdbd() {
    if daemon_alive slurmdbd || pid_of_exe slurmdbd >/dev/null; then
        say "slurmdbd: already running"
    else
        rm -f "$RUN_DIR/slurmdbd.pid"
        launch_daemon slurmdbd "$LOG_DIR/slurmdbd.log" /usr/sbin/slurmdbd
        touch "$RUN_DIR/slurmdbd.ours"
        say "slurmdbd: started"
    fi
    wait_for "slurmdbd" "$LOG_DIR/slurmdbd.log" \
        bash -c 'sacctmgr -n list cluster format=cluster >/dev/null 2>&1'
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
        say "sacctmgr: registered cluster $CLUSTER"
    fi
}

ensure_slurmctld() {
    if daemon_alive slurmctld || pid_of_exe slurmctld >/dev/null; then
        say "slurmctld: already running"
    else
        rm -f "$RUN_DIR/slurmctld.pid"
        launch_daemon slurmctld "$LOG_DIR/slurmctld.log" /usr/sbin/slurmctld
        touch "$RUN_DIR/slurmctld.ours"
        say "slurmctld: started"
    fi
    wait_for "slurmctld" "$LOG_DIR/slurmctld.log" \
        bash -c 'scontrol ping 2>/dev/null | grep -q "is UP"'
}

ensure_slurmd() {
    if daemon_alive slurmd || pid_of_exe slurmd >/dev/null; then
        say "slurmd: already running"
    else
        rm -f "$RUN_DIR/slurmd.pid"
        launch_daemon slurmd "$LOG_DIR/slurmd.log" /usr/sbin/slurmd
        touch "$RUN_DIR/slurmd.ours"
        say "slurmd: started"
    fi
}

node_state() {
    sinfo -h -N -n "$(hostname -s)" -o '%T' 2>/dev/null | head -n1
}

wait_node_ready() {
    local host deadline state resumed=0
    host="$(hostname -s)"
    deadline=$((SECONDS + TIMEOUT_S))
    while ((SECONDS < deadline)); do
        state="$(node_state)"
        case "$state" in
            idle|mixed|allocated|completing)
                say "node $host: $state"
                return 0 ;;
            down*|drain*|drained*)
                if ((resumed == 0)); then
                    say "node $host: $state, resuming it"
                    scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
                    resumed=1
                fi ;;
        esac
        sleep 0.5
    done
    echo "ERROR: node $host not ready after ${TIMEOUT_S}s (state: '${state:-none}')" >&2
    scontrol show node "$host" 2>&1 | sed 's/^/  /' >&2 || true
    show_log_tail "$LOG_DIR/slurmd.log"
    show_log_tail "$LOG_DIR/slurmctld.log"
    exit 1
}

main() {
    local t0=$SECONDS
    ensure_packages
    install -d -m 0755 "$STATE_DIR" "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/spool/slurmd"
    install -d -m 0700 "$STATE_DIR/state"
    install -d -m 0755 "$CONF_DIR"
    # One start at a time: CI and engineers may call this concurrently on one machine.
    # Daemons are started with fd 9 closed so they do not inherit (and hold) this lock.
    exec 9>"$STATE_DIR/start.lock"
    flock -w "$((TIMEOUT_S * 3))" 9 || die "another start holds $STATE_DIR/start.lock"

    ensure_munge
    ensure_mariadb

    local dbd_changed slurm_changed
    dbd_changed="$(write_conf "$DBD_CONF_FILE" "$(render_dbd_conf)" 600)"
    slurm_changed="$(write_conf "$SLURM_CONF_FILE" "$(render_slurm_conf)" 644)"
    [[ -n "$dbd_changed" ]] && say "wrote $DBD_CONF_FILE (root, mode 600)"
    [[ -n "$slurm_changed" ]] && say "wrote $SLURM_CONF_FILE for host $(hostname -s)"
    if [[ -n "$dbd_changed" ]]; then restart_if_ours slurmdbd; fi
    if [[ -n "$slurm_changed" ]]; then
        restart_if_ours slurmd
        restart_if_ours slurmctld
    fi

    ensure_slurmdbd
    ensure_slurmctld
    ensure_slurmd
    if [[ -n "$slurm_changed" && ! -f "$RUN_DIR/slurmctld.ours" ]]; then
        # A controller we did not start (and so must not restart) re-reads the new file.
        scontrol reconfigure && say "slurmctld: asked to re-read $SLURM_CONF_FILE"
    fi
    wait_node_ready
    say "cluster '$CLUSTER' ready in $((SECONDS - t0))s (partitions: debug default, high preempts)"
}

main "$@"
