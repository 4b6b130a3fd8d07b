"""`python -m orchestrator logs JOB [--attempt N]`: print an attempt's log files.

JOB is `EXPERIMENT/JOB`, a job id, or a job name unique across experiments. The files are
the executor's stdout/stderr under `<run_dir>/logs/attempt_NNN/` (default: the latest
attempt); `--tail N` prints only the last N lines of each.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from pathlib import Path

from orchestrator.commands.context import EXIT_JOBS_FAILED as EXIT_FAILED, EXIT_OK, CommandError, add_database_arguments

LOG_SUFFIXES = (".out", ".err", ".log")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="EXPERIMENT/JOB, a job id, or a unique job name")
    parser.add_argument("--attempt", type=int, default=None, metavar="N", help="attempt number (default: latest)")
    parser.add_argument("--tail", type=int, default=None, metavar="LINES", help="only the last LINES lines")
    add_database_arguments(parser)


def attempt_log_files(run_dir: Path, attempt_number: int) -> list[Path]:
    from orchestrator.executors.base import attempt_log_folder

    folder = attempt_log_folder(run_dir, attempt_number)
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix in LOG_SUFFIXES)


def run(args: argparse.Namespace) -> int:
    from orchestrator.commands.context import open_engine
    from orchestrator.db import session_scope
    from orchestrator.views.jobs import JobNotFound, find_job

    engine = open_engine(args)
    try:
        with session_scope(engine) as session:
            try:
                job = find_job(session, args.job)
            except JobNotFound as error:
                raise CommandError(str(error)) from error
            numbers = [attempt.number for attempt in job.attempts]
            run_dir = Path(job.run_dir)
            label = f"{job.experiment.name}/{job.name}"
    finally:
        engine.dispose()
    if not numbers:
        raise CommandError(f"{label} has no attempts yet (state: not submitted)", EXIT_FAILED)
    number = numbers[-1] if args.attempt is None else args.attempt
    if number not in numbers:
        raise CommandError(f"{label} has no attempt {number} (attempts: {', '.join(map(str, numbers))})")
    files = attempt_log_files(run_dir, number)
    if not files:
        raise CommandError(f"{label} attempt {number}: no log files under {run_dir / 'logs'}", EXIT_FAILED)
    for path in files:
        print(f"==> {path} <==")
        with path.open(errors="replace") as handle:
            lines = deque(handle, maxlen=args.tail) if args.tail else handle
            for line in lines:
                sys.stdout.write(line)
        print()
    return EXIT_OK
