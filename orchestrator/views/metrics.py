"""The latest value of given metrics per job: the building block of status and leaderboard."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from orchestrator.db.models import Metric

__all__ = ["latest_metric_values", "FRAME_MAP", "TOP1", "TOP5", "KEY_METRIC_BY_TASK"]

# (split, name) pairs of the metric naming contract.
FRAME_MAP = ("val", "frame_map")
TOP1 = ("val", "top1")
TOP5 = ("val", "top5")
KEY_METRIC_BY_TASK = {"ava": FRAME_MAP, "kinetics": TOP1}


def latest_metric_values(session: Session, metrics: Iterable[tuple[str, str]],
                         job_ids: Select | Iterable[int] | None = None
                         ) -> dict[int, dict[tuple[str, str], float]]:
    """{job_id: {(split, name): value at the job's highest step}} for the given metrics.

    `job_ids` restricts the jobs (a SELECT of ids or a collection). Served by the index
    (split, name, job_id, step): no scan of the training-loss rows.
    """
    metrics = list(metrics)
    if not metrics:
        return {}
    # split = ? AND name IN (...) per split: a range of the (split, name, job_id, step) index.
    # (A row-value IN over (split, name) makes SQLite scan the whole index instead.)
    names_by_split: dict[str, list[str]] = {}
    for split, name in metrics:
        names_by_split.setdefault(split, []).append(name)
    wanted = or_(*(and_(Metric.split == split, Metric.name.in_(names)) for split, names in names_by_split.items()))
    latest = select(Metric.job_id, Metric.split, Metric.name, func.max(Metric.step).label("step")).where(wanted)
    if job_ids is not None:
        latest = latest.where(Metric.job_id.in_(job_ids if isinstance(job_ids, Select) else list(job_ids)))
    latest = latest.group_by(Metric.job_id, Metric.split, Metric.name).subquery()
    query = select(Metric.job_id, Metric.split, Metric.name, Metric.value).join(
        latest, and_(Metric.job_id == latest.c.job_id, Metric.split == latest.c.split,
                     Metric.name == latest.c.name, Metric.step == latest.c.step))
    values: dict[int, dict[tuple[str, str], float]] = {}
    # Core execution (no ORM row processing): thousands of plain tuples.
    for job_id, split, name, value in session.connection().execute(query).all():
        values.setdefault(job_id, {})[(split, name)] = value
    return values
