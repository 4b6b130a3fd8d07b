#!/usr/bin/env bash
# Start (or repair) a SECOND, two-node SLURM cluster on this machine, beside the one-node
# cluster of start-local-cluster.sh, for jobs that span nodes (nodes=2).
#
# How two nodes fit on one machine: two slurmd processes, each started with `-N <node>`,
# each listening on its own port; slurmctld reaches them at two loopback addresses
# (127.0.0.2, 127.0.0.3), which /etc/hosts gives the node names so that a job's
# MASTER_ADDR (the first node's name) resolves. Debian's Slurm is not built with
# --enable-multiple-slurmd, but per-node Port=, %n in the slurmd paths and -N work without
# it as long as no two nodes share a NodeHostname (docs/slurm.md, "Two nodes on one machine").
#
# Contract (the same as start-local-cluster.sh's):
#   - runs as root, needs no systemd and no stdin; safe to run again: a healthy cluster
#     whose configuration is unchanged is left alone, a half-started one is repaired;
#   - installs slurm-wlm, slurmdbd, munge and mariadb-server with apt when they are missing;
#   - is separate from the one-node cluster: its own slurm.conf (clients find it through
#     SLURM_CONF=$CONF_DIR/slurm.conf), ClusterName, ports, state/spool/log/pid dirs, and
#     its own slurmdbd (own port, own MariaDB database and user); it shares munged and the
#     MariaDB server, starting them only when nothing answers;
#   - records what it started under $STATE_DIR/run (pid file + "*.ours" marker) so that
#     stop-two-node-cluster.sh stops exactly those daemons and nothing else;
#   - exits non-zero with the relevant log tail when a daemon does not come up in time.
#
# Environment: SLURM_TWO_NODE_DIR (default /var/lib/slurm-two-node),
#              SLURM_TWO_NODE_CONF_DIR (/etc/slurm-two-node), SLURM_TWO_NODE_CLUSTER (local2),
#              SLURM_TWO_NODE_PORT_BASE (6827: slurmctld; +1 slurmdbd; +2, +3 the slurmds),
#              SLURM_TWO_NODE_TIMEOUT_S (60).
set -euo pipefail

STATE_DIR="${SLURM_TWO_NODE_DIR:-/var/lib/slurm-two-node}"
CONF_DIR="${SLURM_TWO_NODE_CONF_DIR:-/etc/slurm-two-node}"
CLUSTER="${SLURM_TWO_NODE_CLUSTER:-local2}"
PORT_BASE="${SLURM_TWO_NODE_PORT_BASE:-6827}"
TIMEOUT_S="${SLURM_TWO_NODE_TIMEOUT_S:-60}"
SLURM_CONF_FILE="$CONF_DIR/slurm.conf"
DBD_CONF_FILE="$CONF_DIR/slurmdbd.conf"  # slurmdbd looks beside $SLURM_CONF
MANAGED_MARK="# Managed by scripts/slurm/start-two-node-cluster.sh"
HOSTS_MARK="# two-node SLURM cluster (scripts/slurm/start-two-node-cluster.sh)"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
CTLD_PORT=$PORT_BASE
DBD_PORT=$((PORT_BASE + 1))
NODES=("$CLUSTER-n1" "$CLUSTER-n2")
NODE_ADDRS=(127.0.0.2 127.0.0.3)
NODE_PORTS=($((PORT_BASE + 2)) $((PORT_BASE + 3)))
DB_NAME="slurm_acct_db_${CLUSTER//[^A-Za-z0-9_]/_}"
DB_USER="slurm_${CLUSTER//[^A-Za-z0-9_]/_}"
SCRIPT_TAG=slurm-two-node

# Every client command below (scontrol, sinfo, sacctmgr) and every daemon reads this file.
export SLURM_CONF="$SLURM_CONF_FILE"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "$(id -u)" != 0 ]]; then
    die "must run as root (it starts slurmdbd, slurmctld and two slurmd)"
fi
[[ "$CLUSTER" =~ ^[a-z][a-z0-9]*$ ]] || die "SLURM_TWO_NODE_CLUSTER must be lower-case letters and digits: '$CLUSTER'"

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

# munged is shared with the one-node cluster: started here only when none answers.
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
    runuser -u munge -- /usr/sbin/munged --force </dev/null 9>&-
    touch "$RUN_DIR/munged.ours"
    wait_for "munged" /var/log/munge/munged.log \
        bash -c 'munge -n </dev/null | unmunge >/dev/null 2>&1'
    cp /run/munge/munged.pid "$RUN_DIR/munged.pid"
    say "munged: started (pid $(cat "$RUN_DIR/munged.pid" 2>/dev/null || echo ?))"
}

mariadb_root() {
    mysql --protocol=socket -uroot "$@" </dev/null 2>/dev/null \
        || mysql -h127.0.0.1 -uroot "$@" </dev/null
}

mariadb_answers() {
    mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 || mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1
}

