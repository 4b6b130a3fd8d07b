#!/usr/bin/env bash
# Stop the daemons that start-two-node-cluster.sh started, and only those.
#
# Like stop-local-cluster.sh: a daemon counts as "ours" when $SLURM_TWO_NODE_DIR/run/<name>.ours
# exists and its pid file still points at that daemon's executable. The one-node cluster's
# daemons, and a munged or MariaDB that was running before the start script, are left alone.
# State (job ids, the accounting database, configs, the /etc/hosts lines) is kept.
set -euo pipefail

STATE_DIR="${SLURM_TWO_NODE_DIR:-/var/lib/slurm-two-node}"
CLUSTER="${SLURM_TWO_NODE_CLUSTER:-local2}"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"
SCRIPT_TAG=slurm-two-node

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ "$(id -u)" == 0 ]] || die "must run as root"
[[ -d "$RUN_DIR" ]] || { say "nothing to stop ($RUN_DIR does not exist)"; exit 0; }

stopped_any=0
# Reverse start order: compute daemons first, then the controller, accounting, database.
for name in "slurmd@$CLUSTER-n2" "slurmd@$CLUSTER-n1" slurmctld slurmdbd mariadbd munged; do
    if [[ -f "$RUN_DIR/$name.ours" ]]; then
        stop_daemon "$name"
        stopped_any=1
    elif daemon_alive "$name"; then
        say "$name: running but not started by start-two-node-cluster.sh, left alone"
    fi
done
((stopped_any)) || say "nothing started by start-two-node-cluster.sh was running"
