"""Process exit codes: of a job process (``python -m jobs.<kind>``) and of the orchestrator's
command line (``python -m orchestrator``). One table, because a wrapper script reads both.
"""

from __future__ import annotations

import enum

__all__ = ["ExitCode"]


class ExitCode(enum.IntEnum):
    OK = 0
    #: The thing asked failed: a job's run failed (status.json says why), jobs of an
    #: experiment failed or were cancelled, a submission is invalid.
    FAILED = 1
    #: Bad input: usage, unknown experiment/job/override, export path outside its folder,
    #: an unusable scheduler.
    BAD_INPUT = 2
    #: The database is unusable: unreachable, not migrated, newer than this code.
    DATABASE = 3
    #: Interrupted by the user (SIGINT); submitted jobs keep running.
    INTERRUPTED = 130
