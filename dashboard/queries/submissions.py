"""Submissions of an experiment, and the artefacts a run produced."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from orchestrator.db import Artifact, Submission

__all__ = ["submissions", "job_artifacts", "members_table"]


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


def members_table(manifest: Any) -> pd.DataFrame:
    """One row per ensemble member from a manifest (or `Submission.members`).

    Accepts the export's form `{"members": {name: {"checkpoint": ..., "checkpoint_sha256": ...,
    "config_sha256": ..., "jobs": {...}}}}`, the bare member mapping, or a list of dicts with a
    `member` key. Scalar fields become columns; nested ones are summarised (`jobs` -> count).
    """
    members = manifest.get("members", manifest) if isinstance(manifest, dict) else manifest
    if isinstance(members, dict):
        records = [{"member": name, **(fields if isinstance(fields, dict) else {"value": fields})}
                   for name, fields in members.items()]
    elif isinstance(members, list):
        records = [m for m in members if isinstance(m, dict)]
    else:
        records = []
    rows = []
    for record in records:
        row = {}
        for key, value in record.items():
            if isinstance(value, dict):
                row[f"{key} (count)"] = len(value)
            elif isinstance(value, list):
                row[key] = ", ".join(map(str, value))
            else:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)
