"""Column types shared by the orchestrator models.

Why a custom datetime type: SQLite has no timezone-aware timestamps and PostgreSQL does;
storing naive UTC in both and handing aware UTC datetimes to Python code keeps comparisons
(lease expiry, ETA) identical on both databases.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "utcnow"]


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime (the only clock the models use)."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC, returns aware UTC. Naive inputs are taken to be UTC already."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)
