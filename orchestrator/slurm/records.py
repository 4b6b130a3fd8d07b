"""What the scheduler says about one job, in the orchestrator's state vocabulary.

SLURM has about twenty job states; the orchestrator needs nine (see
``contract.states.JobState``). The mapping lives here, next to the parsers, so that
sacct, squeue and scontrol answers all come out the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contract.states import SCHEDULER_REPORTED_STATES, ObservedState
from contract.states import JobState as _State

# The states a scheduler answer maps to (the rest -- PLANNED, SUBMITTED, REUSED -- are the
# orchestrator's own), as plain strings: the parsers compare and store them as such.
PENDING, RUNNING, PREEMPTED, REQUEUED = (_State.PENDING.value, _State.RUNNING.value, _State.PREEMPTED.value,
                                         _State.REQUEUED.value)
TIMEOUT, NODE_FAIL, COMPLETED, FAILED, CANCELLED = (_State.TIMEOUT.value, _State.NODE_FAIL.value,
                                                    _State.COMPLETED.value, _State.FAILED.value,
                                                    _State.CANCELLED.value)
# Only with uncertain=True: the scheduler could not be asked, or used a word we do not know.
UNKNOWN = ObservedState.UNKNOWN.value

ORCHESTRATOR_STATES = frozenset(state.value for state in SCHEDULER_REPORTED_STATES)

# SLURM state word -> (orchestrator state, reason to record when the word itself is lost).
_SLURM_STATES: dict[str, tuple[str, str]] = {
    "PENDING": (PENDING, ""),
    "CONFIGURING": (PENDING, "nodes configuring"),
    "SUSPENDED": (PENDING, "suspended by the scheduler"),
    "REQUEUE_HOLD": (REQUEUED, "requeued and held"),
    "REQUEUE_FED": (REQUEUED, "requeued by the federation"),
    "REQUEUED": (REQUEUED, ""),
    "RESV_DEL_HOLD": (PENDING, "held: reservation deleted"),
    "RUNNING": (RUNNING, ""),
    "COMPLETING": (RUNNING, "completing"),
    "RESIZING": (RUNNING, "resizing"),
    "SIGNALING": (RUNNING, "signaling"),
    "STAGE_OUT": (RUNNING, "staging out"),
    "STOPPED": (RUNNING, "stopped"),
    "PREEMPTED": (PREEMPTED, "preempted"),
    "TIMEOUT": (TIMEOUT, "time limit reached"),
    "DEADLINE": (TIMEOUT, "deadline reached"),
    "NODE_FAIL": (NODE_FAIL, "node failure"),
    "BOOT_FAIL": (NODE_FAIL, "node boot failure"),
    "COMPLETED": (COMPLETED, ""),
    "FAILED": (FAILED, ""),
    "OUT_OF_MEMORY": (FAILED, "out of memory (OUT_OF_MEMORY)"),
    "SPECIAL_EXIT": (FAILED, "special exit"),
    "CANCELLED": (CANCELLED, "cancelled"),
    "REVOKED": (CANCELLED, "revoked by the federation"),
}


@dataclass(frozen=True)
class SchedulerRecord:
    """The latest run of one SLURM job (sacct ``-D`` lists every run of a requeued job).

    ``state`` is one of ORCHESTRATOR_STATES, or UNKNOWN together with ``uncertain=True``.
    ``uncertain`` means the answer did not come from accounting (sacct failed and squeue /
    scontrol answered, or nobody did): keep the previous state rather than act on it.
    ``exit_code`` is SLURM's ``"<status>:<signal>"``; ``restarts`` counts earlier runs;
    ``elapsed_s`` is the latest run's wall time, ``total_elapsed_s`` sums every run (what
    the allocation actually cost, preempted runs included).
    """

    job_id: str
    state: str
    exit_code: str | None = None
    node: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    elapsed_s: int | None = None
    restarts: int = 0
    reason: str = ""
    uncertain: bool = False
    alloc_gpus: int = 0
    alloc_cpus: int = 0
    total_elapsed_s: int = 0
    total_gpu_s: int = 0
    total_cpu_s: int = 0
    raw_state: str = ""

    @property
    def gpu_hours(self) -> float:
        """GPU-hours charged over every run (0 on CPU-only allocations)."""
        return self.total_gpu_s / 3600.0

    @property
    def cpu_hours(self) -> float:
        """CPU-hours charged over every run (AllocCPUS x Elapsed)."""
        return self.total_cpu_s / 3600.0

    @property
    def exit_status(self) -> int | None:
        """The ``<status>`` half of ``exit_code`` as an int, when there is one."""
        if not self.exit_code or ":" not in self.exit_code:
            return None
        head = self.exit_code.split(":", 1)[0]
        return int(head) if head.isdigit() else None


def map_slurm_state(raw_state: str) -> tuple[str, str, bool]:
    """``raw_state`` as printed by sacct/squeue -> (state, reason, uncertain).

    ``"CANCELLED by 0"`` -> (CANCELLED, "cancelled by uid 0", False); ``"RUNNING+"`` (sacct's
    truncation mark) is read as RUNNING; an unknown word gives (UNKNOWN, "...", True).
    """
    text = (raw_state or "").strip()
    words = text.split()
    word = words[0].rstrip("+").upper() if words else ""
    if word not in _SLURM_STATES:
        return UNKNOWN, f"unrecognised SLURM state {text!r}", True
    state, reason = _SLURM_STATES[word]
    if word == "CANCELLED" and len(words) >= 3 and words[1] == "by":
        reason = f"cancelled by uid {words[2]}"
    return state, reason, False
