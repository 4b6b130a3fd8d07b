"""Several runs side by side: which jobs to compare by default, where each one's training
curves are, their per-class AP in one table, and one value's rank among an experiment's jobs.

The default selection is an experiment's ensemble and its members: each member's val
evaluation (not the single-scale twin of a "++" member, which feeds no ensemble) and the val
ensemble. An evaluation has no training curves of its own; they are its training job's, the
parent in the DAG that has a `train` loss series.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, select

from contract.metric_names import AP_PREFIX, LOSS, TRAIN_SPLIT, VAL_SPLIT
from orchestrator.db import Job, JobDependency, Metric

__all__ = ["comparable_jobs", "default_selection", "training_sources", "per_class_ap_table", "value_rank"]


def comparable_jobs(engine: Engine, experiment_id: int) -> pd.DataFrame:
    """id, name, kind of the experiment's jobs that have any metric (the compare picker)."""
    has_metrics = select(Metric.job_id).where(Metric.job_id == Job.id).exists()
    query = (select(Job.id, Job.name, Job.kind).where(Job.experiment_id == experiment_id, has_metrics)
             .order_by(Job.id))
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).all(), columns=["id", "name", "kind"])


def default_selection(jobs: pd.DataFrame) -> list[int]:
    """The members' val evaluations and the val ensemble; else every evaluation and ensemble."""
    names = jobs["name"].astype(str)
    chosen = jobs[names.str.startswith("evaluate.val.") | (names == "ensemble.val")]
    if chosen.empty:
        chosen = jobs[jobs["kind"].isin(["evaluate", "ensemble"])]
    return [int(i) for i in chosen["id"]]


def training_sources(engine: Engine, job_ids: list[int]) -> dict[int, int]:
    """{job: the job whose training curves stand for it}: itself if it has a train loss, else
    its direct parent in the DAG that has one (an evaluation -> its fine-tune). An ensemble
    (its parents are evaluations) has none and is absent: it would otherwise borrow one
    member's curves."""
    if not job_ids:
        return {}
    with engine.connect() as connection:
        trained = {int(j) for (j,) in connection.execute(
            select(Metric.job_id).where(Metric.split == TRAIN_SPLIT, Metric.name == LOSS).group_by(Metric.job_id))}
        parents: dict[int, list[int]] = {}
        for child, parent in connection.execute(select(JobDependency.job_id, JobDependency.depends_on_id)):
            parents.setdefault(int(child), []).append(int(parent))
    sources = {}
    for job_id in job_ids:
        candidates = [job_id, *sorted(parents.get(job_id, []))]
        found = next((candidate for candidate in candidates if candidate in trained), None)
        if found is not None:
            sources[job_id] = found
    return sources


def per_class_ap_table(engine: Engine, job_ids: list[int], class_names: dict[int, str],
                       split: str = VAL_SPLIT) -> pd.DataFrame:
    """Long form: job_id, action_id, name, ap (percent) at each class's latest step."""
    latest = (select(Metric.job_id, Metric.name, func.max(Metric.step).label("step"))
              .where(Metric.job_id.in_(job_ids), Metric.split == split, Metric.name.startswith(AP_PREFIX))
              .group_by(Metric.job_id, Metric.name).subquery())
    query = (select(Metric.job_id, Metric.name, Metric.value)
             .join(latest, (latest.c.job_id == Metric.job_id) & (latest.c.name == Metric.name)
                   & (latest.c.step == Metric.step))
             .where(Metric.split == split))
    with engine.connect() as connection:
        rows = connection.execute(query).all() if job_ids else []
    records = [{"job_id": int(job_id), "action_id": int(name[len(AP_PREFIX):]),
                "name": class_names.get(int(name[len(AP_PREFIX):]), f"class {name[len(AP_PREFIX):]}"),
                "ap": 100.0 * float(value)}
               for job_id, name, value in rows if name[len(AP_PREFIX):].isdigit()]
    return pd.DataFrame(records, columns=["job_id", "action_id", "name", "ap"])


def value_rank(board: pd.DataFrame, job_id: int, column: str, *, lower_is_better: bool = False) -> tuple[int, int] | None:
    """(rank, out of) of `job_id`'s `column` among `board`'s rows that have one; None if it has none."""
    scored = board[board[column].notna()]
    if job_id not in set(scored["job_id"]):
        return None
    ordered = scored.sort_values([column, "job_id"], ascending=[lower_is_better, True])
    return list(ordered["job_id"]).index(job_id) + 1, len(ordered)
