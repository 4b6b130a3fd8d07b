"""Fixtures for the dashboard tests: one seeded SQLite database per module (seeding is the
slow part), and the environment that points the app at it."""

from __future__ import annotations

import pytest

from dashboard.browser import launch_chromium
from tests.dashboard.seed_dashboard import SeededDashboardDb, seed_dashboard_db

APP = "dashboard/app.py"


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory) -> SeededDashboardDb:
    runs_root = tmp_path_factory.mktemp("dashboard") / "runs"
    runs_root.mkdir()
    return seed_dashboard_db(f"sqlite:///{runs_root / 'orchestrator.sqlite'}", runs_root)


@pytest.fixture
def app_env(seeded_sqlite, monkeypatch) -> SeededDashboardDb:
    """ORCH_DB_URL / ORCH_RUNS_ROOT for an AppTest run (the app reads the environment)."""
    monkeypatch.setenv("ORCH_DB_URL", seeded_sqlite.url)
    monkeypatch.setenv("ORCH_RUNS_ROOT", str(seeded_sqlite.runs_root))
    return seeded_sqlite


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)  # FAILS (FileNotFoundError) without /usr/bin/chromium
        yield chromium
        chromium.close()
