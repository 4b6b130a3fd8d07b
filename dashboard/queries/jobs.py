"""Experiments, the job DAG of one experiment, its attempts, and the device-hours they used.

Everything here is bounded by one experiment (its jobs are loaded through the
`ix_jobs_experiment_id` index), so the page cost does not grow with the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, func, select

from orchestrator.db import Attempt, AttemptTransition, Experiment, Job, JobDependency

__all__ = ["experiments", "experiment_jobs", "job_edges", "experiment_attempts", "gpu_hours", "core_hours", "job_attempts",
           "Usage", "usage", "estimated_usage"]


def experiments(engine: Engine) -> pd.DataFrame:
    """id, name, task, scale, updated_at, jobs (count), newest first."""
    counts = select(Job.experiment_id, func.count().label("jobs")).group_by(Job.experiment_id).subquery()
    query = (select(Experiment.id, Experiment.name, Experiment.task, Experiment.scale,
                    Experiment.updated_at, func.coalesce(counts.c.jobs, 0))
             .outerjoin(counts, counts.c.experiment_id == Experiment.id)
             .order_by(Experiment.updated_at.desc(), Experiment.id.desc()))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=["id", "name", "task", "scale", "updated_at", "jobs"])


def experiment_jobs(engine: Engine, experiment_id: int) -> pd.DataFrame:
    """The DAG's nodes: id, name, kind, state, progress, error, reused_from_job_id, run_dir, and
    the corrupt metrics.jsonl lines ingest skipped (count, first line numbers)."""
    query = (select(Job.id, Job.name, Job.kind, Job.state, Job.progress_step, Job.progress_total,
                    Job.progress_message, Job.error, Job.reused_from_job_id, Job.run_dir,
                    Job.metrics_corrupt_lines, Job.metrics_corrupt_first)
             .where(Job.experiment_id == experiment_id).order_by(Job.id))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=["id", "name", "kind", "state", "progress_step", "progress_total",
                                       "progress_message", "error", "reused_from_job_id", "run_dir",
                                       "metrics_corrupt_lines", "metrics_corrupt_first"])


def job_edges(engine: Engine, experiment_id: int) -> list[tuple[int, int]]:
    """(job_id, depends_on_id) for the experiment's jobs."""
    query = (select(JobDependency.job_id, JobDependency.depends_on_id)
             .join(Job, Job.id == JobDependency.job_id).where(Job.experiment_id == experiment_id))
    with engine.connect() as connection:
        return [(int(a), int(b)) for a, b in connection.execute(query).all()]


def job_attempts(engine: Engine, job_id: int) -> pd.DataFrame:
    """One job's attempts (the columns of `experiment_attempts`), for its run page."""
    experiment_id = select(Job.experiment_id).where(Job.id == job_id).scalar_subquery()
    frame = experiment_attempts(engine, experiment_id)
    return frame[frame["job_id"] == job_id].reset_index(drop=True)


def experiment_attempts(engine: Engine, experiment_id) -> pd.DataFrame:
    """Every attempt of the experiment's jobs with duration (seconds), GPUs of its job and its
    state history (e.g. "PENDING → RUNNING → PREEMPTED → REQUEUED → ... → COMPLETED")."""
    query = (select(Attempt.id, Job.id, Job.name, Attempt.number, Attempt.executor,
                    Attempt.scheduler_job_id, Attempt.state, Attempt.node, Attempt.submitted_at,
                    Attempt.started_at, Attempt.ended_at, Attempt.exit_code, Attempt.reason,
                    Attempt.resumed_from_step, Attempt.gpu_seconds, Attempt.cpu_seconds, Job.resources)
             .join(Job, Job.id == Attempt.job_id).where(Job.experiment_id == experiment_id)
             .order_by(Job.id, Attempt.number))
    history = (select(AttemptTransition.attempt_id, AttemptTransition.state)
               .join(Attempt, Attempt.id == AttemptTransition.attempt_id)
               .join(Job, Job.id == Attempt.job_id).where(Job.experiment_id == experiment_id)
               .order_by(AttemptTransition.attempt_id, AttemptTransition.at, AttemptTransition.id))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        states_by_attempt: dict[int, list[str]] = {}
        for attempt_id, state in connection.execute(history).all():
            states_by_attempt.setdefault(int(attempt_id), []).append(str(state))
    frame = pd.DataFrame(rows, columns=["attempt_id", "job_id", "job", "attempt", "executor",
                                        "scheduler_id", "state", "node", "submitted_at", "started_at",
                                        "ended_at", "exit_code", "reason", "resumed_from_step",
                                        "gpu_seconds", "cpu_seconds", "resources"])
    now = dt.datetime.now(dt.timezone.utc)
    frame["duration_s"] = [_duration_s(start, end, now) for start, end
                           in zip(frame["started_at"], frame["ended_at"])]
    frame["gpus"] = [_gpus(resources) for resources in frame["resources"]]
    frame["cores"] = [_cores(resources) for resources in frame["resources"]]
    frame["history"] = [" → ".join(states_by_attempt.get(int(a), [])) for a in frame["attempt_id"]]
    return frame.drop(columns=["resources"])


