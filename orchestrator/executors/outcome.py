"""Read what submitit recorded when an attempt's Python process ended.

submitit pickles ``("success", result)`` or ``("error", traceback_text)`` into
``<folder>/<job_id>_<task>_result.pkl`` when the submitted callable returns or raises.
That file is what separates a deterministic failure (the job's code raised: never retried)
from a lost process (no result at all: resubmitted from its checkpoint).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

from submitit.core.utils import JobPaths


@dataclass(frozen=True)
class ProcessOutcome:
    """``kind`` is "success", "error" or "none" (no result pickle: still running or lost)."""

    kind: str
    message: str = ""


def read_process_outcome(log_folder: Path, scheduler_id: str) -> ProcessOutcome:
    """Outcome of task 0 of ``scheduler_id`` in ``log_folder`` (does not wait)."""
    result_pickle = JobPaths(log_folder, job_id=scheduler_id, task_id=0).result_pickle
    if not result_pickle.exists():
        return ProcessOutcome("none")
    try:
        with open(result_pickle, "rb") as stream:
            outcome, payload = pickle.load(stream)
    except Exception as error:  # a result pickle written by this project's own job process
        return ProcessOutcome("error", f"unreadable submitit result {result_pickle}: {error}")
    if outcome == "success":
        return ProcessOutcome("success")
    return ProcessOutcome("error", str(payload))


def last_error_line(traceback_text: str) -> str:
    """The exception line of a traceback ("ValueError: loss is NaN"), for one-line displays."""
    lines = [line.strip() for line in traceback_text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
