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
  rows with sha256 and size (`orchestrator.artifacts`).

Job states are not changed here: the watcher decides them, using the returned report.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.run_dir import METRICS_FILE, RESULT_FILE, STATUS_FILE
from orchestrator.artifacts import record_artifacts
from orchestrator.db.models import Attempt, Job

__all__ = ["ingest_job", "IngestReport"]

log = logging.getLogger(__name__)

MAX_CORRUPT_LINES_KEPT = 20
# Lines per transaction: bounds memory and the size of one INSERT batch.
BATCH_LINES = 20_000
_READ_CHUNK = 8 << 20
_orjson_loads = orjson.loads
_OrjsonDecodeError = orjson.JSONDecodeError
_isfinite = math.isfinite


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
    report.artifacts_added, report.artifacts_updated = record_artifacts(
        job, run_dir, done=report.done or job.result is not None)
    session.commit()
    return report


# --- metrics.jsonl -------------------------------------------------------------------------

# PostgreSQL: COPY is the fastest way in, but it has no ON CONFLICT. So a batch is first
# COPYed straight into `metrics` inside a savepoint (the common case: new steps only); if
# any row already exists the savepoint is rolled back, and the batch goes through a
# session-local staging table and one INSERT ... SELECT ... ON CONFLICT DO NOTHING, whose
# rowcount is exactly the new rows. Either way the batch is all-or-nothing.
#
# COPY in binary: psycopg packs the typed values in C instead of formatting text, and the
# server reads the doubles as they are instead of parsing their decimal text; measured on
# 200,000 rows, client CPU 0.05 s instead of 0.26 s and 25-35% less wall time.
_PG_COPY_DIRECT = "COPY metrics (job_id, attempt_id, step, split, name, value, time) FROM STDIN (FORMAT BINARY)"
# The binary types of the columns above, in order (``metrics``' and the staging table's).
_PG_COPY_TYPES = ("int4", "int4", "int8", "varchar", "varchar", "float8", "float8")
_PG_STAGING = """
    CREATE TEMP TABLE IF NOT EXISTS metrics_ingest_staging (
        job_id integer, attempt_id integer, step bigint, split varchar(32), name varchar(128),
        value double precision, time double precision) ON COMMIT DELETE ROWS
"""
_PG_MOVE = """
    INSERT INTO metrics (job_id, attempt_id, step, split, name, value, time)
    SELECT job_id, attempt_id, step, split, name, value, time FROM metrics_ingest_staging
    ON CONFLICT (job_id, split, name, step) DO NOTHING
"""


def _insert_metric_rows_postgresql(driver_connection, rows: list[tuple]) -> int:
    from psycopg.errors import UniqueViolation

    with driver_connection.cursor() as cursor:
        # Rows and offset commit together and are re-derivable from the file, so a server
        # crash that forgets the last commits only means re-reading those lines: no need to
        # wait for the WAL flush at every batch.
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SAVEPOINT metrics_copy")
        try:
            _copy_rows(cursor, _PG_COPY_DIRECT, rows)
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT metrics_copy")
        else:
            cursor.execute("RELEASE SAVEPOINT metrics_copy")
            return len(rows)
        cursor.execute(_PG_STAGING)
        cursor.execute("TRUNCATE metrics_ingest_staging")
        _copy_rows(cursor, "COPY metrics_ingest_staging FROM STDIN (FORMAT BINARY)", rows)
        cursor.execute(_PG_MOVE)
        return cursor.rowcount


def _copy_rows(cursor, statement: str, rows: list[tuple]) -> None:
    with cursor.copy(statement) as copy:
        copy.set_types(_PG_COPY_TYPES)
        write_row = copy.write_row
        for row in rows:
            write_row(row)


# SQLite: executemany of plain tuples; sqlite3 sums the changed rows into rowcount.
_SQLITE_INSERT = """
    INSERT INTO metrics (job_id, attempt_id, step, split, name, value, time) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (job_id, split, name, step) DO NOTHING
"""
_MAX_STEP = 2**63 - 1


def _insert_metric_rows(session: Session, rows: list[tuple]) -> int:
    """Insert (job_id, attempt_id, step, split, name, value, time) rows of one job, skipping
    natural-key duplicates, inside the session's transaction; returns how many were new."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return _insert_metric_rows_postgresql(connection.connection.driver_connection, rows)
    if dialect == "sqlite":
        return connection.exec_driver_sql(_SQLITE_INSERT, rows).rowcount
    raise NotImplementedError(f"metrics ingest supports sqlite and postgresql, not {dialect}")


_NUMBER_TYPES = (int, float)  # exact types: JSON true/false (bool) are not numbers here


def _parse_metric_line(raw: bytes, job_id: int, attempt_ids: dict[int, int]) -> tuple:
    """One metrics.jsonl line -> (job id, attempt id, step, split, name, value, time), the row
    as inserted.

    Raises ValueError saying what is wrong. This is the hot path of ingest (about half of its
    CPU before orjson): orjson decodes a line 5x faster than the standard library and,
    unlike it, rejects the non-standard NaN/Infinity literals and invalid UTF-8 by itself;
    `type() is` keeps the checks cheap.
    """
    try:
        record = _orjson_loads(raw)
    except _OrjsonDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if type(record) is not dict:
        raise ValueError("not a JSON object")
    get = record.get
    step, split, name, value, time = get("step"), get("split"), get("name"), get("value"), get("time")
    if type(step) is not int or not 0 <= step <= _MAX_STEP:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    if type(split) is not str or not 0 < len(split) <= 32 or type(name) is not str or not 0 < len(name) <= 128:
        raise ValueError("split and name must be non-empty strings (at most 32 / 128 characters)")
    if type(value) is float:
        if not _isfinite(value):
            # A diverged job reports itself in status.json; SQLite would store NULL here.
            raise ValueError(f"value must be a finite number, got {value!r}")
    elif type(value) is int:
        value = float(value)
    else:
        raise ValueError(f"value must be a finite number, got {value!r}")
    if time is not None:
        if type(time) not in _NUMBER_TYPES or not _isfinite(time):
            raise ValueError(f"time must be a finite number, got {time!r}")
        time = float(time)
    attempt = get("attempt")
    return (job_id, attempt_ids.get(attempt) if type(attempt) is int else None, step, split, name, value, time)


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
                position += sum(map(len, batch)) + len(batch)  # + the newlines
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
    job_id = job.id
    for lines, end_offset in _complete_line_batches(path, job.metrics_offset):
        rows = []
        append = rows.append
        for index, raw in enumerate(lines):
            try:
                append(_parse_metric_line(raw, job_id, attempt_ids))
            except ValueError as exc:
                if not raw.strip():
                    continue  # blank lines are allowed
                line_number = job.metrics_lines + index + 1
                report.corrupt_line_numbers.append(line_number)
                log.warning("%s:%d: corrupt metrics line skipped (%s)", path, line_number, exc)
                job.metrics_corrupt_lines += 1
                if len(job.metrics_corrupt_first) < MAX_CORRUPT_LINES_KEPT:
                    job.metrics_corrupt_first = [*job.metrics_corrupt_first, line_number]
                continue
        if rows:
            report.metrics_inserted += _insert_metric_rows(session, rows)
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
