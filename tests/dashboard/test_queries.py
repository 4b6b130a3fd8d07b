"""The dashboard's SQL on SQLite and PostgreSQL, against a database seeded by the orchestrator's
models and ingest (the `empty_db_url` fixture runs each test on both)."""

from __future__ import annotations

import json

import pytest

from dashboard.queries.jobs import experiment_attempts, experiment_jobs, job_edges
from dashboard.queries.leaderboard import leaderboard
from dashboard.queries.runs import config_diff, metric_curve, metric_series_names, per_class_ap
from dashboard.readonly import DatabaseState, database_status, open_readonly_engine
from tests.dashboard.seed_dashboard import AVA_EVAL_SCORES, TRAIN_STEPS, seed_dashboard_db


@pytest.fixture
def seeded(empty_db_url, tmp_path):
    runs_root = tmp_path / "runs"
    runs_root.mkdir()
    seeded = seed_dashboard_db(empty_db_url, runs_root)
    engine = open_readonly_engine(empty_db_url)
    yield seeded, engine
    engine.dispose()


def test_leaderboard_uses_each_jobs_latest_val_score(seeded):
    db, engine = seeded
    assert database_status(engine).state is DatabaseState.READY
    table = leaderboard(engine)
    ava = table[table["task"] == "ava"]
    # Fractions, as the read model keeps them (the page shows percent).
    assert list(ava["frame_map"]) == pytest.approx(
        sorted((v for m, v in AVA_EVAL_SCORES.items() if m != "fast32x2"), reverse=True))
    assert list(ava["member"])[0] == "ensemble"
    kinetics = table[table["task"] == "kinetics"].set_index("member")
    assert kinetics.loc["sf8x8", "top1"] == pytest.approx(0.706)  # step 20, not step 10's 0.606
    assert kinetics.loc["sf8x8", "challenge_error"] == pytest.approx(((1 - 0.706) + (1 - 0.892)) / 2)


def test_dashboard_and_cli_leaderboards_are_one_read_model(seeded):
    """The same jobs in the same order with the same fractions as `orchestrator leaderboard`."""
    from sqlalchemy.orm import Session

    from orchestrator.views.leaderboard import ava_leaderboard, kinetics_leaderboard

    db, engine = seeded
    table = leaderboard(engine)
    with Session(engine) as session:
        ava, kinetics = ava_leaderboard(session), kinetics_leaderboard(session)
    assert list(table.loc[table["task"] == "ava", "job_id"]) == [row.job_id for row in ava]
    assert list(table.loc[table["task"] == "ava", "frame_map"]) == [row.frame_map for row in ava]
    board = table[table["task"] == "kinetics"]
    assert list(board["job_id"]) == [row.job_id for row in kinetics]
    assert list(board["challenge_error"]) == pytest.approx([row.challenge_error for row in kinetics])


def test_metric_curve_is_downsampled_in_sql(seeded):
    db, engine = seeded
    job = db.job_ids["ensemble_ava/finetune_ava.train.sf8x8"]
    full = metric_curve(engine, job, "train", "loss")
    assert list(full["step"]) == list(range(1, TRAIN_STEPS + 1))
    coarse = metric_curve(engine, job, "train", "loss", max_points=10)
    assert len(coarse) <= 10
    # each point is the mean of its bucket of consecutive steps (width (48-1)//10+1 = 5)
    assert coarse["value"].iloc[0] == pytest.approx(full["value"].iloc[:5].mean())
    names = metric_series_names(engine, job)
    assert set(names["name"]) == {"loss", "lr", "clips_per_s"}


def test_per_class_ap_sorted_best_first(seeded):
    db, engine = seeded
    frame = per_class_ap(engine, db.job_ids["ensemble_ava/evaluate.val.sf8x8"], {1: "bend/bow (at the waist)"})
    assert len(frame) == 60
    assert list(frame["ap"]) == sorted(frame["ap"], reverse=True)
    assert frame.set_index("action_id").loc[1, "ap"] == pytest.approx(100 * db.per_class_ap[1])


def test_dag_and_attempts_of_an_experiment(seeded):
    db, engine = seeded
    jobs = experiment_jobs(engine, db.ava_experiment_id)
    assert len(jobs) == 11
    edges = set(job_edges(engine, db.ava_experiment_id))
    ensemble = db.job_ids["ensemble_ava/ensemble.val"]
    assert {d for j, d in edges if j == ensemble} == {
        db.job_ids[f"ensemble_ava/evaluate.val.{m}"] for m in ("sf8x8", "sf16x8_ctx_iou09_18k")}
    attempts = experiment_attempts(engine, db.ava_experiment_id)
    assert sorted(attempts["state"].value_counts().items()) == [
        ("COMPLETED", 9), ("FAILED", 1), ("PREEMPTED", 3), ("RUNNING", 1)]
    assert attempts.loc[attempts["state"] == "PREEMPTED", "duration_s"].tolist() == [1200.0] * 3