def _duration_s(start, end, now: dt.datetime) -> float | None:
    if start is None or pd.isna(start):
        return None
    return max(0.0, ((end if end is not None and not pd.isna(end) else now) - start).total_seconds())


def _gpus(resources: dict | None) -> int:
    """GPUs an attempt holds: nodes x gpus_per_node (submitit's parameter names)."""
    resources = resources or {}
    nodes = int(resources.get("nodes") or 1)
    per_node = resources.get("gpus_per_node", resources.get("gpus", 0)) or 0
    return nodes * int(per_node)


def _cores(resources: dict | None) -> int:
    """CPU cores an attempt holds: nodes x cpus_per_task (one task per node)."""
    resources = resources or {}
    return int(resources.get("nodes") or 1) * int(resources.get("cpus_per_task") or 1)


def _allocated_hours(attempts: pd.DataFrame, recorded: str, per_attempt: str) -> float:
    """Hours from the watcher's record (`gpu_seconds` / `cpu_seconds`: the scheduler's
    accounting, or wall x allocation) where it exists, else (end or now - start) x allocation."""
    if attempts.empty:
        return 0.0
    fallback = attempts["duration_s"].astype("float64").fillna(0.0) * attempts[per_attempt]
    seconds = attempts[recorded].astype("float64").where(attempts[recorded].notna(), fallback) \
        if recorded in attempts else fallback
    return float(seconds.sum() / 3600.0)


def gpu_hours(attempts: pd.DataFrame) -> float:
    """Sum over attempts of GPU time: what the scheduler bills, preempted time included."""
    return _allocated_hours(attempts, "gpu_seconds", "gpus")


def core_hours(attempts: pd.DataFrame) -> float:
    """Sum over attempts of CPU core time allocated (nodes x cpus_per_task x wall)."""
    return _allocated_hours(attempts, "cpu_seconds", "cores")


@dataclass(frozen=True)
class Usage:
    """Device-hours in the unit that matters: GPU-hours where a GPU was used, else CPU core-hours."""

    unit: str      # "GPU-h" | "core-h"
    hours: float

    @property
    def label(self) -> str:
        return "GPU-hours" if self.unit == "GPU-h" else "CPU core-hours"


def usage(attempts: pd.DataFrame) -> Usage:
    """What the attempts used: GPU-hours if any attempt held a GPU, CPU core-hours otherwise
    (a CPU run's GPU-hours are 0.0, which says nothing)."""
    gpu = gpu_hours(attempts)
    if gpu > 0 or (not attempts.empty and int(attempts["gpus"].max()) > 0):
        return Usage("GPU-h", gpu)
    return Usage("core-h", core_hours(attempts))


def estimated_usage(engine: Engine, *, experiment_id: int | None = None, job_id: int | None = None,
                    unit: str) -> float | None:
    """The planner's estimate (`jobs.estimate`, `submit --dry-run`'s figures) summed over the
    experiment's (or one job's) jobs in `unit`; None where no job has one."""
    query = select(Job.estimate)
    query = query.where(Job.experiment_id == experiment_id) if job_id is None else query.where(Job.id == job_id)
    with engine.connect() as connection:
        estimates = [row[0] for row in connection.execute(query) if row[0]]
    hours = [float(e["device_hours"]) for e in estimates if e.get("unit") == unit and e.get("device_hours") is not None]
    return sum(hours) if hours else None

