"""Database fixtures: every DB test runs on SQLite (a temp file) and on PostgreSQL.

PostgreSQL: `$ORCH_TEST_PG_URL` (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
names a server and a database to connect to for administration; the test session creates
its own database `orch_test_<random>` there and drops it at the end, and every test gets a
fresh schema inside it (search_path in the URL). If the server is unreachable the
postgres-marked tests FAIL with the URL and the reason: they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_admin_conninfo() -> tuple[str, object]:
    url = make_url(os.environ.get("ORCH_TEST_PG_URL", DEFAULT_PG_URL))
    return url.render_as_string(hide_password=False), url


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session (dropped afterwards)."""
    import psycopg

    raw, url = _pg_admin_conninfo()
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"orch_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL unreachable at {url.render_as_string(hide_password=True)} "
                    f"(set ORCH_TEST_PG_URL or start the server): {exc}".strip(), pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh_postgres_schema(database_url: str) -> Iterator[str]:
    import psycopg

    url = make_url(database_url)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{database_url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request, tmp_path) -> Iterator[str]:
    """URL of an empty database (no schema): SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'orchestrator.sqlite'}"
    else:
        yield from _fresh_postgres_schema(request.getfixturevalue("postgres_database_url"))


@pytest.fixture
def db_url(empty_db_url) -> str:
    """URL of a database migrated to head with the project's Alembic revisions."""
    from orchestrator.db import upgrade

    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def engine(db_url):
    from orchestrator.db import open_database

    engine = open_database(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine):
    from orchestrator.db import make_session_factory

    return make_session_factory(engine)


@pytest.fixture
def runs_root(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def seeded_db(db_url, engine, session_factory, runs_root):
    """Two small experiments (AVA and Kinetics) recorded and ingested with real code.

    Run directories hold real metrics.jsonl/status.json/result.json/checkpoint files;
    everything in the database came through `orchestrator.ingest.ingest_job`.
    """
    from tests.orchestrator.seed_runs import seed_experiments

    return seed_experiments(db_url=db_url, engine=engine, session_factory=session_factory,
                            runs_root=runs_root)
