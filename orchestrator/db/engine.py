"""Engine factory and session helper.

Where the database is: an explicit URL, else `$ORCH_DB_URL`, else the SQLite file
`<runs_root>/orchestrator.sqlite` (runs_root: explicit, else `$ORCH_RUNS_ROOT`, else `./runs`).
SQLite connections get WAL (readers such as the dashboard don't block the watcher), foreign
keys on (SQLite ignores them otherwise) and a busy timeout.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db.errors import DatabaseUnreachable

__all__ = ["resolve_runs_root", "resolve_db_url", "make_engine", "make_session_factory",
           "session_scope", "redact_url", "SQLITE_FILENAME"]

SQLITE_FILENAME = "orchestrator.sqlite"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def resolve_runs_root(runs_root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding every experiment's run directories (and the SQLite file)."""
    return Path(runs_root or os.environ.get("ORCH_RUNS_ROOT") or "runs").absolute()


def resolve_db_url(url: str | None = None, *, runs_root: str | os.PathLike[str] | None = None) -> str:
    """Explicit URL > $ORCH_DB_URL > SQLite file under the runs root."""
    if url:
        return url
    if os.environ.get("ORCH_DB_URL"):
        return os.environ["ORCH_DB_URL"]
    return f"sqlite:///{resolve_runs_root(runs_root) / SQLITE_FILENAME}"


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, check_connection: bool = False, **engine_kwargs) -> Engine:
    """An Engine for `url`; SQLite files get their folder created and the pragmas above.

    With `check_connection` a round trip is made now so that an unreachable database fails
    here with `DatabaseUnreachable` rather than deep inside the first query.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnreachable(f"invalid database URL {url!r}: {exc}", url=url,
                                  fix="set ORCH_DB_URL or --db-url to a SQLAlchemy URL") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **engine_kwargs)
        event.listen(engine, "connect", _configure_sqlite)
    else:
        engine_kwargs.setdefault("pool_pre_ping", True)
        if parsed.get_backend_name() == "postgresql":
            engine_kwargs.setdefault("connect_args", {"connect_timeout": 5})
        engine = create_engine(parsed, **engine_kwargs)
    if check_connection:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError as exc:
            engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseUnreachable(f"cannot connect to {redact_url(url)}: {reason}", url=url,
                                      fix="check the server and ORCH_DB_URL / --db-url") from exc
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (the CLI prints them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(factory: sessionmaker[Session] | Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception, always close."""
    if isinstance(factory, Engine):
        factory = make_session_factory(factory)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
