"""The whole `ensemble_ava` programme at demo scale through the real local SLURM cluster.

What a user runs (`python -m orchestrator submit ensemble_ava scale=demo cluster=slurm`),
as a subprocess, against the cluster of scripts/slurm/start-local-cluster.sh: three K600
pretrainings, seven members fine-tuned on train and evaluated on val with their test-time
augmentation, seven 1.5x train+val fine-tunes with test inference, the scored val ensemble,
the exported and validated test submission. While one member's fine-tune runs, a job of the
high-priority partition takes the whole node: that member is checkpointed, requeued by
SLURM, resumes from its step, and must end bit-identical (weights and deterministic
metrics) to the same job run without interruption. Finally the dashboard, in Chromium,
shows the member's PREEMPTED/REQUEUED -> COMPLETED history.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sqlalchemy import select

from jobs.predictions import score_ava
from model.engine.precision import cpu_kind
from model.data.ava_annotations import HELD_OUT_TEST_GT
from model.engine.reporting import deterministic_view
from model.eval.ava import frame_map
from model.eval.submission import validate_ava_submission
from orchestrator.db import Attempt, Job, open_database, session_scope
from orchestrator.views.leaderboard import ava_leaderboard

# The module fixture runs the whole demo inside the first test (about 8 min on 2 idle cores).
pytestmark = [pytest.mark.slurm, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2700)]

REPO_ROOT = Path(__file__).resolve().parents[2]
VICTIM = "finetune_ava.train.sf8x8"
ARTIFACTS = Path(os.environ.get("E2E_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts" / "e2e"))


def _status(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _metrics(run_dir: Path) -> list:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    return deterministic_view(lines)


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    result = json.loads((run_dir / "result.json").read_text())
    state = torch.load(run_dir / result["checkpoint"], map_location="cpu", weights_only=True)
    return state["model"]


@pytest.fixture(scope="module")
def demo_run(slurm_cluster, tmp_path_factory):
    """Runs the demo through SLURM once, preempting VICTIM mid-run; yields what it left."""
    runs_root = tmp_path_factory.mktemp("e2e") / "runs"
    env = {**os.environ, "ORCH_RUNS_ROOT": str(runs_root), "PYTHONUNBUFFERED": "1"}
    env.pop("ORCH_DB_URL", None)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "submit.log"
    victim_dir = runs_root / "ensemble_ava" / VICTIM
    began = time.monotonic()
    with log_path.open("w") as log:
        submit = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "submit", "ensemble_ava", "scale=demo", "cluster=slurm",
             "--wait", "--poll-interval", "2"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        preemptor = None
        preempted_at_step = None
        try:
            while submit.poll() is None:
                status = _status(victim_dir)
                if preemptor is None and status.get("state") == "running" and status.get("step", 0) >= 5:
                    preempted_at_step = int(status["step"])
                    # A high-priority job that needs every CPU of the node: SLURM preempts
                    # (USR2 -> checkpoint -> requeue) whatever runs in the low partition.
                    out = subprocess.run(
                        ["sbatch", "--parsable", "--partition=high", f"--cpus-per-task={slurm_cluster.cpus}",
                         "--mem=100", f"--output={ARTIFACTS}/high-%j.out", "--wrap=sleep 15"],
                        capture_output=True, text=True, check=True)
                    preemptor = out.stdout.strip().split(";")[0]
                if time.monotonic() - began > 2700:
                    raise AssertionError(f"the demo did not finish in 45 min; see {log_path}")
                time.sleep(0.5)
        finally:
            if submit.poll() is None:
                submit.kill()
    output = log_path.read_text()
    yield {"runs_root": runs_root, "returncode": submit.returncode, "output": output, "preemptor": preemptor,
           "preempted_at_step": preempted_at_step, "seconds": time.monotonic() - began}


def test_the_demo_finishes_with_every_job_completed(demo_run):
    assert demo_run["returncode"] == 0, demo_run["output"][-3000:]
    engine = open_database(runs_root=demo_run["runs_root"])
    with session_scope(engine) as session:
        states = dict(session.execute(select(Job.name, Job.state)).all())
    assert len(states) == 35  # 34 + the single-scale val evaluation of one "++" member
    assert set(states.values()) == {"COMPLETED"}, {n: s for n, s in states.items() if s != "COMPLETED"}
    kinds = {name.split(".")[0] for name in states}
    assert kinds == {"pretrain", "finetune_ava", "evaluate", "ensemble", "export"}


def test_the_submission_is_exported_and_valid(demo_run):
    output = demo_run["output"]
    line = next(line for line in output.splitlines() if line.startswith("submission: "))
    path = Path(line.split()[1])
    assert path.is_file() and path.parent == demo_run["runs_root"] / "exports"
    annotations = demo_run["runs_root"] / "data" / "demo" / "ava" / "annotations"
    report = validate_ava_submission(path, labelmap=annotations / "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
                                     test_keyframes=annotations / "ava_test_keyframes_v2.2.csv")
    assert report.ok, report.problems[:5]
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    assert len(manifest["members"]) == 7
    # The generated data keeps its test labels aside: the demo prints the file's test score,
    # the official metric recomputed here from the exported file and the held-out truth.
    scored = next(line for line in output.splitlines() if line.startswith("test frame-mAP of the submission: "))
    printed = scored.split(": ")[1].split()[0]
    truth = demo_run["runs_root"] / "data" / "demo" / "ava" / HELD_OUT_TEST_GT
    expected = frame_map(truth, path, annotations / "ava_action_list_v2.2_for_activitynet_2019.pbtxt", None).mAP
    assert printed == f"{100 * expected:.2f}"
    kind, stated = readme_demo_test_map()
    if kind == cpu_kind():
        assert printed == stated, f"README.md states test frame-mAP {stated}, the demo printed {printed}"


def readme_demo_test_map() -> tuple[str, str]:
    """The CPU kind of the README's demo figures, and the submission's test frame-mAP it states."""
    import re

    text = " ".join((REPO_ROOT / "README.md").read_text().split())
    kind, _ = readme_demo_leaderboard()
    found = re.search(r"the exported file scores ([\d.]+) test frame-mAP", text)
    assert found, "README.md no longer states the demo submission's test frame-mAP in the expected sentence"
    return kind, found.group(1)


def readme_demo_leaderboard() -> tuple[str, dict[str, float]]:
    """The CPU kind the README's demo figures were measured on, and the leaderboard it states
    (percent)."""
    import re

    text = " ".join((REPO_ROOT / "README.md").read_text().split())
    found = re.search(r"On a `([^`]+)` CPU the members reach ([\d.]+)-([\d.]+) val frame-mAP on the generated "
                      r"data \(median ([\d.]+)\) and the ensemble ([\d.]+)", text)
    assert found, "README.md no longer states the demo's leaderboard in the expected sentence"
    return found.group(1), dict(zip(("lowest", "highest", "median", "ensemble"), map(float, found.groups()[1:])))


def test_the_ensemble_learned_and_is_on_the_leaderboard(demo_run):
    """The val ensemble is scored, printed, and clearly above chance.

    Chance is the frame-mAP of the ensemble's own detections with their scores permuted (same
    boxes, same classes, no learned ranking): 0.15-0.19 on the generated data, where the demo's
    members reach 0.23-0.31 (bench/RESULTS.md, demo section).
    """
    engine = open_database(runs_root=demo_run["runs_root"])
    with session_scope(engine) as session:
        rows = ava_leaderboard(session, "ensemble_ava")
    members = [row.frame_map for row in rows if row.in_ensemble]
    ensemble = [row.frame_map for row in rows if row.is_ensemble]
    assert len(members) == 7 and len(ensemble) == 1
    # The single-scale evaluation of one "++" member is on the board, labelled, in no ensemble.
    single = [row for row in rows if row.single_scale_of]
    assert len(single) == 1 and not single[0].in_ensemble and single[0].tta.startswith("single")
    print(f"members {sorted(members)}, median {statistics.median(members):.4f}, ensemble {ensemble[0]:.4f}")
    # The orderings of the report's Table 2 that held on every seed of bench/demo_seeds.py
    # (bench/RESULTS.md), so that they are not read from one draw of the generated data. The
    # ensemble's place among the members moves with the seed and is checked with the figures.
    by_name = {row.job: row.frame_map for row in rows}
    twin = single[0]
    assert by_name[f"evaluate.val.{twin.single_scale_of}"] > twin.frame_map, "'++' not above its single scale"
    sf16x8 = [v for job, v in by_name.items() if job.startswith("evaluate.val.sf16x8")]
    assert max(sf16x8) > by_name["evaluate.val.sf8x8"], "no 16x8 member above the 8x8"
    # The README states this leaderboard: a change that moves it must update the README too.
    # The figures are exact on the CPU kind they were measured on; another kind rounds
    # differently and the from-scratch training amplifies it (docs/fidelity.md, demo).
    kind, stated = readme_demo_leaderboard()
    measured = {"lowest": min(members), "highest": max(members), "median": statistics.median(members),
                "ensemble": ensemble[0]}
    if kind == cpu_kind():
        assert {k: round(100 * v, 1) for k, v in measured.items()} == stated, \
            f"README.md states {stated}, the demo printed {measured}"
    else:
        warnings.warn(f"README.md's demo figures were measured on a {kind!r} CPU, this is {cpu_kind()!r}: "
                      f"only the orderings were checked (stated {stated}, printed {measured})")
    run_dir = demo_run["runs_root"] / "ensemble_ava" / "ensemble.val"
    data_cfg = yaml.safe_load((run_dir / "config.yaml").read_text())["data"]
    detections = pd.read_csv(run_dir / "predictions" / "val.csv", header=None,
                             names=["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"])
    rng = np.random.default_rng(0)
    chance = statistics.mean(
        score_ava(detections.assign(score=rng.permutation(detections["score"].to_numpy())), data_cfg, "val")["frame_map"]
        for _ in range(5))
    assert ensemble[0] >= 1.25 * chance, f"ensemble {ensemble[0]:.4f} vs chance {chance:.4f}"
    # The leaderboard the user sees lists the members and the ensemble.
    assert "AVA v2.2 val frame-mAP@0.5" in demo_run["output"] and "ensemble.val" in demo_run["output"]


def test_the_preempted_member_resumed_and_equals_an_uninterrupted_run(demo_run, tmp_path):
    assert demo_run["preemptor"] is not None, "the victim never reached step 5 while running"
    engine = open_database(runs_root=demo_run["runs_root"])
    with session_scope(engine) as session:
        job = session.scalars(select(Job).where(Job.name == VICTIM)).one()
        attempts = session.scalars(select(Attempt).where(Attempt.job_id == job.id).order_by(Attempt.number)).all()
        history = [t.state for a in attempts for t in a.transitions]
        resumed_from = max((a.resumed_from_step or 0) for a in attempts)
    assert "PREEMPTED" in history or "REQUEUED" in history, history
    assert history[-1] == "COMPLETED"
    victim_dir = demo_run["runs_root"] / "ensemble_ava" / VICTIM
    result = json.loads((victim_dir / "result.json").read_text())
    assert resumed_from > 0 or result.get("resumed_from_step", 0) > 0, "resumed from step 0"

    # The same job, same config and inputs, run without interruption in a fresh directory.
    fresh = tmp_path / VICTIM
    fresh.mkdir()
    shutil.copy(victim_dir / "config.yaml", fresh / "config.yaml")
    subprocess.run([sys.executable, "-m", "jobs.finetune_ava", "--run-dir", str(fresh)], cwd=REPO_ROOT,
                   check=True, stdin=subprocess.DEVNULL)
    assert _metrics(victim_dir) == _metrics(fresh)
    resumed, uninterrupted = _final_weights(victim_dir), _final_weights(fresh)
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)


@pytest.mark.browser
def test_the_dashboard_shows_the_preemption_history(demo_run):
    from playwright.sync_api import sync_playwright

    from dashboard.browser import launch_chromium
    from dashboard.serve import running_dashboard
    from orchestrator.db import resolve_db_url

    url = resolve_db_url(runs_root=demo_run["runs_root"])
    with running_dashboard(url, demo_run["runs_root"], log_path=ARTIFACTS / "streamlit.log") as base, \
            sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.set_default_timeout(60_000)
        page.goto(f"{base}/jobs")
        page.get_by_text("Interrupted and resumed").wait_for()
        block = page.locator("p", has_text="Interrupted and resumed").first.inner_text()
        line = next(line for line in block.splitlines() if line.startswith(f"{VICTIM} attempt"))
        page.screenshot(path=ARTIFACTS / "jobs_after_preemption.png", full_page=True)
        browser.close()
    states = [state.strip() for state in line.split(":", 1)[1].split("→")]
    assert "PREEMPTED" in states or "REQUEUED" in states, line
    assert states[-1] == "COMPLETED", line


def dashboard_reads_the_run(runs_root: Path, artifacts: Path) -> None:
    """The dashboard over a finished demo run at 1400 px, as its browser checks see it: the
    leaderboard lists every AVA row and fits the window; the per-class AP chart of the "++"
    member has one readable label per class with ground truth, best first, none overlapping;
    Compare defaults to the seven members and the ensemble, overlays the members' curves and
    sets their per-class AP side by side."""
    from playwright.sync_api import sync_playwright

    from dashboard.browser import launch_chromium
    from dashboard.serve import running_dashboard
    from model.data.ava_labelmap import AVA_ACTION_NAMES
    from orchestrator.db import Experiment, Metric, resolve_db_url
    from tests.dashboard.browser_checks import (MEMBERS, WINDOW, assert_fits_the_window, compare_page,
                                                leaderboard_geometry, overlapping, per_class_labels)

    artifacts.mkdir(parents=True, exist_ok=True)
    member = "evaluate.val.sf16x8_ctx_iou09_18k"
    engine = open_database(runs_root=runs_root)
    with session_scope(engine) as session:
        rows = ava_leaderboard(session, "ensemble_ava")
        experiment_id = session.scalars(select(Experiment.id).where(Experiment.name == "ensemble_ava")).one()
        job_id = session.scalars(select(Job.id).where(Job.name == member)).one()
        ap = {AVA_ACTION_NAMES[int(name.removeprefix("ap/"))]: value for name, value in session.execute(
            select(Metric.name, Metric.value).where(Metric.job_id == job_id, Metric.split == "val",
                                                    Metric.name.like("ap/%")))}
    engine.dispose()
    url = resolve_db_url(runs_root=runs_root)
    with running_dashboard(url, runs_root, log_path=artifacts / "streamlit-read.log") as base, \
            sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": WINDOW, "height": 1000})
        page.set_default_timeout(60_000)
        geometry = leaderboard_geometry(page, base, artifacts / "leaderboard.png")
        labels = per_class_labels(page, base, job_id, artifacts / "per_class_ap.png")
        seen = compare_page(page, base, experiment_id, artifacts / "compare.png")
        browser.close()
    assert geometry["rows"] == len(rows)
    assert_fits_the_window(geometry)
    shown = [box["text"] for box in labels]
    scored = {name: value for name, value in ap.items() if value == value}  # classes with ground truth
    assert sorted(shown) == sorted(scored)
    assert [scored[name] for name in shown] == sorted(scored.values(), reverse=True)
    assert overlapping(labels) == [] and min(b["bottom"] - b["top"] for b in labels) > 8
    assert sorted(seen["chosen"]) == sorted(["ensemble.val", *(f"evaluate.val.{m}" for m in MEMBERS)])
    assert seen["curves"] == sorted(MEMBERS)
    assert len(seen["columns"]) == 8 and overlapping(seen["columns"]) == []
    assert sorted(box["text"] for box in seen["rows"]) == sorted(scored) and overlapping(seen["rows"]) == []


@pytest.mark.browser
def test_the_dashboard_reads_the_real_run_at_1400_px(demo_run):
    dashboard_reads_the_run(demo_run["runs_root"], ARTIFACTS / "dashboard")
