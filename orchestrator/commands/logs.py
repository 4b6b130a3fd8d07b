"""`python -m orchestrator logs JOB [--attempt N] [--rank R]`: print an attempt's log files.

JOB is `EXPERIMENT/JOB`, a job id, or a job name unique across experiments. The files are
the executor's stdout/stderr under `<run_dir>/logs/attempt_NNN/` (default: the latest
attempt); `--tail N` prints only the last N lines of each. A job of several processes
(`resources.tasks_per_node`, nodes) has one pair of files per process, named by submitit
`<scheduler id>_<rank>_log.{out,err}`: `--rank R` picks process R (default 0, the one that
writes the run directory); a rank the job does not have is refused.
"""

from __future__ import annotations

import argparse
import sys
import re
from collections import deque
from pathlib import Path

from contract.exit_codes import ExitCode
from orchestrator.commands.context import CommandError, add_database_arguments

LOG_SUFFIXES = (".out", ".err", ".log")
_RANK_FILE = re.compile(r"^.+_(\d+)_log\.(out|err)$")  # submitit: <job id>_<task>_log.out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="EXPERIMENT/JOB, a job id, or a unique job name")
    parser.add_argument("--attempt", type=int, default=None, metavar="N", help="attempt number (default: latest)")
    parser.add_argument("--tail", type=int, default=None, metavar="LINES", help="only the last LINES lines")
    parser.add_argument("--rank", type=int, default=0, metavar="R",
                        help="process of a multi-process job (default 0, the one that writes the run directory)")
    add_database_arguments(parser)


def attempt_log_files(run_dir: Path, attempt_number: int, rank: int | None = None) -> list[Path]:
    """The attempt's log files; with ``rank``, only that process's (files that name no rank
    count as rank 0's)."""
    from orchestrator.executors.base import attempt_log_folder

    folder = attempt_log_folder(run_dir, attempt_number)
    if not folder.is_dir():
        return []
    files = sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix in LOG_SUFFIXES)
    return files if rank is None else [path for path in files if _rank_of(path) == rank]


def _rank_of(path: Path) -> int:
    match = _RANK_FILE.match(path.name)
    return int(match.group(1)) if match else 0


def job_processes(resources: dict | None) -> int:
    """How many processes (ranks) the job runs: nodes x tasks per node."""
    from orchestrator.executors.base import ResourceRequest

    try:
        request = ResourceRequest.from_mapping(resources or {})
    except (TypeError, ValueError):
        return 1
    return max(1, int(request.nodes)) * max(1, int(request.effective_tasks_per_node))


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
            processes = job_processes(job.resources)
    finally:
        engine.dispose()
    if not 0 <= args.rank < processes:
        ranks = "rank 0 only (one process)" if processes == 1 else f"ranks 0-{processes - 1} ({processes} processes)"
        raise CommandError(f"{label} has no rank {args.rank}: it has {ranks}")
    if not numbers:
        raise CommandError(f"{label} has no attempts yet (state: not submitted)", ExitCode.FAILED)
    number = numbers[-1] if args.attempt is None else args.attempt
    if number not in numbers:
        raise CommandError(f"{label} has no attempt {number} (attempts: {', '.join(map(str, numbers))})")
    files = attempt_log_files(run_dir, number, args.rank)
    if not files:
        of_rank = f" of rank {args.rank}" if processes > 1 else ""
        raise CommandError(f"{label} attempt {number}: no log files{of_rank} under {run_dir / 'logs'}", ExitCode.FAILED)
    for path in files:
        print(f"==> {path} <==")
        with path.open(errors="replace") as handle:
            lines = deque(handle, maxlen=args.tail) if args.tail else handle
            for line in lines:
                sys.stdout.write(line)
        print()
    return ExitCode.OK
