"""Failure classes a job reports in status.json (``error_kind``) for the orchestrator.

Deterministic failures are never retried: a config that names an unknown model, an input
checkpoint that is missing or of another architecture, unusable data, a NaN loss, or any
other exception. Preemption and timeout are not failures (state ``checkpointed``).
"""
from __future__ import annotations

__all__ = ["BadConfigError", "BadDataError", "JobFailure"]


class JobFailure(RuntimeError):
    """Raised by a job after it has written ``status.json`` with ``state: failed``."""

    def __init__(self, error_kind: str, message: str) -> None:
        self.error_kind = error_kind
        super().__init__(f"{error_kind}: {message}")


class BadConfigError(ValueError):
    """config.yaml cannot be run as written; the message names the field."""


class BadDataError(ValueError):
    """The data the config points to cannot be used (empty split, missing files)."""
