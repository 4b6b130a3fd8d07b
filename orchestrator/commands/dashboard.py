"""`python -m orchestrator dashboard [--host 127.0.0.1] [--port 8501]`: start Streamlit.

Binds 127.0.0.1 by default: the dashboard has no authentication. Binding any other address
needs `--allow-remote` and prints a warning.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from orchestrator.commands.context import EXIT_OK, CommandError, add_database_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (anyone who reaches it sees the dashboard)")
    parser.add_argument("--print-command", action="store_true", help="print the command instead of running it")
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from dashboard.launch import is_loopback, streamlit_command

    from orchestrator.db import resolve_db_url, resolve_runs_root

    if not is_loopback(args.host):
        if not args.allow_remote:
            raise CommandError(f"refusing to bind {args.host}: the dashboard has no authentication; "
                               "pass --allow-remote to bind a non-loopback address")
        print(f"warning: binding {args.host}:{args.port}; anyone who can reach it can read the dashboard",
              file=sys.stderr)
    try:
        argv = streamlit_command(args.host, args.port, resolve_db_url(args.db_url),
                                 runs_root=str(resolve_runs_root()))
    except ValueError as error:
        raise CommandError(str(error)) from error
    if args.print_command:
        print(" ".join(argv))
        return EXIT_OK
    return subprocess.call(argv)
