"""How to start the dashboard: the command line the orchestrator CLI runs.

`python -m orchestrator dashboard` owns the flags (and the warning when binding anything but
127.0.0.1); this module only knows Streamlit's options, so the CLI needs no Streamlit import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["APP_PATH", "DEFAULT_HOST", "streamlit_command", "is_loopback"]

APP_PATH = Path(__file__).resolve().parent / "app.py"
DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (no warning needed)."""
    return host in {"127.0.0.1", "localhost", "::1"} or host.startswith("127.")


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
