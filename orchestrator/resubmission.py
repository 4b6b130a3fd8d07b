"""When an interrupted job is submitted again, and when the orchestrator gives up.

Preemption, timeouts, node failures and lost jobs are the cluster's doing, not the job's:
the job resumes from its latest checkpoint (it finds ``checkpoints/latest`` itself), so a
resubmission costs only the work since that checkpoint. They are bounded anyway
(``cluster.max_resubmits``) because a job that is lost every time -- a node that kills it,
a checkpoint that crashes the loader -- must end as FAILED with its reason instead of
cycling forever, and spaced by a back-off (``cluster.resubmit_backoff_s``: 5 s, 15 s, 60 s...)
so that a sick node or a saturated queue is not hammered.

Deterministic failures (an exception, NaN loss, bad config or data) are never resubmitted
here: rerunning the same code on the same inputs fails the same way. ``retry`` is the
explicit user action for those.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from orchestrator.db.models import Job
from orchestrator.job_states import INTERRUPTED


@dataclass(frozen=True)
class ResubmissionDecision:
    """``action``: "wait" (back-off running), "resubmit", or "give_up" (with ``reason``)."""

    action: str
    reason: str = ""
    not_before: dt.datetime | None = None


def decide_resubmission(job: Job, *, max_resubmits: int, backoff_s: float, now: dt.datetime) -> ResubmissionDecision:
    """For a job whose latest attempt ended in PREEMPTED / TIMEOUT / NODE_FAIL."""
    attempt = job.latest_attempt
    if attempt is None or job.state not in INTERRUPTED or attempt.ended_at is None:
        raise ValueError(f"{job.name} is not an interrupted job (state {job.state})")
    resubmits_so_far = len(job.attempts) - 1
    if resubmits_so_far >= max_resubmits:
        return ResubmissionDecision(
            "give_up", f"gave up after {resubmits_so_far} resubmission(s) (cluster.max_resubmits="
                       f"{max_resubmits}); last attempt: {attempt.state}: {attempt.reason or 'no reason'}")
    not_before = attempt.ended_at + dt.timedelta(seconds=backoff_s)
    if now < not_before:
        return ResubmissionDecision("wait", not_before=not_before)
    return ResubmissionDecision("resubmit")
