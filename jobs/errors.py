"""Failure classes a job reports in status.json (``error_kind``) for the orchestrator.

Deterministic failures are never retried: a config that names an unknown model, an input
checkpoint that is missing or of another architecture, unusable data, a NaN loss, or any
other exception. Preemption and timeout are not failures (state ``checkpointed``).

One failure is not deterministic: ``rank_lost``, a process of a distributed job that died
(killed, out of memory, its node gone) while the others were sound. It is the cluster's
doing, like a node failure, and the orchestrator resubmits it from the latest checkpoint.
"""
from __future__ import annotations

from contract.exit_codes import ExitCode

__all__ = ["BadConfigError", "BadDataError", "JobFailure", "RankLost"]


class JobFailure(RuntimeError):
    """Raised by a job after it has written ``status.json`` with ``state: failed``."""

    def __init__(self, error_kind: str, message: str) -> None:
        self.error_kind = error_kind
        super().__init__(f"{error_kind}: {message}")


class BadConfigError(ValueError):
    """config.yaml cannot be run as written; the message names the field."""


class BadDataError(ValueError):
    """The data the config points to cannot be used (empty split, missing files)."""


class RankLost(SystemExit):
    """Ends a process of a distributed job whose peer died, after status.json says which.

    A ``SystemExit``, so that submitit records no error result: the job's verdict is the
    ``rank_lost`` status, which the orchestrator resubmits, not a failure of its code.
    """

    def __init__(self, message: str) -> None:
        super().__init__(ExitCode.FAILED)
        self.message = message
