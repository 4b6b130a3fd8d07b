"""Export an experiment's test-server file: check it is the file its export job validated,
copy it into the exports folder with one provenance manifest, and record a Submission row.

The file itself is written by the experiment's `export` job (kind "export", e.g.
`export.test`) under `<run_dir>/submission/`, together with `<run_dir>/manifest.json`: the
file's sha256, the validator's report, and each member's predictions, checkpoint and configs
with their sha256 (see jobs/export.py). The job validated the file before writing it; this
step does not validate it again. It reads the job's manifest, refuses a file whose sha256 is
not the manifest's (changed since it was validated), takes the validation report from the
manifest, and writes the exported manifest as the job's manifest, unchanged, plus what only
the database knows under `lineage` (experiment, scale, the export job and its config sha256,
each member's jobs with their kinds and content hashes). An invalid report is recorded as a
failed Submission and refused. `revalidate=` checks the file again against other reference
files with the same validator (`model.eval.submission`, imported only then: it needs pandas).
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
from contract.run_dir import CHECKPOINTS_DIR, MANIFEST_FILE, SUBMISSION_DIR
from contract.states import FINISHED_STATES, JobState
from orchestrator.db.models import Experiment, Job, Submission
from orchestrator.export_paths import ExportPathError, resolve_export_path

__all__ = ["ExportError", "InvalidSubmission", "StrictRefusal", "ExportPathError", "ExportResult",
           "ValidationInputs", "export_experiment", "config_sha256", "read_job_manifest",
           "JOB_MANIFEST_FILE", "SUBMISSION_SUFFIX", "held_out_test_metrics", "held_out_test_line"]

SUBMISSION_SUFFIX = {"ava_csv": ".csv", "kinetics_json": ".json"}
#: The manifest the export job writes in its run directory (jobs/export.py).
JOB_MANIFEST_FILE = MANIFEST_FILE  # the job's, in its run directory
#: The fields of the job's manifest this step relies on.
_JOB_MANIFEST_FIELDS = ("submission", "submission_sha256", "format", "validation")


class ExportError(ValueError):
    """The experiment has nothing exportable (no finished export job, no member checkpoint)."""


class InvalidSubmission(RuntimeError):
    """The submission file failed validation; `report` is the validator's JSON report."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


class StrictRefusal(InvalidSubmission):
    """`strict=True` and the (valid) report has warnings; nothing is written or recorded."""


@dataclass
class ValidationInputs:
    """Reference files for an explicit re-validation (`revalidate=`); each defaults to the
    file the export job validated against (its manifest's `references`)."""

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
    warnings: list[str] = field(default_factory=list)
    format: str = ""                                           # "ava_csv" | "kinetics_json"
    references: dict[str, Any] = field(default_factory=dict)   # the files the job validated against


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


def read_job_manifest(job: Job) -> tuple[Path, dict[str, Any]]:
    """(path, content) of the export job's `manifest.json`; an ``ExportError`` naming the file
    when it is missing, unreadable, not a JSON object, or lacks a field this step reads."""
    path = _producing_run_dir(job) / JOB_MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ExportError(f"{job.name}: {path} is missing; the export job writes it with the submission "
                          "(run the job again)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{job.name}: cannot read {path}: {error}") from None
    if not isinstance(manifest, dict):
        raise ExportError(f"{job.name}: {path} is not a JSON object")
    for name in _JOB_MANIFEST_FIELDS:
        if name not in manifest:
            raise ExportError(f"{job.name}: {path} has no field {name!r}")
    if not isinstance(manifest["validation"], dict) or "ok" not in manifest["validation"]:
        raise ExportError(f"{job.name}: {path}: field 'validation' is not a validation report")
    return path, manifest


def _submission_source(job: Job, manifest_path: Path, manifest: dict[str, Any], fmt: str) -> Path:
    """The file the manifest names, which must be a regular file in the job's submission folder."""
    run_dir = _producing_run_dir(job)
    folder = (run_dir / SUBMISSION_DIR).resolve()
    named = run_dir / str(manifest["submission"])
    if named.is_symlink() or not named.resolve().is_relative_to(folder):
        raise ExportError(f"{manifest_path}: field 'submission' ({manifest['submission']!r}) is not a file "
                          f"in {run_dir / SUBMISSION_DIR}")
    if not named.is_file():
        raise ExportError(f"{manifest_path}: the submission {named} is missing")
    if manifest["format"] != fmt or named.suffix != SUBMISSION_SUFFIX[fmt]:
        raise ExportError(f"{manifest_path}: {named.name} in format {manifest['format']!r}, but {job.name} "
                          f"exports {fmt!r}")
    return named


