"""Schema revisions: migrate from empty, refuse un-migrated / older / newer databases, and
keep the models and the Alembic revisions in agreement."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from orchestrator.db import (SchemaNotMigrated, SchemaTooNew, current_revision, head_revision,
                             make_engine, open_database, upgrade)
from orchestrator.db.errors import DatabaseUnreachable
from orchestrator.db.schema import downgrade, migrations_dir


def test_upgrade_from_empty_reaches_head_and_is_idempotent(empty_db_url):
    upgrade(empty_db_url)
    upgrade(empty_db_url)  # a second run is a no-op, not an error
    engine = open_database(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_unmigrated_database_is_refused_with_the_fix(empty_db_url):
    make_engine(empty_db_url, check_connection=True).dispose()
    with pytest.raises(SchemaNotMigrated, match="python -m orchestrator db upgrade"):
        open_database(empty_db_url)


def test_database_from_newer_code_is_refused(db_url):
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with pytest.raises(SchemaTooNew, match="newer than this code"):
        open_database(db_url)


def test_older_database_is_refused_and_upgrade_fixes_it(db_url):
    downgrade(db_url, "base")
    with pytest.raises(SchemaNotMigrated):
        open_database(db_url)
    upgrade(db_url)
    open_database(db_url).dispose()


def test_models_and_migrations_agree(db_url):
    """Autogenerate against a migrated database must find nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from orchestrator.db import Base

    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_unreachable_postgres_is_a_clear_error():
    with pytest.raises(DatabaseUnreachable, match="cannot connect to postgresql"):
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_sqlite_database_uses_wal_and_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'orchestrator.sqlite'}"
    upgrade(url)  # also creates the missing folder
    engine = open_database(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_migrations_are_found_from_the_installed_package():
    assert (migrations_dir() / "env.py").is_file()
    assert (migrations_dir() / "versions").is_dir()


def test_revision_graph_matches_alembic():
    """The light revision reader used at start-up agrees with Alembic's own."""
    from alembic.script import ScriptDirectory

    from orchestrator.db.schema import _revision_graph, alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    assert head_revision() == script.get_current_head()
    assert set(_revision_graph()) == {revision.revision for revision in script.walk_revisions()}


def test_checking_the_schema_does_not_import_alembic(db_url):
    import subprocess
    import sys

    code = ("import sys\nfrom orchestrator.db import open_database\n"
            f"open_database({db_url!r}).dispose()\nprint('alembic' in sys.modules)")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "False"


def test_upgrade_to_an_unknown_revision_is_refused_before_touching_the_database(tmp_path):
    from orchestrator.db import SchemaNotMigrated as Refused

    missing = tmp_path / "never.sqlite"
    with pytest.raises(Refused, match="'nope': no such revision"):
        upgrade(f"sqlite:///{missing}", "nope")
    assert not missing.exists()


def test_revision_0003_adds_the_estimate_and_usage_columns_to_existing_rows(db_url):
    """A database recorded before the cost estimate keeps its rows: NULL estimate and usage."""
    downgrade(db_url, "0002")
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO experiments (id, name, task, scale, config, created_at, updated_at) "
                                "VALUES (1, 'old', 'ava', 'demo', '{}', '2026-12-01', '2026-12-01')"))
        connection.execute(text(
            "INSERT INTO jobs (id, experiment_id, name, kind, config, content_hash, state, run_dir, resources, "
            "metrics_offset, metrics_lines, metrics_corrupt_lines, metrics_corrupt_first, created_at, updated_at) "
            "VALUES (1, 1, 'pretrain.k600.sf8x8', 'pretrain', '{}', 'h', 'COMPLETED', '/r', '{}', 0, 0, 0, '[]', "
            "'2026-12-01', '2026-12-01')"))
        connection.execute(text("INSERT INTO attempts (id, job_id, number, executor, state) "
                                "VALUES (1, 1, 1, 'slurm', 'COMPLETED')"))
    engine.dispose()
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            assert connection.execute(text("SELECT estimate FROM jobs")).all() == [(None,)]
            assert connection.execute(text("SELECT gpu_seconds, cpu_seconds FROM attempts")).all() == [(None, None)]
            connection.execute(text("UPDATE attempts SET gpu_seconds = 7200, cpu_seconds = 36000"))
    finally:
        engine.dispose()
    downgrade(db_url, "0002")  # and back: the columns go, the rows stay
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM attempts")).scalar() == 1
    finally:
        engine.dispose()
