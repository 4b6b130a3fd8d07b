"""Run the dashboard as a child process and wait until it answers (and, by default, until its
pages are warm): for the launcher, the browser tests, the benchmark and the screenshot script."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from dashboard.launch import DEFAULT_HOST, stop_process, streamlit_command

__all__ = ["free_port", "running_dashboard", "wait_healthy", "DashboardStartError"]


class DashboardStartError(RuntimeError):
    """Streamlit exited or did not answer its health check in time; carries its output."""


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_dashboard(db_url: str, runs_root: str | os.PathLike[str], *, host: str = DEFAULT_HOST,
                      port: int | None = None, timeout_s: float = 60.0,
                      log_path: Path | None = None, warm: bool = True) -> Iterator[str]:
    """Start `streamlit run dashboard/app.py` on host:port, yield its base URL, stop it after.

    With `warm` (as `python -m dashboard.launch` does), every page has run once before the
    URL is yielded; `warm=False` yields a cold server (the benchmark's "before" figure).
    Output goes to `log_path` (a temporary file otherwise) and is quoted in the error if the
    server never becomes healthy.
    """
    port = port or free_port(host)
    env = {**os.environ, "ORCH_DB_URL": db_url, "ORCH_RUNS_ROOT": str(runs_root)}
    log_path = Path(log_path) if log_path else Path(os.environ.get("TMPDIR", "/tmp")) / f"dashboard-{port}.log"
    base_url = f"http://{host}:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(streamlit_command(host, port, None), env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(process, f"{base_url}/_stcore/health", timeout_s, log_path)
            if warm:
                from dashboard.warm import warm_dashboard

                warm_dashboard(base_url, timeout_s=timeout_s)
            yield base_url
        finally:
            stop_process(process)


def wait_healthy(process: subprocess.Popen, health_url: str, timeout_s: float, log_path: Path | None = None) -> None:
    """Until the server answers its health check; DashboardStartError (with the end of its log,
    if it has one) when it exits or stays silent for `timeout_s`."""
    def tail() -> str:
        return log_path.read_text()[-2000:] if log_path else "(output on the terminal)"

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DashboardStartError(f"streamlit exited with {process.returncode}:\n{tail()}")
        try:
            with urllib.request.urlopen(health_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise DashboardStartError(f"no answer from {health_url} in {timeout_s:.0f} s:\n{tail()}")
