"""Regenerate the screenshots of the dashboard (docs/screenshots/*.png).

    .venv/bin/python scripts/dashboard_screenshots.py --db-url sqlite:////path/orchestrator.db \\
        --runs-root /path/runs [--out docs/screenshots]
    .venv/bin/python scripts/dashboard_screenshots.py          # a seeded throw-away database

Pointed at a real run (a copy of `make demo`'s database and runs folder), it photographs what
a user of that run sees; without one, it seeds a small database the way the dashboard tests
do. It starts the dashboard on a free 127.0.0.1 port (warmed, as `orchestrator dashboard`
does) and photographs each page at 1400 px in Debian's Chromium. A page the database has
nothing for (the Kinetics confusion of an AVA-only run) is skipped and said so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dashboard.browser import launch_chromium  # noqa: E402
from dashboard.serve import running_dashboard  # noqa: E402

WIDTH = 1400


@dataclass(frozen=True)
class Shot:
    file: str
    path: str
    heading: str


def shots_for(db_url: str) -> tuple[list[Shot], list[str]]:
    """The pages to photograph in this database, and the ones skipped (with why)."""
    from sqlalchemy import select

    from dashboard.readonly import open_readonly_engine
    from orchestrator.db import Experiment, Job

    engine = open_readonly_engine(db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Experiment.id, Experiment.task, Job.id, Job.name)
                                      .join(Job, Job.experiment_id == Experiment.id)
                                      .order_by(Experiment.id, Job.id)).all()
    finally:
        engine.dispose()
    ava = {name: job_id for exp_id, task, job_id, name in rows if task == "ava"}
    ava_experiment = next((exp_id for exp_id, task, _, _ in rows if task == "ava"), None)
    kinetics = {name: job_id for _, task, job_id, name in rows if task == "kinetics"}
    shots, skipped = [Shot("leaderboard.png", "", "Leaderboard")], []
    if ava_experiment is None:
        return shots, ["every AVA page: no AVA experiment"]
    shots += [Shot("jobs.png", f"/jobs?experiment={ava_experiment}", "DAG"),
              Shot("run_training_curves.png", f"/run?job={ava['finetune_ava.train.sf8x8']}", "Config diff"),
              Shot("run_per_class_ap.png", f"/run?job={ava['evaluate.val.sf8x8']}", "Config diff"),
              Shot("compare.png", f"/compare?experiment={ava_experiment}", "Per-class AP on val (%)"),
              Shot("submissions.png", f"/submissions?experiment={ava_experiment}", "Submissions")]
    if "evaluate.val.sf8x8" in kinetics:
        shots.append(Shot("run_kinetics_confusion.png", f"/run?job={kinetics['evaluate.val.sf8x8']}", "Config diff"))
    else:
        skipped.append("run_kinetics_confusion.png: no Kinetics evaluation in this database")
    return shots, skipped


def capture(base_url: str, out_dir: Path, shots: list[Shot]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        # Streamlit scrolls inside its main container, so the viewport is the picture.
        page = browser.new_page(viewport={"width": WIDTH, "height": 1500})
        page.set_default_timeout(30_000)
        for shot in shots:
            page.goto(base_url + shot.path)
            page.get_by_role("heading", name=shot.heading).first.wait_for()
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1500)  # charts finish their first paint
            page.screenshot(path=out_dir / shot.file, full_page=True)
            written.append(out_dir / shot.file)
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--db-url", help="a real run's database (a copy: the dashboard only reads it)")
    parser.add_argument("--runs-root", type=Path, help="that run's runs folder (the paths the database names)")
    args = parser.parse_args(argv)
    if bool(args.db_url) != bool(args.runs_root):
        parser.error("--db-url and --runs-root go together")
    with tempfile.TemporaryDirectory() as tmp:
        if args.db_url:
            db_url, runs_root = args.db_url, args.runs_root
        else:
            from tests.dashboard.seed_dashboard import seed_dashboard_db

            runs_root = Path(tmp) / "runs"
            runs_root.mkdir()
            db_url = seed_dashboard_db(f"sqlite:///{runs_root / 'orchestrator.sqlite'}", runs_root).url
        shots, skipped = shots_for(db_url)
        with running_dashboard(db_url, runs_root) as url:
            written = capture(url, args.out, shots)
    for path in written:
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    for reason in skipped:
        print(f"skipped {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
