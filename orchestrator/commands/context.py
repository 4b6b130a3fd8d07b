"""What the commands share: the ``--db-url``/``--runs-root`` options, opening the database,
finding an experiment, and turning typed errors into one line on stderr with an exit code
(``contract.exit_codes.ExitCode``: 0 success, 1 some job failed or was cancelled, 2 bad input,
3 database unusable, 130 interrupted -- jobs keep running).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from contract.exit_codes import ExitCode

if TYPE_CHECKING:  # sqlalchemy costs ~0.3 s to import: not for --help or --dry-run
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

# For the leaderboard and dashboard commands until they name ExitCode.OK themselves.
EXIT_OK = ExitCode.OK


class CommandError(Exception):
    """An error the command reports as one line; ``exit_code`` says which kind."""

    def __init__(self, message: str, exit_code: int = ExitCode.BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_database_arguments(parser: argparse.ArgumentParser, *, runs_root: bool = True,
                           suppress: bool = True) -> None:
    """``--db-url`` (and ``--runs-root``): the one definition, for the top-level parser and
    every sub-command's. ``suppress`` (sub-commands): default SUPPRESS, so that a value given
    before the sub-command is not overwritten by the sub-parser's default; the top-level
    parser defaults to None. An option the parser already has is left as it is."""
    existing = {option for action in parser._actions for option in action.option_strings}  # noqa: SLF001
    default = argparse.SUPPRESS if suppress else None
    if "--db-url" not in existing:
        parser.add_argument("--db-url", default=default, metavar="URL",
                            help="SQLAlchemy URL (default: $ORCH_DB_URL, else <runs_root>/orchestrator.sqlite)")
    if runs_root and "--runs-root" not in existing:
        parser.add_argument("--runs-root", default=default, metavar="DIR",
                            help="folder of run directories and the default SQLite file "
                                 "(default: $ORCH_RUNS_ROOT, else ./runs)")


def open_engine(args: argparse.Namespace, runs_root: str | Path | None = None, *, create: bool = False) -> "Engine":
    """The database engine; ``create``: migrate a SQLite file that does not exist yet (first submit)."""
    from orchestrator.db import DatabaseError, open_database, resolve_db_url, upgrade
    from orchestrator.db.engine import SQLITE_FILENAME

    url = resolve_db_url(getattr(args, "db_url", None), runs_root=runs_root or getattr(args, "runs_root", None))
    try:
        if create and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            if not url.endswith(SQLITE_FILENAME):
                # A typo in --db-url must not start a second, empty history beside the real one.
                raise CommandError(f"no orchestrator database at {url.removeprefix('sqlite:///')}: submit "
                                   f"creates one by itself only as <runs root>/{SQLITE_FILENAME} (fix: python -m "
                                   f"orchestrator db upgrade --db-url {url}, then submit again)", ExitCode.DATABASE)
            upgrade(url)
        return open_database(url)
    except DatabaseError as error:
        raise CommandError(str(error), ExitCode.DATABASE) from error


def find_experiment(session: "Session", name: str | None):
    """The experiment called ``name``, or the only one with unfinished jobs when omitted."""
    from sqlalchemy import select

    from contract.states import TERMINAL_STATES
    from orchestrator.db.models import Experiment, Job

    if name is not None:
        experiment = session.scalars(select(Experiment).where(Experiment.name == name)).one_or_none()
        if experiment is None:
            known = session.scalars(select(Experiment.name).order_by(Experiment.name)).all()
            raise CommandError(f"no experiment {name!r} in the database; known: {', '.join(known) or 'none'}")
        return experiment
    finished = sorted(state.value for state in TERMINAL_STATES)
    # A subquery, not DISTINCT over joined rows: PostgreSQL has no equality for the JSON config.
    with_unfinished_jobs = select(Job.experiment_id).where(Job.state.not_in(finished))
    unfinished = session.scalars(select(Experiment).where(Experiment.id.in_(with_unfinished_jobs))
                                 .order_by(Experiment.name)).all()
    if len(unfinished) != 1:
        names = ", ".join(e.name for e in unfinished) or "none"
        raise CommandError(f"name the experiment to watch (experiments with unfinished jobs: {names})")
    return unfinished[0]


def report_error(error: CommandError) -> int:
    print(f"error: {error}", file=sys.stderr)
    return error.exit_code
