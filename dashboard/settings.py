"""Where the dashboard's database and runs root are: app arguments, else the environment.

`streamlit run dashboard/app.py -- --db-url URL --runs-root DIR` (what `dashboard.launch`
builds), else `$ORCH_DB_URL` / `$ORCH_RUNS_ROOT`, else `./runs/orchestrator.sqlite`: the
orchestrator's own resolver, so the CLI and the dashboard always agree.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from orchestrator.db import resolve_db_url, resolve_runs_root

__all__ = ["DashboardSettings", "load_settings"]


@dataclass(frozen=True)
class DashboardSettings:
    db_url: str
    runs_root: Path


def load_settings(argv: list[str] | None = None) -> DashboardSettings:
    parser = argparse.ArgumentParser(prog="dashboard", add_help=False)
    parser.add_argument("--db-url")
    parser.add_argument("--runs-root")
    known, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    runs_root = resolve_runs_root(known.runs_root)
    return DashboardSettings(db_url=resolve_db_url(known.db_url, runs_root=runs_root), runs_root=runs_root)
