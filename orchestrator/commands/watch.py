"""``python -m orchestrator watch [EXPERIMENT]``: drive an experiment to completion.

Reconciles every ``--poll-interval`` seconds (default: ``cluster.poll_interval_s``), submits
ready jobs, resubmits interrupted ones, ingests metrics, and shows progress. Stops when every
job is COMPLETED/REUSED/FAILED/CANCELLED (exit 0 only if none failed or was cancelled), after
``--timeout`` seconds, or after one poll with ``--once``. Safe to run twice: the second
watcher only observes while the first holds the experiment's lease.
"""

from __future__ import annotations

import argparse
import sys

from contract.exit_codes import ExitCode
from orchestrator.commands.context import (CommandError, add_database_arguments, find_experiment, open_engine,
                                           report_error)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", nargs="?", help="experiment name (default: the only unfinished one)")
    parser.add_argument("--once", action="store_true", help="poll once and exit")
    add_watch_options(parser)
    add_database_arguments(parser)


def add_watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poll-interval", type=float, default=None, metavar="S",
                        help="seconds between polls (default: cluster.poll_interval_s)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S", help="stop watching after S seconds")
    parser.add_argument("--quiet", action="store_true", help="no live progress display")


def run(args: argparse.Namespace) -> int:
    try:
        engine = open_engine(args)
        from orchestrator.db import session_scope

        with session_scope(engine) as session:
            experiment = find_experiment(session, args.experiment)
            name, cluster = experiment.name, dict((experiment.config or {}).get("cluster") or {})
        return watch_experiment(engine, name, cluster, once=args.once, poll_interval_s=args.poll_interval,
                                timeout_s=args.timeout, quiet=args.quiet)
    except CommandError as error:
        return report_error(error)


def watch_experiment(engine, experiment: str, cluster: dict, *, once: bool = False,
                     poll_interval_s: float | None = None, timeout_s: float | None = None,
                     quiet: bool = False, backend: str | None = None) -> int:
    """Run the watcher with a live display; the exit code says whether every job succeeded."""
    from rich.console import Console
    from rich.live import Live

    from orchestrator.executors import ClusterSettings, SchedulerUnavailableError
    from orchestrator.progress import render_summary
    from orchestrator.watcher import Watcher

    settings = ClusterSettings.from_mapping(cluster)
    watcher = Watcher(engine, experiment, settings, backend=backend)
    console = Console(stderr=True)
    try:
        if once:
            summary = watcher.poll()
            if not quiet:
                console.print(render_summary(experiment, summary))
            return ExitCode.OK
        if quiet or not console.is_terminal:
            last = [""]

            def log_change(summary) -> None:
                line = (f"{experiment}: {summary.done}/{summary.total} done, {summary.active} running, "
                        f"{summary.queued} queued, {len(summary.failed)} failed")
                if line != last[0] and not quiet:
                    print(line, file=sys.stderr, flush=True)
                last[0] = line

            summary = watcher.run(on_poll=log_change, timeout_s=timeout_s, poll_interval_s=poll_interval_s)
        else:
            with Live(console=console, refresh_per_second=2, transient=False) as live:
                summary = watcher.run(on_poll=lambda s: live.update(render_summary(experiment, s)),
                                      timeout_s=timeout_s, poll_interval_s=poll_interval_s)
    except SchedulerUnavailableError as error:
        raise CommandError(str(error)) from error
    except KeyboardInterrupt:
        print(f"stopped watching {experiment}; jobs keep running. Resume with: python -m orchestrator watch "
              f"{experiment}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    for job_name, error in summary.failed:
        print(f"FAILED {job_name}: {error}", file=sys.stderr)
    if not summary.finished:
        print(f"{experiment}: {summary.done}/{summary.total} done when the watch stopped", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK if summary.succeeded else ExitCode.FAILED
