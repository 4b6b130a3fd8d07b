"""Is there a usable SLURM cluster here? Cheap checks for ``cluster=auto`` and test fixtures."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from .commands import SlurmCommandError, run_slurm_command

_USABLE_NODE_STATES = {"idle", "mixed", "allocated", "completing"}


@dataclass(frozen=True)
class ClusterHealth:
    """``healthy`` plus the first problem found, worded for a person (empty when healthy)."""

    healthy: bool
    problem: str = ""


def sbatch_available() -> bool:
    """True when ``sbatch`` is on PATH (says nothing about whether the cluster answers)."""
    return shutil.which("sbatch") is not None


def check_cluster(timeout_s: float = 10.0) -> ClusterHealth:
    """slurmctld answers ``scontrol ping``, a node is usable, and accounting (sacct) answers.

    Accounting is part of health: without slurmdbd, sacct fails and neither submitit nor the
    watcher can tell what happened to a job.
    """
    if not sbatch_available():
        return ClusterHealth(False, "sbatch is not on PATH (SLURM client not installed)")
    try:
        ping = run_slurm_command(["scontrol", "ping"], timeout_s)
        if "UP" not in ping:
            return ClusterHealth(False, f"slurmctld is not up: {ping.strip()}")
        states = run_slurm_command(["sinfo", "--noheader", "--Node", "--format=%T"], timeout_s).split()
        # sinfo appends "*" to a node that does not respond.
        if not any(state in _USABLE_NODE_STATES for state in states):
            return ClusterHealth(False, f"no usable node (sinfo node states: {states or 'none'})")
        run_slurm_command(["sacct", "--noheader", "--allocations", "--starttime=now"], timeout_s)
    except SlurmCommandError as error:
        return ClusterHealth(False, str(error))
    return ClusterHealth(True)


def cluster_healthy(timeout_s: float = 10.0) -> bool:
    """``check_cluster(...).healthy``."""
    return check_cluster(timeout_s).healthy
