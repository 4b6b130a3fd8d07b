"""The job and attempt states: the one vocabulary of the orchestrator, its database, its
scheduler parsers and its views.

Dependency-free on purpose: `orchestrator.slurm` (parsers that must import without
SQLAlchemy) and `orchestrator.db.models` both take the names from here.
"""

from __future__ import annotations

import enum

__all__ = ["JobState", "TERMINAL_STATES", "ACTIVE_STATES", "RESUBMITTABLE_STATES"]


class JobState(str, enum.Enum):
    """States of a job and of each of its attempts (the watcher owns the transitions).

    REUSED: the planner found a finished job with the same content hash in an earlier
    submission; the job is done without running (`Job.reused_from_job_id` says which).
    REQUEUED: a preempted/timed-out/node-failed attempt was resubmitted; the next attempt
    carries on from the latest checkpoint.
    """

    PLANNED = "PLANNED"
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PREEMPTED = "PREEMPTED"
    REQUEUED = "REQUEUED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REUSED = "REUSED"


TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.REUSED})
ACTIVE_STATES = frozenset({JobState.SUBMITTED, JobState.PENDING, JobState.RUNNING, JobState.REQUEUED})
# Infrastructure failures: the job itself did nothing wrong, resume from its checkpoint.
RESUBMITTABLE_STATES = frozenset({JobState.PREEMPTED, JobState.TIMEOUT, JobState.NODE_FAIL})
