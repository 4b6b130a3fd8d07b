"""The leaderboard's one read model, used by the CLI (`python -m orchestrator leaderboard`) and
the dashboard (`dashboard/queries/leaderboard.py`): AVA by val frame-mAP (members and
ensembles); Kinetics by the challenge metric, the mean of top-1 and top-5 error (lower is
better), as in the ActivityNet 2019 Kinetics-700 challenge.

Every score here is a fraction in [0, 1], as the jobs wrote it; whoever shows it formats it
(percent in both the CLI and the dashboard). A Kinetics job is listed when it reported top-1
or top-5; its `challenge_error` exists only with both, and rows without it rank after those
with it (by top-1, then top-5, best first).

AVA rows say how they were tested (``tta``: one scale, or "++" = several scales + flip, from
the job's ``data.tta_scales`` / ``data.tta_flip``) and whether the ensemble averages them
(``in_ensemble``): the single-scale evaluation of a "++" member (``single_scale_of`` in its
config, ``experiment.single_scale_of``) is ranked with the rest but feeds no ensemble; it is
there to show Table 2's "++" gain.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.db.models import Experiment, Job
from contract.metric_names import VAL_FRAME_MAP as FRAME_MAP
from contract.metric_names import VAL_TOP1 as TOP1
from contract.metric_names import VAL_TOP5 as TOP5
from orchestrator.views.metrics import latest_metric_values

__all__ = ["AvaRow", "KineticsRow", "PlusGain", "ava_leaderboard", "kinetics_leaderboard", "challenge_error",
           "kinetics_rank_key", "plus_gains", "tta_label", "TTA_CONFIG_PATHS"]

#: The config fields an AVA row's labels come from, as JSON paths the database extracts.
TTA_CONFIG_PATHS = (("data", "tta_scales"), ("data", "tta_flip"), ("single_scale_of", "member"))


def tta_label(scales: Any, flip: Any) -> str:
    """``"single (256)"``, ``"++ (224/256/320 + flip)"``, or "" when the config does not say.

    Accepts the values as a database's JSON extraction returns them as text (a JSON list, "1" /
    "true" for a flag) or as Python values."""
    if isinstance(scales, str):
        try:
            scales = json.loads(scales)
        except ValueError:
            return ""
    if not isinstance(scales, list) or not scales:
        return ""
    flipped = str(flip).lower() in ("1", "true")
    sizes = "/".join(str(int(s)) for s in scales)
    if len(scales) == 1 and not flipped:
        return f"single ({sizes})"
    return f"++ ({sizes}{' + flip' if flipped else ''})"


@dataclass(frozen=True)
class AvaRow:
    experiment: str
    job_id: int
    job: str
    kind: str
    is_ensemble: bool
    frame_map: float
    tta: str = ""              # tta_label of the evaluation; "" for ensembles and unknown configs
    in_ensemble: bool = False  # averaged by the experiment's ensemble (members' evaluations)
    single_scale_of: str = ""  # the member whose "++" evaluation this single-scale one mirrors

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlusGain:
    """Table 2's comparison on our runs: one member's train checkpoint on val, "++" vs one scale."""

    experiment: str
    member: str
    single: float
    plus: float

    @property
    def gain(self) -> float:
        return self.plus - self.single


@dataclass(frozen=True)
class KineticsRow:
    experiment: str
    job_id: int
    job: str
    kind: str
    is_ensemble: bool
    top1: float | None            # None: the job did not report it
    top5: float | None
    challenge_error: float | None  # None unless both top-1 and top-5 exist

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


def _tta_fields(session: Session, job_ids: list[int]) -> dict[int, tuple[Any, Any, Any]]:
    """{job_id: (tta_scales, tta_flip, single_scale_of.member)} as the database extracts them."""
    if not job_ids:
        return {}
    paths = [Job.config[path].as_string() for path in TTA_CONFIG_PATHS]
    query = select(Job.id, *paths).where(Job.id.in_(job_ids))
    return {job_id: tuple(values) for job_id, *values in session.connection().execute(query).all()}


def ava_leaderboard(session: Session, experiment: str | None = None) -> list[AvaRow]:
    """Every AVA job that reported val frame_map, best first (ties: by job id)."""
    jobs = _jobs_of_task(session, "ava", experiment)
    job_ids = select(Job.id).join(Experiment).where(Experiment.task == "ava")
    if experiment is not None:
        job_ids = job_ids.where(Experiment.name == experiment)
    values = latest_metric_values(session, [FRAME_MAP], job_ids)
    scored = [job_id for job_id in values if job_id in jobs]
    labels = _tta_fields(session, scored)
    rows = []
    for job_id in scored:
        name, kind, exp = jobs[job_id]
        scales, flip, mirrored = labels.get(job_id, (None, None, None))
        is_ensemble = kind == "ensemble"
        rows.append(AvaRow(experiment=exp, job_id=job_id, job=name, kind=kind, is_ensemble=is_ensemble,
                           frame_map=values[job_id][FRAME_MAP],
                           tta="" if is_ensemble else tta_label(scales, flip),
                           in_ensemble=kind == "evaluate" and not mirrored, single_scale_of=mirrored or ""))
    return sorted(rows, key=lambda row: (-row.frame_map, row.job_id))


def plus_gains(rows: list[AvaRow]) -> list[PlusGain]:
    """For each single-scale evaluation, the "++" evaluation of the same member beside it."""
    by_member = {(row.experiment, row.job.rsplit(".", 1)[-1]): row for row in rows
                 if row.in_ensemble and row.tta.startswith("++")}
    gains = []
    for row in rows:
        plus = by_member.get((row.experiment, row.single_scale_of)) if row.single_scale_of else None
        if plus is not None:
            gains.append(PlusGain(experiment=row.experiment, member=row.single_scale_of,
                                  single=row.frame_map, plus=plus.frame_map))
    return gains


def kinetics_rank_key(row: KineticsRow) -> tuple:
    """Lowest challenge error first; rows without one after them, by top-1 then top-5 (best
    first); ties by job id."""
    if row.challenge_error is not None:
        return (0, row.challenge_error, 0.0, row.job_id)
    return (1, -(row.top1 if row.top1 is not None else -1.0), -(row.top5 if row.top5 is not None else -1.0),
            row.job_id)


def kinetics_leaderboard(session: Session, experiment: str | None = None) -> list[KineticsRow]:
    """Every Kinetics job with val top-1 or top-5, ranked by `kinetics_rank_key`."""
    jobs = _jobs_of_task(session, "kinetics", experiment)
    job_ids = select(Job.id).join(Experiment).where(Experiment.task == "kinetics")
    if experiment is not None:
        job_ids = job_ids.where(Experiment.name == experiment)
    values = latest_metric_values(session, [TOP1, TOP5], job_ids)
    rows = []
    for job_id, metrics in values.items():
        if job_id not in jobs or (TOP1 not in metrics and TOP5 not in metrics):
            continue
        name, kind, exp = jobs[job_id]
        top1, top5 = metrics.get(TOP1), metrics.get(TOP5)
        rows.append(KineticsRow(experiment=exp, job_id=job_id, job=name, kind=kind,
                                is_ensemble=kind == "ensemble", top1=top1, top5=top5,
                                challenge_error=None if top1 is None or top5 is None
                                else challenge_error(top1, top5)))
    return sorted(rows, key=kinetics_rank_key)
