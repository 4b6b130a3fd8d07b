"""One live process per run directory: an exclusive ``flock`` on ``<run_dir>/.job.lock``.

Two processes on one run directory would interleave checkpoints and metrics lines. That can
happen: a watcher killed between the scheduler accepting a job and the database recording
the attempt leaves a running job the next watcher does not know of, and submits again; a
user may also start ``python -m jobs.<kind>`` by hand on a directory the orchestrator runs.
The second process waits for the lock, and then finds the first one's ``result.json`` (a
finished run directory is not run again) or resumes from its last checkpoint.

The kernel drops the lock when its holder dies (SIGKILL, a preempted job's end), so a lock
is never left behind. Only the main task of a distributed job takes it: the other ranks wait
for the main one at their first collective anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from contract.run_dir import LOCK_FILE

log = logging.getLogger("jobs")


@contextlib.contextmanager
def exclusive_run_dir(run_dir: Path, what: str) -> Iterator[None]:
    """Hold the run directory's lock for the body; wait (logged) while another process has it."""
    fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another process is running %s; waiting for it to end", what, run_dir)
            fcntl.flock(fd, fcntl.LOCK_EX)
            log.info("%s: the other process ended; carrying on in %s", what, run_dir)
        yield
    finally:
        os.close(fd)
