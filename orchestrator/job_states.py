"""The job/attempt state machine: which transitions exist, and how one poll decides one.

``judge_attempt`` is a pure function of (current state, scheduler observation, run-dir
files, submitit's process outcome, clocks). It never guesses: an uncertain scheduler answer
keeps the current state; a job that left no trace is declared lost only after a grace
period (sacct lags a fresh submission by about a second).

Evidence order, strongest first:

1. the job's own verdict (status.json ``failed`` + message: NaN loss, bad config, bad data)
   and submitit's error pickle (a Python exception): deterministic, never retried;
2. result.json written and the process ended well: COMPLETED;
3. the scheduler's word: PENDING / RUNNING / REQUEUED are followed; PREEMPTED / NODE_FAIL
   wait ``requeue_grace_s`` for the scheduler's own requeue, then end the attempt;
   TIMEOUT ends it at once (SLURM never requeues a timeout; submitit requeues *before* it);
4. no trace (VANISHED, or FAILED/CANCELLED without any result from the job): the attempt is
   lost and ends as NODE_FAIL with a "lost:" reason, so that it is resubmitted like any
   other infrastructure failure (OUT_OF_MEMORY is the exception: it is the job's size).
   A distributed job that lost one of its processes says which (status.json ``rank_lost``)
   and ends the same way, with that as the reason; it is read only once the scheduler has
   ended the attempt (a resubmitted attempt's rank 0 replaces the file with ``running`` as
   it starts, and is not judged by it while it runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.states import INTERRUPTED_STATES, JobState, ObservedState
from orchestrator.executors.base import SchedulerObservation
from orchestrator.executors.outcome import ProcessOutcome, last_error_line
from orchestrator.run_dir import RunDirSnapshot

S = JobState
_AFTER_SUBMIT = {S.PENDING, S.RUNNING, S.REQUEUED, S.PREEMPTED, S.TIMEOUT, S.NODE_FAIL,
                 S.COMPLETED, S.FAILED, S.CANCELLED}

# Every transition the orchestrator may record (attempt and job share the vocabulary).
ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.PLANNED: frozenset({S.SUBMITTED, S.CANCELLED, S.REUSED}),
    S.SUBMITTED: frozenset(_AFTER_SUBMIT),
    S.PENDING: frozenset(_AFTER_SUBMIT - {S.PENDING}),
    S.RUNNING: frozenset(_AFTER_SUBMIT - {S.RUNNING}),
    S.REQUEUED: frozenset(_AFTER_SUBMIT - {S.REQUEUED} | {S.SUBMITTED}),
    # Interrupted: the scheduler requeues it (REQUEUED), the watcher resubmits it (job ->
    # SUBMITTED), or it is given up (FAILED) / cancelled.
    S.PREEMPTED: frozenset({S.REQUEUED, S.PENDING, S.RUNNING, S.SUBMITTED, S.NODE_FAIL, S.COMPLETED,
                            S.FAILED, S.CANCELLED}),
    S.TIMEOUT: frozenset({S.REQUEUED, S.PENDING, S.RUNNING, S.SUBMITTED, S.FAILED, S.CANCELLED}),
    S.NODE_FAIL: frozenset({S.REQUEUED, S.PENDING, S.RUNNING, S.SUBMITTED, S.FAILED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.REUSED: frozenset(),
    # Only the explicit `retry` command leaves these.
    S.FAILED: frozenset({S.PLANNED}),
    S.CANCELLED: frozenset({S.PLANNED}),
}


class IllegalTransition(ValueError):
    """A transition the state machine does not allow (a bug, or a corrupted database)."""


def check_transition(current: str, new: str) -> None:
    if current == new:
        return
    if S(new) not in ALLOWED_TRANSITIONS[S(current)]:
        raise IllegalTransition(f"{current} -> {new} is not a valid transition")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one poll for one attempt.

    ``state`` equal to the current state means "no transition". ``via_requeued``: record a
    REQUEUED transition first (the scheduler restarted the attempt). ``final``: the attempt
    is over (``ended_at`` is set); final INTERRUPTED_STATES make the job resubmittable.
    """

    state: str
    reason: str | None = None
    final: bool = False
    uncertain: bool = False
    via_requeued: bool = False

    @property
    def deterministic_failure(self) -> bool:
        return self.final and self.state == S.FAILED.value