# The MariaDB server is shared (started here only when none answers); the database and
# its user are this cluster's own, so the one-node cluster's password is never touched.
ensure_mariadb() {
    if mariadb_answers; then
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
    mariadb_root -e "
        CREATE DATABASE IF NOT EXISTS $DB_NAME;
        CREATE USER IF NOT EXISTS '$DB_USER'@'localhost';
        CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1';
        ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
        ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
        GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
        FLUSH PRIVILEGES;" \
        || die "cannot create the accounting database $DB_NAME as the MariaDB root user"
}

# A job's MASTER_ADDR is the first node's NAME (submitit takes it from SLURM_JOB_NODELIST):
# the names must resolve, as they do on a real cluster. Appends (never rewrites: /etc/hosts
# may be a bind mount) one line per node, refuses a name that already means another address.
ensure_hosts() {
    local i name addr known
    for i in "${!NODES[@]}"; do
        name="${NODES[i]}" addr="${NODE_ADDRS[i]}"
        known="$(awk -v n="$name" '{sub(/#.*/, "")} {for (f = 2; f <= NF; f++) if ($f == n) {print $1; exit}}' /etc/hosts)"
        if [[ -z "$known" ]]; then
            [[ -w /etc/hosts ]] || die "/etc/hosts is not writable: add '$addr $name' to it"
            printf '%s %s  %s\n' "$addr" "$name" "$HOSTS_MARK" >>/etc/hosts
            say "/etc/hosts: added $addr $name"
        elif [[ "$known" != "$addr" ]]; then
            die "/etc/hosts maps $name to $known, this cluster needs $addr"
        fi
        [[ "$(getent ahostsv4 "$name" | awk 'NR == 1 {print $1}')" == "$addr" ]] \
            || die "$name does not resolve to $addr (check /etc/nsswitch.conf 'hosts: files ...')"
    done
}

render_slurm_conf() {
    local host cpus mem_mb i
    host="$(hostname -s)"
    cpus="$(nproc)"
    # Both nodes live on this machine (and beside the one-node cluster): each declares all
    # CPUs (oversubscribed; the jobs here are small) and less than half the memory, so
    # slurmd, which measures the whole machine, never finds less than declared.
    mem_mb=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 / 2 ))
    cat <<CONF
$MANAGED_MARK -- regenerated on every start; edit the script, not this file.
# Clients: export SLURM_CONF=$SLURM_CONF_FILE
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=${NODE_PORTS[0]}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
StateSaveLocation=$STATE_DIR/state
# %n: each slurmd (started with -N <node>) keeps its own spool, pid file and log.
SlurmdSpoolDir=$STATE_DIR/spool/%n
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd@%n.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd@%n.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5,batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
JobCompType=jobcomp/none
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
CONF
    for i in "${!NODES[@]}"; do
        echo "NodeName=${NODES[i]} NodeAddr=${NODE_ADDRS[i]} Port=${NODE_PORTS[i]} CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN"
    done
    cat <<CONF
PartitionName=debug Nodes=$CLUSTER-n[1-2] Default=YES PriorityTier=1 GraceTime=60 PreemptMode=REQUEUE MaxTime=INFINITE State=UP
PartitionName=high Nodes=$CLUSTER-n[1-2] Default=NO PriorityTier=10 PreemptMode=OFF MaxTime=INFINITE State=UP
CONF
}

render_dbd_conf() {
    cat <<CONF
$MANAGED_MARK -- regenerated on every start.
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
CONF
}

