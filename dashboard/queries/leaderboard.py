"""The leaderboard: every job with a validation score, ranked.

AVA rows are ranked by val frame-mAP (each member's evaluate job and the ensemble), Kinetics
rows by the challenge metric (mean of top-1 and top-5 error, lower is better). The latest step
of each (job, metric) wins: an evaluation re-run after more training replaces the old score.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, and_, func, select

from dashboard.metric_names import (CONFIG_LABEL_PATHS, FRAME_MAP, LEADERBOARD_METRICS, TOP1, TOP5,
                                    VAL_SPLIT, job_labels)
from orchestrator.db import Experiment, Job, Metric

__all__ = ["leaderboard", "LEADERBOARD_COLUMNS", "challenge_error"]

LEADERBOARD_COLUMNS = ["job_id", "experiment", "task", "scale", "job", "kind", "member", "model",
                       "dataset", "tta", "in_ensemble", "state", "step", "frame_map", "top1", "top5",
                       "challenge_error"]


def challenge_error(top1: float, top5: float) -> float:
    """Sec. 3: "the average of top-1 and top-5 error", in percent, from fractions."""
    return 100.0 * ((1.0 - top1) + (1.0 - top5)) / 2.0


def _latest_scores(engine: Engine) -> pd.DataFrame:
    """(job_id, name, value, step) at the latest step, for the leaderboard metrics only.

    The GROUP BY runs on the partial index over val rows (`ix_metrics_val_name_job_step`): cost
    grows with the number of evaluated jobs, not with the number of training-curve rows.
    """
    latest = (select(Metric.job_id, Metric.name, func.max(Metric.step).label("step"))
              .where(Metric.split == VAL_SPLIT, Metric.name.in_(LEADERBOARD_METRICS))
              .group_by(Metric.job_id, Metric.name).subquery())
    query = (select(Metric.job_id, Metric.name, Metric.value, Metric.step)
             .join(latest, and_(Metric.job_id == latest.c.job_id, Metric.name == latest.c.name,
                                Metric.step == latest.c.step))
             .where(Metric.split == VAL_SPLIT))
    with engine.connect() as connection:
        # Plain tuples: pandas probes SQLAlchemy Row objects attribute by attribute (3x slower).
        rows = [tuple(row) for row in connection.execute(query)]
    return pd.DataFrame.from_records(rows, columns=["job_id", "name", "value", "step"])


def leaderboard(engine: Engine) -> pd.DataFrame:
    """One row per evaluated job (columns `LEADERBOARD_COLUMNS`), best first within each task.

    Scores are in percent. `challenge_error` is NaN unless both top-1 and top-5 exist.
    """
    scores = _latest_scores(engine)
    if scores.empty:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    wide = scores.pivot_table(index="job_id", columns="name", values="value", aggfunc="last")
    steps = scores.groupby("job_id")["step"].max()
    job_ids = [int(i) for i in wide.index]
    # Only the few config fields the table shows, extracted by the database (json_extract /
    # ->>): parsing 10k whole configs in Python costs more than the rest of the query.
    labels = [Job.config[path].as_string() for path in CONFIG_LABEL_PATHS]
    query = (select(Job.id, Experiment.name, Experiment.task, Experiment.scale, Job.name, Job.kind,
                    Job.state, *labels)
             .join(Experiment, Job.experiment_id == Experiment.id))
    rows = []
    with engine.connect() as connection:
        for start in range(0, len(job_ids), 5000):  # bound the IN list (SQLite's variable limit)
            chunk = job_ids[start:start + 5000]
            rows += [tuple(row) for row in connection.execute(query.where(Job.id.in_(chunk)))]
    jobs = pd.DataFrame([{
        "job_id": job_id, "experiment": experiment, "task": task, "scale": scale, "job": name,
        "kind": kind, **job_labels(kind, dict(zip(CONFIG_LABEL_PATHS, values)), name), "state": state,
    } for job_id, experiment, task, scale, name, kind, state, *values in rows])
    table = jobs.set_index("job_id").join(wide.reindex(columns=list(LEADERBOARD_METRICS)) * 100.0)
    table["step"] = steps
    table = table.rename(columns={FRAME_MAP: "frame_map", TOP1: "top1", TOP5: "top5"})
    table["challenge_error"] = ((100.0 - table["top1"]) + (100.0 - table["top5"])) / 2.0
    table = table.reset_index()
    # AVA: higher mAP first; Kinetics: lower challenge error first (NaN last), then top-1.
    table["_rank_key"] = table["frame_map"].where(table["task"] == "ava", -table["challenge_error"])
    table["_rank_key"] = table["_rank_key"].fillna(table["top1"] - 1000.0)
    table = table.sort_values(["task", "_rank_key", "job_id"], ascending=[True, False, True],
                              na_position="last", kind="stable")
    return table[LEADERBOARD_COLUMNS].reset_index(drop=True)
