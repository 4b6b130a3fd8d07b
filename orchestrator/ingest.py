"""Ingest a job's run directory (the job contract's files) into the database.

Jobs never touch the database; they write files (see docs/orchestrator.md). `ingest_job`
turns those files into rows, idempotently, and may be called any number of times while
the job runs and after it ends:

- metrics.jsonl is read incrementally from `Job.metrics_offset`. Only complete lines (ending
  in "\\n") are consumed, so a line being appended is left for the next call. Rows go in
  with ON CONFLICT DO NOTHING on (job, split, name, step), and the new offset is written in
  the same transaction as the rows: a kill -9 mid-ingest leaves either both or neither.
  A corrupt line is skipped, counted on the job with its line number, and logged.
- status.json -> Job.progress_*; result.json -> Job.result (its presence means "done");
- checkpoints/, predictions/, submission/ files (and metrics.jsonl once done) -> Artifact
  rows with sha256 and size; a file is re-hashed only when its size or mtime changed.

Job states are not changed here: the watcher decides them, using the returned report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from orchestrator.db.models import Artifact, Attempt, Job, Metric

__all__ = ["ingest_job", "IngestReport", "METRICS_FILE", "STATUS_FILE", "RESULT_FILE",
           "ARTIFACT_FOLDERS", "sha256_file"]

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
STATUS_FILE = "status.json"
RESULT_FILE = "result.json"
# folder in the run dir -> Artifact.kind
ARTIFACT_FOLDERS = {"checkpoints": "checkpoint", "predictions": "predictions", "submission": "submission"}
MAX_CORRUPT_LINES_KEPT = 20
# Lines per transaction: bounds memory and the size of one INSERT batch.
BATCH_LINES = 20_000
_READ_CHUNK = 8 << 20


@dataclass
class IngestReport:
    """What one `ingest_job` call found and wrote."""

    job_id: int
    lines_read: int = 0
    metrics_inserted: int = 0
    corrupt_line_numbers: list[int] = field(default_factory=list)  # this call's, 1-based
    progress: dict[str, Any] | None = None  # status.json as read
    result: dict[str, Any] | None = None  # result.json as read
    artifacts_added: int = 0
    artifacts_updated: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """result.json exists: the job finished its work."""
        return self.result is not None

    @property
    def duplicates(self) -> int:
        return self.lines_read - len(self.corrupt_line_numbers) - self.metrics_inserted


def ingest_job(session: Session, job: Job) -> IngestReport:
    """Bring the database up to date with `job`'s run directory. Commits as it goes.

    Safe to call concurrently with the job writing its files, and safe to repeat.
    """
    report = IngestReport(job_id=job.id)
    run_dir = Path(job.run_dir)
    _ingest_metrics(session, job, run_dir / METRICS_FILE, report)
    _ingest_status(job, run_dir / STATUS_FILE, report)
    _ingest_result(job, run_dir / RESULT_FILE, report)
    _ingest_artifacts(session, job, run_dir, report)
    session.commit()
    return report


# --- metrics.jsonl -------------------------------------------------------------------------

# PostgreSQL: one statement per batch, the columns passed as arrays and unnested. Far
# faster than a multi-row VALUES list (whose SQL text the driver has to parse) or
# executemany, and RETURNING says exactly which rows were new.
_PG_INSERT_METRICS = text("""
    INSERT INTO metrics (job_id, attempt_id, step, split, name, value, time)
    SELECT :job_id, u.attempt_id, u.step, u.split, u.name, u.value, u.time
    FROM unnest(CAST(:attempt_ids AS integer[]), CAST(:steps AS bigint[]),
                CAST(:splits AS varchar[]), CAST(:names AS varchar[]),
                CAST(:metric_values AS double precision[]), CAST(:times AS double precision[]))
         AS u(attempt_id, step, split, name, value, time)
    ON CONFLICT (job_id, split, name, step) DO NOTHING
    RETURNING id
""")
# SQLite: executemany; sqlite3 sums the changed rows of all executions into rowcount.
_SQLITE_INSERT_METRICS = sqlite.insert(Metric).on_conflict_do_nothing(
    index_elements=["job_id", "split", "name", "step"])


def _insert_metric_rows(session: Session, job_id: int, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping natural-key duplicates; returns how many were new."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        columns = {key: [row[key] for row in rows] for key in ("attempt_id", "step", "split", "name", "value", "time")}
        result = connection.execute(_PG_INSERT_METRICS, {
            "job_id": job_id, "attempt_ids": columns["attempt_id"], "steps": columns["step"],
            "splits": columns["split"], "names": columns["name"], "metric_values": columns["value"],
            "times": columns["time"]})
        return len(result.all())
    if dialect == "sqlite":
        return connection.execute(_SQLITE_INSERT_METRICS, [{**row, "job_id": job_id} for row in rows]).rowcount
    raise NotImplementedError(f"metrics ingest supports sqlite and postgresql, not {dialect}")


def _parse_metric_line(raw: bytes) -> dict[str, Any]:
    """One metrics.jsonl line -> a row dict (without job/attempt ids). ValueError if corrupt."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    step, split, name, value = (record.get(k) for k in ("step", "split", "name", "value"))
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    if not isinstance(split, str) or not split or not isinstance(name, str) or not name:
        raise ValueError("split and name must be non-empty strings")
    if len(split) > 32 or len(name) > 128:
        raise ValueError("split or name too long")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"value must be a number, got {value!r}")
    time = record.get("time")
    if time is not None and (not isinstance(time, (int, float)) or isinstance(time, bool)
                             or not math.isfinite(time)):
        raise ValueError(f"time must be a finite number, got {time!r}")
    attempt = record.get("attempt")
    return {"step": step, "split": split, "name": name, "value": float(value),
            "time": None if time is None else float(time),
            "attempt": attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None}


