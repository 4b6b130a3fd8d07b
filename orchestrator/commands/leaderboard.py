"""`python -m orchestrator leaderboard [--task ava|kinetics] [--json]`.

AVA: every job with a val frame-mAP (members' evaluations and the ensemble rows), best first,
with how each was tested and whether the ensemble averages it. Kinetics: top-1, top-5 and the
challenge metric (mean of top-1 and top-5 error, lower is better); a job with only one of
top-1/top-5 is listed after those with both, without a challenge error. Our values are shown
in percent; the JSON has the fractions the jobs wrote (null where a job reported none). The
rows come from `orchestrator.views.leaderboard`, the read model the dashboard uses too.

Beside each board, the report's published numbers (Table 2 for AVA, Sec. 3.1 for Kinetics),
marked as published and never ranked with ours: ``orchestrator.views.published``, the source
the dashboard reads too. They are in percent as printed, also in the JSON (``"published"``).
"""

from __future__ import annotations

import argparse
import json
import sys

from contract.exit_codes import ExitCode
from orchestrator.commands.context import add_database_arguments, open_engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=["ava", "kinetics"], default=None, help="default: both")
    parser.add_argument("--experiment", default=None, help="only this experiment")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from orchestrator.db import session_scope
    from orchestrator.views.leaderboard import ava_leaderboard, kinetics_leaderboard
    from orchestrator.views.published import published_rows

    tasks = [args.task] if args.task else ["ava", "kinetics"]
    engine = open_engine(args)
    try:
        with session_scope(engine) as session:
            boards = {}
            if "ava" in tasks:
                boards["ava"] = ava_leaderboard(session, args.experiment)
            if "kinetics" in tasks:
                boards["kinetics"] = kinetics_leaderboard(session, args.experiment)
    finally:
        engine.dispose()
    if args.json:
        document: dict = {task: [row.to_json() for row in rows] for task, rows in boards.items()}
        document["published"] = {task: [row.to_json() for row in published_rows(task)] for task in boards}
        json.dump(document, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return ExitCode.OK
    print_boards(boards)
    return ExitCode.OK


def _percent(value: float | None) -> str:
    """A published number as the report prints it (29.0, 18.95); "-" where it prints none."""
    return "-" if value is None else repr(value)


def _ours(fraction: float | None) -> str:
    """One of our scores (a fraction) in percent with two decimals; "-" where the job has none."""
    return "-" if fraction is None else f"{100 * fraction:.2f}"


def print_boards(boards) -> None:
    """The rich tables of `leaderboard` (also printed by `submit --wait` at the end)."""
    from rich.console import Console
    from rich.table import Table

    from orchestrator.views.leaderboard import plus_gains
    from orchestrator.views.published import published_rows, published_value

    console = Console()
    if not console.is_terminal:  # piped or captured: do not wrap names at 80 columns
        console = Console(width=200)
    if "ava" in boards:
        table = Table(title="AVA v2.2 val frame-mAP@0.5", title_justify="left")
        for column in ("#", "experiment", "job", "kind", "test-time aug.", "in ensemble", "frame-mAP"):
            table.add_column(column, justify="right" if column in {"#", "frame-mAP"} else "left")
        for rank, row in enumerate(boards["ava"], 1):
            style = "bold" if row.is_ensemble else None
            member = "-" if row.is_ensemble else "yes" if row.in_ensemble else "no"
            tta = f"{row.tta}, single-scale twin of {row.single_scale_of}" if row.single_scale_of else row.tta
            table.add_row(str(rank), row.experiment, row.job, row.kind, tta, member,
                          f"{100 * row.frame_map:.2f}", style=style)
        console.print(table)
        table2_single = published_value("ava", "SlowFast, 16x8", "frame_map")
        table2_plus = published_value("ava", "SlowFast++, 16x8", "frame_map")
        for gain in plus_gains(boards["ava"]):
            console.print(f'"++" gain on {gain.member} ({gain.experiment}): {100 * gain.single:.2f} -> '
                          f"{100 * gain.plus:.2f} ({100 * gain.gain:+.2f}); published, Table 2: "
                          f"{table2_single} -> {table2_plus}")
        reference = Table(title="Published: Table 2 of the report (not our runs, never ranked)", title_justify="left")
        for column in ("source", "model", "dataset", "val mAP", "test mAP"):
            reference.add_column(column, justify="right" if "mAP" in column else "left")
        for row in published_rows("ava"):
            reference.add_row(row.source, row.model, row.dataset, _percent(row.frame_map), _percent(row.test_map))
        console.print(reference)
    if "kinetics" in boards:
        table = Table(title="Kinetics val (challenge metric: mean of top-1 and top-5 error)", title_justify="left")
        for column in ("#", "experiment", "job", "kind", "top-1", "top-5", "challenge err"):
            table.add_column(column, justify="left" if column in {"experiment", "job", "kind"} else "right")
        for rank, row in enumerate(boards["kinetics"], 1):
            table.add_row(str(rank), row.experiment, row.job, row.kind, _ours(row.top1), _ours(row.top5),
                          _ours(row.challenge_error),
                          style="bold" if row.is_ensemble else None)
        console.print(table)
        reference = Table(title="Published: Sec. 3.1 of the report (not our runs, never ranked)",
                          title_justify="left")
        for column in ("source", "model", "dataset", "top-1", "top-5", "challenge err"):
            reference.add_column(column, justify="left" if column in {"source", "model", "dataset"} else "right")
        for row in published_rows("kinetics"):
            reference.add_row(row.source, row.model, row.dataset, _percent(row.top1), _percent(row.top5),
                              _percent(row.challenge_error))
        console.print(reference)
