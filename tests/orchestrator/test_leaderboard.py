"""`python -m orchestrator leaderboard` over an experiment planned by the real planner: the
single-scale evaluation of a "++" member is labelled and kept out of the ensemble, and the
report's published rows stand beside ours, from the one source the dashboard reads too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.cli import main
from orchestrator.db import Job, make_session_factory, open_database, session_scope, upgrade
from orchestrator.ingest import ingest_job
from orchestrator.planner import compose_experiment, plan_experiment, record_plan, to_plain
from orchestrator.views.published import PUBLISHED_SOURCE, published_rows, published_value

PLUS = "sf16x8_ctx_iou09_18k"
VAL_MAP = {f"evaluate.val.{PLUS}": 0.307, f"evaluate.val_single_scale.{PLUS}": 0.298,
           "evaluate.val.sf8x8": 0.290, "ensemble.val": 0.343}


def _planned_with_val_metrics(runs_root: Path, experiment: str, val_metrics: dict[str, dict[str, float]]) -> str:
    """`experiment` planned at demo scale and recorded in SQLite under `runs_root`, with the val
    metrics of `val_metrics` (job name -> metric -> value) written as the jobs write them and
    ingested; a result.json beside each."""
    url = f"sqlite:///{runs_root / 'orchestrator.sqlite'}"
    upgrade(url)
    engine = open_database(url)
    factory = make_session_factory(engine)
    plan = plan_experiment(to_plain(compose_experiment(experiment, ["scale=demo", "cluster=local"])),
                           runs_root=runs_root)
    with session_scope(factory) as session:
        record_plan(session, plan)
    with session_scope(factory) as session:
        for job in session.scalars(select(Job).where(Job.name.in_(list(val_metrics)))):
            run_dir = Path(job.run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            metrics = val_metrics[job.name]
            (run_dir / "metrics.jsonl").write_text("".join(
                json.dumps({"step": 0, "split": "val", "name": name, "value": value, "attempt": 1}) + "\n"
                for name, value in metrics.items()))
            (run_dir / "result.json").write_text(json.dumps({"metrics": metrics}))
            ingest_job(session, job)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def planned_db(tmp_path_factory) -> str:
    """ensemble_ava planned at demo scale and recorded in SQLite, four val scores ingested."""
    return _planned_with_val_metrics(tmp_path_factory.mktemp("leaderboard") / "runs", "ensemble_ava",
                                     {name: {"frame_map": value} for name, value in VAL_MAP.items()})


def test_the_single_scale_row_is_labelled_and_not_an_ensemble_member(planned_db, capsys) -> None:
    assert main(["leaderboard", "--task", "ava", "--json", "--db-url", planned_db]) == 0
    rows = {row["job"]: row for row in json.loads(capsys.readouterr().out)["ava"]}
    assert set(rows) == set(VAL_MAP)
    single, plus = rows[f"evaluate.val_single_scale.{PLUS}"], rows[f"evaluate.val.{PLUS}"]
    assert single["in_ensemble"] is False and single["single_scale_of"] == PLUS
    assert single["tta"] == "single (64)"  # the demo's 256 x 0.25
    assert plus["in_ensemble"] is True and plus["tta"] == "++ (56/64/80 + flip)" and plus["single_scale_of"] == ""
    assert rows["evaluate.val.sf8x8"]["tta"] == "single (64)" and rows["evaluate.val.sf8x8"]["in_ensemble"]
    assert rows["ensemble.val"]["is_ensemble"] and not rows["ensemble.val"]["in_ensemble"]

    assert main(["leaderboard", "--task", "ava", "--db-url", planned_db]) == 0
    out = capsys.readouterr().out
    line = next(text for text in out.splitlines() if f"evaluate.val_single_scale.{PLUS}" in text)
    assert f"single-scale twin of {PLUS}" in line and " no " in line and "29.80" in line
    # Table 2's comparison, ours beside the published one.
    assert f'"++" gain on {PLUS} (ensemble_ava): 29.80 -> 30.70 (+0.90); published, Table 2: 29.8 -> 30.7' in out


def test_published_rows_stand_beside_ours_marked_as_published(planned_db, capsys) -> None:
    assert main(["leaderboard", "--json", "--db-url", planned_db]) == 0
    document = json.loads(capsys.readouterr().out)
    published = document["published"]
    assert set(published) == {"ava", "kinetics"}
    assert all(row["published"] is True and row["source"] == PUBLISHED_SOURCE
               for rows in published.values() for row in rows)
    table2 = {row["model"]: (row["frame_map"], row["test_map"]) for row in published["ava"]}
    assert table2 == {"SlowFast, 8x8, AVA v2.1": (28.2, None), "SlowFast, 8x8": (29.0, None),
                      "Fast (beta=1), 32x2": (27.4, None), "SlowFast, 16x8": (29.8, None),
                      "SlowFast++, 16x8": (30.7, None), "SlowFast++, ensemble": (None, 34.3)}
    kinetics = {(row["model"], row["dataset"]): (row["top1"], row["top5"], row["challenge_error"])
                for row in published["kinetics"]}
    assert kinetics[("SlowFast 16x8", "K700")] == (71.0, 89.6, None)
    assert kinetics[("SlowFast 8x8", "K700")] == (70.6, None, None)
    assert kinetics[("Ensemble (8x8, 32x2, 16x8)", "K700 test")] == (None, None, 18.95)
    # Never ranked with ours: our boards hold only our jobs.
    assert all("published" not in row for row in document["ava"])

    assert main(["leaderboard", "--db-url", planned_db]) == 0
    out = capsys.readouterr().out
    assert "Published: Table 2 of the report (not our runs, never ranked)" in out
    assert "Published: Sec. 3.1 of the report (not our runs, never ranked)" in out
    assert out.count(PUBLISHED_SOURCE) == len(published["ava"]) + len(published["kinetics"])
    ensemble_line = next(text for text in out.splitlines() if "SlowFast++, ensemble" in text)
    assert "34.3" in ensemble_line
    assert "18.95" in next(text for text in out.splitlines() if "Ensemble (8x8, 32x2, 16x8)" in text)


def test_the_cli_and_the_dashboard_read_the_same_published_numbers() -> None:
    from dashboard.published import PUBLISHED_COLUMNS, published_reference

    frame = published_reference()
    ours = [{column: getattr(row, column) for column in PUBLISHED_COLUMNS} for row in published_rows()]
    assert frame.astype(object).where(frame.notna(), None).to_dict("records") == ours
    assert published_value("ava", "SlowFast++, 16x8", "frame_map") == 30.7
    assert published_value("ava", "no such row", "frame_map") is None


# Kinetics jobs with both accuracies, only top-1 and only top-5 (fractions, as jobs write them).
KINETICS_VAL = {"evaluate.val.sf8x8": {"top1": 0.70, "top5": 0.90},
                "evaluate.val.fast32x2": {"top1": 0.60},
                "evaluate.val.sf16x8": {"top5": 0.95},
                "ensemble.val": {"top1": 0.72, "top5": 0.91}}


@pytest.fixture(scope="module")
def kinetics_db(tmp_path_factory) -> str:
    """kinetics_challenge planned at demo scale, four val evaluations ingested (two partial)."""
    return _planned_with_val_metrics(tmp_path_factory.mktemp("kinetics_board") / "runs", "kinetics_challenge",
                                     KINETICS_VAL)


def test_kinetics_lists_jobs_with_top1_or_top5_and_ranks_those_without_challenge_error_last(
        kinetics_db, capsys) -> None:
    """One rule for the CLI and the dashboard: a job with either accuracy is listed; the
    challenge error (a fraction) exists only with both; rows without it come after."""
    assert main(["leaderboard", "--task", "kinetics", "--json", "--db-url", kinetics_db]) == 0
    rows = json.loads(capsys.readouterr().out)["kinetics"]
    assert [row["job"] for row in rows] == ["ensemble.val", "evaluate.val.sf8x8",
                                            "evaluate.val.fast32x2", "evaluate.val.sf16x8"]
    assert rows[0]["challenge_error"] == pytest.approx(((1 - 0.72) + (1 - 0.91)) / 2)
    assert rows[2]["top1"] == pytest.approx(0.60) and rows[2]["top5"] is None and rows[2]["challenge_error"] is None
    assert rows[3]["top1"] is None and rows[3]["challenge_error"] is None

    assert main(["leaderboard", "--task", "kinetics", "--db-url", kinetics_db]) == 0
    line = next(text for text in capsys.readouterr().out.splitlines() if "evaluate.val.fast32x2" in text)
    cells = [cell.strip() for cell in line.strip("│ ").split("│")]
    assert cells[-3:] == ["60.00", "-", "-"]


def test_the_dashboard_shows_the_clis_kinetics_board(kinetics_db) -> None:
    """Same rows, same order, same fractions: the dashboard's query is the CLI's read model."""
    from sqlalchemy.orm import Session

    from dashboard.queries.leaderboard import leaderboard
    from orchestrator.views.leaderboard import kinetics_leaderboard

    engine = open_database(kinetics_db)
    try:
        table = leaderboard(engine)
        with Session(engine) as session:
            cli_rows = kinetics_leaderboard(session)
    finally:
        engine.dispose()
    board = table[table["task"] == "kinetics"]
    assert list(board["job"]) == [row.job for row in cli_rows]
    assert list(board["top1"].astype(object).where(board["top1"].notna(), None)) == [row.top1 for row in cli_rows]
    assert board["challenge_error"].isna().tolist() == [False, False, True, True]
