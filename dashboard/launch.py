"""`python -m dashboard.launch`: start the Streamlit server, warm it, and keep it in the foreground.

`python -m orchestrator dashboard` runs this module as its own process (the orchestrator core
imports nothing from `dashboard/`); it owns the flags and the refusal to bind anything but
127.0.0.1 without `--allow-remote`. Here: Streamlit's options (`streamlit_command`), and the
launcher, which starts the server, runs every page once in a throw-away session
(`dashboard.warm`) so that the first person's visit finds the imports and the caches warm,
then says where the dashboard is and waits for the server (Ctrl-C stops both).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python dashboard/launch.py`: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.commands.dashboard import is_loopback  # noqa: E402  (the CLI's policy, one definition)

__all__ = ["APP_PATH", "DEFAULT_HOST", "streamlit_command", "is_loopback", "main"]

APP_PATH = Path(__file__).resolve().parent / "app.py"
DEFAULT_HOST = "127.0.0.1"


def streamlit_command(host: str = DEFAULT_HOST, port: int = 8501, db_url: str | None = None,
                      *, runs_root: str | None = None, python: str | None = None) -> list[str]:
    """argv for `subprocess.run` (never a shell string): headless, minimal toolbar, no usage stats.

    The database URL and runs root travel as app arguments after `--`, so they never end up
    in Streamlit's own config; `dashboard/app.py` reads them with `dashboard.settings`. A URL
    equal to `$ORCH_DB_URL` is left out: the child inherits the environment, and a password
    kept there should not move onto a command line that `ps` shows.
    """
    if not 0 < int(port) < 65536:
        raise ValueError(f"port must be 1..65535, got {port}")
    argv = [python or sys.executable, "-m", "streamlit", "run", str(APP_PATH),
            "--server.address", host, "--server.port", str(int(port)),
            "--server.headless", "true", "--client.toolbarMode", "minimal",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    app_args: list[str] = []
    if db_url and db_url != os.environ.get("ORCH_DB_URL"):
        app_args += ["--db-url", db_url]
    if runs_root:
        app_args += ["--runs-root", str(runs_root)]
    if app_args:
        argv += ["--", *app_args]
    return argv


def stop_process(process: subprocess.Popen, grace_s: float = 10) -> None:
    """Terminate a server we started, and kill it if it has not exited after `grace_s`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    """Start, warm, announce, wait. The CLI has already refused a non-loopback host without
    `--allow-remote`; run by hand, the launcher refuses it too."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.launch", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--runs-root", default=None)
    parser.add_argument("--allow-remote", action="store_true")
    parser.add_argument("--no-warm", action="store_true", help="serve without running the pages once first")
    parser.add_argument("--print-command", action="store_true", help="print Streamlit's command line and exit")
    args = parser.parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        print(f"refusing to bind {args.host} without --allow-remote: the dashboard has no authentication",
              file=sys.stderr)
        return 2
    try:
        command = streamlit_command(args.host, args.port, args.db_url, runs_root=args.runs_root)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if args.print_command:
        print(shlex.join(command))
        return 0
    return _serve(command, args.host, args.port, warm=not args.no_warm)


def _serve(command: list[str], host: str, port: int, *, warm: bool) -> int:
    from dashboard.serve import DashboardStartError, wait_healthy
    from dashboard.warm import DashboardWarmError, warm_dashboard

    base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    # SIGTERM (the CLI stopping, a service manager) unwinds like Ctrl-C, so Streamlit is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    process = subprocess.Popen(command)  # its output stays on this terminal
    try:
        try:
            wait_healthy(process, f"{base_url}/_stcore/health", 120.0)
            if warm:
                warm_dashboard(base_url)
        except DashboardWarmError as error:  # the server still serves; only slower at first
            print(f"warning: warm-up incomplete ({error})", file=sys.stderr)
        except DashboardStartError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"Dashboard ready: http://{host}:{port}", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        stop_process(process)


if __name__ == "__main__":
    raise SystemExit(main())
