"""`python -m orchestrator`: the command line.

Every sub-command lives in `orchestrator/commands/<name>.py` with `add_arguments(parser)` and
`run(args) -> int`, and is imported only when it runs: `--help` and `status` never import
torch, pandas or streamlit, and start in well under a second.

Options may stand anywhere on the line, Hydra-style: before, between or after the
positional arguments (``submit ensemble_ava --dry-run scale=paper`` and
``submit --dry-run ensemble_ava scale=paper cluster=slurm`` are the same command).

Global options (accepted before or after the sub-command):
  --db-url URL      SQLAlchemy URL (default: $ORCH_DB_URL, else <runs_root>/orchestrator.sqlite)
  --runs-root DIR   run directories (default: $ORCH_RUNS_ROOT, else ./runs)

Exit codes: 0 success; 1 the thing asked failed (jobs failed, a submission is invalid);
2 bad input (usage, unknown experiment/job, export path outside its folder);
3 database unusable (unreachable, not migrated, newer than this code); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from contract.exit_codes import ExitCode
from orchestrator.commands.context import add_database_arguments

__all__ = ["main", "parse_command_arguments", "COMMANDS"]

# name -> one-line help. The module orchestrator.commands.<name> implements it.
COMMANDS: dict[str, str] = {
    "submit": "plan an experiment into a job DAG, record it and submit the ready jobs",
    "status": "jobs of an experiment: state, attempts, progress, ETA, key metric",
    "watch": "drive an experiment: poll, ingest, resubmit, until every job has finished",
    "cancel": "cancel the live jobs of an experiment (or one job)",
    "retry": "resubmit a FAILED or CANCELLED job",
    "logs": "print a job attempt's stdout/stderr log files",
    "leaderboard": "AVA val frame-mAP / Kinetics challenge metric, best first",
    "export": "validate an experiment's test-server file and write it with a provenance manifest",
    "db": "database schema: upgrade, current",
    "dashboard": "start the Streamlit dashboard (binds 127.0.0.1 unless told otherwise)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator",
        description="Run the SlowFast ActivityNet-2019 programme as a DAG of jobs.",
        epilog="Exit codes: 0 ok, 1 failed, 2 bad input, 3 database unusable. "
               "'python -m orchestrator COMMAND --help' for a command's options.")
    add_database_arguments(parser, suppress=False)  # global: before or after the sub-command
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        # The command's own options are added only once it is chosen (lazy import).
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_parser(name: str, module) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m orchestrator {name}", description=module.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    add_database_arguments(parser)
    return parser


def parse_command_arguments(parser: argparse.ArgumentParser, argv: Sequence[str],
                            namespace: argparse.Namespace | None = None) -> argparse.Namespace:
    """Parse a sub-command's arguments with options allowed between positionals.

    Plain ``parse_args`` fills every positional (``experiment`` and the ``*`` list of
    overrides) at the first run of positionals it meets, so an override after a flag
    (``ensemble_ava --dry-run scale=paper``) is left over as "unrecognized".
    ``parse_intermixed_args`` collects the options first and the positionals after, which is
    what a Hydra user expects. A command with sub-commands of its own (``db upgrade``) keeps
    plain parsing: argparse cannot intermix around a sub-parser, and such a command has no
    list of overrides to split.
    """
    if any(isinstance(action, argparse._SubParsersAction) for action in parser._actions):  # noqa: SLF001
        return parser.parse_args(list(argv), namespace=namespace)
    return parser.parse_intermixed_args(list(argv), namespace=namespace)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, rest = build_parser().parse_known_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return int(exit_.code or 0)
    module = importlib.import_module(f"orchestrator.commands.{args.command}")
    try:
        args = parse_command_arguments(_command_parser(args.command, module), rest, namespace=args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.runs_root:
        # One place decides the runs root; every module downstream reads it from here.
        os.environ["ORCH_RUNS_ROOT"] = os.path.abspath(args.runs_root)
    return _run(module, args)


def _run(module, args: argparse.Namespace) -> int:
    from orchestrator.commands.context import CommandError, report_error
    from orchestrator.db.errors import DatabaseError

    try:
        return int(module.run(args))
    except CommandError as error:
        return report_error(error)
    except DatabaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.DATABASE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
