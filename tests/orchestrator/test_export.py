"""`export`: the file the export job validated (its manifest's sha256), the job's report and
manifest extended with the database lineage, warnings shown, and output paths that cannot
leave the exports folder.

The fixture writes the export job's files as the job does (jobs/export.py): the submission,
then `manifest.json` with the validator's report of that very file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from contract.states import JobState
from model.data.ava_annotations import HELD_OUT_TEST_GT
from model.data.kinetics_annotations import HELD_OUT_TEST_LABELS
from model.data.ava_labelmap import AVA_EVALUATED_IDS, write_label_map
from orchestrator.cli import main
from orchestrator.db import Experiment, Job, Submission, session_scope

VALID_ROWS = ["vid_a,0902,0.100,0.100,0.500,0.600,1,0.900000",
              "vid_a,0903,0.200,0.100,0.500,0.600,12,0.500000"]
KINETICS_CLASSES = [f"class_{i}" for i in range(8)]


def _job_manifest(export_dir: Path, submission: Path, fmt: str, annotations: Path,
                  checkpoints: dict[str, Path]) -> dict:
    """What the export job writes: the validator's report of ``submission`` and the members'
    provenance (predictions, checkpoint, configs with sha256)."""
    from model.eval.submission import validate_ava_submission, validate_kinetics_submission

    if fmt == "ava_csv":
        references = {"labelmap": str(annotations / "evaluated.pbtxt"),
                      "test_keyframes": str(annotations / "ava_test_keyframes_v2.2.csv")}
        report = validate_ava_submission(submission, **references)
    else:
        references = {"classes": str(annotations / "classes.txt"), "test_videos": str(annotations / "test.csv")}
        report = validate_kinetics_submission(submission, test_video_ids=["vid_x"], class_names=KINETICS_CLASSES)
    members = {member: {"predictions": f"/runs/evaluate.test.{member}/predictions/test.csv",
                        "predictions_sha256": "a" * 64, "config_sha256": "b" * 64,
                        "checkpoint": str(path), "checkpoint_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
               for member, path in checkpoints.items()}
    manifest = {"submission": str(submission.relative_to(export_dir)),
                "submission_sha256": hashlib.sha256(submission.read_bytes()).hexdigest(), "format": fmt,
                "ensemble": {"predictions": "/runs/ensemble.test/predictions/test.csv"},
                "members": members, "validation": report.to_dict(), "references": references}
    (export_dir / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def _build(session_factory, root: Path, *, task: str = "ava", rows: list[str] | None = None,
           export_state: JobState = JobState.COMPLETED, keyframes: str = "vid_a,902\nvid_a,903\n") -> dict[str, bytes]:
    """An experiment whose export job wrote a submission; returns the members' checkpoint bytes."""
    data_root = root / "dataset"
    annotations = data_root / "annotations"
    annotations.mkdir(parents=True)
    checkpoints: dict[str, bytes] = {}
    fmt = "ava_csv" if task == "ava" else "kinetics_json"
    with session_scope(session_factory) as session:
        experiment = Experiment(name="exp", task=task, scale="demo")
        session.add(experiment)
        evaluations = []
        for member in ("m1", "m2"):
            train_dir = root / "runs" / f"finetune.trainval.{member}"
            (train_dir / "checkpoints").mkdir(parents=True)
            checkpoints[member] = os.urandom(64)
            (train_dir / "checkpoints" / "step_000100.pt").write_bytes(checkpoints[member])
            (train_dir / "checkpoints" / "step_000050.pt").write_bytes(b"older")
            train = Job(name=f"finetune.trainval.{member}", kind="finetune_ava", content_hash=member * 32,
                        run_dir=str(train_dir), state="COMPLETED", config={"member": member, "lr": 0.1})
            evaluate = Job(name=f"evaluate.test.{member}", kind="evaluate", content_hash="e" * 64,
                           run_dir=str(root / "runs" / f"evaluate.test.{member}"), state="COMPLETED",
                           dependencies=[train])
            experiment.jobs.extend([train, evaluate])
            evaluations.append(evaluate)
        ensemble = Job(name="ensemble.test", kind="ensemble", content_hash="1" * 64, state="COMPLETED",
                       run_dir=str(root / "runs" / "ensemble.test"), dependencies=evaluations)
        export_dir = root / "runs" / "export.test"
        (export_dir / "submission").mkdir(parents=True)
        export = Job(name="export.test", kind="export", content_hash="2" * 64, state=export_state.value,
                     run_dir=str(export_dir), dependencies=[ensemble],
                     config={"export": {"format": fmt, "members": ["m1", "m2"]},
                             "data": {"root": str(data_root), "labelmap": "evaluated.pbtxt"}})
        experiment.jobs.extend([ensemble, export])
    if task == "ava":
        write_label_map(annotations / "evaluated.pbtxt", AVA_EVALUATED_IDS)
        (annotations / "ava_test_keyframes_v2.2.csv").write_text(keyframes)
        submission = export_dir / "submission" / "ava_test.csv"
        submission.write_text("\n".join(rows or VALID_ROWS) + "\n")
    else:
        (annotations / "classes.txt").write_text("\n".join(KINETICS_CLASSES) + "\n")
        (annotations / "test.csv").write_text("label,youtube_id,time_start,time_end,split\n,vid_x,0,10,test\n")
        results = {"vid_x": [{"label": name, "score": 0.5 - i / 10} for i, name in enumerate(KINETICS_CLASSES[:5])]}
        submission = export_dir / "submission" / "k700_test.json"
        submission.write_text(json.dumps(
            {"version": "KINETICS-700", "results": results, "external_data": {"used": False, "details": ""}}))
    _job_manifest(export_dir, submission, fmt, annotations,
                  {m: root / "runs" / f"finetune.trainval.{m}" / "checkpoints" / "step_000100.pt" for m in checkpoints})
    return checkpoints


