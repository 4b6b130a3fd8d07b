"""`leaderboard`: AVA by val frame-mAP (members and ensembles); Kinetics by the challenge
metric, the mean of top-1 and top-5 error (lower is better), as in the ActivityNet 2019
Kinetics-700 challenge."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.db.models import Experiment, Job
from orchestrator.views.metrics import FRAME_MAP, TOP1, TOP5, latest_metric_values

__all__ = ["AvaRow", "KineticsRow", "ava_leaderboard", "kinetics_leaderboard", "challenge_error"]


@dataclass(frozen=True)
class AvaRow:
    experiment: str
    job_id: int
    job: str
    kind: str
    is_ensemble: bool
    frame_map: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KineticsRow:
    experiment: str
    job_id: int
    job: str
    kind: str
    is_ensemble: bool
    top1: float
    top5: float
    challenge_error: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def challenge_error(top1: float, top5: float) -> float:
    """Kinetics challenge metric: mean of top-1 and top-5 error (accuracies as fractions)."""
    return ((1.0 - top1) + (1.0 - top5)) / 2.0


def _jobs_of_task(session: Session, task: str, experiment: str | None):
    query = (select(Job.id, Job.name, Job.kind, Experiment.name).join(Experiment)
             .where(Experiment.task == task))
    if experiment is not None:
        query = query.where(Experiment.name == experiment)
    return {job_id: (name, kind, exp) for job_id, name, kind, exp in session.connection().execute(query).all()}


def ava_leaderboard(session: Session, experiment: str | None = None) -> list[AvaRow]:
    """Every AVA job that reported val frame_map, best first (ties: by job id)."""
    jobs = _jobs_of_task(session, "ava", experiment)
    job_ids = select(Job.id).join(Experiment).where(Experiment.task == "ava")
    if experiment is not None:
        job_ids = job_ids.where(Experiment.name == experiment)
    values = latest_metric_values(session, [FRAME_MAP], job_ids)
    rows = [AvaRow(experiment=jobs[job_id][2], job_id=job_id, job=jobs[job_id][0], kind=jobs[job_id][1],
                   is_ensemble=jobs[job_id][1] == "ensemble", frame_map=metrics[FRAME_MAP])
            for job_id, metrics in values.items() if job_id in jobs]
    return sorted(rows, key=lambda row: (-row.frame_map, row.job_id))


def kinetics_leaderboard(session: Session, experiment: str | None = None) -> list[KineticsRow]:
    """Every Kinetics job with val top1 and top5, lowest challenge error first."""
    jobs = _jobs_of_task(session, "kinetics", experiment)
    job_ids = select(Job.id).join(Experiment).where(Experiment.task == "kinetics")
    if experiment is not None:
        job_ids = job_ids.where(Experiment.name == experiment)
    values = latest_metric_values(session, [TOP1, TOP5], job_ids)
    rows = []
    for job_id, metrics in values.items():
        if job_id not in jobs or TOP1 not in metrics or TOP5 not in metrics:
            continue
        name, kind, exp = jobs[job_id]
        rows.append(KineticsRow(experiment=exp, job_id=job_id, job=name, kind=kind,
                                is_ensemble=kind == "ensemble", top1=metrics[TOP1], top5=metrics[TOP5],
                                challenge_error=challenge_error(metrics[TOP1], metrics[TOP5])))
    return sorted(rows, key=lambda row: (row.challenge_error, row.job_id))
