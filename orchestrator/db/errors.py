"""Typed database errors. Each carries the command that fixes it, so the CLI can print one
clear line and exit 3 instead of a traceback."""

from __future__ import annotations

__all__ = ["DatabaseError", "DatabaseUnreachable", "SchemaNotMigrated", "SchemaTooNew",
           "MigrationsNotFound"]

UPGRADE_COMMAND = "python -m orchestrator db upgrade"


class DatabaseError(RuntimeError):
    """The database cannot be used as it is. `fix` says what to run or change."""

    def __init__(self, message: str, *, url: str = "", fix: str = "") -> None:
        self.url = url
        self.fix = fix
        super().__init__(message + (f" (fix: {fix})" if fix else ""))


class DatabaseUnreachable(DatabaseError):
    """Connecting failed (server down, wrong URL, unreadable file)."""


class SchemaNotMigrated(DatabaseError):
    """The database has no schema yet, or an older revision than the code."""


class SchemaTooNew(DatabaseError):
    """The database was migrated by a newer version of the code than this one."""


class MigrationsNotFound(DatabaseError):
    """The Alembic `migrations/` directory could not be located."""