def _export(db_url: str, exports: Path, out: str, *extra: str) -> int:
    return main(["export", "exp", "--out", out, "--exports-root", str(exports), "--db-url", db_url, *extra])


def test_a_valid_ava_submission_is_exported_with_the_job_manifest_and_its_lineage(
        db_url, session_factory, tmp_path, capsys):
    checkpoints = _build(session_factory, tmp_path)
    job_manifest = json.loads((tmp_path / "runs" / "export.test" / "manifest.json").read_text())
    exports = tmp_path / "exports"
    assert _export(db_url, exports, "ava/test_submission.csv", "--json") == 0
    written = exports / "ava" / "test_submission.csv"
    assert written.read_text().splitlines() == VALID_ROWS
    manifest = json.loads((exports / "ava" / "test_submission.csv.manifest.json").read_text())
    # One document: the job's manifest, every field unchanged, plus the database lineage.
    assert set(manifest) == {*job_manifest, "lineage"}
    assert {key: manifest[key] for key in job_manifest} == job_manifest
    assert manifest["submission_sha256"] == hashlib.sha256(written.read_bytes()).hexdigest()
    for member, payload in checkpoints.items():
        assert manifest["members"][member]["checkpoint_sha256"] == hashlib.sha256(payload).hexdigest()
    lineage = manifest["lineage"]
    assert (lineage["experiment"], lineage["task"], lineage["scale"]) == ("exp", "ava", "demo")
    assert (lineage["export_job"], lineage["exported_as"]) == ("export.test", "test_submission.csv")
    assert lineage["job_manifest"] == str(tmp_path / "runs" / "export.test" / "manifest.json")
    assert len(lineage["export_config_sha256"]) == 64 and lineage["created_at"]
    assert set(lineage["members"]) == {"m1", "m2"}
    for member in checkpoints:
        entry = lineage["members"][member]
        assert entry["checkpoint_job"] == f"finetune.trainval.{member}"
        expected_config = json.dumps({"lr": 0.1, "member": member}, separators=(",", ":"))
        assert entry["checkpoint_job_config_sha256"] == hashlib.sha256(expected_config.encode()).hexdigest()
        assert entry["jobs"][f"finetune.trainval.{member}"] == {
            "kind": "finetune_ava", "content_hash": member * 32,
            "config_sha256": hashlib.sha256(expected_config.encode()).hexdigest()}
        assert entry["jobs"][f"evaluate.test.{member}"]["kind"] == "evaluate"
    with session_scope(session_factory) as session:
        (submission,) = session.scalars(select(Submission)).all()
        assert (submission.ok, submission.format, submission.path) == (True, "ava_csv", str(written))
        assert submission.validation == job_manifest["validation"]
        assert submission.members["m1"]["checkpoint_job"] == "finetune.trainval.m1"
        assert submission.members["m1"]["checkpoint_sha256"] == hashlib.sha256(checkpoints["m1"]).hexdigest()
    captured = capsys.readouterr()
    assert json.loads(captured.out)["submission"] == str(written)
    assert json.loads(captured.out)["held_out_test"] is None  # real data: only the server scores
    assert "warning" not in captured.err


def test_a_dataset_that_keeps_its_test_labels_aside_gets_the_submission_scored(
        db_url, session_factory, tmp_path, capsys):
    """The generated data's held-out test truth scores the exported file as the server would:
    class 1 found at its keyframe (AP 1), class 14 not found (AP 0), class 12 detected but
    absent from the truth (not counted): frame-mAP 0.5."""
    _build(session_factory, tmp_path)
    truth = tmp_path / "dataset" / HELD_OUT_TEST_GT
    truth.parent.mkdir(parents=True)
    truth.write_text("vid_a,0902,0.100,0.100,0.500,0.600,1,0\nvid_a,0903,0.200,0.100,0.500,0.600,14,0\n")
    assert _export(db_url, tmp_path / "exports", "a.csv") == 0
    assert "test frame-mAP of the submission: 50.00 " in capsys.readouterr().out
    assert _export(db_url, tmp_path / "exports", "b.csv", "--json") == 0
    assert json.loads(capsys.readouterr().out)["held_out_test"] == {"frame_map": pytest.approx(0.5)}


