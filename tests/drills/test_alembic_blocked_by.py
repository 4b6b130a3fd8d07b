"""Drill: revision 0004 turns the watcher's "blocked: dependency <name> is <state>" messages
of an existing database into `jobs.blocked_by_job_id` (SQLite and PostgreSQL), and the
downgrade takes the column away and leaves the rows."""

from __future__ import annotations

from sqlalchemy import text

from orchestrator.db import make_engine, upgrade
from orchestrator.db.schema import downgrade

BEFORE = "0003"
NOW = "2026-12-01 12:00:00"

# name -> (state, error, dependencies): what a 0003 database holds after a failure.
JOBS = {
    "pretrain.k600_a": ("COMPLETED", None, []),
    "pretrain.k600.a": ("FAILED", "nan_loss: loss is NaN at step 7", []),
    # Depends on both names above: LIKE would let "k600_a" match "k600.a"; the text compare must not.
    "finetune_ava.train.a": ("CANCELLED", "blocked: dependency pretrain.k600.a is FAILED",
                             ["pretrain.k600_a", "pretrain.k600.a"]),
    "evaluate.val.a": ("CANCELLED", "blocked: dependency finetune_ava.train.a is CANCELLED",
                       ["finetune_ava.train.a"]),
    "evaluate.test.a": ("CANCELLED", "cancelled by the user", ["finetune_ava.train.a"]),
    "ensemble.val": ("PLANNED", None, ["evaluate.val.a"]),
}


def _write_0003_rows(url: str) -> dict[str, int]:
    ids = {name: index + 1 for index, name in enumerate(JOBS)}
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO experiments (id, name, task, scale, config, created_at, updated_at) "
                                    "VALUES (1, 'ensemble_ava', 'ava', 'demo', '{}', :now, :now)"), {"now": NOW})
            for name, (state, error, _) in JOBS.items():
                connection.execute(text(
                    "INSERT INTO jobs (id, experiment_id, name, kind, config, content_hash, state, error, run_dir, "
                    "resources, metrics_offset, metrics_lines, metrics_corrupt_lines, metrics_corrupt_first, "
                    "created_at, updated_at) VALUES (:id, 1, :name, 'evaluate', '{}', :hash, :state, :error, '/r', "
                    "'{}', 0, 0, 0, '[]', :now, :now)"),
                    {"id": ids[name], "name": name, "hash": f"{ids[name]:064x}", "state": state, "error": error,
                     "now": NOW})
            for name, (_, _, dependencies) in JOBS.items():
                for dependency in dependencies:
                    connection.execute(text("INSERT INTO job_dependencies (job_id, depends_on_id) VALUES (:j, :d)"),
                                       {"j": ids[name], "d": ids[dependency]})
    finally:
        engine.dispose()
    return ids


def _blocked_by(url: str) -> dict[str, int | None]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(text("SELECT name, blocked_by_job_id FROM jobs")).all())
    finally:
        engine.dispose()


def test_revision_0004_fills_blocked_by_from_the_blocked_messages(empty_db_url):
    upgrade(empty_db_url, BEFORE)
    ids = _write_0003_rows(empty_db_url)
    upgrade(empty_db_url)
    assert _blocked_by(empty_db_url) == {
        "pretrain.k600_a": None, "pretrain.k600.a": None,
        "finetune_ava.train.a": ids["pretrain.k600.a"],
        "evaluate.val.a": ids["finetune_ava.train.a"],
        "evaluate.test.a": None,  # cancelled by the user: nothing blocked it
        "ensemble.val": None,
    }
    downgrade(empty_db_url, BEFORE)
    engine = make_engine(empty_db_url)
    try:
        with engine.connect() as connection:
            columns = list(connection.execute(text("SELECT * FROM jobs LIMIT 1")).keys())
            errors = dict(connection.execute(text("SELECT name, error FROM jobs")).all())
    finally:
        engine.dispose()
    assert "blocked_by_job_id" not in columns
    assert errors == {name: error for name, (_, error, _) in JOBS.items()}  # the messages stay