def _validate(source: Path, fmt: str, references: dict[str, Any], inputs: ValidationInputs) -> dict[str, Any]:
    """The validation report of ``source``; a malformed reference file (label map, test
    keyframes) is an ``ExportError`` naming its file and line, not a crash of the command."""
    try:
        return _validate_against_references(source, fmt, references, inputs)
    except ExportError:
        raise
    except ValueError as error:  # AvaInputError and the keyframes reader name file and line
        raise ExportError(f"cannot validate {source.name}: {error}") from error


def _reference(inputs: ValidationInputs, references: dict[str, Any], name: str) -> Path:
    """The file given for ``name``, else the one the export job validated against."""
    chosen = getattr(inputs, name) or references.get(name)
    option = "--" + name.replace("_", "-")
    if not chosen:
        raise ExportError(f"validation needs {option}: the export job's manifest names no {name} file")
    if not Path(chosen).is_file():
        raise ExportError(f"validation needs {chosen} (pass {option})")
    return Path(chosen)


def _validate_against_references(source: Path, fmt: str, references: dict[str, Any],
                                 inputs: ValidationInputs) -> dict[str, Any]:
    from model.eval import submission

    if fmt == "ava_csv":
        labelmap = _reference(inputs, references, "labelmap")
        keyframes = _reference(inputs, references, "test_keyframes")
        report = submission.validate_ava_submission(source, labelmap=labelmap, test_keyframes=keyframes)
    else:
        classes_file = _reference(inputs, references, "classes")
        videos_file = _reference(inputs, references, "test_videos")
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
    """member -> its lineage in the database: the job whose checkpoint it came from (nearest
    upstream job with one) and every job of the lineage with its kind, content hash and config
    sha256. The checkpoint file and its sha256 are the job manifest's (the one the member's
    evaluation read), not repeated here.

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
        members[member] = {
            "checkpoint_job": source.name, "checkpoint_job_config_sha256": config_sha256(source.config),
            "jobs": {j.name: {"kind": j.kind, "content_hash": j.content_hash, "config_sha256": config_sha256(j.config)}
                     for j in lineage}}
    return members


def _problem_summary(report: dict[str, Any]) -> str:
    problems = report.get("problems") or []
    first = "; ".join(f"line {p['line']}: {p['message']}" if p.get("line") else p["message"] for p in problems[:3])
    return f"({len(problems)} problems): {first}"


def _submission_members(job_manifest: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
    """`Submission.members`: per member, the job manifest's entry (predictions, checkpoint,
    configs with sha256) with the database lineage beside it."""
    from_job = job_manifest.get("members") if isinstance(job_manifest.get("members"), dict) else {}
    return {name: {**(from_job.get(name) or {}), **lineage.get(name, {})} for name in sorted({*from_job, *lineage})}


def export_experiment(session: Session, experiment_name: str, out: str | os.PathLike[str], *,
                      exports_root: Path, revalidate: ValidationInputs | None = None,
                      strict: bool = False, overwrite: bool = False) -> ExportResult:
    """Check, copy and record; raises ExportError / ExportPathError / InvalidSubmission
    (StrictRefusal when ``strict`` and the report has warnings).

    The job's manifest says which file was validated and how: a file whose sha256 differs is
    refused before anything is written. ``revalidate`` validates the file again against those
    reference files (same validator); its report then decides, and goes into the exported
    manifest beside the job's. Files are complete or absent: both are written to temp files
    first and moved in place last; the Submission row is committed after the moves (and the
    moves are undone if the commit fails).
    """
    experiment = session.scalars(select(Experiment).where(Experiment.name == experiment_name)).one_or_none()
    if experiment is None:
        raise ExportError(f"no experiment {experiment_name!r} in the database")
    target = resolve_export_path(out, exports_root, overwrite=overwrite)
    job = _export_job(session, experiment)
    fmt = str((job.config.get("export") or {}).get("format") or "")
    if fmt not in SUBMISSION_SUFFIX:
        raise ExportError(f"{job.name}: unknown export format {fmt!r} (known: {', '.join(SUBMISSION_SUFFIX)})")
    job_manifest_path, job_manifest = read_job_manifest(job)
    source = _submission_source(job, job_manifest_path, job_manifest, fmt)
    digest, recorded = sha256_file(source), str(job_manifest["submission_sha256"])
    if digest != recorded:
        raise ExportError(f"{source}: sha256 {digest[:12]}... is not the {recorded[:12]}... "
                          f"that {job_manifest_path} recorded when the job validated it (the file changed since); "
                          "run the export job again")
    validation = dict(job_manifest["validation"])
    references = job_manifest.get("references") if isinstance(job_manifest.get("references"), dict) else {}
    revalidation = _validate(source, fmt, references, revalidate) if revalidate is not None else None
    deciding = revalidation if revalidation is not None else validation
    if not (validation.get("ok") and deciding.get("ok")):
        invalid = validation if not validation.get("ok") else deciding
        session.add(Submission(experiment=experiment, path=str(source), format=fmt, sha256=digest,
                               validation=invalid, ok=False, members={}, manifest_path=str(job_manifest_path)))
        session.commit()
        raise InvalidSubmission(f"{source} is not a valid {fmt} submission {_problem_summary(invalid)}", invalid)
    warnings = [str(w) for w in [*(validation.get("warnings") or []),
                                 *((revalidation or {}).get("warnings") or [])]]
    if strict and warnings:
        raise StrictRefusal(f"{source}: refused with --strict, the validation report has {len(warnings)} "
                            f"warning{'s' if len(warnings) != 1 else ''}: {warnings[0]}", deciding)
    lineage_members = _members(job)
    manifest_path = target.with_name(target.name + ".manifest.json")
    if manifest_path.is_symlink() or (manifest_path.exists() and not overwrite):
        raise ExportPathError(f"{manifest_path} already exists (pass --force to replace it)")
    lineage: dict[str, Any] = {
        "experiment": experiment.name, "task": experiment.task, "scale": experiment.scale,
        "export_job": job.name, "export_config_sha256": config_sha256(job.config),
        "job_manifest": str(job_manifest_path), "source": str(source), "exported_as": target.name,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(), "members": lineage_members}
    manifest = {**job_manifest, "lineage": lineage}
    if revalidation is not None:
        manifest["revalidation"] = revalidation
    with source.open("rb") as handle:
        copied = write_temporary(target, lambda out_handle: shutil.copyfileobj(handle, out_handle))
    manifest_tmp = write_temporary(manifest_path, lambda h: h.write(json.dumps(manifest, indent=1).encode()))
    if sha256_file(copied) != digest:  # the source changed under us
        copied.unlink(missing_ok=True)
        manifest_tmp.unlink(missing_ok=True)
        raise ExportError(f"{source} changed while it was being exported; run export again")
    replace_durably(copied, target)
    replace_durably(manifest_tmp, manifest_path)
    members = _submission_members(job_manifest, lineage_members)
    try:
        session.add(Submission(experiment=experiment, path=str(target), format=fmt, sha256=digest,
                               validation=deciding, ok=True, members=members, manifest_path=str(manifest_path)))
        session.commit()
    except BaseException:
        session.rollback()
        target.unlink(missing_ok=True)
        manifest_path.unlink(missing_ok=True)
        raise
    return ExportResult(submission_path=target, manifest_path=manifest_path, sha256=digest,
                        validation=deciding, members=members, warnings=warnings, format=fmt,
                        references=references)


def held_out_test_metrics(result: ExportResult) -> dict[str, float] | None:
    """The exported submission scored against the test labels its dataset keeps aside (the
    generated data writes them: AVA ``held_out/ava_test_v2.2.csv``, Kinetics
    ``held_out/test.csv``), as the test server scores it: AVA ``{"frame_map"}`` (the official
    metric, no excluded keyframes), Kinetics ``{"top1", "top5", "top1_error", "top5_error",
    "challenge_error"}``; fractions. None where the dataset has no such labels (real data: only
    the server has them). The data root is that of the reference files the export job
    validated against (its manifest's ``references``).
    """
    from model.eval.submission.held_out import score_against_held_out

    return score_against_held_out(result.format, result.submission_path, result.references)


def held_out_test_line(metrics: dict[str, float] | None) -> str | None:
    """The line `export` and `submit --wait` print for :func:`held_out_test_metrics`."""
    if not metrics:
        return None
    source = ("scored against the test labels the dataset keeps aside, as the generated data does; "
              "for real data only the test server has them")
    if "frame_map" in metrics:
        return f"test frame-mAP of the submission: {100 * metrics['frame_map']:.2f} ({source})"
    return (f"test top-1 / top-5 error of the submission: {100 * metrics['top1_error']:.2f} / "
            f"{100 * metrics['top5_error']:.2f}, challenge error {100 * metrics['challenge_error']:.2f} ({source})")