def test_an_invalid_report_is_refused_recorded_and_not_written(db_url, session_factory, tmp_path, capsys):
    _build(session_factory, tmp_path, rows=[VALID_ROWS[0], "vid_a,0903,0.1,0.1,0.5,0.6,2,0.9"])
    exports = tmp_path / "exports"
    assert _export(db_url, exports, "bad.csv") == 1
    err = capsys.readouterr().err
    assert "not a valid ava_csv submission" in err and "action id 2" in err
    assert list(exports.rglob("*")) == []
    with session_scope(session_factory) as session:
        (submission,) = session.scalars(select(Submission)).all()
        assert submission.ok is False and submission.validation["problems"]


def test_the_job_report_is_not_validated_again(db_url, session_factory, tmp_path, capsys, monkeypatch):
    """Without --revalidate the validator is not imported, let alone run: the job's report decides."""
    import model.eval.submission as submission_module

    _build(session_factory, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("validated again")

    monkeypatch.setattr(submission_module, "validate_ava_submission", refuse)
    assert _export(db_url, tmp_path / "exports", "s.csv") == 0, capsys.readouterr().err


def test_a_file_changed_after_the_job_validated_it_is_refused(db_url, session_factory, tmp_path, capsys):
    _build(session_factory, tmp_path)
    source = tmp_path / "runs" / "export.test" / "submission" / "ava_test.csv"
    source.write_text(VALID_ROWS[0] + "\n")  # still valid, but not the file the manifest vouches for
    exports = tmp_path / "exports"
    assert _export(db_url, exports, "s.csv") == 2
    err = capsys.readouterr().err
    assert str(source) in err and "manifest.json" in err and "sha256" in err
    assert list(exports.rglob("*")) == []
    with session_scope(session_factory) as session:
        assert session.scalars(select(Submission)).all() == []


@pytest.mark.parametrize("damage", ["missing", "not json", "no report"])
def test_a_missing_or_unreadable_job_manifest_is_refused(db_url, session_factory, tmp_path, capsys, damage):
    _build(session_factory, tmp_path)
    manifest = tmp_path / "runs" / "export.test" / "manifest.json"
    if damage == "missing":
        manifest.unlink()
    elif damage == "not json":
        manifest.write_text("{ half a manifest")
    else:
        manifest.write_text(json.dumps({k: v for k, v in json.loads(manifest.read_text()).items()
                                        if k != "validation"}))
    exports = tmp_path / "exports"
    assert _export(db_url, exports, "s.csv") == 2
    err = capsys.readouterr().err
    assert str(manifest) in err and ("missing" in err if damage == "missing" else True)
    assert "'validation'" in err or damage != "no report"
    assert list(exports.rglob("*")) == []
    with session_scope(session_factory) as session:
        assert session.scalars(select(Submission)).all() == []


def test_warnings_are_printed_and_strict_refuses_them(db_url, session_factory, tmp_path, capsys):
    _build(session_factory, tmp_path, keyframes="vid_a,902\nvid_a,903\nvid_a,904\n")
    exports = tmp_path / "exports"
    assert _export(db_url, exports, "strict.csv", "--strict") == 1
    err = capsys.readouterr().err
    assert "--strict" in err and "1 test keyframe has no detection (first: vid_a,0904)" in err
    assert list(exports.rglob("*")) == []
    with session_scope(session_factory) as session:
        assert session.scalars(select(Submission)).all() == []

    assert _export(db_url, exports, "s.csv") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "1 test keyframe has no detection (first: vid_a,0904)" in warnings[0]
    manifest = json.loads((exports / "s.csv.manifest.json").read_text())
    assert manifest["validation"]["ok"] is True and len(manifest["validation"]["warnings"]) == 1


def test_revalidation_is_opt_in_and_uses_the_given_reference_files(db_url, session_factory, tmp_path, capsys):
    _build(session_factory, tmp_path)
    other_keyframes = tmp_path / "official_keyframes.csv"
    other_keyframes.write_text("vid_b,902\n")
    exports = tmp_path / "exports"
    # Naming a reference file asks for the validation against it (--revalidate implied).
    for extra in (["--test-keyframes", str(other_keyframes)],
                  ["--revalidate", "--test-keyframes", str(other_keyframes)]):
        assert _export(db_url, exports, "s.csv", *extra) == 1
        assert "is not a test keyframe" in capsys.readouterr().err
        assert list(exports.rglob("*")) == []
    job_manifest = tmp_path / "runs" / "export.test" / "manifest.json"
    content = json.loads(job_manifest.read_text())
    job_manifest.write_text(json.dumps({k: v for k, v in content.items() if k != "references"}))
    assert _export(db_url, exports, "s.csv", "--revalidate") == 2  # an older manifest: the files must be named
    assert "validation needs --labelmap" in capsys.readouterr().err
    job_manifest.write_text(json.dumps(content))
    # By default, the files the job validated against, as they are now.
    assert _export(db_url, exports, "s.csv", "--revalidate") == 0
    manifest = json.loads((exports / "s.csv.manifest.json").read_text())
    assert manifest["revalidation"]["ok"] is True and manifest["validation"]["ok"] is True
    with session_scope(session_factory) as session:
        assert [s.ok for s in session.scalars(select(Submission).order_by(Submission.id))] == [False, False, True]


def test_a_failed_commit_leaves_no_export_behind(db_url, session_factory, tmp_path, monkeypatch):
    from orchestrator.db.models import Submission as SubmissionRow
    from orchestrator.export import export_experiment

    _build(session_factory, tmp_path)
    exports = tmp_path / "exports"
    session = session_factory()

    def fail() -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(session, "commit", fail)
    with pytest.raises(RuntimeError, match="database went away"):
        export_experiment(session, "exp", "s.csv", exports_root=exports)
    session.close()
    assert list(exports.rglob("*")) == []
    with session_scope(session_factory) as session:
        assert session.scalars(select(SubmissionRow)).all() == []


@pytest.mark.parametrize("out", ["../escape.csv", "a/../../escape.csv", "/tmp/escape_{uid}.csv", "link/escape.csv"])
def test_export_paths_cannot_escape_the_folder(db_url, session_factory, tmp_path, capsys, out):
    _build(session_factory, tmp_path)
    exports = tmp_path / "exports"
    exports.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (exports / "link").symlink_to(outside)
    assert _export(db_url, exports, out.format(uid=tmp_path.name)) == 2
    assert "outside the exports folder" in capsys.readouterr().err or ".." in out
    assert list(outside.iterdir()) == [] and not (tmp_path / "escape.csv").exists()
    assert [p.name for p in exports.iterdir()] == ["link"]


def test_existing_exports_are_kept_unless_forced(db_url, session_factory, tmp_path, capsys):
    _build(session_factory, tmp_path)
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "s.csv").write_text("precious\n")
    assert _export(db_url, exports, "s.csv") == 2
    assert (exports / "s.csv").read_text() == "precious\n"
    assert _export(db_url, exports, "s.csv", "--force") == 0
    assert (exports / "s.csv").read_text().splitlines() == VALID_ROWS


