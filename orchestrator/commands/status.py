"""`python -m orchestrator status [EXPERIMENT] [--json]`: one line per job.

Shows state (coloured), attempts, progress, ETA, the key metric (AVA: val frame-mAP,
Kinetics: val top-1), and the device-hours the planner estimated beside those the attempts
used (GPU-hours from SLURM accounting, elapsed x allocated GPUs; CPU core-hours for jobs
without GPUs; a local process's wall time x its CPUs), with a total per experiment. Without EXPERIMENT, every experiment. Reads only the database: run
`watch` (or let it run) to bring it up to date with the run directories.
"""

from __future__ import annotations

import argparse
import json
import sys

from contract.exit_codes import ExitCode
from contract.states import JobState
from orchestrator.commands.context import CommandError, add_database_arguments, open_engine
from orchestrator.durations import format_duration

S = JobState
STATE_STYLES = {
    S.PLANNED: "dim", S.SUBMITTED: "yellow", S.PENDING: "yellow", S.RUNNING: "cyan",
    S.REQUEUED: "yellow", S.PREEMPTED: "magenta", S.TIMEOUT: "magenta", S.NODE_FAIL: "magenta",
    S.COMPLETED: "green", S.REUSED: "green", S.FAILED: "bold red", S.CANCELLED: "red",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", nargs="?", help="experiment name (default: all)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_arguments(parser)


def format_hours(hours: float | None, unit: str | None) -> str:
    if hours is None:
        return ""
    figure = f"{hours:,.0f}" if hours >= 100 else f"{hours:.1f}" if hours >= 1 else f"{hours:.3f}"
    return f"{figure} {unit}" if unit else figure


def _unit(row) -> str:
    return row.estimate_unit or ("GPU-h" if row.used_gpu_hours else "core-h")


def experiment_totals(rows) -> dict[str, dict[str, float]]:
    """experiment -> {"estimated GPU-h", "used GPU-h", "estimated core-h", "used core-h"}; jobs
    reused from another run cost nothing here and are left out."""
    totals: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.state == JobState.REUSED:
            continue
        total = totals.setdefault(row.experiment, {"estimated GPU-h": 0.0, "used GPU-h": 0.0,
                                                   "estimated core-h": 0.0, "used core-h": 0.0})
        if row.estimate_hours is not None:
            total[f"estimated {row.estimate_unit}"] += row.estimate_hours
        total["used GPU-h"] += row.used_gpu_hours or 0.0
        # CPU core-hours of the jobs without GPUs: a GPU job's CPUs come with its GPUs.
        if _unit(row) == "core-h":
            total["used core-h"] += row.used_cpu_hours or 0.0
    return totals


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from orchestrator.db import Experiment, session_scope
    from orchestrator.views.status import job_status_rows

    engine = open_engine(args)
    try:
        with session_scope(engine) as session:
            if args.experiment is not None and session.scalar(
                    select(Experiment.id).where(Experiment.name == args.experiment)) is None:
                raise CommandError(f"no experiment {args.experiment!r} in the database")
            rows = job_status_rows(session, args.experiment)
    finally:
        engine.dispose()
    if args.json:
        json.dump([row.to_json() for row in rows], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return ExitCode.OK
    _print_table(rows)
    return ExitCode.OK


def _print_table(rows) -> None:
    from rich.console import Console
    from rich.table import Table

    from orchestrator.views.status import corrupt_lines_message

    table = Table(title="jobs", title_justify="left")
    for column in ("experiment", "job", "kind", "state", "attempts", "progress", "ETA", "key metric", "estimated",
                   "used"):
        table.add_column(column, justify="right" if column in {"attempts", "progress", "ETA", "estimated", "used"}
                         else "left")
    for row in rows:
        progress = f"{row.progress_step}/{row.progress_total}" if row.progress_total else ""
        metric = f"{row.key_metric} {100 * row.key_metric_value:.2f}%" if row.key_metric_value is not None else ""
        state = f"[{STATE_STYLES.get(row.state, '')}]{row.state}[/]"
        table.add_row(row.experiment, row.job, row.kind, state, str(row.attempts), progress,
                      ("" if row.eta_seconds is None else format_duration(row.eta_seconds)), metric, format_hours(row.estimate_hours, row.estimate_unit),
                      format_hours(row.used_hours, _unit(row)))
    console = Console()
    if not console.is_terminal:  # piped or captured: do not wrap names at 80 columns
        console = Console(width=200)
    if not rows:
        console.print("no jobs")
        return
    console.print(table)
    for experiment, total in experiment_totals(rows).items():
        console.print(f"{experiment}: used {format_hours(total['used GPU-h'], 'GPU-hours')} + "
                      f"{format_hours(total['used core-h'], 'CPU core-hours')} of an estimated "
                      f"{format_hours(total['estimated GPU-h'], 'GPU-hours')} + "
                      f"{format_hours(total['estimated core-h'], 'CPU core-hours')}", highlight=False)
    for row in rows:
        if row.error:
            console.print(f"[red]{row.job}[/]: {row.error}", markup=True, highlight=False)
        if row.metrics_corrupt_lines:
            message = corrupt_lines_message(row.metrics_corrupt_lines, row.metrics_corrupt_first)
            console.print(f"[yellow]{row.job}[/]: {message}", markup=True, highlight=False)
