"""`python -m orchestrator db upgrade|current`: the database schema.

`upgrade` migrates the database (SQLite file or $ORCH_DB_URL / --db-url) to this code's
head revision; it is safe to run repeatedly. `current` prints the database's revision and
this code's head, and exits 3 unless they match.
"""

from __future__ import annotations

import argparse

from contract.exit_codes import ExitCode
from orchestrator.commands.context import CommandError, add_database_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate to the head revision (or --revision)")
    upgrade.add_argument("--revision", default="head")
    current = actions.add_parser("current", help="print the database revision and the code's head")
    add_database_arguments(parser)
    for action in (upgrade, current):
        # SUPPRESS: a --db-url given before the action must survive the nested parse.
        action.add_argument("--db-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from orchestrator.db import make_engine, redact_url, resolve_db_url
    from orchestrator.db.schema import schema_status, upgrade

    url = resolve_db_url(args.db_url)
    if args.db_action == "upgrade":
        upgrade(url, args.revision)
        print(f"{redact_url(url)}: upgraded to {args.revision}")
        return ExitCode.OK
    engine = make_engine(url, check_connection=True)
    try:
        status = schema_status(engine)
    finally:
        engine.dispose()
    print(f"database: {status.current or 'none (not migrated)'}\ncode head: {status.head}")
    if not status.known:
        raise CommandError("the database is newer than this code", ExitCode.DATABASE)
    if not status.up_to_date:
        raise CommandError("the database needs migrating: python -m orchestrator db upgrade", ExitCode.DATABASE)
    return ExitCode.OK
