"""The leaderboard as the dashboard shows it: the CLI's read model with the labels the page filters on.

Ranking, inclusion and scores come from `orchestrator.views.leaderboard` (the one read model;
`python -m orchestrator leaderboard` prints the same rows): AVA by val frame-mAP, Kinetics by
the challenge metric with the jobs that have only top-1 or top-5 after the rest. Scores stay
fractions here; the page formats them in percent. This module adds only what the page filters
and shows beside each row (member, model, dataset version, scale, state).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard.labels import CONFIG_LABEL_PATHS, job_labels
from orchestrator.db import Experiment, Job
from orchestrator.views.leaderboard import ava_leaderboard, kinetics_leaderboard

__all__ = ["leaderboard", "LEADERBOARD_COLUMNS", "SCORE_COLUMNS"]

LEADERBOARD_COLUMNS = ["job_id", "experiment", "task", "scale", "job", "kind", "member", "model",
                       "dataset", "tta", "in_ensemble", "state", "frame_map", "top1", "top5",
                       "challenge_error"]
#: Fractions in [0, 1] (NaN where the job has none); the page shows them x100.
SCORE_COLUMNS = ("frame_map", "top1", "top5", "challenge_error")


def _scores(engine: Engine) -> pd.DataFrame:
    """job_id, task and the four scores of every ranked job, in the read model's order."""
    with Session(engine) as session:
        ava = ava_leaderboard(session)
        kinetics = kinetics_leaderboard(session)
    records = [{"job_id": row.job_id, "task": "ava", "frame_map": row.frame_map} for row in ava]
    records += [{"job_id": row.job_id, "task": "kinetics", "top1": row.top1, "top5": row.top5,
                 "challenge_error": row.challenge_error} for row in kinetics]
    frame = pd.DataFrame.from_records(records, columns=["job_id", "task", *SCORE_COLUMNS])
    return frame.astype({column: "float64" for column in SCORE_COLUMNS})


def _labels(engine: Engine, job_ids: list[int]) -> pd.DataFrame:
    # Only the few config fields the table shows, extracted by the database (json_extract /
    # ->>): parsing 10k whole configs in Python costs more than the rest of the query.
    labels = [Job.config[path].as_string() for path in CONFIG_LABEL_PATHS]
    query = (select(Job.id, Experiment.name, Experiment.scale, Job.name, Job.kind, Job.state, *labels)
             .join(Experiment, Job.experiment_id == Experiment.id))
    rows = []
    with engine.connect() as connection:
        for start in range(0, len(job_ids), 5000):  # bound the IN list (SQLite's variable limit)
            chunk = job_ids[start:start + 5000]
            rows += [tuple(row) for row in connection.execute(query.where(Job.id.in_(chunk)))]
    return pd.DataFrame([{
        "job_id": job_id, "experiment": experiment, "scale": scale, "job": name, "kind": kind,
        **job_labels(kind, dict(zip(CONFIG_LABEL_PATHS, values)), name), "state": state,
    } for job_id, experiment, scale, name, kind, state, *values in rows],
        columns=["job_id", "experiment", "scale", "job", "kind", "member", "model", "dataset", "tta",
                 "in_ensemble", "state"])


def leaderboard(engine: Engine) -> pd.DataFrame:
    """One row per ranked job (columns `LEADERBOARD_COLUMNS`): AVA first, then Kinetics, each
    in the read model's order. Scores are fractions (`SCORE_COLUMNS`)."""
    scores = _scores(engine)
    if scores.empty:
        return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    labels = _labels(engine, [int(i) for i in scores["job_id"]])
    table = scores.merge(labels, on="job_id", how="left", sort=False)
    return table[LEADERBOARD_COLUMNS].reset_index(drop=True)
