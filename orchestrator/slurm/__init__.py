"""SLURM cluster tooling: health checks and batched job-state queries.

Imports nothing heavy (no torch, no submitit): the watcher and the CLI import it on every
poll. The local one-node cluster that tests use is started by
``scripts/slurm/start-local-cluster.sh`` (see docs/slurm.md).
"""

from .commands import SlurmCommandError
from .health import ClusterHealth, check_cluster, cluster_healthy, sbatch_available
from .query import InvalidJobIdError, query_states
from .records import ORCHESTRATOR_STATES, UNKNOWN, SchedulerRecord, map_slurm_state
from .sacct import SACCT_FORMAT, SacctFormatError, parse_sacct

__all__ = [
    "ClusterHealth",
    "InvalidJobIdError",
    "ORCHESTRATOR_STATES",
    "SACCT_FORMAT",
    "SacctFormatError",
    "SchedulerRecord",
    "SlurmCommandError",
    "UNKNOWN",
    "check_cluster",
    "cluster_healthy",
    "map_slurm_state",
    "parse_sacct",
    "query_states",
    "sbatch_available",
]
