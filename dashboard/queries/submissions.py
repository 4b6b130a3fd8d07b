"""Submissions of an experiment, and the artefacts a run produced."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from orchestrator.db import Artifact, Submission

__all__ = ["submissions", "job_artifacts"]


def submissions(engine: Engine, experiment_id: int) -> pd.DataFrame:
    """id, path, format, sha256, ok, validation, members, manifest_path, created_at; newest first."""
    query = (select(Submission.id, Submission.path, Submission.format, Submission.sha256, Submission.ok,
                    Submission.validation, Submission.members, Submission.manifest_path,
                    Submission.created_at)
             .where(Submission.experiment_id == experiment_id)
             .order_by(Submission.created_at.desc(), Submission.id.desc()))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=["id", "path", "format", "sha256", "ok", "validation", "members",
                                       "manifest_path", "created_at"])


def job_artifacts(engine: Engine, job_id: int, kind: str | None = None) -> pd.DataFrame:
    """path (relative to the run dir), kind, sha256, bytes."""
    query = select(Artifact.path, Artifact.kind, Artifact.sha256, Artifact.bytes).where(Artifact.job_id == job_id)
    if kind:
        query = query.where(Artifact.kind == kind)
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(Artifact.path)).all()
    return pd.DataFrame(rows, columns=["path", "kind", "sha256", "bytes"])
