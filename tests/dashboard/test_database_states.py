"""The app on a database that is empty, not migrated, missing or read-only; on SQLite and
PostgreSQL (the `empty_db_url` fixture runs each test on both)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from streamlit.testing.v1 import AppTest

from dashboard.readonly import DatabaseState, database_status, open_readonly_engine
from orchestrator.db import upgrade

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def run_app(monkeypatch, url: str, runs_root: Path) -> AppTest:
    monkeypatch.setenv("ORCH_DB_URL", url)
    monkeypatch.setenv("ORCH_RUNS_ROOT", str(runs_root))
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def page_text(app: AppTest) -> str:
    return " ".join(e.value for kind in ("info", "warning", "error", "code", "caption")
                    for e in getattr(app, kind))


def test_empty_database_shows_how_to_submit_an_experiment(empty_db_url, tmp_path, monkeypatch):
    upgrade(empty_db_url)
    app = run_app(monkeypatch, empty_db_url, tmp_path)
    assert "No experiments yet" in page_text(app)
    assert "python -m orchestrator submit ensemble_ava" in [c.value for c in app.code]
    assert not app.table


def test_database_without_the_schema_shows_the_upgrade_command(empty_db_url, tmp_path, monkeypatch):
    if empty_db_url.startswith("sqlite"):
        Path(empty_db_url.removeprefix("sqlite:///")).touch()  # a file with no tables
    app = run_app(monkeypatch, empty_db_url, tmp_path)
    assert "python -m orchestrator db upgrade" in [c.value for c in app.code]
    assert database_status(open_readonly_engine(empty_db_url)).state is DatabaseState.NOT_MIGRATED


def test_database_migrated_down_shows_the_upgrade_command(empty_db_url, tmp_path, monkeypatch):
    """A database left below head (downgraded, or a migration not yet run)."""
    from orchestrator.db.schema import downgrade

    upgrade(empty_db_url)
    downgrade(empty_db_url, "base")
    assert database_status(open_readonly_engine(empty_db_url)).state is DatabaseState.NOT_MIGRATED
    app = run_app(monkeypatch, empty_db_url, tmp_path)
    assert "python -m orchestrator db upgrade" in [c.value for c in app.code]


def test_database_from_newer_code_says_so(empty_db_url, tmp_path, monkeypatch):
    upgrade(empty_db_url)
    from orchestrator.db import make_engine

    engine = make_engine(empty_db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    assert database_status(open_readonly_engine(empty_db_url)).state is DatabaseState.TOO_NEW
    app = run_app(monkeypatch, empty_db_url, tmp_path)
    assert "newer orchestrator" in page_text(app)


def test_missing_sqlite_file_is_reported_and_not_created(tmp_path, monkeypatch):
    path = tmp_path / "runs" / "orchestrator.sqlite"
    path.parent.mkdir()
    app = run_app(monkeypatch, f"sqlite:///{path}", tmp_path / "runs")
    assert "No orchestrator database could be opened" in page_text(app)
    assert not path.exists()


def test_the_dashboard_engine_refuses_writes(empty_db_url):
    upgrade(empty_db_url)
    engine = open_readonly_engine(empty_db_url)
    try:
        with pytest.raises(DBAPIError, match="(?i)read.?only"):
            with engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO experiments (name, task, scale, config, created_at, updated_at) "
                    "VALUES ('x', 'ava', 'demo', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM experiments")).scalar_one() == 0
    finally:
        engine.dispose()
