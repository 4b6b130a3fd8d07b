"""`python -m orchestrator leaderboard [--task ava|kinetics] [--json]`.

AVA: every job with a val frame-mAP (members' evaluations and the ensemble rows), best first.
Kinetics: top-1, top-5 and the challenge metric (mean of top-1 and top-5 error, lower is
better). Values are shown in percent; the JSON has the fractions the jobs wrote.
"""

from __future__ import annotations

import argparse
import json
import sys

from orchestrator.commands.context import EXIT_OK, add_database_arguments, open_engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=["ava", "kinetics"], default=None, help="default: both")
    parser.add_argument("--experiment", default=None, help="only this experiment")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from orchestrator.db import session_scope
    from orchestrator.views.leaderboard import ava_leaderboard, kinetics_leaderboard

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
        json.dump({task: [row.to_json() for row in rows] for task, rows in boards.items()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return EXIT_OK
    print_boards(boards)
    return EXIT_OK


def print_boards(boards) -> None:
    """The rich tables of `leaderboard` (also printed by `submit --wait` at the end)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped or captured: do not wrap names at 80 columns
        console = Console(width=200)
    if "ava" in boards:
        table = Table(title="AVA v2.2 val frame-mAP@0.5", title_justify="left")
        for column in ("#", "experiment", "job", "kind", "frame-mAP"):
            table.add_column(column, justify="right" if column in {"#", "frame-mAP"} else "left")
        for rank, row in enumerate(boards["ava"], 1):
            style = "bold" if row.is_ensemble else None
            table.add_row(str(rank), row.experiment, row.job, row.kind, f"{100 * row.frame_map:.2f}", style=style)
        console.print(table)
    if "kinetics" in boards:
        table = Table(title="Kinetics val (challenge metric: mean of top-1 and top-5 error)", title_justify="left")
        for column in ("#", "experiment", "job", "kind", "top-1", "top-5", "challenge err"):
            table.add_column(column, justify="left" if column in {"experiment", "job", "kind"} else "right")
        for rank, row in enumerate(boards["kinetics"], 1):
            table.add_row(str(rank), row.experiment, row.job, row.kind, f"{100 * row.top1:.2f}",
                          f"{100 * row.top5:.2f}", f"{100 * row.challenge_error:.2f}",
                          style="bold" if row.is_ensemble else None)
        console.print(table)
