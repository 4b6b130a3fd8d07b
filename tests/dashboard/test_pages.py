"""Each dashboard page run by Streamlit's AppTest against a database seeded by the real
orchestrator code (models + ingest of run directories), on SQLite."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.layout import STATE_FILL
from model.data.ava_labelmap import AVA_ACTION_NAMES
from tests.dashboard.seed_dashboard import AVA_EVAL_SCORES, KINETICS_EVAL_SCORES

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def run_page(page: str | None = None, **query_params: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    for key, value in query_params.items():
        app.query_params[key] = value
    app.run()
    if page is not None:
        app.switch_page(page)
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def markdown_rows(table: str) -> list[dict]:
    """Rows of a Markdown pipe table as {header: cell}, Markdown escapes and the invisible line-break
    opportunities of long names (zero-width spaces) removed: the text a person reads."""
    table = table.replace("\u200b", "")
    lines = [[re.sub(r"\\(.)", r"\1", c.strip()) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
             for line in table.splitlines()]
    return [dict(zip(lines[0], cells)) for cells in lines[2:]]


def ranked_tables(app: AppTest) -> list[list[dict]]:
    """Our ranked tables (AVA, then Kinetics): the Markdown tables whose first column is rank."""
    return [markdown_rows(m.value) for m in app.markdown if m.value.startswith("| rank |")]


def vega_specs(app: AppTest) -> list[dict]:
    """Each chart's Vega-Lite spec, with its data sets decoded into `"values"` (row dicts)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    specs = []
    for chart in app.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        spec["values"] = [row for dataset in chart.proto.datasets
                          for row in convert_arrow_bytes_to_pandas_df(dataset.data.data).to_dict("records")]
        specs.append(spec)
    return specs


def config_diff_frames(app: AppTest) -> list:
    """The config diff tables (their first column is "key"): differing keys, then all keys."""
    return [frame.value for frame in app.dataframe if list(frame.value.columns[:1]) == ["key"]]


def test_leaderboard_ranks_ava_by_frame_map_and_kinetics_by_challenge_error(app_env):
    app = run_page()
    assert app.title[0].value == "Leaderboard"
    ava_rows, kinetics_rows = ranked_tables(app)
    ava_published, kinetics_published = (markdown_rows(e.markdown[0].value) for e in app.expander)

    expected_ava = sorted((s, m) for m, s in AVA_EVAL_SCORES.items() if m != "fast32x2")[::-1]
    assert [r["member"] for r in ava_rows] == [m for _, m in expected_ava]
    assert [r["frame_map"] for r in ava_rows] == [f"{100 * s:.2f}" for s, _ in expected_ava]
    assert [r["rank"] for r in ava_rows] == ["1", "2", "3"]

    # Sec. 3: challenge metric = mean of top-1 and top-5 error; lower ranks first. top-1 is the
    # latest step's value (an earlier, lower top-1 was written at step 10).
    expected_kinetics = sorted((((1 - t1) + (1 - t5)) / 2, m, t1) for m, (t1, t5) in KINETICS_EVAL_SCORES.items())
    assert [r["member"] for r in kinetics_rows] == [m for _, m, _ in expected_kinetics]
    assert [r["challenge_error"] for r in kinetics_rows] == [f"{100 * e:.2f}" for e, _, _ in expected_kinetics]
    assert [r["top1"] for r in kinetics_rows] == [f"{100 * t:.2f}" for _, _, t in expected_kinetics]

    # The report's numbers are reference rows, marked as published and not ranked with ours.
    assert all(r["source"].startswith("published") for r in ava_published + kinetics_published)
    assert {r["model"]: r["val mAP"] for r in ava_published}["SlowFast, 8x8"] == "29.0"  # as printed
    assert {r["model"]: r["test mAP"] for r in ava_published}["SlowFast++, ensemble"] == "34.3"
    assert "18.95" in [r["challenge_error"] for r in kinetics_published]
    assert [app.expander[0].label, app.expander[1].label] == [
        "Published: Table 2 of the report (not our runs)", "Published: Sec. 3 / Table 3 of the report (not our runs)"]
    # One experiment: its name is said once by the page, not in every row.
    assert "experiment" not in ava_rows[0]
    assert {int(r["job_id"]) for r in ava_rows} <= set(app_env.job_ids.values())


def test_leaderboard_filters_by_task_model_and_dataset(app_env):
    app = run_page()
    app.multiselect(key="f_task").set_value(["kinetics"]).run()
    assert [s.value for s in app.subheader if s.value.startswith("AVA")] == []
    app.multiselect(key="f_model").set_value(["fast_b1_32x2_r101_tiny"]).run()
    rows = ranked_tables(app)[0]
    assert [r["member"] for r in rows] == ["fast32x2"]
    assert rows[0]["dataset"] == "K700"
    app.multiselect(key="f_task").set_value([]).run()
    app.multiselect(key="f_model").set_value([]).run()
    app.multiselect(key="f_dataset").set_value(["AVA v2.2"]).run()
    assert {r["dataset"] for r in ranked_tables(app)[0]} == {"AVA v2.2"}
    assert "Kinetics" in " ".join(i.value for i in app.info)  # no Kinetics row left


