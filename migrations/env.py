"""Alembic environment for the orchestrator database.

Used by `orchestrator.db.upgrade(url)` (which hands over an open connection in
`config.attributes["connection"]`) and by the plain `alembic` command from the repository
root (URL from `-x url=...`, `$ORCH_DB_URL`, or the default SQLite file).
"""

from __future__ import annotations

from alembic import context

from orchestrator.db.engine import make_engine, resolve_db_url
from orchestrator.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure_and_run(connection) -> None:
    # Batch mode lets later revisions ALTER tables on SQLite (copy-and-move).
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(resolve_db_url(url))
    try:
        with engine.begin() as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or resolve_db_url(
        config.get_main_option("sqlalchemy.url"))
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
