"""``python -m orchestrator retry JOB [--experiment NAME] [--wait]``: run a FAILED job again.

Deterministic failures are never retried automatically; this is the explicit user action
after fixing the cause. The job goes back to PLANNED (its next attempt resumes from its
latest checkpoint, if any), its stale ``status.json`` is moved into the last attempt's log
folder so that the old "failed" verdict is not read again, and the dependents that were
blocked by it are planned again. The watcher submits it (``--wait`` runs one here).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy import select

from contract.run_dir import STATUS_FILE
from contract.exit_codes import ExitCode
from orchestrator.commands.context import CommandError, add_database_arguments, open_engine, report_error
from orchestrator.commands.watch import add_watch_options, watch_experiment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="job name, e.g. finetune_ava.train.sf8x8")
    parser.add_argument("--experiment", default=None, help="needed when several experiments have this job name")
    parser.add_argument("--wait", action="store_true", help="watch the experiment until done")
    add_watch_options(parser)
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        return _retry(args)
    except CommandError as error:
        return report_error(error)


def _retry(args: argparse.Namespace) -> int:
    from orchestrator.db import session_scope
    from contract.states import UNSUCCESSFUL_STATES, JobState
    from orchestrator.db.models import Experiment, Job
    from orchestrator.executors import attempt_log_folder

    engine = open_engine(args)
    with session_scope(engine) as session:
        query = select(Job).join(Experiment).where(Job.name == args.job)
        if args.experiment:
            query = query.where(Experiment.name == args.experiment)
        matches = session.scalars(query).all()
        if not matches:
            raise CommandError(f"no job {args.job!r}" + (f" in {args.experiment}" if args.experiment else ""))
        if len(matches) > 1:
            raise CommandError(f"job {args.job!r} exists in several experiments "
                               f"({', '.join(j.experiment.name for j in matches)}); pass --experiment")
        job = matches[0]
        if job.state not in UNSUCCESSFUL_STATES:
            raise CommandError(f"{job.name} is {job.state}; only FAILED or CANCELLED jobs can be retried")
        status = Path(job.run_dir) / STATUS_FILE
        if status.exists() and job.latest_attempt is not None:
            folder = attempt_log_folder(Path(job.run_dir), job.latest_attempt.number)
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(status, folder / STATUS_FILE)
        previous_error = job.error
        job.state, job.error, job.blocked_by_job_id = JobState.PLANNED.value, None, None
        unblocked = _unblock_dependents(job)
        experiment_name, cluster = job.experiment.name, dict((job.experiment.config or {}).get("cluster") or {})
        number = (job.latest_attempt.number + 1) if job.latest_attempt else 1
    print(f"{args.job} planned again as attempt {number} (was: {previous_error or 'no error recorded'}); "
          f"{unblocked} blocked dependent(s) planned again", file=sys.stderr)
    if args.wait:
        return watch_experiment(engine, experiment_name, cluster, poll_interval_s=args.poll_interval,
                                timeout_s=args.timeout, quiet=args.quiet)
    print(f"submit it with: python -m orchestrator watch {experiment_name}", file=sys.stderr)
    return ExitCode.OK


def _unblock_dependents(job) -> int:
    """Plan again the dependents the watcher cancelled because a dependency had failed
    (``blocked_by_job_id`` set), transitively; the watcher blocks again any whose other
    dependency is still FAILED or CANCELLED."""
    from contract.states import JobState

    count, frontier = 0, list(job.dependents)
    while frontier:
        dependent = frontier.pop()
        if dependent.state == JobState.CANCELLED and dependent.blocked_by_job_id is not None:
            dependent.state, dependent.error, dependent.blocked_by_job_id = JobState.PLANNED.value, None, None
            count += 1
            frontier.extend(dependent.dependents)
    return count
