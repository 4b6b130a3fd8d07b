"""Export an experiment's test-server file: validate it, copy it into the exports folder with
a provenance manifest, and record a Submission row.

The file itself is written by the experiment's `export` job (kind "export", e.g.
`export.test`) under `<run_dir>/submission/`. This step never writes an invalid file: the
source is validated with `model.eval.submission` (imported only here: it needs pandas), and
an invalid one is recorded as a failed Submission and refused. The manifest lists, for each
ensemble member, the checkpoint it came from with its sha256 and the sha256 of the job
configs, so a submitted number can be traced to the exact weights.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.files import canonical_json, replace_durably, sha256_file, write_temporary
from contract.run_dir import CHECKPOINTS_DIR, SUBMISSION_DIR
from contract.states import FINISHED_STATES, JobState
from orchestrator.db.models import Experiment, Job, Submission
from orchestrator.export_paths import ExportPathError, resolve_export_path

__all__ = ["ExportError", "InvalidSubmission", "ExportPathError", "ExportResult", "ValidationInputs",
           "export_experiment", "config_sha256", "SUBMISSION_SUFFIX"]

SUBMISSION_SUFFIX = {"ava_csv": ".csv", "kinetics_json": ".json"}


class ExportError(ValueError):
    """The experiment has nothing exportable (no finished export job, no member checkpoint)."""


class InvalidSubmission(RuntimeError):
    """The submission file failed validation; `report` is the validator's JSON report."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ValidationInputs:
    """Reference files for the validators; each defaults to the dataset's annotations folder
    (`<data.root>/annotations/...`, see docs/orchestrator.md)."""

    labelmap: str | None = None
    test_keyframes: str | None = None
    classes: str | None = None
    test_videos: str | None = None


@dataclass
class ExportResult:
    submission_path: Path
    manifest_path: Path
    sha256: str
    validation: dict[str, Any]
    members: dict[str, Any] = field(default_factory=dict)


def config_sha256(config: dict[str, Any]) -> str:
    """sha256 of a job config as canonical JSON (sorted keys): stable across databases."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def _export_job(session: Session, experiment: Experiment) -> Job:
    jobs = [job for job in experiment.jobs if job.kind == "export"]
    if not jobs:
        raise ExportError(f"experiment {experiment.name!r} has no export job (only ensembles on a test split export)")
    finished = [job for job in jobs if job.state in FINISHED_STATES]
    if not finished:
        states = ", ".join(f"{job.name}={job.state}" for job in jobs)
        raise ExportError(f"experiment {experiment.name!r}: no finished export job yet ({states})")
    return finished[-1]


def _producing_run_dir(job: Job) -> Path:
    """A REUSED job's files live in the run directory of the job it reuses."""
    if job.state == JobState.REUSED.value and job.reused_from is not None:
        return Path(job.reused_from.run_dir)
    return Path(job.run_dir)


def _submission_source(job: Job, fmt: str) -> Path:
    folder = _producing_run_dir(job) / SUBMISSION_DIR
    suffix = SUBMISSION_SUFFIX[fmt]
    files = sorted(p for p in folder.glob(f"*{suffix}") if p.is_file() and not p.is_symlink()) if folder.is_dir() else []
    if len(files) != 1:
        raise ExportError(f"{job.name}: expected one *{suffix} file in {folder}, found {len(files)}")
    return files[0]


def _validate(source: Path, fmt: str, data: dict[str, Any], inputs: ValidationInputs) -> dict[str, Any]:
    """The validation report of ``source``; a malformed reference file (label map, test
    keyframes) is an ``ExportError`` naming its file and line, not a crash of the command."""
    try:
        return _validate_against_references(source, fmt, data, inputs)
    except ExportError:
        raise
    except ValueError as error:  # AvaInputError and the keyframes reader name file and line
        raise ExportError(f"cannot validate {source.name}: {error}") from error


