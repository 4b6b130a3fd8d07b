"""One run (a job) in detail: its curves, its evaluation, its config against another's.

Curves are downsampled in SQL (`GROUP BY step / bucket`), so a 100k-step loss curve costs
`max_points` rows, never the whole series.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from contract.metric_names import AP_PREFIX, VAL_SPLIT
from orchestrator.db import Experiment, Job, Metric

__all__ = ["RunInfo", "run_info", "job_choices", "metric_series_names", "metric_curve",
           "per_class_ap", "config_diff", "flatten_config", "comparable_default"]

DEFAULT_MAX_POINTS = 500


@dataclass(frozen=True)
class RunInfo:
    job_id: int
    name: str
    kind: str
    state: str
    experiment: str
    task: str
    run_dir: str
    config: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None


def run_info(engine: Engine, job_id: int) -> RunInfo | None:
    query = (select(Job.id, Job.name, Job.kind, Job.state, Experiment.name, Experiment.task,
                    Job.run_dir, Job.config, Job.result, Job.error)
             .join(Experiment, Experiment.id == Job.experiment_id).where(Job.id == job_id))
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return RunInfo(*row) if row else None


def job_choices(engine: Engine, experiment_id: int) -> pd.DataFrame:
    """id, name, kind of one experiment's jobs (the run picker)."""
    query = select(Job.id, Job.name, Job.kind).where(Job.experiment_id == experiment_id).order_by(Job.id)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).all(), columns=["id", "name", "kind"])


def metric_series_names(engine: Engine, job_id: int) -> pd.DataFrame:
    """(split, name, points) of the job's series, per-class AP rows excluded (shown apart)."""
    query = (select(Metric.split, Metric.name, func.count())
             .where(Metric.job_id == job_id, ~Metric.name.startswith(AP_PREFIX))
             .group_by(Metric.split, Metric.name).order_by(Metric.split, Metric.name))
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).all(), columns=["split", "name", "points"])


def metric_curve(engine: Engine, job_id: int, split: str, name: str, *,
                 max_points: int = DEFAULT_MAX_POINTS) -> pd.DataFrame:
    """(step, value) of one series; above `max_points` points, the mean over equal step buckets."""
    where = (Metric.job_id == job_id, Metric.split == split, Metric.name == name)
    with engine.connect() as connection:
        count, first, last = connection.execute(
            select(func.count(), func.min(Metric.step), func.max(Metric.step)).where(*where)).one()
        if not count:
            return pd.DataFrame(columns=["step", "value"])
        if count <= max_points:
            rows = connection.execute(select(Metric.step, Metric.value).where(*where).order_by(Metric.step)).all()
        else:
            width = max(1, (int(last) - int(first)) // max_points + 1)
            bucket = (Metric.step - int(first)) // width
            rows = connection.execute(
                select(func.min(Metric.step), func.avg(Metric.value)).where(*where)
                .group_by(bucket).order_by(func.min(Metric.step))).all()
    return pd.DataFrame(rows, columns=["step", "value"]).astype({"step": "int64", "value": "float64"})


def per_class_ap(engine: Engine, job_id: int, class_names: dict[int, str],
                 split: str = VAL_SPLIT) -> pd.DataFrame:
    """action_id, name, ap (percent) at each class's latest step, best first."""
    latest = (select(Metric.name, func.max(Metric.step).label("step"))
              .where(Metric.job_id == job_id, Metric.split == split, Metric.name.startswith(AP_PREFIX))
              .group_by(Metric.name).subquery())
    query = (select(Metric.name, Metric.value)
             .join(latest, (latest.c.name == Metric.name) & (latest.c.step == Metric.step))
             .where(Metric.job_id == job_id, Metric.split == split))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    records = []
    for name, value in rows:
        suffix = name[len(AP_PREFIX):]
        if not suffix.isdigit():
            continue
        action_id = int(suffix)
        records.append({"action_id": action_id, "name": class_names.get(action_id, f"class {action_id}"),
                        "ap": 100.0 * float(value)})
    frame = pd.DataFrame(records, columns=["action_id", "name", "ap"])
    return frame.sort_values(["ap", "action_id"], ascending=[False, True]).reset_index(drop=True)


def flatten_config(config: Any, prefix: str = "") -> dict[str, str]:
    """{"model.name": "slowfast_8x8", ...}: dotted keys, JSON-encoded leaves (lists stay whole)."""
    if isinstance(config, dict):
        flat: dict[str, str] = {}
        for key in sorted(config, key=str):
            flat.update(flatten_config(config[key], f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): json.dumps(config, sort_keys=True, default=str)}


def config_diff(left: dict[str, Any], right: dict[str, Any], *, only_differences: bool = True) -> pd.DataFrame:
    """key, left, right for every dotted key whose value differs (absent shown as "—"); with
    `only_differences=False`, every key, the differing ones first."""
    a, b = flatten_config(left or {}), flatten_config(right or {})
    differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    keys = differing if only_differences else differing + sorted(k for k in set(a) & set(b) if a[k] == b[k])
    return pd.DataFrame({"key": keys, "left": [a.get(k, "—") for k in keys],
                         "right": [b.get(k, "—") for k in keys]}, columns=["key", "left", "right"])


def comparable_default(job_id: int, job_name: str, job_kind: str, others: pd.DataFrame) -> int | None:
    """The most comparable other job (`others`: id, name, kind of the experiment's jobs): the
    same job for another member (`evaluate.val.sf8x8` -> `evaluate.val.fast32x2`), else the
    same kind, else the first; None if there is no other job."""
    others = others[others["id"] != job_id]
    if others.empty:
        return None
    stem = job_name.rsplit(".", 1)[0] if "." in job_name else job_name
    same_stem = others[others["name"].astype(str).str.rsplit(".", n=1).str[0] == stem]
    same_kind = others[others["kind"] == job_kind]
    for candidates in (same_stem, same_kind, others):
        if not candidates.empty:
            return int(candidates["id"].iloc[0])
    return None
