"""What every executor promises: submit a run directory, observe it, cancel it.

An executor turns "run job kind K on run directory D with resources R" into a scheduler id.
It never blocks on dependencies (the watcher submits a job only once its inputs exist) and
never interprets the job's files: it reports what the *scheduler* knows, and the watcher
combines that with the run directory's ``status.json`` / ``result.json``.

Observations use the orchestrator's state vocabulary (SLURM's names, which the database
also uses) plus two scheduler-only words:

* ``UNKNOWN``  -- the scheduler gave no answer we can trust this poll (``uncertain``);
* ``VANISHED`` -- the scheduler positively does not know the id any more and no result
  was written (a lost job: killed from outside, a controller that died, a wiped cluster).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from contract.run_dir import ATTEMPT_FOLDER_PREFIX, LOGS_DIR


class ExecutorError(RuntimeError):
    """The scheduler refused or failed a request (sbatch error, missing binary...)."""


class SchedulerUnavailableError(ExecutorError):
    """The requested scheduler is not usable on this machine (e.g. no ``sbatch`` on PATH)."""


@dataclass(frozen=True)
class ResourceRequest:
    """Resources of one job, as written in the ``resources`` block of its config.yaml.

    ``tasks_per_node`` defaults to ``gpus_per_node`` (one process per GPU, the DDP layout
    submitit's ``TorchDistributedEnvironment`` expects), or 1 on CPU-only jobs.
    """

    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: float = 2
    timeout_min: int = 60
    tasks_per_node: int | None = None

    @property
    def effective_tasks_per_node(self) -> int:
        if self.tasks_per_node is not None:
            return self.tasks_per_node
        return max(1, self.gpus_per_node)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> "ResourceRequest":
        known = {name for name in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"resources: unknown field(s) {unknown}; expected a subset of {sorted(known)}")
        return cls(**{key: value for key, value in data.items()})  # type: ignore[arg-type]


@dataclass(frozen=True)
class SubmittedAttempt:
    """The handle the watcher stores on the Attempt row to find the attempt again later."""

    scheduler_id: str
    backend: str  # "slurm" | "local"
    log_folder: Path


@dataclass(frozen=True)
class SchedulerObservation:
    """One poll's view of one scheduler id.

    ``uncertain`` means the scheduler could not be asked reliably (sacct error, timeout):
    the watcher must keep the previous state rather than guess.
    ``restarts`` counts requeues done by the scheduler itself (SLURM ``Restarts``).
    ``gpu_seconds`` / ``cpu_seconds``: what the allocation has used so far according to the
    scheduler's accounting (every run of a requeued job), None where it keeps none.
    """

    state: str
    uncertain: bool = False
    reason: str = ""
    node: str | None = None
    exit_code: str | None = None
    restarts: int = 0
    raw_state: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    gpu_seconds: int | None = None
    cpu_seconds: int | None = None


class Executor(Protocol):
    """A scheduler backend. Implementations: ``SlurmExecutor``, ``LocalProcessExecutor``."""

    backend: str

    def submit(self, kind: str, run_dir: Path, resources: ResourceRequest, attempt_number: int,
               job_name: str) -> SubmittedAttempt: ...

    def observe(self, attempts: Sequence[SubmittedAttempt]) -> dict[str, SchedulerObservation]: ...

    def cancel(self, attempt: SubmittedAttempt) -> None: ...


def attempt_log_folder(run_dir: Path, attempt_number: int) -> Path:
    """``<run_dir>/logs/attempt_NNN/``: one submitit folder per attempt.

    A submitit folder reused across attempts is dangerous: if the scheduler's job ids
    restart (a cluster whose state was wiped), the new job with an old id finds the old
    job's result pickle and "finishes" instantly with someone else's result.
    """
    return Path(run_dir) / LOGS_DIR / f"{ATTEMPT_FOLDER_PREFIX}{attempt_number:03d}"