def _validate_against_references(source: Path, fmt: str, data: dict[str, Any],
                                 inputs: ValidationInputs) -> dict[str, Any]:
    from model.eval import submission

    annotations = Path(str(data.get("root", "."))) / "annotations"
    if fmt == "ava_csv":
        labelmap = inputs.labelmap or annotations / str(data.get("labelmap") or
                                                        "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
        keyframes = inputs.test_keyframes or next(
            (p for p in (annotations / "ava_test_keyframes_v2.2.csv", annotations / "ava_test_v2.2.txt")
             if p.is_file()), annotations / "ava_test_keyframes_v2.2.csv")
        for path in (labelmap, keyframes):
            if not Path(path).is_file():
                raise ExportError(f"validation needs {path} (pass --labelmap / --test-keyframes)")
        report = submission.validate_ava_submission(source, labelmap=labelmap, test_keyframes=keyframes)
    else:
        classes_file = Path(inputs.classes or annotations / "classes.txt")
        videos_file = Path(inputs.test_videos or annotations / "test.csv")
        for path in (classes_file, videos_file):
            if not path.is_file():
                raise ExportError(f"validation needs {path} (pass --classes / --test-videos)")
        classes = [line.strip() for line in classes_file.read_text().splitlines() if line.strip()]
        report = submission.validate_kinetics_submission(source, test_video_ids=_video_ids(videos_file),
                                                         class_names=classes)
    return report.to_dict()


def _video_ids(path: Path) -> list[str]:
    """Test video ids: a Kinetics annotation CSV (youtube_id column) or one id per line."""
    import csv

    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if rows and "youtube_id" in rows[0]:
        column = rows[0].index("youtube_id")
        return [row[column] for row in rows[1:] if len(row) > column]
    return [row[0].strip() for row in rows if row and row[0].strip()]


def _upstream(*jobs: Job) -> list[Job]:
    """Every job the given jobs depend on, directly or not (by id)."""
    seen: dict[int, Job] = {}
    stack = [dependency for job in jobs for dependency in job.dependencies]
    while stack:
        current = stack.pop()
        if current.id not in seen:
            seen[current.id] = current
            stack.extend(current.dependencies)
    return sorted(seen.values(), key=lambda j: j.id)


def _latest_checkpoint(job: Job) -> Path | None:
    folder = _producing_run_dir(job) / CHECKPOINTS_DIR
    files = sorted(p for p in folder.glob("*.pt") if p.is_file() and not p.is_symlink()) if folder.is_dir() else []
    return files[-1] if files else None


def _members(job: Job) -> dict[str, Any]:
    """member -> the checkpoint it came from (nearest upstream job with one) + config hashes.

    The member's lineage is its own jobs (``*.<member>``) and everything upstream of them:
    the pretraining a member was initialised from is named after its backbone
    (``pretrain.k600.slowfast_8x8``), not after the member, and belongs to its provenance.
    """
    names = list((job.config.get("export") or {}).get("members") or [])
    upstream = _upstream(job)
    members: dict[str, Any] = {}
    for member in names:
        own = [j for j in upstream if j.name.endswith(f".{member}")]
        trained = [j for j in own if _latest_checkpoint(j) is not None]
        if not trained:
            raise ExportError(f"member {member!r}: no upstream job with a checkpoint (jobs: "
                              f"{', '.join(j.name for j in own) or 'none'})")
        lineage = sorted({j.id: j for j in [*own, *_upstream(*own)]}.values(), key=lambda j: j.id)
        source = trained[-1]
        checkpoint = _latest_checkpoint(source)
        members[member] = {
            "checkpoint_job": source.name, "checkpoint": str(checkpoint), "checkpoint_sha256": sha256_file(checkpoint),
            "config_sha256": config_sha256(source.config),
            "jobs": {j.name: {"kind": j.kind, "content_hash": j.content_hash, "config_sha256": config_sha256(j.config)}
                     for j in lineage}}
    return members


def export_experiment(session: Session, experiment_name: str, out: str | os.PathLike[str], *,
                      exports_root: Path, inputs: ValidationInputs | None = None,
                      overwrite: bool = False) -> ExportResult:
    """Validate, copy and record; raises ExportError / ExportPathError / InvalidSubmission.

    Files are complete or absent: both are written to temp files first and moved in place
    only after validation; the Submission row is committed after the moves (and the moves
    are undone if the commit fails).
    """
    experiment = session.scalars(select(Experiment).where(Experiment.name == experiment_name)).one_or_none()
    if experiment is None:
        raise ExportError(f"no experiment {experiment_name!r} in the database")
    target = resolve_export_path(out, exports_root, overwrite=overwrite)
    job = _export_job(session, experiment)
    fmt = str((job.config.get("export") or {}).get("format") or "")
    if fmt not in SUBMISSION_SUFFIX:
        raise ExportError(f"{job.name}: unknown export format {fmt!r} (known: {', '.join(SUBMISSION_SUFFIX)})")
    source = _submission_source(job, fmt)
    validation = _validate(source, fmt, dict(job.config.get("data") or {}), inputs or ValidationInputs())
    digest = sha256_file(source)
    if not validation.get("ok"):
        session.add(Submission(experiment=experiment, path=str(source), format=fmt, sha256=digest,
                               validation=validation, ok=False, members={}))
        session.commit()
        problems = validation.get("problems") or []
        first = "; ".join(f"line {p['line']}: {p['message']}" if p.get("line") else p["message"] for p in problems[:3])
        raise InvalidSubmission(f"{source} is not a valid {fmt} submission ({len(problems)} problems): {first}",
                                validation)
    members = _members(job)
    manifest_path = target.with_name(target.name + ".manifest.json")
    if manifest_path.is_symlink() or (manifest_path.exists() and not overwrite):
        raise ExportPathError(f"{manifest_path} already exists (pass --force to replace it)")
    manifest = {"experiment": experiment.name, "task": experiment.task, "scale": experiment.scale,
                "format": fmt, "submission": target.name, "sha256": digest, "source": str(source),
                "export_job": job.name, "export_config_sha256": config_sha256(job.config),
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat(), "validation": validation,
                "members": members}
    with source.open("rb") as handle:
        copied = write_temporary(target, lambda out_handle: shutil.copyfileobj(handle, out_handle))
    manifest_tmp = write_temporary(manifest_path, lambda h: h.write(json.dumps(manifest, indent=1).encode()))
    if sha256_file(copied) != digest:  # the source changed under us
        copied.unlink(missing_ok=True)
        manifest_tmp.unlink(missing_ok=True)
        raise ExportError(f"{source} changed while it was being exported; run export again")
    replace_durably(copied, target)
    replace_durably(manifest_tmp, manifest_path)
    try:
        session.add(Submission(experiment=experiment, path=str(target), format=fmt, sha256=digest,
                               validation=validation, ok=True, members=members, manifest_path=str(manifest_path)))
        session.commit()
    except BaseException:
        session.rollback()
        target.unlink(missing_ok=True)
        manifest_path.unlink(missing_ok=True)
        raise
    return ExportResult(submission_path=target, manifest_path=manifest_path, sha256=digest,
                        validation=validation, members=members)
