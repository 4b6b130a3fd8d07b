"""Choose the executor from the ``cluster`` config group (``auto`` | ``local`` | ``slurm``).

``cluster=auto`` picks SLURM only when ``sbatch`` is on PATH *and* the controller answers
(``sinfo`` lists an ``up`` partition within a few seconds): a workstation with the SLURM
client installed but no reachable controller must fall back to local processes rather than
queue jobs nobody will ever run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any, Mapping

from .base import Executor, SchedulerUnavailableError
from .local import LocalProcessExecutor
from .slurm import SlurmExecutor, SlurmPlacement

BACKENDS = ("auto", "local", "slurm")


@dataclass(frozen=True)
class ClusterSettings:
    """The ``cluster`` config group, typed. Unknown keys are ignored (they belong to others)."""

    backend: str = "auto"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    signal_delay_s: int = 120
    max_resubmits: int = 5
    resubmit_backoff_s: tuple[float, ...] = (5, 15, 60, 120, 300)
    max_parallel: int = 2
    poll_interval_s: float = 5.0
    #: Local jobs of the ``jobs`` package forked from a warm interpreter (executors/local.py).
    warm_start: bool = True

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "ClusterSettings":
        """Build from ``cfg.cluster`` (the config key ``executor`` names the backend)."""
        fields = cls.__dataclass_fields__
        values = {key: data[key] for key in fields if key in data and data[key] is not None}
        if "backend" not in values and data.get("executor") is not None:
            values["backend"] = data["executor"]
        backoff = values.get("resubmit_backoff_s")
        if backoff is not None:
            values["resubmit_backoff_s"] = tuple(float(b) for b in backoff) if isinstance(
                backoff, (list, tuple)) else (float(backoff),)
        settings = cls(**values)
        if settings.backend not in BACKENDS:
            raise ValueError(f"cluster.executor must be one of {BACKENDS}, got {settings.backend!r}")
        return settings

    def backoff_after(self, resubmits_so_far: int) -> float:
        """Seconds to wait before resubmission number ``resubmits_so_far + 1``."""
        schedule = self.resubmit_backoff_s or (0.0,)
        return float(schedule[min(resubmits_so_far, len(schedule) - 1)])

    def parallel_limit(self, backend: str) -> int:
        """Local jobs share this machine's cores: never more at once than it has."""
        if backend == "local":
            return max(1, min(int(self.max_parallel), os.cpu_count() or 1))
        return max(1, int(self.max_parallel))

    @property
    def placement(self) -> SlurmPlacement:
        return SlurmPlacement(partition=self.partition, account=self.account, qos=self.qos,
                              constraint=self.constraint, signal_delay_s=int(self.signal_delay_s),
                              max_num_timeout=max(1, int(self.max_resubmits)))


def slurm_is_usable(timeout_s: float = 5.0) -> bool:
    """``sbatch`` on PATH, the controller answers, a node is usable and accounting answers."""
    if shutil.which("sbatch") is None:
        return False
    from orchestrator.slurm import cluster_healthy

    try:
        return cluster_healthy(timeout_s)
    except Exception:  # any failure to ask is "not usable", never a crash of `auto`
        return False


def resolve_backend(settings: ClusterSettings) -> str:
    """``auto`` -> ``slurm`` or ``local``; an explicit choice is returned unchanged."""
    if settings.backend != "auto":
        return settings.backend
    return "slurm" if slurm_is_usable() else "local"


def build_executor(settings: ClusterSettings, backend: str | None = None) -> Executor:
    """The executor for ``backend`` (default: resolved from the settings).

    Raises ``SchedulerUnavailableError`` for ``slurm`` without ``sbatch`` on PATH.
    """
    chosen = backend or resolve_backend(settings)
    if chosen == "slurm":
        return SlurmExecutor(settings.placement)
    if chosen == "local":
        return LocalProcessExecutor(signal_delay_s=min(int(settings.signal_delay_s), 30),
                                    warm_start=bool(settings.warm_start))
    raise SchedulerUnavailableError(f"unknown executor backend {chosen!r}")


def require_backend_available(backend: str) -> None:
    """Fail early, before anything is planned into the database, when SLURM is unusable:
    no ``sbatch`` on PATH, or a controller / node / accounting that does not answer."""
    if backend != "slurm":
        return
    if shutil.which("sbatch") is None:
        raise SchedulerUnavailableError("cluster=slurm but 'sbatch' is not on PATH; use cluster=local or cluster=auto")
    from orchestrator.slurm import check_cluster

    health = check_cluster()
    if not health.healthy:
        raise SchedulerUnavailableError(f"cluster=slurm but the SLURM cluster is not usable: {health.problem}")
