"""Running SLURM client commands: argument lists only, bounded by a timeout, typed errors.

The watcher polls every few seconds; a hung ``sacct`` (slurmdbd restarting, MariaDB slow)
must not hang the poll, so every call has a timeout and every failure is one exception type
that says which command failed and what it printed.
"""

from __future__ import annotations

import subprocess
from typing import Sequence

DEFAULT_TIMEOUT_S = 30.0


class SlurmCommandError(RuntimeError):
    """A SLURM client command is missing, timed out, or exited non-zero."""

    def __init__(self, argv: Sequence[str], detail: str) -> None:
        self.argv = list(argv)
        self.detail = detail
        super().__init__(f"`{' '.join(self.argv)}` failed: {detail}")


def run_slurm_command(argv: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Run ``argv`` (never through a shell) and return its stdout; raise SlurmCommandError."""
    try:
        completed = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s,
                                   check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as error:
        raise SlurmCommandError(argv, f"command not found ({error.filename})") from error
    except subprocess.TimeoutExpired as error:
        raise SlurmCommandError(argv, f"no answer within {timeout_s:g} s") from error
    if completed.returncode != 0:
        stderr = completed.stderr.strip() or completed.stdout.strip()
        raise SlurmCommandError(argv, f"exit status {completed.returncode}: {stderr[-2000:]}")
    return completed.stdout
