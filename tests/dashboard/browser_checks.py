"""What a person sees of a real `ensemble_ava` run at 1400 px, as checks a browser test runs:
on the real-run-shaped database (tests/dashboard/test_browser_real_run.py) and on the demo the
end-to-end test really runs (tests/e2e/test_demo_through_slurm.py).

Each check takes a Playwright page and the dashboard's URL, saves a screenshot, and returns
what it measured so the caller can assert what its data lets it know.
"""

from __future__ import annotations

from pathlib import Path

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


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes intersect (a pixel of slack for anti-aliasing)."""
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a["top"] < b["bottom"] - 1 and b["top"] < a["bottom"] - 1 \
                    and a["left"] < b["right"] - 1 and b["left"] < a["right"] - 1:
                pairs.append((a["text"], b["text"]))
    return pairs


def leaderboard_geometry(page, base_url: str, screenshot: Path) -> dict:
    """The AVA leaderboard table: its rows, headers, and whether it fits the window."""
    page.goto(base_url)
    table = page.locator("[data-testid=stMarkdown] table").filter(has_text="frame_map").first
    table.wait_for()
    page.screenshot(path=screenshot, full_page=True)
    geometry = table.evaluate("""t => ({right: t.getBoundingClientRect().right,
        scroll: t.parentElement.scrollWidth, client: t.parentElement.clientWidth,
        cells: [...t.querySelectorAll('th, td')].map(c => c.getBoundingClientRect().right)})""")
    geometry["rows"] = table.locator("tbody tr").count()
    geometry["headers"] = [h.strip() for h in table.locator("thead th").all_text_contents()]
    return geometry


def assert_fits_the_window(geometry: dict) -> None:
    assert geometry["right"] <= WINDOW
    assert max(geometry["cells"]) <= WINDOW, "a column is cut off at the window's edge"
    assert geometry["scroll"] <= geometry["client"] + 1, "the table scrolls sideways"


def per_class_labels(page, base_url: str, job_id: int, screenshot: Path) -> list[dict]:
    """The class labels of a run's per-class AP chart, top to bottom."""
    page.goto(f"{base_url}/run?job={job_id}")
    page.get_by_role("heading", name="Per-class AP on val", exact=False).wait_for()
    chart = page.locator("[data-testid=stVegaLiteChart]").last
    chart.locator("svg").first.wait_for()
    page.screenshot(path=screenshot, full_page=True)
    boxes = chart.locator("svg").first.evaluate(AXIS_LABEL_BOXES, "Y-axis")
    assert boxes is not None, "the per-class chart has no class axis"
    return sorted(boxes, key=lambda b: b["top"])


def compare_page(page, base_url: str, experiment_id: int, screenshot: Path) -> dict:
    """The Compare page's default selection, curve legend and per-class label boxes."""
    page.goto(f"{base_url}/compare?experiment={experiment_id}")
    page.get_by_role("heading", name="Where the ensemble gains and loses", exact=False).wait_for()
    charts = page.locator("[data-testid=stVegaLiteChart]")
    charts.nth(2).locator("svg").first.wait_for()
    page.screenshot(path=screenshot, full_page=True)
    tags = page.locator("[data-testid=stMultiSelectTagsContainer] [data-tag]")
    chosen = [label.rsplit(" (#", 1)[0]
              for label in tags.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")]
    legend = charts.nth(0).locator("svg").first.evaluate(
        "svg => [...svg.querySelectorAll('.role-legend-label text')].map(t => t.textContent)")
    heatmap = charts.nth(1).locator("svg").first
    return {"chosen": chosen, "curves": sorted(label.split(" #")[0] for label in legend),
            "columns": heatmap.evaluate(AXIS_LABEL_BOXES, "X-axis"),
            "rows": heatmap.evaluate(AXIS_LABEL_BOXES, "Y-axis"),
            "gains": charts.nth(2).locator("svg").first.evaluate(AXIS_LABEL_BOXES, "Y-axis")}
