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
BACKUP_TAG=two-node-cluster
SLURMCTLD_ARGS=(-f "$SLURM_CONF_FILE")

# Every client command below (scontrol, sinfo, sacctmgr) and every daemon reads this file.
export SLURM_CONF="$SLURM_CONF_FILE"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "$(id -u)" != 0 ]]; then
    die "must run as root (it starts slurmdbd, slurmctld and two slurmd)"
fi
[[ "$CLUSTER" =~ ^[a-z][a-z0-9]*$ ]] || die "SLURM_TWO_NODE_CLUSTER must be lower-case letters and digits: '$CLUSTER'"

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
$(scheduling_settings)
AccountingStoragePort=$DBD_PORT
CONF
    for i in "${!NODES[@]}"; do
        echo "NodeName=${NODES[i]} NodeAddr=${NODE_ADDRS[i]} Port=${NODE_PORTS[i]} CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN"
    done
    cat <<CONF
PartitionName=debug Nodes=$CLUSTER-n[1-2] Default=YES PriorityTier=1 GraceTime=60 PreemptMode=REQUEUE MaxTime=INFINITE State=UP
PartitionName=high Nodes=$CLUSTER-n[1-2] Default=NO PriorityTier=10 PreemptMode=OFF MaxTime=INFINITE State=UP
CONF
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

ensure_slurmd() {
    local node="$1" name="slurmd@$1"
    if daemon_alive "$name" || slurmd_pid_for "$node" >/dev/null; then
        say "$name: already running"
    else
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
