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
DB_NAME=slurm_acct_db
DB_USER=slurm
BACKUP_TAG=local-cluster

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "$(id -u)" != 0 ]]; then
    die "must run as root (it starts munged, slurmdbd, slurmctld and slurmd)"
fi

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
$(scheduling_settings)
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES PriorityTier=1 GraceTime=60 PreemptMode=REQUEUE MaxTime=INFINITE State=UP
PartitionName=high Nodes=$host Default=NO PriorityTier=10 PreemptMode=OFF MaxTime=INFINITE State=UP
CONF
}

ensure_slurmd() {
    if daemon_alive slurmd || pid_of_exe slurmd >/dev/null; then
        say "slurmd: already running"
    else
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