@dataclass(frozen=True)
class Clocks:
    seconds_since_submit: float
    seconds_in_state: float
    vanish_grace_s: float = 30.0
    requeue_grace_s: float = 90.0


def judge_attempt(current: str, observation: SchedulerObservation, files: RunDirSnapshot,
                  outcome: ProcessOutcome, clocks: Clocks, requeues_seen: int = 0) -> Verdict:
    """Decide the attempt's next state from this poll's evidence (see the module docstring)."""
    if files.failed_message is not None:
        return Verdict(S.FAILED.value, files.failed_message, final=True)
    if outcome.kind == "error":
        return Verdict(S.FAILED.value, last_error_line(outcome.message) or "the job raised", final=True)
    if files.result is not None and (outcome.kind == "success" or observation.state == S.COMPLETED.value):
        return Verdict(S.COMPLETED.value, None, final=True)

    observed = observation.state
    if observation.uncertain or observed == ObservedState.UNKNOWN:
        return Verdict(current, None, uncertain=True)

    if observed == S.COMPLETED.value:
        if outcome.kind == "success":
            return Verdict(S.FAILED.value, "the job returned without writing result.json", final=True)
        return _lost_or_wait(current, clocks, "scheduler says COMPLETED but the job left no result")
    if files.rank_lost_message and observed in (S.FAILED, S.CANCELLED, S.COMPLETED, ObservedState.VANISHED):
        return Verdict(S.NODE_FAIL.value, f"lost: {files.rank_lost_message}", final=True)
    if observed in (S.FAILED.value, S.CANCELLED.value):
        if observation.raw_state.upper().startswith("OUT_OF_MEMORY"):
            return Verdict(S.FAILED.value, "out of memory (raise resources.mem_gb)", final=True)
        detail = f" (exit code {observation.exit_code})" if observation.exit_code else ""
        return Verdict(S.NODE_FAIL.value, f"lost: scheduler says {observed}{detail} and the job left no result",
                       final=True)
    if observed == ObservedState.VANISHED:
        return _lost_or_wait(current, clocks, observation.reason or "the scheduler no longer knows the job")

    if observed == S.TIMEOUT.value:
        return Verdict(S.TIMEOUT.value, observation.reason or "time limit reached without a requeue", final=True)
    if observed in (S.PREEMPTED.value, S.NODE_FAIL.value):
        if current != observed:
            return Verdict(observed, observation.reason or None)
        if clocks.seconds_in_state >= clocks.requeue_grace_s:
            return Verdict(observed, f"not requeued by the scheduler within {clocks.requeue_grace_s:.0f} s",
                           final=True)
        return Verdict(current)

    # PENDING / RUNNING / REQUEUED: follow the scheduler, noting restarts it did itself.
    # A job never goes back from RUNNING to PENDING unless the scheduler requeued it.
    restarted = (current in INTERRUPTED_STATES or observation.restarts > requeues_seen
                 or (current == S.RUNNING.value and observed == S.PENDING.value))
    if observed == S.REQUEUED.value:
        return Verdict(S.REQUEUED.value, _requeue_reason(requeues_seen + 1), via_requeued=False) \
            if current != S.REQUEUED.value else Verdict(current)
    if restarted and current != S.REQUEUED.value:
        return Verdict(observed, _requeue_reason(requeues_seen + 1), via_requeued=True)
    return Verdict(observed)


def _requeue_reason(number: int) -> str:
    """Numbered from the requeues recorded on the attempt: SLURM's own restart count lags,
    it grows only once the requeued run starts."""
    return f"requeued by the scheduler (preemption or time limit), requeue {number} of this attempt"


def _lost_or_wait(current: str, clocks: Clocks, reason: str) -> Verdict:
    if clocks.seconds_since_submit < clocks.vanish_grace_s:
        return Verdict(current, None, uncertain=True)
    return Verdict(S.NODE_FAIL.value, f"lost: {reason}", final=True)