# Writes $2 (content) to $1 atomically; echoes "changed" when the content differs.
write_conf() {
    local path="$1" content="$2" mode="$3"
    if [[ -f "$path" ]] && cmp -s <(printf '%s\n' "$content") "$path"; then
        return 0
    fi
    if [[ -f "$path" ]] && ! grep -qF "$MANAGED_MARK" "$path"; then
        local backup="$path.before-two-node-cluster.$(date +%Y%m%d%H%M%S)"
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

restart_if_ours() {
    local name="$1"
    if [[ -f "$RUN_DIR/$name.ours" ]] && daemon_alive "$name"; then
        say "$name: configuration changed, restarting"
        stop_daemon "$name"
    fi
}

launch_daemon() {
    local name="$1" log="$2"
    shift 2
    if ! "$@" </dev/null 9>&-; then
        echo "[$SCRIPT_TAG] ERROR: $name refused to start" >&2
        show_log_tail "$log"
        exit 1
    fi
}

# A slurmd of THIS cluster serving node $1, started by us or not (command line -N <node>).
slurmd_pid_for() {
    local node="$1" proc exe args target
    target="$(daemon_exe slurmd)"
    for proc in /proc/[0-9]*; do
        exe="$(readlink "$proc/exe" 2>/dev/null || true)"
        [[ "${exe% (deleted)}" == "$target" ]] || continue
        [[ "$(daemon_conf "${proc#/proc/}")" == "$SLURM_CONF_FILE" ]] || continue
        args="$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null || true)"
        if [[ " $args " == *" -N $node "* ]]; then
            echo "${proc#/proc/}"
            return 0
        fi
    done
    return 1
}

ensure_slurmdbd() {
    if daemon_alive slurmdbd || pid_of_exe slurmdbd >/dev/null; then
        say "slurmdbd: already running"
    else
        rm -f "$RUN_DIR/slurmdbd.pid"
        # No -f option: slurmdbd reads slurmdbd.conf beside $SLURM_CONF (exported above).
        launch_daemon slurmdbd "$LOG_DIR/slurmdbd.log" /usr/sbin/slurmdbd
        touch "$RUN_DIR/slurmdbd.ours"
        say "slurmdbd: started (port $DBD_PORT, database $DB_NAME)"
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
        launch_daemon slurmctld "$LOG_DIR/slurmctld.log" /usr/sbin/slurmctld -f "$SLURM_CONF_FILE"
        touch "$RUN_DIR/slurmctld.ours"
        say "slurmctld: started (port $CTLD_PORT)"
    fi
    wait_for "slurmctld" "$LOG_DIR/slurmctld.log" \
        bash -c 'scontrol ping 2>/dev/null | grep -q "is UP"'
}

ensure_slurmd() {
    local node="$1" name="slurmd@$1"
    if daemon_alive "$name" || slurmd_pid_for "$node" >/dev/null; then
        say "$name: already running"
    else
        rm -f "$RUN_DIR/$name.pid"
        launch_daemon "$name" "$LOG_DIR/$name.log" /usr/sbin/slurmd -f "$SLURM_CONF_FILE" -N "$node"
        touch "$RUN_DIR/$name.ours"
        say "$name: started"
    fi
}

wait_nodes_ready() {
    local deadline node state ready resumed=" "
    deadline=$((SECONDS + TIMEOUT_S))
    while ((SECONDS < deadline)); do
        ready=0
        for node in "${NODES[@]}"; do
            state="$(sinfo -h -N -n "$node" -o '%T' 2>/dev/null | head -n1)"
            case "$state" in
                idle|mixed|allocated|completing) ready=$((ready + 1)) ;;
                down*|drain*|drained*)
                    if [[ "$resumed" != *" $node "* ]]; then
                        say "node $node: $state, resuming it"
                        scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true
                        resumed+="$node "
                    fi ;;
            esac
        done
        if ((ready == ${#NODES[@]})); then
            say "nodes: $(sinfo -h -N -o '%N %T' | sort -u | tr '\n' ' ')"
            return 0
        fi
        sleep 0.5
    done
    echo "[$SCRIPT_TAG] ERROR: nodes not ready after ${TIMEOUT_S}s" >&2
    sinfo -N 2>&1 | sed 's/^/  /' >&2 || true
    for node in "${NODES[@]}"; do show_log_tail "$LOG_DIR/slurmd@$node.log"; done
    show_log_tail "$LOG_DIR/slurmctld.log"
    exit 1
}

main() {
    local t0=$SECONDS node
    ensure_packages
    install -d -m 0755 "$STATE_DIR" "$RUN_DIR" "$LOG_DIR"
    for node in "${NODES[@]}"; do install -d -m 0755 "$STATE_DIR/spool/$node"; done
    install -d -m 0700 "$STATE_DIR/state"
    install -d -m 0755 "$CONF_DIR"
    exec 9>"$STATE_DIR/start.lock"
    flock -w "$((TIMEOUT_S * 3))" 9 || die "another start holds $STATE_DIR/start.lock"

    ensure_munge
    ensure_mariadb
    ensure_hosts

    local dbd_changed slurm_changed
    dbd_changed="$(write_conf "$DBD_CONF_FILE" "$(render_dbd_conf)" 600)"
    slurm_changed="$(write_conf "$SLURM_CONF_FILE" "$(render_slurm_conf)" 644)"
    [[ -n "$dbd_changed" ]] && say "wrote $DBD_CONF_FILE (root, mode 600)"
    [[ -n "$slurm_changed" ]] && say "wrote $SLURM_CONF_FILE for host $(hostname -s)"
    if [[ -n "$dbd_changed" ]]; then restart_if_ours slurmdbd; fi
    if [[ -n "$slurm_changed" ]]; then
        for node in "${NODES[@]}"; do restart_if_ours "slurmd@$node"; done
        restart_if_ours slurmctld
    fi

    ensure_slurmdbd
    ensure_slurmctld
    for node in "${NODES[@]}"; do ensure_slurmd "$node"; done
    if [[ -n "$slurm_changed" && ! -f "$RUN_DIR/slurmctld.ours" ]]; then
        scontrol reconfigure && say "slurmctld: asked to re-read $SLURM_CONF_FILE"
    fi
    wait_nodes_ready
    say "cluster '$CLUSTER' ready in $((SECONDS - t0))s: nodes ${NODES[*]} (partitions: debug default, high preempts)"
    say "clients: export SLURM_CONF=$SLURM_CONF_FILE"
}

main "$@"
