"""Regenerate the README screenshots of the dashboard (docs/screenshots/*.png).

    .venv/bin/python scripts/dashboard_screenshots.py [--out docs/screenshots]

It seeds a throw-away SQLite database the way the dashboard tests do (the
orchestrator's models and ingest over run directories), starts the dashboard on a free
127.0.0.1 port and photographs each page with Debian's Chromium.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dashboard.browser import launch_chromium  # noqa: E402
from dashboard.serve import running_dashboard  # noqa: E402


def capture(base_url: str, out_dir: Path, *, ava_experiment: int, ava_eval_job: int, train_job: int,
            kinetics_job: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots = [("leaderboard.png", "", "Leaderboard"),
             ("jobs.png", f"/jobs?experiment={ava_experiment}", "DAG"),
             ("run_training_curves.png", f"/run?job={train_job}", "Config diff"),
             ("run_per_class_ap.png", f"/run?job={ava_eval_job}", "Config diff"),
             ("run_kinetics_confusion.png", f"/run?job={kinetics_job}", "Config diff"),
             ("submissions.png", f"/submissions?experiment={ava_experiment}", "Submissions")]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        # Streamlit scrolls inside its main container, so the viewport is the picture.
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.set_default_timeout(30_000)
        for name, path, heading in shots:
            page.goto(base_url + path)
            page.get_by_role("heading", name=heading).wait_for()
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1500)  # charts finish their first paint
            page.screenshot(path=out_dir / name, full_page=True)
            written.append(out_dir / name)
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    from tests.dashboard.seed_dashboard import seed_dashboard_db

    with tempfile.TemporaryDirectory() as tmp:
        runs_root = Path(tmp) / "runs"
        runs_root.mkdir()
        seeded = seed_dashboard_db(f"sqlite:///{runs_root / 'orchestrator.sqlite'}", runs_root)
        with running_dashboard(seeded.url, runs_root) as url:
            written = capture(url, args.out, ava_experiment=seeded.ava_experiment_id,
                              ava_eval_job=seeded.job_ids["ensemble_ava/evaluate.val.sf8x8"],
                              train_job=seeded.job_ids["ensemble_ava/finetune_ava.train.sf8x8"],
                              kinetics_job=seeded.job_ids["kinetics_challenge/evaluate.val.fast32x2"])
    for path in written:
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
