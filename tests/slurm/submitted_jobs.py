"""Callables submitted to the local cluster by tests/slurm (imported by the job on the node).

They live in an importable module (not in a test file) because submitit pickles them by
reference: the job process must be able to ``import tests.slurm.submitted_jobs``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import submitit


def double(value: int) -> int:
    return 2 * value


def fail_deliberately(message: str) -> None:
    raise ValueError(message)


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


class StepCounter(submitit.helpers.Checkpointable):
    """Counts ``total`` steps of ``step_s`` seconds, saving the step after each one.

    ``<folder>/step`` is the checkpoint (written atomically); ``<folder>/starts`` gets one
    line per process start with the step it resumed from, so a test can tell a resume
    from a restart at step 0. ``checkpoint()`` is inherited: it resubmits the same object,
    and the state that matters is on disk.
    """

    def __init__(self, folder: str, total: int, step_s: float = 0.5) -> None:
        self.folder, self.total, self.step_s = folder, total, step_s

    def __call__(self) -> int:
        folder = Path(self.folder)
        step_file = folder / "step"
        step = int(step_file.read_text()) if step_file.exists() else 0
        with open(folder / "starts", "a") as starts:
            starts.write(f"{step}\n")
        while step < self.total:
            time.sleep(self.step_s)
            step += 1
            tmp = folder / "step.tmp"
            tmp.write_text(str(step))
            os.replace(tmp, step_file)
        return step
