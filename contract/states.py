"""The states of a job and of each of its attempts: one vocabulary for the orchestrator, its
database, its scheduler parsers, its views and the dashboard.

Stored as the member's string (`jobs.state`, `attempts.state`, `attempt_transitions.state`
are plain string columns), so adding a state is a code change, not a schema migration.
Every member's name equals its value, so a member and the stored string compare and hash
alike: `"COMPLETED" in FINISHED_STATES` holds for a string read from the database.

`ObservedState` is apart: what a poll of the scheduler can answer beyond a job state. It
is evidence for the watcher's decision and is never stored as a job's or attempt's state.
"""

from __future__ import annotations

import enum

__all__ = ["JobState", "ObservedState", "FINISHED_STATES", "UNSUCCESSFUL_STATES", "TERMINAL_STATES",
           "QUEUED_STATES", "LIVE_STATES", "INTERRUPTED_STATES", "SCHEDULER_REPORTED_STATES"]


class JobState(enum.StrEnum):
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


class ObservedState(enum.StrEnum):
    """What a scheduler poll may answer that is not a job state (never stored as one).

    UNKNOWN: the scheduler could not be asked, or answered a word we do not know (always
    with ``uncertain=True``): keep the current state. VANISHED: the scheduler no longer
    knows the job and it left no result: lost, once a grace period has passed.
    """

    UNKNOWN = "UNKNOWN"
    VANISHED = "VANISHED"


#: Done, with its outputs on disk: the dependents may start, export may read it.
FINISHED_STATES = frozenset({JobState.COMPLETED, JobState.REUSED})
#: Ended without outputs: a dependency in one of these blocks its dependents, and only the
#: explicit `retry` command brings such a job back (to PLANNED).
UNSUCCESSFUL_STATES = frozenset({JobState.FAILED, JobState.CANCELLED})
#: No transition leaves these on its own (the job is over, one way or the other).
TERMINAL_STATES = FINISHED_STATES | UNSUCCESSFUL_STATES
#: Submitted, and not yet started by the scheduler.
QUEUED_STATES = frozenset({JobState.SUBMITTED, JobState.PENDING})
#: An attempt holds (or waits for) a scheduler slot: counted against `cluster.max_parallel`.
LIVE_STATES = QUEUED_STATES | frozenset({JobState.RUNNING, JobState.REQUEUED})
#: Infrastructure ended the attempt (the job did nothing wrong): resubmitted from its
#: latest checkpoint, up to a bound.
INTERRUPTED_STATES = frozenset({JobState.PREEMPTED, JobState.TIMEOUT, JobState.NODE_FAIL})
#: The job states a scheduler answer maps to; PLANNED, SUBMITTED and REUSED are the
#: orchestrator's own.
SCHEDULER_REPORTED_STATES = frozenset(JobState) - {JobState.PLANNED, JobState.SUBMITTED, JobState.REUSED}