def test_config_diff_lists_only_changed_keys():
    left = {"model": {"name": "a", "depth": 101}, "lr": 0.1, "scales": [256, 340]}
    right = {"model": {"name": "b", "depth": 101}, "scales": [256, 360], "extra": True}
    diff = config_diff(left, right)
    assert diff.to_dict("records") == [
        {"key": "extra", "left": "—", "right": "true"},
        {"key": "lr", "left": "0.1", "right": "—"},
        {"key": "model.name", "left": json.dumps("a"), "right": json.dumps("b")},
        {"key": "scales", "left": "[256, 340]", "right": "[256, 360]"},
    ]


def test_members_table_reads_the_export_manifest_and_a_member_list():
    from dashboard.queries.submissions import members_table

    manifest = {"members": {"sf8x8": {"checkpoint": "a.pt", "checkpoint_sha256": "1" * 64,
                                      "jobs": {"x": {}, "y": {}}}}}
    assert members_table(manifest).to_dict("records") == [
        {"member": "sf8x8", "checkpoint": "a.pt", "checkpoint_sha256": "1" * 64, "jobs (count)": 2}]
    assert members_table([{"member": "m", "tags": ["a", "b"]}]).to_dict("records") == [{"member": "m", "tags": "a, b"}]
    assert members_table({}).empty and members_table(None).empty


def test_a_cpu_run_reports_core_hours_and_a_gpu_run_gpu_hours():
    """A CPU run's GPU-hours are 0.0, which says nothing: its CPU core-hours are shown instead,
    from the watcher's recorded allocation where there is one, else wall x cores."""
    import pandas as pd

    from dashboard.queries.jobs import usage

    cpu = pd.DataFrame({"duration_s": [3600.0, 1800.0], "gpus": [0, 0], "cores": [4, 4],
                        "gpu_seconds": [0, None], "cpu_seconds": [7200, None]})
    used = usage(cpu)
    assert (used.unit, used.label) == ("core-h", "CPU core-hours")
    assert used.hours == pytest.approx(2.0 + 0.5 * 4)  # recorded 7200 s, then 1800 s x 4 cores
    gpu = cpu.assign(gpus=[2, 2], gpu_seconds=[None, None])
    assert (usage(gpu).unit, usage(gpu).hours) == ("GPU-h", pytest.approx(3.0))


def test_the_estimate_is_summed_in_the_unit_shown(seeded):
    from dashboard.queries.jobs import estimated_usage

    db, engine = seeded
    assert estimated_usage(engine, experiment_id=db.ava_experiment_id, unit="GPU-h") is None  # none recorded


def test_the_most_comparable_job_is_the_same_job_of_another_member():
    import pandas as pd

    from dashboard.queries.runs import comparable_default

    others = pd.DataFrame({"id": [1, 2, 3, 4], "name": ["pretrain.k600.slowfast_8x8", "finetune_ava.train.sf8x8",
                                                        "evaluate.val_single_scale.sf16x8", "evaluate.val.fast32x2"],
                           "kind": ["pretrain", "finetune_ava", "evaluate", "evaluate"]})
    assert comparable_default(9, "evaluate.val.sf8x8", "evaluate", others) == 4
    assert comparable_default(9, "evaluate.test.sf8x8", "evaluate", others) == 3  # same kind
    assert comparable_default(9, "export.test", "export", others) == 1             # anything else
    assert comparable_default(1, "x", "pretrain", others.iloc[:1]) is None


def test_times_and_durations_as_people_read_them():
    import datetime as dt

    from dashboard.formatting import duration_text, full_time, local_time
    from orchestrator.durations import format_duration

    stamp = dt.datetime(2026, 12, 5, 7, 20, 54, 72391)  # stored naive, in UTC
    assert local_time(stamp) == stamp.replace(tzinfo=dt.timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert "." not in local_time(stamp) and "+" not in local_time(stamp)
    assert full_time(stamp) == "2026-12-05T07:20:54.072391+00:00"
    assert duration_text(3725) == format_duration(3725) == "1h 02m"
    assert duration_text(None) == "" and local_time(None) == ""


def test_long_names_may_wrap_at_their_underscores_only():
    import pandas as pd

    from dashboard.layout import BREAK_OPPORTUNITY, markdown_table

    table = markdown_table(pd.DataFrame({"member": ["sf16x8_ctx"], "state": ["COMPLETED"]}), break_at_underscores=True)
    assert f"sf16x8\\_{BREAK_OPPORTUNITY}ctx" in table and f"COMPLETED" in table
    assert BREAK_OPPORTUNITY not in markdown_table(pd.DataFrame({"member": ["sf16x8_ctx"]}))