def test_leaderboard_links_to_the_run_detail(app_env):
    app = run_page()
    first_ranked = int(ranked_tables(app)[0][0]["job_id"])
    assert app.selectbox(key="open_run").value == first_ranked
    target = app_env.job_ids["kinetics_challenge/evaluate.val.sf8x8"]
    app.selectbox(key="open_run").set_value(target).run()
    link = app.get("page_link")[0].proto
    assert link.label == f"Open run #{target}"
    assert link.query_string == f"job={target}"


def test_jobs_page_shows_dag_states_attempts_and_gpu_hours(app_env):
    app = run_page("views/jobs.py", experiment=str(app_env.ava_experiment_id))
    app.toggle(key="auto_refresh").set_value(False).run()
    dot = app.get("graphviz_chart")[0].proto.spec
    assert "finetune_ava.train.fast32x2\\nRUNNING" in dot
    assert "export.test_v2\\nFAILED" in dot and "#fca5a5" in dot
    # DAG edges: pretrain -> finetune -> evaluate -> ensemble
    ids = app_env.job_ids
    assert f"j{ids['ensemble_ava/pretrain_k600.sf8x8']} -> j{ids['ensemble_ava/finetune_ava.train.sf8x8']}" in dot
    assert f"j{ids['ensemble_ava/evaluate.val.sf8x8']} -> j{ids['ensemble_ava/ensemble.val']}" in dot

    attempts = app.dataframe[0].value
    preempted = attempts[attempts["state"] == "PREEMPTED"]
    assert len(preempted) == 3 and set(preempted["node"]) == {"node02"}
    resumed = attempts[(attempts["job"] == "finetune_ava.train.sf8x8") & (attempts["attempt"] == 2)]
    assert resumed["resumed_from_step"].tolist() == [20]
    assert attempts["scheduler_id"].str.fullmatch(r"41\d\d").all()

    # GPU-hours: 3 pretrain x 30 min + 2 x (20 + 25) min finetune + 20 min preempted fast32x2 +
    # its running attempt since 08:55 + 2 x 5 min evaluation (1 GPU each; ensemble/export 0 GPU).
    running_h = (dt.datetime.now(dt.timezone.utc)
                 - dt.datetime(2026, 11, 20, 8, 55, tzinfo=dt.timezone.utc)).total_seconds() / 3600
    expected = (90 + 90 + 20 + 10) / 60 + running_h
    shown = float([m for m in app.metric if m.label == "GPU-hours"][0].value)
    assert shown == pytest.approx(expected, abs=0.1)
    assert any("ExportError" in e.value for e in app.error)
    # the running fine-tune's metrics.jsonl ends with a cut-off line: shown, not hidden
    lines = (app_env.runs_root / "ensemble_ava" / "finetune_ava.train.fast32x2" / "metrics.jsonl").read_text()
    corrupt_line = lines.count("\n")
    assert [w.value for w in app.warning if "corrupt" in w.value] == [
        f"`finetune_ava.train.fast32x2`: 1 corrupt metrics.jsonl line(s) skipped (line {corrupt_line})"]
    # Interrupted-and-resumed is not a failure: distinct colours in the graph and the attempts.
    assert len({STATE_FILL[s] for s in ("PREEMPTED", "REQUEUED", "FAILED", "RUNNING", "COMPLETED")}) == 5
    tree = " ".join(m.value for m in app.expander[0].markdown)
    assert ":violet[" not in tree and ":red[**FAILED**]" in tree and ":blue[**RUNNING**]" in tree


def test_run_detail_of_an_ava_evaluation_shows_per_class_ap_with_label_map_names(app_env):
    job_id = app_env.job_ids["ensemble_ava/evaluate.val.sf8x8"]
    app = run_page("views/run_detail.py", job=str(job_id))
    assert any("Per-class AP on val (60 classes" in s.value for s in app.subheader)
    bars = [spec for spec in vega_specs(app) if spec.get("mark", {}).get("type") == "bar"
            or spec.get("mark") == "bar"]
    assert bars, "no bar chart"
    best_id = max(app_env.per_class_ap, key=app_env.per_class_ap.get)
    values = bars[0]["values"]
    assert values[0]["name"] == AVA_ACTION_NAMES[best_id]
    assert values[0]["ap"] == pytest.approx(100 * app_env.per_class_ap[best_id])
    assert len(values) == 60
    assert [v["ap"] for v in values] == sorted((v["ap"] for v in values), reverse=True)
    # Readable labels: the chart grows with the classes (22 px each), in the drawn order.
    assert bars[0]["height"] == {"step": 22}
    assert bars[0]["encoding"]["y"]["sort"] == [v["name"] for v in values]

    # One value is a number with its rank among the experiment's scored jobs, not a chart.
    assert not any(m.value.startswith("**val / frame_map") for m in app.markdown)
    shown = [m for m in app.metric if m.label == "val / frame_map"]
    assert [m.value for m in shown] == [f"{100 * AVA_EVAL_SCORES['sf8x8']:.2f} %"]
    scored = sorted((v for m, v in AVA_EVAL_SCORES.items() if m != "fast32x2"), reverse=True)
    rank = scored.index(AVA_EVAL_SCORES["sf8x8"]) + 1
    assert any(c.value.startswith(f"rank {rank} of {len(scored)} in ensemble_ava") for c in app.caption)
    # The seeded evaluation held a GPU: GPU-hours, beside the estimate ("—": the seed has none).
    assert {m.label for m in app.metric} >= {"GPU-hours", "Dry-run estimate (GPU-h)"}


