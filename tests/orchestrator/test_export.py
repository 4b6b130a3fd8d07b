"""`export`: validated files only, a provenance manifest with real hashes, and output paths
that cannot leave the exports folder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from contract.states import JobState
from model.data.ava_labelmap import AVA_EVALUATED_IDS, write_label_map
from orchestrator.cli import main
from orchestrator.db import Experiment, Job, Submission, session_scope

VALID_ROWS = ["vid_a,0902,0.100,0.100,0.500,0.600,1,0.900000",
              "vid_a,0903,0.200,0.100,0.500,0.600,12,0.500000"]
KINETICS_CLASSES = [f"class_{i}" for i in range(8)]


def _build(session_factory, root: Path, *, task: str = "ava", rows: list[str] | None = None,
           export_state: JobState = JobState.COMPLETED) -> dict[str, bytes]:
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
        (annotations / "ava_test_keyframes_v2.2.csv").write_text("vid_a,902\nvid_a,903\n")
        (export_dir / "submission" / "ava_test.csv").write_text("\n".join(rows or VALID_ROWS) + "\n")
    else:
        (annotations / "classes.txt").write_text("\n".join(KINETICS_CLASSES) + "\n")
        (annotations / "test.csv").write_text("label,youtube_id,time_start,time_end,split\n,vid_x,0,10,test\n")
        results = {"vid_x": [{"label": name, "score": 0.5 - i / 10} for i, name in enumerate(KINETICS_CLASSES[:5])]}
        (export_dir / "submission" / "k700_test.json").write_text(json.dumps(
            {"version": "KINETICS-700", "results": results, "external_data": {"used": False, "details": ""}}))
    return checkpoints


def _export(db_url: str, exports: Path, out: str, *extra: str) -> int:
    return main(["export", "exp", "--out", out, "--exports-root", str(exports), "--db-url", db_url, *extra])


def test_a_valid_ava_submission_is_exported_with_its_provenance(db_url, session_factory, tmp_path, capsys):
    checkpoints = _build(session_factory, tmp_path)
    exports = tmp_path / "exports"
    assert _export(db_url, exports, "ava/test_submission.csv", "--json") == 0
    written = exports / "ava" / "test_submission.csv"
    assert written.read_text().splitlines() == VALID_ROWS
    manifest = json.loads((exports / "ava" / "test_submission.csv.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(written.read_bytes()).hexdigest()
    assert set(manifest["members"]) == {"m1", "m2"}
    for member, payload in checkpoints.items():
        entry = manifest["members"][member]
        assert entry["checkpoint"].endswith(f"finetune.trainval.{member}/checkpoints/step_000100.pt")
        assert entry["checkpoint_sha256"] == hashlib.sha256(payload).hexdigest()
        expected_config = json.dumps({"lr": 0.1, "member": member}, separators=(",", ":"))
        assert entry["config_sha256"] == hashlib.sha256(expected_config.encode()).hexdigest()
    with session_scope(session_factory) as session:
        (submission,) = session.scalars(select(Submission)).all()
        assert (submission.ok, submission.format, submission.path) == (True, "ava_csv", str(written))
    assert json.loads(capsys.readouterr().out)["submission"] == str(written)


def test_an_invalid_submission_is_refused_recorded_and_not_written(db_url, session_factory, tmp_path, capsys):
    _build(session_factory, tmp_path, rows=[VALID_ROWS[0], "vid_a,0903,0.1,0.1,0.5,0.6,2,0.9"])
    exports = tmp_path / "exports"
    assert _export(db_url, exports, "bad.csv") == 1
    err = capsys.readouterr().err
    assert "not a valid ava_csv submission" in err and "action id 2" in err
    assert list(exports.rglob("*")) == []
    with session_scope(session_factory) as session:
        (submission,) = session.scalars(select(Submission)).all()
        assert submission.ok is False and submission.validation["problems"]


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
