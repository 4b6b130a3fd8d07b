"""Submit jobs to SLURM through submitit, observe them with one batched ``sacct``.

Everything the sbatch line needs comes from ``configs/cluster/slurm.yaml`` (partition,
account, QOS, constraint, signal delay) and from the job's ``resources`` block (nodes, GPUs
per node, CPUs, memory, time). Multi-node jobs get ``nodes`` x ``tasks_per_node`` processes;
the job code sets up torch.distributed from submitit's environment.

``max_num_timeout`` is submitit's own bound on USR2-triggered requeues. It is set from the
orchestrator's ``max_resubmits`` but is not relied on: submitit may swallow the "timed out
too many times" error inside its signal handler, so the watcher bounds resubmissions itself.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import submitit

from contract.states import ObservedState
from orchestrator.slurm.records import map_slurm_state

from .base import (ExecutorError, ResourceRequest, SchedulerObservation, SchedulerUnavailableError,
                   SubmittedAttempt, attempt_log_folder)
from .registry import job_entry



@dataclass(frozen=True)
class SlurmPlacement:
    """Where jobs go on the cluster: the ``cluster`` config group's SLURM fields."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    signal_delay_s: int = 120
    max_num_timeout: int = 5


def normalise_slurm_state(raw: str) -> str:
    """``"CANCELLED by 0"`` -> ``CANCELLED``; ``OUT_OF_MEMORY`` -> ``FAILED``; unknown -> ``UNKNOWN``
    (the one SLURM-word table is ``orchestrator.slurm.records``')."""
    return map_slurm_state(raw)[0]


class SlurmExecutor:
    """submitit's SLURM executor with one submitit folder per attempt."""

    backend = "slurm"

    def __init__(self, placement: SlurmPlacement) -> None:
        if shutil.which("sbatch") is None:
            raise SchedulerUnavailableError("cluster=slurm but 'sbatch' is not on PATH")
        self._placement = placement

    def submit(self, kind: str, run_dir: Path, resources: ResourceRequest, attempt_number: int,
               job_name: str) -> SubmittedAttempt:
        entry = job_entry(kind)
        folder = attempt_log_folder(run_dir, attempt_number)
        folder.mkdir(parents=True, exist_ok=True)
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm",
                                         slurm_max_num_timeout=self._placement.max_num_timeout)
        executor.update_parameters(**self.sbatch_parameters(resources, job_name))
        try:
            job = executor.submit(entry(run_dir))
        except subprocess.CalledProcessError as error:
            stderr = (error.stderr or b"").decode(errors="replace").strip() if isinstance(error.stderr, bytes) else str(error.stderr)
            raise ExecutorError(f"sbatch refused {job_name}: {stderr or error}") from error
        return SubmittedAttempt(scheduler_id=str(job.job_id), backend=self.backend, log_folder=folder)

    def sbatch_parameters(self, resources: ResourceRequest, job_name: str) -> dict[str, Any]:
        """The AutoExecutor parameters for one job (exposed so the dry run can show them)."""
        placement = self._placement
        parameters: dict[str, Any] = {
            "name": job_name,
            "nodes": resources.nodes,
            "tasks_per_node": resources.effective_tasks_per_node,
            "gpus_per_node": resources.gpus_per_node,
            "cpus_per_task": resources.cpus_per_task,
            "mem_gb": resources.mem_gb,
            "timeout_min": resources.timeout_min,
            "slurm_signal_delay_s": placement.signal_delay_s,
        }
        for key, value in (("slurm_partition", placement.partition), ("slurm_account", placement.account),
                           ("slurm_qos", placement.qos), ("slurm_constraint", placement.constraint)):
            if value:
                parameters[key] = value
        if not resources.gpus_per_node:
            del parameters["gpus_per_node"]  # no --gpus-per-node=0 on CPU-only clusters
        return parameters

    def observe(self, attempts: Sequence[SubmittedAttempt]) -> dict[str, SchedulerObservation]:
        """One batched sacct for all ids; ids sacct does not list come back ``VANISHED``."""
        if not attempts:
            return {}
        from orchestrator.slurm import query_states  # sacct parsing lives beside the cluster tooling

        ids = [attempt.scheduler_id for attempt in attempts]
        records = query_states(ids)
        observations: dict[str, SchedulerObservation] = {}
        for scheduler_id in ids:
            record = records.get(scheduler_id)
            if record is None:
                observations[scheduler_id] = SchedulerObservation(
                    state=ObservedState.VANISHED.value, raw_state="", reason=f"sacct does not know job {scheduler_id}")
            else:
                observations[scheduler_id] = observation_from_record(record)
        return observations

    def cancel(self, attempt: SubmittedAttempt) -> None:
        _scancel([attempt.scheduler_id])

    def kill(self, attempt: SubmittedAttempt) -> None:
        """SIGKILL the job's processes without any checkpoint (simulates a lost job)."""
        _scancel(["--signal=KILL", "--full", attempt.scheduler_id])


def observation_from_record(record: Any) -> SchedulerObservation:
    """Adapt an ``orchestrator.slurm.SchedulerRecord`` to the executor vocabulary."""
    uncertain = bool(getattr(record, "uncertain", False))
    state = ObservedState.UNKNOWN.value if uncertain else normalise_slurm_state(str(getattr(record, "state", "") or ""))
    return SchedulerObservation(
        state=state,
        uncertain=uncertain or state == ObservedState.UNKNOWN,
        raw_state=str(getattr(record, "raw_state", "") or getattr(record, "state", "") or ""),
        node=getattr(record, "node", None) or None,
        exit_code=str(getattr(record, "exit_code", "") or "") or None,
        restarts=int(getattr(record, "restarts", 0) or 0),
        reason=str(getattr(record, "reason", "") or ""),
        gpu_seconds=None if uncertain else int(getattr(record, "total_gpu_s", 0) or 0),
        cpu_seconds=None if uncertain else int(getattr(record, "total_cpu_s", 0) or 0),
    )


def _scancel(arguments: list[str]) -> None:
    completed = subprocess.run(["scancel", *arguments], capture_output=True, text=True, timeout=30, check=False)
    if completed.returncode != 0:
        raise ExecutorError(f"scancel {' '.join(arguments)} failed: {completed.stderr.strip()}")