def test_run_detail_of_a_training_run_shows_loss_lr_and_throughput_curves(app_env):
    job_id = app_env.job_ids["ensemble_ava/finetune_ava.train.sf8x8"]
    app = run_page("views/run_detail.py", job=str(job_id))
    titles = [m.value for m in app.markdown if m.value.startswith("**train /")]
    assert sorted(titles) == ["**train / clips_per_s**", "**train / loss**", "**train / lr**"]
    curves = dict(zip(titles, vega_specs(app)))  # one chart under each title, in page order
    lr_values = [v["value"] for v in curves["**train / lr**"]["values"]]
    assert len(lr_values) == 48
    # The step schedule is visible: warm-up, 0.1, then the two 10x drops.
    assert max(lr_values) == pytest.approx(0.1) and min(lr_values) == pytest.approx(0.001)
    # The default comparison is the same job for another member, never an unrelated kind.
    default = app.selectbox(key="diff_with").value
    assert default in {app_env.job_ids[f"ensemble_ava/finetune_ava.train.{m}"]
                       for m in ("fast32x2", "sf16x8_ctx_iou09_18k")}
    app.selectbox(key="diff_with").set_value(app_env.job_ids["ensemble_ava/finetune_ava.train.fast32x2"]).run()
    diff = config_diff_frames(app)[0]
    assert set(diff["key"]) == {"member", "model.name"}
    # All keys, the differing ones first.
    every_key = config_diff_frames(app)[1]
    assert list(every_key["key"][:2]) == sorted(diff["key"]) and len(every_key) > len(diff)


def test_run_detail_of_a_kinetics_run_shows_the_confusion_of_top_classes(app_env):
    app = run_page("views/run_detail.py", job=str(app_env.job_ids["kinetics_challenge/evaluate.val.sf8x8"]))
    assert any(s.value.startswith("Confusion") for s in app.subheader)
    heatmap = [s for s in vega_specs(app) if "rect" in json.dumps(s.get("mark"))][0]
    cells = heatmap["values"]
    assert sum(c["count"] for c in cells) == 64  # every validation clip, 8 classes <= top 10


def test_run_detail_unknown_job_falls_back_to_the_picker(app_env):
    app = run_page("views/run_detail.py", job="999999")
    assert any("No job #999999" in w.value for w in app.warning)


def test_submissions_page_shows_validation_manifest_and_refuses_paths_outside_the_runs_root(app_env):
    app = run_page("views/submissions.py", experiment=str(app_env.ava_experiment_id))
    assert len(app.download_button) == 1  # the ../../etc/passwd row gets no button
    assert any("outside the runs root" in w.value for w in app.warning)
    manifest = app.dataframe[0].value
    assert list(manifest["member"]) == ["sf8x8", "sf16x8_ctx_iou09_18k"]
    assert {"checkpoint", "checkpoint_sha256", "config_sha256", "jobs (count)"} <= set(manifest.columns)
    assert any("valid" in m.value and "ava_csv" in m.value for m in app.markdown)


def test_compare_runs_overlays_training_curves_and_sets_per_class_ap_side_by_side(app_env):
    """Default: the members' val evaluations and the ensemble; an evaluation is drawn with its
    fine-tune's curves, the ensemble with none of a member's."""
    ids = app_env.job_ids
    app = run_page("views/compare.py", experiment=str(app_env.ava_experiment_id))
    chosen = app.multiselect(key="compare_jobs").value
    members = ("sf8x8", "sf16x8_ctx_iou09_18k")  # the seeded members with a val evaluation
    assert set(chosen) == {*(ids[f"ensemble_ava/evaluate.val.{m}"] for m in members), ids["ensemble_ava/ensemble.val"]}
    specs = vega_specs(app)
    lines = [s for s in specs if "line" in json.dumps(s.get("mark"))]
    assert lines, "no overlaid curves"
    runs = {v["run"] for v in lines[0]["values"]}
    assert runs == {f"{m} #{ids[f'ensemble_ava/evaluate.val.{m}']}" for m in members}  # the ensemble has none
    assert {v["source"] for v in lines[0]["values"]} == {f"finetune_ava.train.{m}" for m in members}
    heat = [s for s in specs if "layer" in s]
    assert heat and heat[0]["height"] == {"step": 22}
    # This seed's ensemble wrote no per-class AP: no gain chart (the real-run-shaped database
    # of test_real_run_shape.py has one).
    assert not any(s.value.startswith("Where the ensemble gains") for s in app.subheader)
