"""``python -m orchestrator cancel EXPERIMENT [--job NAME ...]``.

Cancels the running attempts at the scheduler (``scancel`` / SIGINT to the local
controller) and marks the jobs CANCELLED with the reason; PLANNED jobs are cancelled too
when the whole experiment is. Dependents of a cancelled job are blocked by the watcher.
A cancelled job is never resubmitted automatically (``retry`` brings it back).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contract.exit_codes import ExitCode
from orchestrator.commands.context import (CommandError, add_database_arguments, find_experiment, open_engine,
                                           report_error)

USER_CANCEL_REASON = "cancelled by the user"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment name")
    parser.add_argument("--job", action="append", default=None, metavar="NAME",
                        help="cancel only this job (repeatable); default: every unfinished job")
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        return _cancel(args)
    except CommandError as error:
        return report_error(error)


def _cancel(args: argparse.Namespace) -> int:
    from orchestrator.db import session_scope, utcnow
    from contract.states import TERMINAL_STATES, JobState
    from orchestrator.executors import (ClusterSettings, ExecutorError, SchedulerUnavailableError,
                                        SubmittedAttempt, attempt_log_folder, build_executor)

    engine = open_engine(args)
    with session_scope(engine) as session:
        experiment = find_experiment(session, args.experiment)
        jobs = {job.name: job for job in experiment.jobs}
        unknown = sorted(set(args.job or []) - set(jobs))
        if unknown:
            raise CommandError(f"{experiment.name} has no job {', '.join(unknown)}")
        targets = [jobs[name] for name in args.job] if args.job else list(jobs.values())
        settings = ClusterSettings.from_mapping((experiment.config or {}).get("cluster") or {})
        cancelled = 0
        for job in targets:
            if job.state in TERMINAL_STATES:
                continue
            attempt = job.latest_attempt
            if attempt is not None and attempt.ended_at is None:
                handle = SubmittedAttempt(attempt.scheduler_job_id or "", attempt.executor,
                                          attempt_log_folder(Path(job.run_dir), attempt.number))
                try:
                    build_executor(settings, attempt.executor).cancel(handle)
                except (ExecutorError, SchedulerUnavailableError) as error:
                    print(f"warning: {job.name}: {error}", file=sys.stderr)
                attempt.record_transition(JobState.CANCELLED, reason=USER_CANCEL_REASON)
                attempt.ended_at = utcnow()
            job.state, job.error = JobState.CANCELLED.value, USER_CANCEL_REASON
            cancelled += 1
    print(f"cancelled {cancelled} job(s) of {args.experiment}", file=sys.stderr)
    return ExitCode.OK
