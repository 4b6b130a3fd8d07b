"""The orchestrator database: models, engine, sessions, schema versions, leases.

Typical use::

    from orchestrator.db import open_database, make_session_factory, session_scope
    engine = open_database()              # refuses an un-migrated or newer database
    with session_scope(make_session_factory(engine)) as session:
        ...
"""

from __future__ import annotations

from sqlalchemy import Engine

from orchestrator.db.engine import (make_engine, make_session_factory, redact_url, resolve_db_url,
                                    resolve_runs_root, session_scope)
from orchestrator.db.errors import (DatabaseError, DatabaseUnreachable, MigrationsNotFound,
                                    SchemaNotMigrated, SchemaTooNew)
from orchestrator.db.models import (INDEXED_SPLIT, VAL_METRICS_INDEX, Artifact, Attempt, AttemptTransition, Base,
                                    Experiment, Job, JobDependency, Metric, Submission, WatcherLease)
from orchestrator.db.schema import check_schema, current_revision, head_revision, upgrade
from orchestrator.db.types import utcnow

__all__ = [
    "open_database", "make_engine", "make_session_factory", "session_scope", "resolve_db_url",
    "resolve_runs_root", "redact_url", "upgrade", "check_schema", "current_revision",
    "head_revision", "utcnow",
    "DatabaseError", "DatabaseUnreachable", "SchemaNotMigrated", "SchemaTooNew",
    "MigrationsNotFound",
    "Base",
    "Experiment", "Job", "JobDependency", "Attempt", "AttemptTransition", "Metric", "Artifact",
    "Submission", "WatcherLease", "INDEXED_SPLIT", "VAL_METRICS_INDEX",
]


def open_database(url: str | None = None, *, runs_root=None, check: bool = True) -> Engine:
    """Connect to the orchestrator database and (by default) verify its schema revision.

    Raises `DatabaseUnreachable`, `SchemaNotMigrated` or `SchemaTooNew`; each names the fix.
    """
    url = resolve_db_url(url, runs_root=runs_root)
    _refuse_missing_sqlite_file(url)
    engine = make_engine(url, check_connection=True)
    if check:
        try:
            check_schema(engine)
        except BaseException:
            engine.dispose()
            raise
    return engine


def _refuse_missing_sqlite_file(url: str) -> None:
    """Opening a missing SQLite file would create an empty one: say what to run instead."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:" \
            and not parsed.database.startswith("file:"):
        from pathlib import Path

        if not Path(parsed.database).exists():
            raise SchemaNotMigrated(f"no orchestrator database at {parsed.database}", url=url,
                                    fix="python -m orchestrator db upgrade (or submit an experiment)")
