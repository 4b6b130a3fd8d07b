"""`status`: one row per job with its state, attempts, progress, ETA and key metric."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from contract.metric_names import KEY_METRIC_BY_TASK
from contract.states import JobState
from orchestrator.db.models import Attempt, Experiment, Job
from orchestrator.db.types import utcnow
from orchestrator.durations import seconds_left
from orchestrator.views.metrics import latest_metric_values

__all__ = ["JobStatusRow", "job_status_rows", "estimate_eta_seconds", "corrupt_lines_message"]


@dataclass(frozen=True)
class JobStatusRow:
    experiment: str
    job_id: int
    job: str
    kind: str
    state: str
    attempts: int
    progress_step: int | None
    progress_total: int | None
    eta_seconds: float | None
    key_metric: str | None  # e.g. "val/frame_map"
    key_metric_value: float | None
    error: str | None
    # metrics.jsonl lines ingest skipped as corrupt, and the first of their line numbers
    metrics_corrupt_lines: int = 0
    metrics_corrupt_first: tuple[int, ...] = ()
    # The planner's estimate (jobs.estimate): device-hours in its unit ("GPU-h" | "core-h").
    estimate_unit: str | None = None
    estimate_hours: float | None = None
    # What the attempts' allocations used (attempts.gpu_seconds / cpu_seconds), None if unknown.
    used_gpu_hours: float | None = None
    used_cpu_hours: float | None = None

    @property
    def used_hours(self) -> float | None:
        """Usage in the estimate's unit (GPU-hours, or CPU core-hours for CPU jobs)."""
        gpu_job = self.estimate_unit == "GPU-h" or (self.estimate_unit is None and self.used_gpu_hours)
        return self.used_gpu_hours if gpu_job else self.used_cpu_hours

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def corrupt_lines_message(count: int, first_line_numbers) -> str:
    """How `status` and the dashboard say that ingest skipped corrupt metrics.jsonl lines."""
    first = list(first_line_numbers)
    more = ", ..." if count > len(first) else ""
    return f"{count} corrupt metrics.jsonl line(s) skipped (line {', '.join(map(str, first))}{more})"


def estimate_eta_seconds(*, step: int | None, total: int | None, started_at: dt.datetime | None,
                         resumed_from_step: int | None, now: dt.datetime) -> float | None:
    """Remaining seconds at the current attempt's rate; None when there is no rate yet."""
    if started_at is None:
        return None
    return seconds_left(step=step, total=total, since_step=resumed_from_step,
                        elapsed_s=(now - started_at).total_seconds())


def job_status_rows(session: Session, experiment: str | None = None, *,
                    now: dt.datetime | None = None) -> list[JobStatusRow]:
    """Rows for one experiment (by name) or all, in DAG (creation) order."""
    now = now or utcnow()
    job_filter = select(Job.id).join(Experiment)
    if experiment is not None:
        job_filter = job_filter.where(Experiment.name == experiment)

    counts = select(Attempt.job_id, func.count().label("n"), func.max(Attempt.number).label("last"),
                    func.sum(Attempt.gpu_seconds).label("gpu_s"), func.sum(Attempt.cpu_seconds).label("cpu_s"))
    if experiment is not None:
        counts = counts.where(Attempt.job_id.in_(job_filter))
    counts = counts.group_by(Attempt.job_id).subquery()
    count_by_job, usage_by_job = {}, {}
    for job_id, n, gpu_s, cpu_s in session.connection().execute(
            select(counts.c.job_id, counts.c.n, counts.c.gpu_s, counts.c.cpu_s)).all():
        count_by_job[job_id] = n
        # PostgreSQL's SUM of a BIGINT is NUMERIC (a Decimal in Python): hours are floats.
        usage_by_job[job_id] = (None if gpu_s is None else float(gpu_s) / 3600,
                                None if cpu_s is None else float(cpu_s) / 3600)
    # Start time / resume step of the latest attempt, only where an ETA is shown (RUNNING):
    # parsing thousands of timestamps for finished jobs is most of the cost otherwise.
    latest = (select(Attempt.job_id, Attempt.started_at, Attempt.resumed_from_step)
              .join(counts, and_(Attempt.job_id == counts.c.job_id, Attempt.number == counts.c.last))
              .join(Job, Job.id == Attempt.job_id).where(Job.state == JobState.RUNNING.value))
    latest_by_job = {job_id: (started, resumed)
                     for job_id, started, resumed in session.connection().execute(latest).all()}

    query = (select(Job.id, Job.name, Job.kind, Job.state, Job.progress_step, Job.progress_total,
                    Job.error, Job.metrics_corrupt_lines, Experiment.name, Experiment.task, Job.estimate)
             .join(Experiment).order_by(Experiment.name, Job.id))
    if experiment is not None:
        query = query.where(Experiment.name == experiment)
    jobs = session.connection().execute(query).all()
    # The line numbers (JSON) only for the few jobs that have any: decoding 10k JSON values
    # would cost more than the rest of the query.
    with_corrupt_lines = [row.id for row in jobs if row.metrics_corrupt_lines]
    corrupt_first = dict(session.connection().execute(
        select(Job.id, Job.metrics_corrupt_first).where(Job.id.in_(with_corrupt_lines))).all()) \
        if with_corrupt_lines else {}
    metrics = latest_metric_values(session, sorted(set(KEY_METRIC_BY_TASK.values())),
                                   job_filter if experiment is not None else None)

    rows = []
    for job_id, name, kind, state, step, total, error, corrupt, experiment_name, task, estimate in jobs:
        key = KEY_METRIC_BY_TASK.get(task)
        value = metrics.get(job_id, {}).get(key) if key else None
        eta = None
        if state == JobState.RUNNING.value and job_id in latest_by_job:
            started, resumed = latest_by_job[job_id]
            eta = estimate_eta_seconds(step=step, total=total, started_at=started,
                                       resumed_from_step=resumed, now=now)
        rows.append(JobStatusRow(
            experiment=experiment_name, job_id=job_id, job=name, kind=kind, state=state,
            attempts=count_by_job.get(job_id, 0), progress_step=step, progress_total=total,
            eta_seconds=eta, key_metric="/".join(key) if key and value is not None else None,
            key_metric_value=value, error=error, metrics_corrupt_lines=corrupt or 0,
            metrics_corrupt_first=tuple(corrupt_first.get(job_id) or ()),
            estimate_unit=(estimate or {}).get("unit"), estimate_hours=(estimate or {}).get("device_hours"),
            used_gpu_hours=usage_by_job.get(job_id, (None, None))[0],
            used_cpu_hours=usage_by_job.get(job_id, (None, None))[1]))
    return rows
