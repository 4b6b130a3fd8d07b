"""The latest value of given metrics per job: the building block of status and leaderboard."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from contract.metric_names import KEY_METRIC_BY_TASK
from contract.metric_names import VAL_FRAME_MAP as FRAME_MAP
from contract.metric_names import VAL_TOP1 as TOP1
from contract.metric_names import VAL_TOP5 as TOP5
from orchestrator.db.models import Metric

# FRAME_MAP, TOP1, TOP5 and KEY_METRIC_BY_TASK are contract.metric_names', re-exported for the
# leaderboard and status views until they import them from there.
__all__ = ["latest_metric_values", "FRAME_MAP", "TOP1", "TOP5", "KEY_METRIC_BY_TASK"]


def latest_metric_values(session: Session, metrics: Iterable[tuple[str, str]],
                         job_ids: Select | Iterable[int] | None = None
                         ) -> dict[int, dict[tuple[str, str], float]]:
    """{job_id: {(split, name): value at the job's highest step}} for the given metrics.

    `job_ids` restricts the jobs (a SELECT of ids or a collection). The metrics table has
    two B-trees (revision 0002): the primary key (job_id, split, name, step), a range per
    job, and a partial index (name, job_id, step) over the val rows alone; neither reads the
    training-curve rows of other names (tests/orchestrator/test_metric_index_plans.py).
    """
    metrics = list(metrics)
    if not metrics:
        return {}
    # One `split = ? AND name IN (...)` term per split, not a row-value IN over (split, name):
    # SQLite cannot turn a row-value IN into index ranges and reads every row instead.
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
