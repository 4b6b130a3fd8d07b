#!/usr/bin/env bash
# Print which local-cluster daemons run (and whether start-local-cluster.sh started them),
# then the controller ping and node state. Exit status 0 only when the cluster is usable.
set -uo pipefail
# This cluster's daemons and checks read /etc/slurm/slurm.conf; a SLURM_CONF exported for
# another cluster on this machine (start-two-node-cluster.sh) must not redirect them.
unset SLURM_CONF

STATE_DIR="${SLURM_LOCAL_DIR:-/var/lib/slurm-local}"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for name in munged mariadbd slurmdbd slurmctld slurmd; do
    if pid="$(recorded_pid "$name")"; then
        say "$name: running (pid $pid, started by start-local-cluster.sh)"
    elif pid="$(pid_of_exe "$name")"; then
        say "$name: running (pid $pid, not started by start-local-cluster.sh)"
    else
        say "$name: not running"
    fi
done
healthy=1
if scontrol ping 2>/dev/null | grep -q "is UP"; then say "slurmctld: answers ping"; else say "slurmctld: no answer"; healthy=0; fi
state="$(sinfo -h -N -n "$(hostname -s)" -o '%T' 2>/dev/null | head -n1)"
say "node $(hostname -s): ${state:-unknown}"
case "$state" in idle|mixed|allocated|completing) ;; *) healthy=0 ;; esac
sacct -n -X -S now >/dev/null 2>&1 && say "sacct: answers" || { say "sacct: fails"; healthy=0; }
((healthy)) && exit 0 || exit 1
