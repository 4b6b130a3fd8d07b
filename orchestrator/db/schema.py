"""Schema versions: migrate a database, and refuse to run on a wrong one.

Alembic is configured in code (no alembic.ini needed): `script_location` is the repository's
`migrations/` folder, found next to the `orchestrator` package (a source checkout or an
editable install, `pip install -e .`), or wherever `$ORCH_MIGRATIONS_DIR` points.
The plain `alembic` command also works from the repository root with `alembic.ini`.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from orchestrator.db.engine import make_engine, redact_url
from orchestrator.db.errors import (UPGRADE_COMMAND, MigrationsNotFound, SchemaNotMigrated,
                                    SchemaTooNew)

__all__ = ["migrations_dir", "alembic_config", "upgrade", "downgrade", "current_revision",
           "head_revision", "check_schema", "SchemaStatus", "schema_status"]


def migrations_dir() -> Path:
    """The Alembic script directory (see the module docstring for the search order)."""
    override = os.environ.get("ORCH_MIGRATIONS_DIR")
    candidate = Path(override) if override else Path(__file__).resolve().parents[2] / "migrations"
    if not (candidate / "env.py").is_file():
        raise MigrationsNotFound(
            f"Alembic migrations not found at {candidate}",
            fix="install from a source checkout (pip install -e .) or set ORCH_MIGRATIONS_DIR")
    return candidate


def alembic_config(url: str | None = None):
    """An `alembic.config.Config` pointing at `migrations/`, with the URL if given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run_with_connection(url: str, action) -> None:
    engine = make_engine(url, check_connection=True)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            action(config)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (idempotent at head).

    A database stamped by newer code is refused with ``SchemaTooNew`` before Alembic runs
    (Alembic stops with a traceback on a revision it cannot locate), and so is a ``revision``
    these migrations do not have; the database is left as it was.
    """
    from alembic import command
    from alembic.util import CommandError

    known = _revision_graph()
    if revision not in {"head", "heads"} and revision not in known and not (
            revision.startswith("+") and revision[1:].isdigit()):
        # Before connecting: a SQLite file is created by the first connection.
        raise SchemaNotMigrated(f"cannot upgrade {redact_url(url)} to {revision!r}: no such revision "
                                f"(known: {', '.join(sorted(known))})",
                                url=redact_url(url), fix="python -m orchestrator db upgrade (to head)")
    engine = make_engine(url, check_connection=True)
    try:
        _refuse_newer(schema_status(engine), redact_url(url))
    finally:
        engine.dispose()
    try:
        _run_with_connection(url, lambda config: command.upgrade(config, revision))
    except CommandError as error:
        raise SchemaNotMigrated(f"cannot upgrade {redact_url(url)} to {revision!r}: {error}",
                                url=redact_url(url), fix="python -m orchestrator db upgrade (to head)") from error


def _refuse_newer(status: "SchemaStatus", where: str) -> None:
    if not status.known:
        raise SchemaTooNew(
            f"database {where} is at revision {status.current}, newer than this code (head {status.head})",
            url=where, fix="upgrade the orchestrator package to the version that migrated it")


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    _run_with_connection(url, lambda config: command.downgrade(config, revision))


def _revision_graph() -> dict[str, tuple[str, ...]]:
    """{revision: its down revisions}, read from the revision files' assignments.

    Why not alembic's ScriptDirectory: it imports alembic and every revision module, a
    noticeable share of the CLI's start-up; every command checks the schema, only `db
    upgrade` needs alembic. `test_revision_graph_matches_alembic` keeps the two in step.
    """
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted((migrations_dir() / "versions").glob("*.py")):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and node.targets[0].id in {"revision", "down_revision"}:
                values[node.targets[0].id] = ast.literal_eval(node.value)
        if "revision" not in values:
            continue
        down = values.get("down_revision")
        graph[str(values["revision"])] = tuple(down) if isinstance(down, (tuple, list)) else ((down,) if down else ())
    return graph


def head_revision() -> str:
    graph = _revision_graph()
    referenced = {down for downs in graph.values() for down in downs}
    heads = sorted(set(graph) - referenced)
    if len(heads) != 1:
        raise MigrationsNotFound(f"expected one head revision in {migrations_dir()}, found {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None for an un-migrated one."""
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions[0] if versions else None


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str
    known: bool  # the database's revision exists in this code's migrations

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_status(engine: Engine) -> SchemaStatus:
    current = current_revision(engine)
    known = current is None or current in _revision_graph()
    return SchemaStatus(current=current, head=head_revision(), known=known)


def check_schema(engine: Engine) -> SchemaStatus:
    """Raise unless the database is exactly at this code's head revision."""
    status = schema_status(engine)
    where = redact_url(engine.url.render_as_string(hide_password=False))
    if status.current is None:
        raise SchemaNotMigrated(f"database {where} has no orchestrator schema",
                                url=where, fix=UPGRADE_COMMAND)
    _refuse_newer(status, where)
    if not status.up_to_date:
        raise SchemaNotMigrated(
            f"database {where} is at revision {status.current}, older than this code (head {status.head})",
            url=where, fix=UPGRADE_COMMAND)
    return status
