"""The dashboard as a person sees it: Debian's Chromium (Playwright) against a running
Streamlit server on 127.0.0.1, over a database seeded by the real orchestrator code.

One server for the module. Screenshots go to `$DASHBOARD_TEST_ARTIFACTS` (default
`test-artifacts/dashboard/` in the repository, git-ignored).
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest

from model.data.ava_labelmap import AVA_ACTION_NAMES
from dashboard.serve import running_dashboard

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("DASHBOARD_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"))


@pytest.fixture(scope="module")
def dashboard_url(seeded_sqlite):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_dashboard(seeded_sqlite.url, seeded_sqlite.runs_root,
                           log_path=ARTIFACTS / "streamlit.log") as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def html_table_rows(table) -> list[dict[str, str]]:
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]
    return [dict(zip(headers, [c.strip() for c in row.locator("td").all_text_contents()]))
            for row in table.locator("tbody tr").all()]


def database_ava_ranking(db_path: str) -> list[tuple[int, float]]:
    """The ranking straight from the database, independent of the dashboard's SQL."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as connection:
        return connection.execute(
            "SELECT m.job_id, m.value FROM metrics m JOIN jobs j ON j.id = m.job_id "
            "JOIN experiments e ON e.id = j.experiment_id "
            "WHERE e.task = 'ava' AND m.split = 'val' AND m.name = 'frame_map' "
            "ORDER BY m.value DESC").fetchall()


def test_leaderboard_ranking_and_numbers_match_the_database(page, dashboard_url, seeded_sqlite):
    page.goto(dashboard_url)
    page.get_by_role("heading", name="Leaderboard").wait_for()
    ranked = page.locator("[data-testid=stMarkdown] table").filter(has_text="frame_map").first
    ranked.wait_for()
    page.screenshot(path=ARTIFACTS / "leaderboard.png", full_page=True)
    rows = html_table_rows(ranked)
    expected = database_ava_ranking(seeded_sqlite.url.removeprefix("sqlite:///"))
    assert [int(r["job_id"]) for r in rows] == [job_id for job_id, _ in expected]
    assert [r["frame_map"] for r in rows] == [f"{100 * value:.2f}" for _, value in expected]
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, len(expected) + 1)]
    published = html_table_rows(page.locator("[data-testid=stExpander] table").first)
    assert len(published) == 6 and all(r["source"].startswith("published") for r in published)
    assert "34.3" in [r["test mAP"] for r in published]  # Table 2, the ensemble's test mAP


def test_click_into_a_run_and_see_the_per_class_ap_chart(page, dashboard_url, seeded_sqlite):
    page.goto(dashboard_url)
    page.get_by_role("heading", name="Leaderboard").wait_for()
    target = seeded_sqlite.job_ids["ensemble_ava/evaluate.val.sf8x8"]
    page.get_by_role("heading", name="Open a run").wait_for()
    picker = page.locator("[data-testid=stSelectbox]").filter(has_text="Run")
    picker.locator("input").click()
    page.keyboard.type(f"(#{target})")  # the select box filters its options as one types
    page.get_by_role("option").filter(has_text=f"(#{target})").click()
    page.get_by_role("link", name=f"Open run #{target}").click()
    page.wait_for_url(re.compile(rf"/run\?job={target}$"))
    page.get_by_role("heading", name=re.compile(r"Per-class AP on val \(60 classes")).wait_for()
    chart = page.locator("[data-testid=stVegaLiteChart]").last
    chart.locator("canvas, svg").first.wait_for()
    page.screenshot(path=ARTIFACTS / "run_detail_ava.png", full_page=True)
    # Vega writes an accessible description of its SVG: the axis lists the classes in the
    # drawn order, each bar names its class and value.
    labels = chart.locator("[aria-label]").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    ranked = sorted(seeded_sqlite.per_class_ap.items(), key=lambda item: -item[1])
    names = [AVA_ACTION_NAMES[action_id] for action_id, _ in ranked]
    y_axis = next(label for label in labels if label.startswith("Y-axis"))
    assert y_axis.startswith(f"Y-axis for a discrete scale with 60 values: {names[0]}, {names[1]}")
    bars = [label for label in labels if label.startswith("AP (%)")]
    assert len(bars) == 60
    assert f"name: {names[0]};" in bars[0] and f"ap: {100 * ranked[0][1]:.2f}" in bars[0]


def test_jobs_page_shows_the_dag(page, dashboard_url, seeded_sqlite):
    page.goto(f"{dashboard_url}/jobs?experiment={seeded_sqlite.ava_experiment_id}")
    page.get_by_role("heading", name="DAG").wait_for()
    page.locator("[data-testid=stGraphVizChart] svg").wait_for()
    svg = page.locator("[data-testid=stGraphVizChart] svg").inner_html()
    assert "finetune_ava.train.fast32x2" in svg and "RUNNING" in svg and "FAILED" in svg
    page.screenshot(path=ARTIFACTS / "jobs.png", full_page=True)


def test_download_a_submission_and_compare_its_bytes(page, dashboard_url, seeded_sqlite):
    page.goto(f"{dashboard_url}/submissions?experiment={seeded_sqlite.ava_experiment_id}")
    page.get_by_role("heading", name="Submissions").wait_for()
    button = page.get_by_role("button", name="Download", exact=True)
    button.wait_for()
    page.screenshot(path=ARTIFACTS / "submissions.png", full_page=True)
    with page.expect_download() as download_info:
        button.click()
    downloaded = Path(download_info.value.path()).read_bytes()
    assert downloaded == seeded_sqlite.submission_path.read_bytes()
    assert download_info.value.suggested_filename == seeded_sqlite.submission_path.name
    assert page.get_by_text("outside the runs root").count() == 1
