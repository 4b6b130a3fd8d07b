"""Durations as people read them, and how long a running job has left: one definition for the
watcher's live display, `status`, the cost estimate and the dashboard."""

from __future__ import annotations

__all__ = ["format_duration", "seconds_left"]


def format_duration(seconds: float) -> str:
    """``3d 04h``, ``5h 12m``, ``12m 30s``, ``45s``: two units, the largest first."""
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def seconds_left(*, step: int | None, total: int | None, since_step: int | None,
                 elapsed_s: float) -> float | None:
    """Seconds until ``total`` at the rate seen since ``since_step`` (``elapsed_s`` ago).

    None where there is no rate yet (no step, no total, nothing done or no time passed).
    The watcher measures from when it first saw the job move, `status` from the start of
    the current attempt; both ask this one function."""
    if step is None or not total:
        return None
    advanced = step - (since_step or 0)
    if advanced <= 0 or elapsed_s <= 0:
        return None
    return max(total - step, 0) * elapsed_s / advanced
