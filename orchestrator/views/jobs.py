"""Finding a job from what a user types: `EXPERIMENT/JOB`, a job id, or a job name that is
unique across experiments."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.db.models import Experiment, Job

__all__ = ["find_job", "JobNotFound"]


class JobNotFound(LookupError):
    """No job, or several, match the reference; the message says which and how to be exact."""


def find_job(session: Session, reference: str) -> Job:
    experiment_name, _, job_name = reference.rpartition("/")
    query = select(Job).join(Experiment)
    if experiment_name:
        query = query.where(Experiment.name == experiment_name, Job.name == job_name)
    elif reference.isdigit():
        query = query.where(Job.id == int(reference))
    else:
        query = query.where(Job.name == reference)
    matches = session.scalars(query.order_by(Job.id)).all()
    if not matches:
        raise JobNotFound(f"no job {reference!r} (use EXPERIMENT/JOB, a job id, or a unique job name)")
    if len(matches) > 1:
        options = ", ".join(f"{job.experiment.name}/{job.name}" for job in matches[:5])
        raise JobNotFound(f"job name {reference!r} is ambiguous: {options}")
    return matches[0]
