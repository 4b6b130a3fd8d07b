"""Drill: a database made by the first revision, with data in it, upgraded by Alembic to head
(SQLite and PostgreSQL) -- nothing lost or changed, the app accepts it, ingest goes on where
it stopped, and the downgrade path gives the same data back.

The rows are written with plain SQL in revision 0001's shape (the models describe head), the
way a team's database from an older release would hold them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.db import (Job, Metric, current_revision, head_revision, make_engine, make_session_factory,
                             open_database, session_scope, upgrade)
from orchestrator.db.schema import downgrade
from orchestrator.ingest import ingest_job

FIRST_REVISION = "0001"
NOW = "2026-11-01 12:00:00"

# (attempt number, step, split, name, value) per job: training curves and val metrics,
# including an AP name, as jobs write them.
TRAIN_STEPS = 40


def _metric_rows(job_id: int, attempt_id: int) -> list[dict]:
    rows = [{"job_id": job_id, "attempt_id": attempt_id, "step": step, "split": "train", "name": "loss",
             "value": 1.0 / (step + 1) + job_id, "time": 1.7e9 + step} for step in range(TRAIN_STEPS)]
    rows += [{"job_id": job_id, "attempt_id": attempt_id, "step": step, "split": "val", "name": name,
              "value": (job_id * 0.01 + step * 1e-4 + index * 1e-3), "time": None}
             for step in (20, TRAIN_STEPS) for index, name in enumerate(("frame_map", "ap/12"))]
    return rows


def _write_first_revision_data(url: str, runs_root: Path) -> dict[str, list]:
    """Fill every table of revision 0001; returns what was written, per table."""
    engine = make_engine(url)
    written: dict[str, list] = {}
    try:
        with engine.begin() as connection:
            def put(table: str, rows: list[dict]) -> None:
                columns = list(rows[0])
                connection.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                        f"({', '.join(':' + c for c in columns)})"), rows)
                written[table] = rows

            put("experiments", [{"id": 1, "name": "ensemble_ava", "task": "ava", "scale": "demo", "config": "{}",
                                 "runs_root": str(runs_root), "created_at": NOW, "updated_at": NOW}])
            put("jobs", [{"id": job_id, "experiment_id": 1, "name": f"member{job_id}.finetune", "kind": "finetune_ava",
                          "config": json.dumps({"job": {"name": f"member{job_id}"}}), "content_hash": f"{job_id:064x}",
                          "state": "COMPLETED" if job_id == 1 else "RUNNING",
                          "run_dir": str(runs_root / f"job{job_id}"), "resources": "{}",
                          "metrics_offset": 0, "metrics_lines": 0, "metrics_corrupt_lines": 0,
                          "metrics_corrupt_first": "[]", "created_at": NOW, "updated_at": NOW}
                         for job_id in (1, 2)])
            put("job_dependencies", [{"job_id": 2, "depends_on_id": 1}])
            put("attempts", [{"id": job_id, "job_id": job_id, "number": 1, "executor": "slurm",
                              "scheduler_job_id": str(100 + job_id), "state": "RUNNING", "submitted_at": NOW}
                             for job_id in (1, 2)])
            put("attempt_transitions", [{"id": 1, "attempt_id": 1, "state": "RUNNING", "at": NOW, "reason": None}])
            put("metrics", [{"id": index + 1, **row} for index, row in
                            enumerate(_metric_rows(1, 1) + _metric_rows(2, 2))])
            put("artifacts", [{"id": 1, "job_id": 1, "path": "checkpoints/step_40.pt", "kind": "checkpoint",
                               "sha256": "ab" * 32, "bytes": 1234, "mtime_ns": 5, "created_at": NOW}])
            put("submissions", [{"id": 1, "experiment_id": 1, "path": "exports/ensemble_ava_test.csv",
                                 "format": "ava_csv", "sha256": "cd" * 32, "validation": "{}", "ok": True,
                                 "members": "{}", "manifest_path": None, "created_at": NOW}])
    finally:
        engine.dispose()
    return written


def _read(url: str, table: str, columns: list[str]) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            order = ", ".join(columns)
            return [tuple(row) for row in connection.execute(text(f"SELECT {order} FROM {table} ORDER BY {order}"))]
    finally:
        engine.dispose()


def _normalise(value):
    return value.strip() if isinstance(value, str) else value


def _expected(rows: list[dict], columns: list[str]) -> list[tuple]:
    return sorted(tuple(row[c] for c in columns) for row in rows)


@pytest.fixture
def first_revision_db(empty_db_url, tmp_path) -> tuple[str, dict[str, list]]:
    upgrade(empty_db_url, FIRST_REVISION)
    written = _write_first_revision_data(empty_db_url, tmp_path / "runs")
    return empty_db_url, written


def _assert_data_unchanged(url: str, written: dict[str, list]) -> None:
    metric_columns = ["job_id", "attempt_id", "step", "split", "name", "value", "time"]
    assert _read(url, "metrics", metric_columns) == _expected(written["metrics"], metric_columns)
    for table, columns in {
        "experiments": ["id", "name", "task", "scale", "runs_root"],
        "jobs": ["id", "experiment_id", "name", "kind", "content_hash", "state", "run_dir"],
        "job_dependencies": ["job_id", "depends_on_id"],
        "attempts": ["id", "job_id", "number", "executor", "scheduler_job_id", "state"],
        "attempt_transitions": ["id", "attempt_id", "state"],
        "artifacts": ["id", "job_id", "path", "kind", "sha256", "bytes"],
        "submissions": ["id", "experiment_id", "path", "format", "sha256"],
    }.items():
        assert _read(url, table, columns) == _expected(written[table], columns), table


def test_first_revision_with_data_upgrades_to_head_without_losing_a_row(first_revision_db):
    url, written = first_revision_db
    upgrade(url)
    engine = open_database(url)  # the app accepts it: schema at head
    try:
        assert current_revision(engine) == head_revision() != FIRST_REVISION
    finally:
        engine.dispose()
    _assert_data_unchanged(url, written)


def test_after_the_upgrade_ingest_goes_on_without_duplicates(first_revision_db, tmp_path):
    """Job 2's metrics.jsonl holds the 44 rows already in the database plus 10 new steps:
    only the new ones are inserted, and the natural key still rejects duplicates."""
    url, written = first_revision_db
    upgrade(url)
    run_dir = tmp_path / "runs" / "job2"
    run_dir.mkdir(parents=True)
    old_rows = [row for row in written["metrics"] if row["job_id"] == 2]
    new_rows = [{"step": step, "split": "train", "name": "loss", "value": 0.5, "time": 1.8e9}
                for step in range(TRAIN_STEPS, TRAIN_STEPS + 10)]
    lines = [{"step": r["step"], "split": r["split"], "name": r["name"], "value": r["value"], "time": r["time"],
              "attempt": 1} for r in old_rows] + [{**r, "attempt": 1} for r in new_rows]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    engine = open_database(url)
    factory = make_session_factory(engine)
    try:
        with session_scope(factory) as session:
            report = ingest_job(session, session.get(Job, 2))
        assert (report.lines_read, report.metrics_inserted, report.duplicates) == (len(lines), 10, len(old_rows))
        with session_scope(factory) as session:
            stored = session.query(Metric).filter(Metric.job_id == 2).count()
        assert stored == len(old_rows) + 10
    finally:
        engine.dispose()


def test_downgrade_to_the_first_revision_gives_the_same_data_back(first_revision_db):
    url, written = first_revision_db
    upgrade(url)
    downgrade(url, FIRST_REVISION)
    _assert_data_unchanged(url, written)
    # revision 0001's surrogate ids are back and unique, and its unique key still holds
    ids = [row[0] for row in _read(url, "metrics", ["id"])]
    assert len(ids) == len(set(ids)) == len(written["metrics"]) and None not in ids
    engine = make_engine(url)
    try:
        with pytest.raises(Exception, match="(?i)unique"):
            with engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO metrics (job_id, attempt_id, step, split, name, value) "
                    "VALUES (1, 1, 0, 'train', 'loss', 9.0)"))
    finally:
        engine.dispose()
    upgrade(url)  # and up again
    _assert_data_unchanged(url, written)
