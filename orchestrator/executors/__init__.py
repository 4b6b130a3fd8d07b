"""Executors: where jobs run (SLURM through submitit, or local subprocesses).

Public API::

    job_entry(kind) -> callable                    # jobs.<kind>.Job, imported lazily
    ClusterSettings.from_mapping(cfg.cluster)      # the cluster config group, typed
    build_executor(settings, backend=None) -> Executor
    resolve_backend(settings) -> "slurm" | "local"
    ResourceRequest.from_mapping(config["resources"])
"""

from .base import (ExecutorError, Executor, ResourceRequest, SchedulerObservation, SchedulerUnavailableError,
                   SubmittedAttempt, attempt_log_folder)
from .outcome import ProcessOutcome, last_error_line, read_process_outcome
from .registry import UnknownJobKindError, job_entry, register_job_kind
from .select import (ClusterSettings, build_executor, require_backend_available, resolve_backend,
                     slurm_is_usable)

__all__ = [
    "ClusterSettings", "Executor", "ExecutorError", "ProcessOutcome", "ResourceRequest",
    "SchedulerObservation", "SchedulerUnavailableError", "SubmittedAttempt", "UnknownJobKindError",
    "attempt_log_folder", "build_executor", "job_entry", "register_job_kind", "last_error_line", "read_process_outcome",
    "require_backend_available", "resolve_backend", "slurm_is_usable",
]
