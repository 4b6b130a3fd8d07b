#!/usr/bin/env bash
# Stop the daemons that start-local-cluster.sh started, and only those.
#
# A daemon counts as "ours" when $SLURM_LOCAL_DIR/run/<name>.ours exists and its pid file
# still points at a process running that daemon's executable; a MariaDB or munged that was
# already running before the start script is left alone. State (job ids, accounting DB,
# configs) is kept so the next start continues where this one stopped.
set -euo pipefail
# This cluster's daemons and checks read /etc/slurm/slurm.conf; a SLURM_CONF exported for
# another cluster on this machine (start-two-node-cluster.sh) must not redirect them.
unset SLURM_CONF

STATE_DIR="${SLURM_LOCAL_DIR:-/var/lib/slurm-local}"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ "$(id -u)" == 0 ]] || die "must run as root"
[[ -d "$RUN_DIR" ]] || { say "nothing to stop ($RUN_DIR does not exist)"; exit 0; }

stopped_any=0
# Reverse start order: compute daemons first, then the controller, accounting, database.
for name in slurmd slurmctld slurmdbd mariadbd munged; do
    if [[ -f "$RUN_DIR/$name.ours" ]]; then
        stop_daemon "$name"
        stopped_any=1
    elif daemon_alive "$name"; then
        say "$name: running but not started by start-local-cluster.sh, left alone"
    fi
done
((stopped_any)) || say "nothing started by start-local-cluster.sh was running"
