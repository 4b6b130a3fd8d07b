"""Run the dashboard as a child process and wait until it answers: for the CLI's foreground
mode, the browser tests, the benchmark and the screenshot script."""

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

from dashboard.launch import DEFAULT_HOST, streamlit_command

__all__ = ["free_port", "running_dashboard", "DashboardStartError"]


class DashboardStartError(RuntimeError):
    """Streamlit exited or did not answer its health check in time; carries its output."""


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_dashboard(db_url: str, runs_root: str | os.PathLike[str], *, host: str = DEFAULT_HOST,
                      port: int | None = None, timeout_s: float = 60.0,
                      log_path: Path | None = None) -> Iterator[str]:
    """Start `streamlit run dashboard/app.py` on host:port, yield its base URL, stop it after.

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
            _wait_healthy(process, f"{base_url}/_stcore/health", timeout_s, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(process: subprocess.Popen, health_url: str, timeout_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DashboardStartError(f"streamlit exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(health_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise DashboardStartError(f"no answer from {health_url} in {timeout_s:.0f} s:\n{log_path.read_text()[-2000:]}")
