"""What one watcher poll saw: counts, running jobs with progress and ETA (for the display
and the exit code). Kept apart from the watcher so that the display depends on data only."""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.states import QUEUED_STATES
from orchestrator.durations import seconds_left


@dataclass
class RunningJob:
    name: str
    state: str
    step: int | None
    total: int | None
    eta_s: float | None
    uncertain: bool = False


@dataclass
class PollSummary:
    """What one poll saw, for the progress display and the exit code."""

    total: int = 0
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (job, error)
    cancelled: int = 0
    running: list[RunningJob] = field(default_factory=list)  # every submitted job not ended
    waiting: int = 0  # planned, not yet submitted
    lease_held: bool = True

    @property
    def queued(self) -> int:
        """Submitted jobs the scheduler has not started (SUBMITTED/PENDING)."""
        return sum(1 for job in self.running if job.state in QUEUED_STATES)

    @property
    def active(self) -> int:
        """Submitted jobs not waiting in the scheduler's queue (running, or being requeued)."""
        return len(self.running) - self.queued

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done + len(self.failed) + self.cancelled == self.total

    @property
    def succeeded(self) -> bool:
        return self.finished and not self.failed and not self.cancelled


class EtaTracker:
    """Seconds left per job, from the step rate seen since the job was first seen moving.

    Measured by this process (not the job's own clock), so it also covers time lost in the
    queue or to a requeue.
    """

    def __init__(self) -> None:
        self._origin: dict[int, tuple[float, int]] = {}

    def seconds_left(self, job_id: int, step: int | None, total: int | None, clock: float) -> float | None:
        if step is None or not total:
            return None
        origin_clock, origin_step = self._origin.setdefault(job_id, (clock, step))
        return seconds_left(step=step, total=total, since_step=origin_step, elapsed_s=clock - origin_clock)
