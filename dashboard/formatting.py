"""How the pages write times and durations: what people read, not what the database stores.

One duration format for the whole project: `orchestrator.durations.format_duration`
(``5h 12m``, ``12m 30s``, ``45s``), the one `submit --dry-run` prints. Timestamps are stored in
UTC with microseconds; the pages show them in the local time zone to the second, and keep the
full ISO value for the run page (`full_time`).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from orchestrator.durations import format_duration

__all__ = ["format_duration", "duration_text", "local_time", "full_time"]


def duration_text(seconds: float | None) -> str:
    """`format_duration`, or "" where there is none (an attempt that has not started)."""
    if seconds is None or pd.isna(seconds):
        return ""
    return format_duration(float(seconds))


def _aware(value) -> dt.datetime | None:
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value).to_pydatetime()
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)  # stored naive = UTC


def local_time(value) -> str:
    """``2026-12-05 08:21:42`` in this machine's time zone; "" for none."""
    stamp = _aware(value)
    return "" if stamp is None else stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def full_time(value) -> str:
    """The stored instant in full (ISO 8601, UTC offset, microseconds), for the run page."""
    stamp = _aware(value)
    return "" if stamp is None else stamp.isoformat()
