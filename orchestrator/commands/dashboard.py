"""`python -m orchestrator dashboard [--host 127.0.0.1] [--port 8501]`: start the dashboard.

The dashboard runs as its own process, `python -m dashboard.launch` (Streamlit, warmed before
the first visit): the orchestrator core imports nothing from `dashboard/`, which sits above
it. Binds 127.0.0.1 by default: the dashboard has no authentication. Binding any other
address needs `--allow-remote` and prints a warning.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from contract.exit_codes import ExitCode
from orchestrator.commands.context import CommandError, add_database_arguments

__all__ = ["add_arguments", "run", "is_loopback", "launcher_command"]

#: The directory holding `orchestrator/` and `dashboard/`: the launcher's import root.
REPO_ROOT = Path(__file__).resolve().parents[2]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (no warning needed)."""
    return host in {"127.0.0.1", "localhost", "::1"} or host.startswith("127.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (anyone who reaches it sees the dashboard)")
    parser.add_argument("--no-warm", action="store_true",
                        help="do not run the pages once before announcing the URL")
    parser.add_argument("--print-command", action="store_true", help="print Streamlit's command instead of running it")
    add_database_arguments(parser)


def launcher_command(host: str, port: int, db_url: str, runs_root: str, *, allow_remote: bool = False,
                     warm: bool = True) -> list[str]:
    """argv of the launcher (no shell). A URL equal to `$ORCH_DB_URL` is left out: the child
    inherits the environment, and a password kept there should not move onto a command line
    that `ps` shows."""
    argv = [sys.executable, "-m", "dashboard.launch", "--host", host, "--port", str(int(port)),
            "--runs-root", str(runs_root)]
    if db_url and db_url != os.environ.get("ORCH_DB_URL"):
        argv += ["--db-url", db_url]
    if allow_remote:
        argv.append("--allow-remote")
    if not warm:
        argv.append("--no-warm")
    return argv


def _launcher_env() -> dict[str, str]:
    """The environment with the repository root first on PYTHONPATH, so `-m dashboard.launch`
    imports this checkout from any working directory."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}


def run(args: argparse.Namespace) -> int:
    from orchestrator.db import resolve_db_url, resolve_runs_root

    if not is_loopback(args.host):
        if not args.allow_remote:
            raise CommandError(f"refusing to bind {args.host}: the dashboard has no authentication; "
                               "pass --allow-remote to bind a non-loopback address")
        print(f"warning: binding {args.host}:{args.port}; anyone who can reach it can read the dashboard",
              file=sys.stderr)
    if not 0 < args.port < 65536:
        raise CommandError(f"port must be 1..65535, got {args.port}")
    argv = launcher_command(args.host, args.port, resolve_db_url(args.db_url), str(resolve_runs_root()),
                            allow_remote=args.allow_remote, warm=not args.no_warm)
    if args.print_command:
        printed = subprocess.run([*argv, "--print-command"], env=_launcher_env(), capture_output=True, text=True)
        if printed.returncode != 0:
            raise CommandError(printed.stderr.strip() or f"dashboard.launch exited with {printed.returncode}")
        print(printed.stdout.strip())
        return ExitCode.OK
    launcher = subprocess.Popen(argv, env=_launcher_env())
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stopped by SIGTERM: stop the launcher too
    try:
        return launcher.wait()
    except KeyboardInterrupt:  # the launcher stops Streamlit itself when told to stop
        launcher.terminate()
        try:
            launcher.wait(timeout=20)
        except subprocess.TimeoutExpired:
            launcher.kill()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