def _complete_line_batches(path: Path, offset: int):
    """Yield (lines, end_offset) batches of complete lines starting at byte `offset`."""
    with path.open("rb") as handle:
        handle.seek(offset)
        pending = b""
        position = offset
        while True:
            chunk = handle.read(_READ_CHUNK)
            if not chunk:
                return
            data = pending + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                pending = data
                continue
            complete, pending = data[:cut + 1], data[cut + 1:]
            lines = complete.split(b"\n")[:-1]
            for start in range(0, len(lines), BATCH_LINES):
                batch = lines[start:start + BATCH_LINES]
                position += sum(len(line) + 1 for line in batch)
                yield batch, position


def _ingest_metrics(session: Session, job: Job, path: Path, report: IngestReport) -> None:
    if not path.is_file():
        return
    size = path.stat().st_size
    if size < job.metrics_offset:
        # The file was replaced (e.g. a job re-run from scratch): re-read it all; the
        # natural key makes the already ingested rows no-ops.
        report.warnings.append(f"{path}: shorter than the ingested offset {job.metrics_offset}; re-reading")
        log.warning("%s: shorter than the ingested offset %d; re-reading from the start", path,
                    job.metrics_offset)
        job.metrics_offset = 0
        job.metrics_lines = 0
    attempt_ids = dict(session.execute(
        select(Attempt.number, Attempt.id).where(Attempt.job_id == job.id)).all())
    for lines, end_offset in _complete_line_batches(path, job.metrics_offset):
        rows = []
        for index, raw in enumerate(lines):
            line_number = job.metrics_lines + index + 1
            if not raw.strip():
                continue
            try:
                row = _parse_metric_line(raw)
            except ValueError as exc:
                report.corrupt_line_numbers.append(line_number)
                log.warning("%s:%d: corrupt metrics line skipped (%s)", path, line_number, exc)
                job.metrics_corrupt_lines += 1
                if len(job.metrics_corrupt_first) < MAX_CORRUPT_LINES_KEPT:
                    job.metrics_corrupt_first = [*job.metrics_corrupt_first, line_number]
                continue
            row["attempt_id"] = attempt_ids.get(row.pop("attempt"))
            rows.append(row)
        if rows:
            report.metrics_inserted += _insert_metric_rows(session, job.id, rows)
        report.lines_read += len(lines)
        job.metrics_offset = end_offset
        job.metrics_lines += len(lines)
        session.commit()  # the rows and the offset that covers them, together


# --- status.json / result.json -------------------------------------------------------------

def _read_json_object(path: Path, report: IngestReport) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.warnings.append(f"{path}: unreadable ({exc})")
        log.warning("%s: unreadable (%s)", path, exc)
        return None
    if not isinstance(value, dict):
        report.warnings.append(f"{path}: not a JSON object")
        return None
    return value


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ingest_status(job: Job, path: Path, report: IngestReport) -> None:
    status = _read_json_object(path, report)
    if status is None:
        return
    report.progress = status
    job.progress_step = _as_int(status.get("step"))
    job.progress_total = _as_int(status.get("total_steps"))
    message = status.get("message")
    job.progress_message = str(message) if message is not None else None


def _ingest_result(job: Job, path: Path, report: IngestReport) -> None:
    result = _read_json_object(path, report)
    if result is None:
        return
    report.result = result
    if job.result != result:
        job.result = result


# --- artefacts -----------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _artifact_candidates(run_dir: Path, done: bool):
    for folder, kind in ARTIFACT_FOLDERS.items():
        root = run_dir / folder
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):  # does not follow symlinked dirs
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                path = Path(dirpath) / filename
                # Skip in-flight temporaries and the `latest` pointer (a link to a real file).
                if filename.startswith(".") or filename.endswith((".tmp", ".partial")) or path.is_symlink():
                    continue
                yield path, kind
    if done and (run_dir / METRICS_FILE).is_file():
        yield run_dir / METRICS_FILE, "metrics"


def _ingest_artifacts(session: Session, job: Job, run_dir: Path, report: IngestReport) -> None:
    known = {artifact.path: artifact for artifact in job.artifacts}
    for path, kind in _artifact_candidates(run_dir, report.done or job.result is not None):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed between listing and stat (checkpoint rotation)
            continue
        relative = path.relative_to(run_dir).as_posix()
        existing = known.get(relative)
        if existing is not None and existing.bytes == stat.st_size and existing.mtime_ns == stat.st_mtime_ns:
            continue
        try:
            digest = sha256_file(path)
        except FileNotFoundError:
            continue
        if existing is None:
            job.artifacts.append(Artifact(path=relative, kind=kind, sha256=digest,
                                          bytes=stat.st_size, mtime_ns=stat.st_mtime_ns))
            report.artifacts_added += 1
        else:
            existing.sha256, existing.bytes, existing.mtime_ns = digest, stat.st_size, stat.st_mtime_ns
            report.artifacts_updated += 1
