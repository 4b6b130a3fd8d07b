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
from tests.dashboard.real_run_shape import RealRunShape, seed_real_run_shape

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("DASHBOARD_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"))
WINDOW = 1400
MEMBERS = ("sf8x8", "fast32x2", "sf16x8_ctx_iou09_18k", "sf16x8_ctx_iou075_18k", "sf16x8_noctx_iou09_16k",
           "sf16x8_noctx_iou075_16k", "sf16x8_ctx_iou09_16k_j340")

# Bounding boxes of the labels on one axis of the chart's SVG (Vega draws each label as a
# <text> inside the axis group whose aria-label names the axis).
AXIS_LABEL_BOXES = """(chart, axis) => {
  const group = [...chart.querySelectorAll('g[aria-label]')]
      .find(g => g.getAttribute('aria-label').startsWith(axis));
  if (!group) return null;
  return [...group.querySelectorAll('.role-axis-label text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, top: r.top, bottom: r.bottom, left: r.left, right: r.right};
  });
}"""


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


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes intersect (a pixel of slack for anti-aliasing)."""
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a["top"] < b["bottom"] - 1 and b["top"] < a["bottom"] - 1 \
                    and a["left"] < b["right"] - 1 and b["left"] < a["right"] - 1:
                pairs.append((a["text"], b["text"]))
    return pairs


def test_the_leaderboard_fits_a_1400_px_window(page, dashboard_url, real_run):
    page.goto(dashboard_url)
    table = page.locator("[data-testid=stMarkdown] table").filter(has_text="frame_map").first
    table.wait_for()
    page.screenshot(path=ARTIFACTS / "real_run_leaderboard.png", full_page=True)
    assert table.locator("tbody tr").count() == len(real_run.frame_map)
    geometry = table.evaluate("""t => ({right: t.getBoundingClientRect().right,
        scroll: t.parentElement.scrollWidth, client: t.parentElement.clientWidth,
        cells: [...t.querySelectorAll('th, td')].map(c => c.getBoundingClientRect().right)})""")
    assert geometry["right"] <= WINDOW
    assert max(geometry["cells"]) <= WINDOW, "a column is cut off at the window's edge"
    assert geometry["scroll"] <= geometry["client"] + 1, "the table scrolls sideways"
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]
    assert "job_id" in headers and headers[-1] == "state"


def test_no_two_class_labels_of_the_per_class_chart_overlap(page, dashboard_url, real_run):
    job_id = real_run.job_ids["evaluate.val.sf8x8"]
    page.goto(f"{dashboard_url}/run?job={job_id}")
    page.get_by_role("heading", name="Per-class AP on val (60 classes", exact=False).wait_for()
    chart = page.locator("[data-testid=stVegaLiteChart]").last
    chart.locator("svg").first.wait_for()
    page.screenshot(path=ARTIFACTS / "real_run_per_class_ap.png", full_page=True)
    boxes = chart.locator("svg").first.evaluate(AXIS_LABEL_BOXES, "Y-axis")
    assert boxes is not None and len(boxes) == 60
    aps = real_run.per_class_ap["evaluate.val.sf8x8"]
    from model.data.ava_labelmap import AVA_ACTION_NAMES

    best_first = [AVA_ACTION_NAMES[i] for i in sorted(aps, key=lambda i: -aps[i])]
    assert [box["text"] for box in sorted(boxes, key=lambda b: b["top"])] == best_first
    assert overlapping(boxes) == []
    assert min(b["bottom"] - b["top"] for b in boxes) > 8  # drawn at a readable size, not squeezed


def test_compare_overlays_the_members_and_sets_their_per_class_ap_beside_the_ensemble(page, dashboard_url, real_run):
    page.goto(f"{dashboard_url}/compare?experiment={real_run.experiment_id}")
    page.get_by_role("heading", name="Where the ensemble gains and loses", exact=False).wait_for()
    charts = page.locator("[data-testid=stVegaLiteChart]")
    charts.nth(2).locator("svg").first.wait_for()
    page.screenshot(path=ARTIFACTS / "real_run_compare.png", full_page=True)
    # Default selection: the seven members' val evaluations and the val ensemble.
    tags = page.locator("[data-testid=stMultiSelectTagsContainer] [data-tag]")
    chosen = [label.rsplit(" (#", 1)[0] for label in tags.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")]
    assert sorted(chosen) == sorted(["ensemble.val", *(f"evaluate.val.{member}" for member in MEMBERS)])
    # Curves: one line per member (drawn from its fine-tune), none for the ensemble.
    legend = charts.nth(0).locator("svg").first.evaluate(
        "svg => [...svg.querySelectorAll('.role-legend-label text')].map(t => t.textContent)")
    assert sorted(label.split(" #")[0] for label in legend) == sorted(MEMBERS)
    # Per-class AP side by side: one column per run, one readable row per class.
    columns = charts.nth(1).locator("svg").first.evaluate(AXIS_LABEL_BOXES, "X-axis")
    rows = charts.nth(1).locator("svg").first.evaluate(AXIS_LABEL_BOXES, "Y-axis")
    assert len(columns) == 8 and len(rows) == 60
    assert overlapping(columns) == [] and overlapping(rows) == []
    # Where the ensemble gains and loses: a bar per class, labels apart.
    gains = charts.nth(2).locator("svg").first.evaluate(AXIS_LABEL_BOXES, "Y-axis")
    assert len(gains) == 60 and overlapping(gains) == []
