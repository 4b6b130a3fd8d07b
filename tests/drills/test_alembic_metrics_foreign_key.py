"""Drill: revision 0005 takes the foreign key from `metrics.job_id` to `jobs` and puts a
trigger in its place (SQLite and PostgreSQL): the rows stay, a deleted job's metrics go with
it, and the downgrade gives the key back."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from orchestrator.db import make_engine, upgrade
from orchestrator.db.schema import downgrade

BEFORE = "0004"
NOW = "2026-12-01 12:00:00"


def _write_two_jobs_with_metrics(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO experiments (id, name, task, scale, config, created_at, updated_at) "
                                    "VALUES (1, 'ensemble_ava', 'ava', 'demo', '{}', :now, :now)"), {"now": NOW})
            for job_id in (1, 2):
                connection.execute(text(
                    "INSERT INTO jobs (id, experiment_id, name, kind, config, content_hash, state, run_dir, "
                    "resources, metrics_offset, metrics_lines, metrics_corrupt_lines, metrics_corrupt_first, "
                    "created_at, updated_at) VALUES (:id, 1, :name, 'pretrain', '{}', :hash, 'COMPLETED', '/r', "
                    "'{}', 0, 0, 0, '[]', :now, :now)"),
                    {"id": job_id, "name": f"pretrain.{job_id}", "hash": f"{job_id:064x}", "now": NOW})
                for step, split, name in ((1, "train", "loss"), (2, "train", "loss"), (2, "val", "top1")):
                    connection.execute(text("INSERT INTO metrics (job_id, step, split, name, value) "
                                            "VALUES (:job, :step, :split, :name, 0.5)"),
                                       {"job": job_id, "step": step, "split": split, "name": name})
    finally:
        engine.dispose()


def _metric_jobs(url: str) -> list[int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT job_id FROM metrics ORDER BY job_id, step"))]
    finally:
        engine.dispose()


def _metrics_foreign_keys(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        return [key["name"] for key in inspect(engine).get_foreign_keys("metrics")]
    finally:
        engine.dispose()


def _execute(url: str, statement: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def test_revision_0005_keeps_the_rows_and_deletes_a_deleted_jobs_metrics(empty_db_url):
    upgrade(empty_db_url, BEFORE)
    _write_two_jobs_with_metrics(empty_db_url)
    assert _metrics_foreign_keys(empty_db_url) == ["fk_metrics_job_id_jobs"]
    upgrade(empty_db_url)
    assert _metrics_foreign_keys(empty_db_url) == []
    assert _metric_jobs(empty_db_url) == [1, 1, 1, 2, 2, 2]
    engine = make_engine(empty_db_url)
    try:
        indexes = {index["name"] for index in inspect(engine).get_indexes("metrics")}
    finally:
        engine.dispose()
    assert "ix_metrics_val_name_job_step" in indexes  # the SQLite rebuild indexes the val rows again
    _execute(empty_db_url, "DELETE FROM jobs WHERE id = 1")
    assert _metric_jobs(empty_db_url) == [2, 2, 2]
    _execute(empty_db_url, "DELETE FROM experiments")  # jobs go by their cascade, metrics by the trigger
    assert _metric_jobs(empty_db_url) == []


def test_revision_0005_downgrade_gives_the_foreign_key_back(empty_db_url):
    upgrade(empty_db_url)
    _write_two_jobs_with_metrics(empty_db_url)
    downgrade(empty_db_url, BEFORE)
    assert _metrics_foreign_keys(empty_db_url) == ["fk_metrics_job_id_jobs"]
    assert _metric_jobs(empty_db_url) == [1, 1, 1, 2, 2, 2]
    with pytest.raises(IntegrityError):
        _execute(empty_db_url, "INSERT INTO metrics (job_id, step, split, name, value) VALUES (99, 1, 'train', 'loss', 1)")
    _execute(empty_db_url, "DELETE FROM jobs WHERE id = 1")  # the key's own cascade again, no trigger
    assert _metric_jobs(empty_db_url) == [2, 2, 2]
