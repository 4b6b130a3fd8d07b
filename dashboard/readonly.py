"""A read-only connection to the orchestrator database, and what state that database is in.

The dashboard is a viewer: the orchestrator is the single writer (docs/architecture.md). So the
engine here cannot write even if a page had a bug: SQLite files are opened with the `mode=ro`
URI flag plus `PRAGMA query_only`, PostgreSQL sessions with `default_transaction_read_only`.
Opening never creates a missing SQLite file (a plain `sqlite3.connect` would).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from orchestrator.db import (Experiment, SchemaNotMigrated, SchemaTooNew, check_schema,
                             redact_url)

__all__ = ["open_readonly_engine", "DatabaseState", "DatabaseStatus", "database_status",
           "UPGRADE_COMMAND", "SUBMIT_COMMAND"]

UPGRADE_COMMAND = "python -m orchestrator db upgrade"
SUBMIT_COMMAND = "python -m orchestrator submit ensemble_ava"
_SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_readonly_url(url: URL) -> URL:
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return url  # already a URI (or in-memory, only ever used by throw-away tests)
    path = Path(database).absolute()
    return url.set(database=f"file:{path.as_posix()}", query={**url.query, "mode": "ro", "uri": "true"})


def _sqlite_query_only(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def open_readonly_engine(url: str) -> Engine:
    """An Engine that refuses writes. Raises `ValueError` for a URL SQLAlchemy cannot parse."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"invalid database URL {url!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(_sqlite_readonly_url(parsed))
        event.listen(engine, "connect", _sqlite_query_only)
        return engine
    kwargs: dict = {"pool_pre_ping": True}
    if backend == "postgresql":
        # Appended to any `options` the URL already carries (e.g. a search_path).
        options = " ".join(filter(None, [str(parsed.query.get("options", "")),
                                         "-c default_transaction_read_only=on"]))
        parsed = parsed.update_query_dict({"options": options})
        kwargs["connect_args"] = {"connect_timeout": 5}
    return create_engine(parsed, **kwargs)


class DatabaseState(str, enum.Enum):
    READY = "ready"              # at head, at least one experiment
    EMPTY = "empty"              # at head, no experiment yet
    NOT_MIGRATED = "not_migrated"  # no schema, or an older revision: run the upgrade
    TOO_NEW = "too_new"          # migrated by newer code than this dashboard
    UNREACHABLE = "unreachable"  # server down, missing file, bad URL


@dataclass(frozen=True)
class DatabaseStatus:
    state: DatabaseState
    where: str      # the URL with any password hidden
    detail: str = ""


def database_status(engine: Engine, where: str | None = None) -> DatabaseStatus:
    """Which page the app should show: the pages themselves only run on READY.

    `where` names the database in messages (default: the engine's URL, password hidden).
    """
    where = redact_url(where or engine.url.render_as_string(hide_password=False))
    try:
        check_schema(engine)
        with engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(Experiment)).scalar_one()
    except SchemaNotMigrated as exc:
        return DatabaseStatus(DatabaseState.NOT_MIGRATED, where, str(exc))
    except SchemaTooNew as exc:
        return DatabaseStatus(DatabaseState.TOO_NEW, where, str(exc))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        return DatabaseStatus(DatabaseState.UNREACHABLE, where, reason)
    return DatabaseStatus(DatabaseState.READY if count else DatabaseState.EMPTY, where)

