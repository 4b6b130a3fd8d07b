"""The dashboard in Chromium over a database with the shape of a real `ensemble_ava` run
(`real_run_shape.py`: the real planner's 35 jobs, seven members and the ensemble with
per-class AP for all 60 evaluated classes, training curves, CPU attempts, estimates).

What a person sees at 1400 px: the leaderboard fits the window, no two class labels of a
per-class chart overlap (their bounding boxes in the rendered SVG), and the Compare page
overlays the members' curves and sets their per-class AP beside the ensemble's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboard.serve import running_dashboard
from tests.dashboard.browser_checks import (MEMBERS, WINDOW, assert_fits_the_window, compare_page,
                                            leaderboard_geometry, overlapping, per_class_labels)
from tests.dashboard.real_run_shape import RealRunShape, seed_real_run_shape

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("DASHBOARD_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"))


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> RealRunShape:
    runs_root = tmp_path_factory.mktemp("real_run") / "runs"
    runs_root.mkdir()
    return seed_real_run_shape(f"sqlite:///{runs_root / 'orchestrator.sqlite'}", runs_root)


@pytest.fixture(scope="module")
def dashboard_url(real_run):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_dashboard(real_run.url, real_run.runs_root, log_path=ARTIFACTS / "streamlit-real-run.log") as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": WINDOW, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_the_leaderboard_fits_a_1400_px_window(page, dashboard_url, real_run):
    geometry = leaderboard_geometry(page, dashboard_url, ARTIFACTS / "real_run_leaderboard.png")
    assert geometry["rows"] == len(real_run.frame_map)
    assert_fits_the_window(geometry)
    assert "job_id" in geometry["headers"] and geometry["headers"][-1] == "state"


def test_no_two_class_labels_of_the_per_class_chart_overlap(page, dashboard_url, real_run):
    boxes = per_class_labels(page, dashboard_url, real_run.job_ids["evaluate.val.sf8x8"],
                             ARTIFACTS / "real_run_per_class_ap.png")
    assert len(boxes) == 60
    aps = real_run.per_class_ap["evaluate.val.sf8x8"]
    from model.data.ava_labelmap import AVA_ACTION_NAMES

    best_first = [AVA_ACTION_NAMES[i] for i in sorted(aps, key=lambda i: -aps[i])]
    assert [box["text"] for box in boxes] == best_first
    assert overlapping(boxes) == []
    assert min(b["bottom"] - b["top"] for b in boxes) > 8  # drawn at a readable size, not squeezed


def test_compare_overlays_the_members_and_sets_their_per_class_ap_beside_the_ensemble(page, dashboard_url, real_run):
    seen = compare_page(page, dashboard_url, real_run.experiment_id, ARTIFACTS / "real_run_compare.png")
    # Default selection: the seven members' val evaluations and the val ensemble.
    assert sorted(seen["chosen"]) == sorted(["ensemble.val", *(f"evaluate.val.{member}" for member in MEMBERS)])
    # Curves: one line per member (drawn from its fine-tune), none for the ensemble.
    assert seen["curves"] == sorted(MEMBERS)
    # Per-class AP side by side: one column per run, one readable row per class.
    assert len(seen["columns"]) == 8 and len(seen["rows"]) == 60
    assert overlapping(seen["columns"]) == [] and overlapping(seen["rows"]) == []
    # Where the ensemble gains and loses: a bar per class, labels apart.
    assert len(seen["gains"]) == 60 and overlapping(seen["gains"]) == []