def test_nothing_to_export_until_the_export_job_finished(db_url, session_factory, tmp_path, capsys):
    _build(session_factory, tmp_path, export_state=JobState.RUNNING)
    assert _export(db_url, tmp_path / "exports", "s.csv") == 2
    assert "no finished export job" in capsys.readouterr().err


def test_a_kinetics_submission_is_validated_and_exported(db_url, session_factory, tmp_path, capsys):
    _build(session_factory, tmp_path, task="kinetics")
    exports = tmp_path / "exports"
    assert _export(db_url, exports, "k700.json") == 0, capsys.readouterr().err
    manifest = json.loads((exports / "k700.json.manifest.json").read_text())
    assert manifest["format"] == "kinetics_json" and manifest["validation"]["ok"] is True
    assert manifest["lineage"]["task"] == "kinetics" and set(manifest["lineage"]["members"]) == {"m1", "m2"}


def test_a_kinetics_dataset_that_keeps_its_test_labels_aside_gets_the_submission_scored(
        db_url, session_factory, tmp_path, capsys):
    """vid_x's label is the submission's second-ranked class: a top-1 miss and a top-5 hit."""
    _build(session_factory, tmp_path, task="kinetics")
    truth = tmp_path / "dataset" / HELD_OUT_TEST_LABELS
    truth.parent.mkdir(parents=True)
    truth.write_text(f"label,youtube_id,time_start,time_end,split\n{KINETICS_CLASSES[1]},vid_x,0,10,test\n")
    assert _export(db_url, tmp_path / "exports", "k.json") == 0
    assert "test top-1 / top-5 error of the submission: 100.00 / 0.00, challenge error 50.00 " in capsys.readouterr().out
    assert _export(db_url, tmp_path / "exports", "k2.json", "--json") == 0
    scored = json.loads(capsys.readouterr().out)["held_out_test"]
    assert (scored["top1_error"], scored["top5_error"], scored["challenge_error"]) == (1.0, 0.0, 0.5)
