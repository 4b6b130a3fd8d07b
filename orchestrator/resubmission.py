"""When an interrupted job is submitted again, and when the orchestrator gives up.

Preemption, timeouts, node failures and lost jobs are the cluster's doing, not the job's:
the job resumes from its latest checkpoint (it finds ``checkpoints/latest`` itself), so a
resubmission costs only the work since that checkpoint. They are bounded anyway
(``cluster.max_resubmits``) because a job that is lost every time -- a node that kills it,
a checkpoint that crashes the loader -- must end as FAILED with its reason instead of
cycling forever, and spaced by a back-off (``cluster.resubmit_backoff_s``: 5 s, 15 s, 60 s...)
so that a sick node or a saturated queue is not hammered.

The bound counts every *restart* of the job's work, not only the watcher's resubmissions:
SLURM requeues a preempted job by itself (``PreemptMode=REQUEUE``, same job id, same attempt)
and submitit counts only time limits against its ``max_num_timeout``, never preemptions, so
without this a job preempted again and again would cycle forever inside one attempt. Both
kinds of restart are recorded as a REQUEUED transition (by the scheduler's requeue, or on the
attempt the watcher replaces), which is what ``restarts_so_far`` counts.

Deterministic failures (an exception, NaN loss, bad config or data) are never resubmitted
here: rerunning the same code on the same inputs fails the same way. ``retry`` is the
explicit user action for those.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from contract.states import INTERRUPTED_STATES, JobState
from orchestrator.db.models import Job


@dataclass(frozen=True)
class ResubmissionDecision:
    """``action``: "wait" (back-off running), "resubmit", or "give_up" (with ``reason``)."""

    action: str
    reason: str = ""
    not_before: dt.datetime | None = None


def restarts_so_far(job: Job) -> int:
    """How many times the job's work was restarted: scheduler requeues plus watcher resubmissions."""
    requeued = JobState.REQUEUED.value
    return sum(1 for attempt in job.attempts for transition in attempt.transitions if transition.state == requeued)


def bound_reached_reason(restarts: int, max_resubmits: int, last: str) -> str:
    """The error a job ends with when the restart bound stops it (shown by ``status``)."""
    return (f"gave up after {restarts} restart(s): restart bound reached (cluster.max_resubmits={max_resubmits}, "
            f"scheduler requeues included); last: {last}")


def decide_resubmission(job: Job, *, max_resubmits: int, backoff_s: float, now: dt.datetime) -> ResubmissionDecision:
    """For a job whose latest attempt ended in PREEMPTED / TIMEOUT / NODE_FAIL."""
    attempt = job.latest_attempt
    if attempt is None or job.state not in INTERRUPTED_STATES or attempt.ended_at is None:
        raise ValueError(f"{job.name} is not an interrupted job (state {job.state})")
    restarts = restarts_so_far(job)
    if restarts >= max_resubmits:
        return ResubmissionDecision("give_up", bound_reached_reason(
            restarts, max_resubmits, f"{attempt.state}: {attempt.reason or 'no reason'}"))
    not_before = attempt.ended_at + dt.timedelta(seconds=backoff_s)
    if now < not_before:
        return ResubmissionDecision("wait", not_before=not_before)
    return ResubmissionDecision("resubmit")


def requeued_past_bound(job: Job, *, max_resubmits: int) -> str | None:
    """For a job whose attempt is still live: the give-up reason once the scheduler has
    requeued it more often than the bound allows (the watcher then cancels it), else None."""
    restarts = restarts_so_far(job)
    if restarts <= max_resubmits:
        return None
    # Not the attempt's reason: SLURM's restart count in it lags the requeue just seen.
    return bound_reached_reason(restarts, max_resubmits, "requeued by the scheduler again (preemption or time limit)")
