"""Drill: bad input, one catalogue.

Each case below provokes one kind of bad input -- in data, configs, checkpoints, CSVs, CLI
arguments or a metrics file -- through the entry point a user meets: ``python -m orchestrator``,
``python -m model.eval.ava`` and ``python -m model.eval.submission`` run as subprocesses, the
library (datasets, checkpoint loading, a job, ingest) called as the jobs call it. Every case
checks that

(a) it fails: the documented exit code, or the documented exception type;
(b) the user is told in ONE line, which names the file and line / field / argument at fault;
(c) no Python traceback reaches a command-line user;
(d) nothing already written is lost or half-written: every file of the case's world (run
    directories, checkpoints, exports, the SQLite file) is byte-identical afterwards, no
    temporary file is left, and the database rows are unchanged (SQLite and PostgreSQL).

The table ``CASES`` at the end is what docs/reliability.md lists. Cases marked ``database``
run on a seeded orchestrator database on both backends (``tests/orchestrator/seed_runs.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from model.data.ava_labelmap import AVA_EVALUATED_IDS, write_label_map

REPO_ROOT = Path(__file__).resolve().parents[2]
# The orchestrator reads these; a case must see only what it passes on the command line.
_OWN_ENVIRONMENT = ("ORCH_DB_URL", "ORCH_RUNS_ROOT", "ORCH_EXPORTS_ROOT")

torch.set_num_threads(1)


# --------------------------------------------------------------------------- the world of a case
@dataclass
class Drill:
    """What a case works in: its own folder, and for database cases the seeded database."""

    tmp: Path
    caplog: pytest.LogCaptureFixture
    migrated_sqlite: Path | None = None  # an orchestrator database at head, to copy
    db: object | None = None  # tests.orchestrator.seed_runs.SeededDb


def file_digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256; a symlink by its target).

    SQLite's ``-wal`` and ``-shm`` files are left out: the write-ahead log and its index come and
    go with connections by design (``database_rows`` folds the log into the file first, and
    compares the rows themselves)."""
    digests = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.name.endswith((".sqlite-wal", ".sqlite-shm")):
            continue
        if path.is_symlink():
            digests[relative] = f"-> {os.readlink(path)}"
        elif path.is_file():
            digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def database_rows(url: str) -> dict[str, list[str]]:
    """Every row of every table, as text (the same on SQLite and PostgreSQL)."""
    from sqlalchemy import MetaData, select

    from orchestrator.db import make_engine

    engine = make_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            rows = {name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
                    for name, table in metadata.tables.items()}
            if engine.dialect.name == "sqlite":
                # Committed pages still in the write-ahead log move into the file when the last
                # connection closes; fold them in now, so that the file's bytes can be compared.
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return rows
    finally:
        engine.dispose()


@contextmanager
def nothing_lost(root: Path, *, db_url: str | None = None, may_write: tuple[str, ...] = ()) -> Iterator[None]:
    """Assert that the files under ``root`` (except ``may_write``) and the database rows are
    exactly as before the block: nothing changed, removed, or added (no temp file left)."""
    rows = database_rows(db_url) if db_url else None  # also folds SQLite's WAL into the file
    before = {k: v for k, v in file_digests(root).items() if k not in may_write}
    yield
    after = {k: v for k, v in file_digests(root).items() if k not in may_write}
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    assert (changed, sorted(before.keys() - after.keys()), sorted(after.keys() - before.keys())) == ([], [], []), \
        "files changed / lost / left behind"
    if db_url:
        assert database_rows(db_url) == rows, "database rows changed"


# --------------------------------------------------------------------------- how a failure must look
def run_module(module: str, *args: object, path_env: str | None = None) -> subprocess.CompletedProcess:
    """``python -m module args...`` as a user runs it (own environment variables removed)."""
    env = {k: v for k, v in os.environ.items() if k not in _OWN_ENVIRONMENT}
    if path_env is not None:
        env["PATH"] = path_env
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def orchestrator(*args: object, path_env: str | None = None) -> subprocess.CompletedProcess:
    return run_module("orchestrator", *args, path_env=path_env)


def one_line_error(done: subprocess.CompletedProcess, exit_code: int, *names: object, usage: bool = False) -> str:
    """The command exited ``exit_code`` with one ``error:`` line naming every one of ``names``;
    stderr holds nothing else (argparse usage lines above it when ``usage``), no traceback."""
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == exit_code, output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, lines
    if not usage:
        assert lines == errors, lines
    for name in names:
        assert str(name) in errors[0], (name, errors[0])
    return errors[0]


def one_problem(done: subprocess.CompletedProcess, path: Path, line: int, *words: str) -> str:
    """A validator verdict: exit 1, exactly one problem, printed as ``FILE:LINE: message``."""
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == 1, output
    problems = [row for row in done.stdout.splitlines() if row.startswith(f"{path}:") and "problems (" not in row]
    assert len(problems) == 1, done.stdout
    assert problems[0].startswith(f"{path}:{line}: "), problems[0]
    for word in words:
        assert word in problems[0], (word, problems[0])
    return problems[0]


def raised(error_type: type[BaseException], call: Callable[[], object], *names: object) -> str:
    """``call()`` raises ``error_type`` whose message is one line naming every one of ``names``."""
    with pytest.raises(error_type) as caught:
        call()
    message = str(caught.value)
    assert message.strip() and "\n" not in message, message
    for name in names:
        assert str(name) in message, (name, message)
    return message


# --------------------------------------------------------------------------- small inputs
def tiny_mp4(path: Path) -> Path:
    from model.data.synthetic import write_mp4

    return write_mp4(path, [np.full((32, 32, 3), 8 * i, np.uint8) for i in range(16)], fps=30, gop=4)


AVA_GT_ROW = "vid_a,0902,0.100,0.100,0.500,0.600,12,0"


def ava_world(root: Path, *, gt_rows: tuple[str, ...] = (AVA_GT_ROW,), movie: bool = False) -> Path:
    """A one-keyframe AVA val split in the official layout (label map, ground truth, COCO
    person proposals); the movie itself only when ``movie``."""
    annotations = root / "annotations"
    annotations.mkdir(parents=True)
    write_label_map(annotations / "ava_action_list_v2.2.pbtxt", AVA_EVALUATED_IDS)
    (annotations / "ava_val_v2.2.csv").write_text("\n".join(gt_rows) + "\n")
    (annotations / "ava_val_person_proposals_images.json").write_text(json.dumps(
        {"images": [{"id": 1, "file_name": "vid_a,0902", "width": 32, "height": 32}]}))
    (annotations / "ava_val_person_proposals.json").write_text(json.dumps(
        [{"image_id": 1, "category_id": 1, "bbox": [3, 3, 13, 16], "score": 0.95}]))
    if movie:
        tiny_mp4(root / "videos" / "vid_a.mp4")
    return root


def open_ava(root: Path):
    from model.data.ava import AvaDataset

    return AvaDataset(root, "val", num_frames=4, sampling_rate=2, alpha=2, mode="test", timeline_start_s=902)


def kinetics_world(root: Path, rows: tuple[str, ...], classes: tuple[str, ...] = ("abseiling", "juggling")) -> Path:
    annotations = root / "annotations"
    annotations.mkdir(parents=True)
    (annotations / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n" + "\n".join(rows) + "\n")
    (annotations / "classes.txt").write_text("\n".join(classes) + "\n")
    return root


def open_kinetics(root: Path):
    from model.data.kinetics import KineticsDataset

    return KineticsDataset(root, "train", num_frames=4, sampling_rate=2, alpha=2, train_jitter_scales=(64, 72))


def validation_refs(folder: Path) -> tuple[Path, Path]:
    """The AVA validator's references: the 60-class label map and the test keyframes."""
    folder.mkdir(parents=True, exist_ok=True)
    labelmap = write_label_map(folder / "evaluated.pbtxt", AVA_EVALUATED_IDS)
    keyframes = folder / "test_keyframes.csv"
    keyframes.write_text("vid_a,902\nvid_a,903\n")
    return labelmap, keyframes


def validate_ava(drill: Drill, rows: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
    labelmap, keyframes = validation_refs(drill.tmp / "refs")
    submission = drill.tmp / "ava_test.csv"
    submission.write_text("\n".join(rows) + "\n")
    with nothing_lost(drill.tmp):
        done = run_module("model.eval.submission", "validate", "--format", "ava", submission,
                          "--labelmap", labelmap, "--test-keyframes", keyframes)
    return done, submission


VALID_AVA_ROWS = ["vid_a,0902,0.100,0.100,0.500,0.600,12,0.900000",
                  "vid_a,0903,0.200,0.100,0.500,0.600,12,0.500000"]


# =========================================================================== data
def case_truncated_mp4(drill: Drill) -> None:
    from model.data.decode import decode_frames
    from model.data.errors import VideoDecodeError

    whole = tiny_mp4(drill.tmp / "videos" / "whole.mp4")
    broken = drill.tmp / "videos" / "truncated.mp4"
    broken.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with nothing_lost(drill.tmp):
        raised(VideoDecodeError, lambda: decode_frames(broken, [0.0, 0.2]), broken, "truncated or not an MP4")


def case_missing_video(drill: Drill) -> None:
    from model.data.errors import VideoDecodeError

    root = ava_world(drill.tmp / "ava", movie=False)
    with nothing_lost(drill.tmp):
        raised(VideoDecodeError, lambda: open_ava(root), root / "videos" / "vid_a.mp4", "not found")


def case_ava_csv_wrong_column_count(drill: Drill) -> None:
    from model.data.errors import AnnotationError

    root = ava_world(drill.tmp / "ava", gt_rows=(AVA_GT_ROW, "vid_a,0903,0.1,0.1,0.5"), movie=True)
    with nothing_lost(drill.tmp):
        raised(AnnotationError, lambda: open_ava(root), "ava_val_v2.2.csv", "line 2", "got 5")


def case_ava_csv_box_out_of_range(drill: Drill) -> None:
    from model.data.errors import AnnotationError

    root = ava_world(drill.tmp / "ava", gt_rows=(AVA_GT_ROW, "vid_a,0902,0.2,0.1,1.7,0.6,12,1"), movie=True)
    with nothing_lost(drill.tmp):
        raised(AnnotationError, lambda: open_ava(root), "ava_val_v2.2.csv", "line 2", "'x2'", "1.7")


def case_ava_csv_unknown_action_id(drill: Drill) -> None:
    from model.data.errors import AnnotationError

    root = ava_world(drill.tmp / "ava", gt_rows=(AVA_GT_ROW, "vid_a,0902,0.1,0.1,0.5,0.6,99,0"), movie=True)
    with nothing_lost(drill.tmp):
        raised(AnnotationError, lambda: open_ava(root), "ava_val_v2.2.csv", "line 2", "'action_id'", "99")


def case_ava_missing_keyframe_list(drill: Drill) -> None:
    """The split's list of keyframes to score (its person proposals) is missing."""
    from model.data.errors import AnnotationError

    root = ava_world(drill.tmp / "ava", movie=True)
    (root / "annotations" / "ava_val_person_proposals.json").unlink()
    with nothing_lost(drill.tmp):
        raised(AnnotationError, lambda: open_ava(root), "ava_val_person_proposals.json", "not found")


def case_kinetics_csv_bad_field(drill: Drill) -> None:
    from model.data.errors import AnnotationError

    root = kinetics_world(drill.tmp / "k", ("abseiling,aaa,4,14,train", "juggling,bbb,4,fourteen,train"))
    with nothing_lost(drill.tmp):
        raised(AnnotationError, lambda: open_kinetics(root), "train.csv", "line 3", "'time_end'", "fourteen")


def case_kinetics_label_not_in_class_list(drill: Drill) -> None:
    from model.data.errors import AnnotationError

    root = kinetics_world(drill.tmp / "k", ("abseiling,aaa,4,14,train", "flying,bbb,4,14,train"))
    with nothing_lost(drill.tmp):
        raised(AnnotationError, lambda: open_kinetics(root), "train.csv", "line 3", "'label'", "'flying'",
               "classes.txt")


def case_kinetics_class_list_duplicate(drill: Drill) -> None:
    from model.data.errors import AnnotationError

    root = kinetics_world(drill.tmp / "k", ("abseiling,aaa,4,14,train",),
                          classes=("abseiling", "juggling", "abseiling"))
    with nothing_lost(drill.tmp):
        raised(AnnotationError, lambda: open_kinetics(root), "classes.txt", "line 3", "'abseiling'", "line 1")


# =========================================================================== configs
def _submit_bad_config(drill: Drill, *arguments: str) -> str:
    """``submit`` with a bad experiment/override next to an earlier run: exit 2, one line, and
    the runs folder (database included) exactly as before."""
    runs = drill.tmp / "runs"
    earlier = runs / "ensemble_ava" / "pretrain.k600.slowfast_8x8"
    earlier.mkdir(parents=True)
    (earlier / "config.yaml").write_text("job: {kind: pretrain}\n")
    (earlier / "metrics.jsonl").write_text('{"step": 0, "split": "train", "name": "loss", "value": 1.5}\n')
    shutil.copy(drill.migrated_sqlite, runs / "orchestrator.sqlite")
    with nothing_lost(runs):
        done = orchestrator("submit", *arguments, "--record-only", "--runs-root", runs,
                            "--db-url", f"sqlite:///{runs / 'orchestrator.sqlite'}")
    return done


def case_unknown_experiment(drill: Drill) -> None:
    done = _submit_bad_config(drill, "ensemble_avaa")
    one_line_error(done, 2, "unknown experiment 'ensemble_avaa'", "ensemble_ava, kinetics_challenge")


def case_unknown_override_key(drill: Drill) -> None:
    done = _submit_bad_config(drill, "ensemble_ava", "scale.batch_sise=4")
    one_line_error(done, 2, "unknown config key 'scale.batch_sise'")


def case_override_of_the_wrong_type(drill: Drill) -> None:
    done = _submit_bad_config(drill, "ensemble_ava", "scale.batch_size=eight")
    one_line_error(done, 2, "scale.batch_size='eight'", "integer")


def case_scalar_for_a_per_task_mapping(drill: Drill) -> None:
    done = _submit_bad_config(drill, "ensemble_ava", "scale.base_lr=0.5")
    one_line_error(done, 2, "scale.base_lr=0.5", "mapping")


def case_unknown_config_option(drill: Drill) -> None:
    done = _submit_bad_config(drill, "ensemble_ava", "scale=nonexistent")
    one_line_error(done, 2, "scale/nonexistent", "demo paper")


def case_job_config_not_yaml(drill: Drill) -> None:
    """A job's config.yaml that is not YAML: the job fails as bad_config, status.json says
    where, and the run directory's other files are untouched."""
    from jobs.errors import JobFailure
    from jobs.pretrain import PretrainJob

    run_dir = drill.tmp / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("job:\n  kind: pretrain\n   name: broken\n")
    (run_dir / "checkpoints" / "step_000010.pt").write_bytes(b"an earlier attempt's weights")
    with nothing_lost(drill.tmp, may_write=("run/status.json", "run/.job.lock")):
        raised(JobFailure, PretrainJob(run_dir), "bad_config", "config.yaml", "line 3")
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["error_kind"]) == ("failed", "bad_config")
    assert "config.yaml: line 3" in status["message"] and "\n" not in status["message"]
    assert not (run_dir / "result.json").exists()


# =========================================================================== checkpoints
def case_truncated_checkpoint(drill: Drill) -> None:
    from model.engine.checkpoint import CheckpointError, load_checkpoint_file

    path = drill.tmp / "upstream" / "step_000092.pt"
    path.parent.mkdir()
    torch.save({"model": {"w": torch.arange(4096.0)}}, path)
    path.write_bytes(path.read_bytes()[:2000])
    with nothing_lost(drill.tmp):
        raised(CheckpointError, lambda: load_checkpoint_file(path), path, "truncated")


def case_checkpoint_bad_checksum(drill: Drill) -> None:
    """The newest checkpoint fails its sha256: resuming warns naming it and uses the previous."""
    from model.engine.checkpoint import CheckpointStore

    store = CheckpointStore(drill.tmp / "checkpoints")
    store.save({"model": {"w": torch.zeros(8)}, "step": 10}, 10)
    newest = store.save({"model": {"w": torch.ones(8)}, "step": 20}, 20)
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    with nothing_lost(drill.tmp), pytest.warns(UserWarning) as warned:
        state, used = store.load_latest()
    assert (state["step"], used.name) == (10, "step_000010.pt")
    (message,) = [str(w.message) for w in warned]
    assert "\n" not in message and str(newest) in message and "sha256" in message and "falling back" in message


def case_checkpoint_of_another_shape(drill: Drill) -> None:
    """An evaluation given a checkpoint of the same variant with another class count."""
    from jobs.network import load_full_weights
    from model.engine.checkpoint import CheckpointStore
    from model.nets import CheckpointMismatchError, build

    other = build("slowfast_8x8_r50_tiny", task="kinetics", num_classes=8)
    path = CheckpointStore(drill.tmp / "other").save({"model": other.state_dict()}, 5)
    model = build("slowfast_8x8_r50_tiny", task="kinetics", num_classes=6)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    with nothing_lost(drill.tmp):
        raised(CheckpointMismatchError, lambda: load_full_weights(model, path), path,
               "'head.projection.weight'", "(8, 288)", "(6, 288)")
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items()), "weights half-loaded"


class _RunsCodeWhenUnpickled:
    """Unpickling this touches a file: proof that a refused checkpoint ran none of its code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def case_checkpoint_not_weights(drill: Drill) -> None:
    from model.engine.checkpoint import CheckpointError, load_checkpoint_file

    marker = drill.tmp / "code_ran"
    path = drill.tmp / "step_000092.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "hook": _RunsCodeWhenUnpickled(marker)}, path)
    with nothing_lost(drill.tmp):
        raised(CheckpointError, lambda: load_checkpoint_file(path), path, "not a weights file")
    assert not marker.exists()


# =========================================================================== CSVs
def case_evaluator_detections_bad_row(drill: Drill) -> None:
    labelmap, _ = validation_refs(drill.tmp / "refs")
    groundtruth = drill.tmp / "gt.csv"
    groundtruth.write_text("vid_a,0902,0.1,0.1,0.5,0.6,12,0\n")
    detections = drill.tmp / "detections.csv"
    detections.write_text("vid_a,0902,0.1,0.1,0.5,0.6,12,0.9\nvid_a,0902,0.2,0.1,0.5,0.6,12,high\n")
    with nothing_lost(drill.tmp):
        done = run_module("model.eval.ava", "-l", labelmap, "-g", groundtruth, "-d", detections)
    one_line_error(done, 2, f"{detections}:2", "score", "'high'")


def case_submission_box_out_of_range(drill: Drill) -> None:
    done, path = validate_ava(drill, [VALID_AVA_ROWS[0], "vid_a,0903,0.200,0.100,1.500,0.600,12,0.5"])
    one_problem(done, path, 2, "'1.500'", "[0, 1]")


def case_submission_unknown_class(drill: Drill) -> None:
    done, path = validate_ava(drill, [VALID_AVA_ROWS[0], "vid_a,0903,0.200,0.100,0.500,0.600,2,0.5"])
    one_problem(done, path, 2, "action id 2", "60 evaluated ids")


def case_submission_duplicate_key(drill: Drill) -> None:
    done, path = validate_ava(drill, [*VALID_AVA_ROWS, VALID_AVA_ROWS[1].replace("0903", "903")])
    one_problem(done, path, 3, "duplicate of line 2")


def case_kinetics_json_wrong_label(drill: Drill) -> None:
    classes = drill.tmp / "classes.txt"
    classes.write_text("".join(f"class_{i}\n" for i in range(8)))
    videos = drill.tmp / "test_videos.txt"
    videos.write_text("vid_x\nvid_y\n")
    labels = [f"class_{i}" for i in range(5)]
    results = {"vid_x": [{"label": name, "score": 0.5 - i / 10} for i, name in enumerate(labels)],
               "vid_y": [{"label": name, "score": 0.5 - i / 10} for i, name in enumerate(["class_9", *labels[1:]])]}
    submission = drill.tmp / "k700_test.json"
    submission.write_text(json.dumps({"version": "KINETICS-700", "results": results,
                                      "external_data": {"used": False, "details": ""}}, indent=1))
    line = next(n for n, text in enumerate(submission.read_text().splitlines(), 1) if '"vid_y"' in text)
    with nothing_lost(drill.tmp):
        done = run_module("model.eval.submission", "validate", "--format", "kinetics", submission,
                          "--classes", classes, "--test-videos", videos)
    one_problem(done, submission, line, "unknown label 'class_9'")


def case_validator_reference_missing(drill: Drill) -> None:
    labelmap, keyframes = validation_refs(drill.tmp / "refs")
    keyframes.unlink()
    submission = drill.tmp / "ava_test.csv"
    submission.write_text("\n".join(VALID_AVA_ROWS) + "\n")
    with nothing_lost(drill.tmp):
        done = run_module("model.eval.submission", "validate", "--format", "ava", submission,
                          "--labelmap", labelmap, "--test-keyframes", keyframes)
    one_line_error(done, 2, keyframes, "No such file")


def case_submission_writer_keeps_the_old_file(drill: Drill) -> None:
    """Writing an invalid submission over a valid one: refused, the old file byte-identical."""
    import pandas as pd

    from model.eval.submission import SubmissionError, write_ava_submission

    labelmap, keyframes = validation_refs(drill.tmp / "refs")
    target = drill.tmp / "exports" / "ava_test.csv"
    target.parent.mkdir()
    target.write_text("\n".join(VALID_AVA_ROWS) + "\n")
    detections = pd.DataFrame({"video_id": ["vid_a", "vid_a"], "timestamp": [902, 903], "x1": [0.1, 0.2],
                               "y1": [0.1, 0.1], "x2": [0.5, 1.4], "y2": [0.6, 0.6], "action_id": [12, 12],
                               "score": [0.9, 0.5]})
    with nothing_lost(drill.tmp):
        raised(SubmissionError, lambda: write_ava_submission(detections, target, labelmap=labelmap,
                                                             test_keyframes=keyframes),
               target, "line 2", "'1.400'")


# =========================================================================== CLI arguments
def case_unknown_command(drill: Drill) -> None:
    with nothing_lost(drill.tmp):
        done = orchestrator("submitt", "ensemble_ava")
    one_line_error(done, 2, "invalid choice: 'submitt'", usage=True)


def case_unreachable_database(drill: Drill) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    with nothing_lost(drill.tmp):
        done = orchestrator("status", "--db-url", url, "--runs-root", drill.tmp / "runs")
    one_line_error(done, 3, "cannot connect", "127.0.0.1:1")


def case_export_path_escapes(drill: Drill) -> None:
    exports, outside = drill.tmp / "exports", drill.tmp / "outside"
    exports.mkdir()
    outside.mkdir()
    (exports / "earlier.csv").write_text("an earlier export\n")
    with nothing_lost(drill.tmp, db_url=drill.db.url):
        done = orchestrator("export", drill.db.ava_experiment, "--out", outside / "escape.csv",
                            "--exports-root", exports, "--db-url", drill.db.url)
    one_line_error(done, 2, outside / "escape.csv", "outside the exports folder")


def case_export_reference_malformed(drill: Drill) -> None:
    """``export`` validates against a label map with a bad line: refused before anything is
    written or recorded (the experiment comes from the export tests' builder)."""
    from orchestrator.db import make_engine, make_session_factory
    from tests.orchestrator.test_export import _build

    engine = make_engine(drill.db.url)
    try:
        _build(make_session_factory(engine), drill.tmp / "exp")
    finally:
        engine.dispose()
    labelmap = drill.tmp / "evaluated.pbtxt"
    labelmap.write_text('item {\n  name: "stand"\n  id: twelve\n}\n')
    exports = drill.tmp / "exports"
    exports.mkdir()
    (exports / "earlier.csv").write_text("an earlier export\n")
    with nothing_lost(drill.tmp, db_url=drill.db.url):
        done = orchestrator("export", "exp", "--out", "ava_test.csv", "--exports-root", exports,
                            "--labelmap", labelmap, "--db-url", drill.db.url)
    one_line_error(done, 2, f"{labelmap}:3", "'twelve'")


def case_database_newer_than_code(drill: Drill) -> None:
    from sqlalchemy import text

    from orchestrator.db import make_engine

    engine = make_engine(drill.db.url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff_newer'"))
    engine.dispose()
    with nothing_lost(drill.tmp, db_url=drill.db.url):
        done = orchestrator("db", "upgrade", "--db-url", drill.db.url)
    one_line_error(done, 3, "ffff_newer", "newer than this code")


def case_retry_unknown_job(drill: Drill) -> None:
    with nothing_lost(drill.tmp, db_url=drill.db.url):
        done = orchestrator("retry", "finetune_ava.train.sf8x9", "--db-url", drill.db.url)
    one_line_error(done, 2, "no job 'finetune_ava.train.sf8x9'")


def case_logs_attempt_out_of_range(drill: Drill) -> None:
    with nothing_lost(drill.tmp, db_url=drill.db.url):
        done = orchestrator("logs", f"{drill.db.ava_experiment}/ensemble.val", "--attempt", 7,
                            "--db-url", drill.db.url)
    one_line_error(done, 2, "no attempt 7", "attempts: 1")


def case_slurm_without_sbatch(drill: Drill) -> None:
    empty_path = drill.tmp / "bin"
    empty_path.mkdir()
    with nothing_lost(drill.tmp, db_url=drill.db.url):
        done = orchestrator("submit", "ensemble_ava", "cluster=slurm", "--no-wait", "--runs-root",
                            drill.db.runs_root, "--db-url", drill.db.url, path_env=str(empty_path))
    one_line_error(done, 2, "cluster=slurm", "'sbatch' is not on PATH")


# =========================================================================== metrics
def case_corrupt_metrics_line(drill: Drill) -> None:
    """A corrupt line in metrics.jsonl is skipped, logged with its line, counted on the job,
    and ingest goes on with the lines after it and with lines appended later."""
    from sqlalchemy import func, select

    from orchestrator.db import Job, Metric, make_engine, make_session_factory, session_scope
    from orchestrator.ingest import ingest_job

    def line(step: int) -> str:
        return json.dumps({"step": step, "split": "train", "name": "loss", "value": 0.5, "time": 1.7e9,
                           "attempt": 1}) + "\n"

    def ingest():
        with session_scope(factory) as session:
            job = session.scalars(select(Job).where(Job.name == "evaluate.val.sf8x8")).one()
            return ingest_job(session, job), job.id

    def count(job_id: int) -> int:
        with session_scope(factory) as session:
            return session.scalar(select(func.count()).select_from(Metric).where(Metric.job_id == job_id))

    engine = make_engine(drill.db.url)
    factory = make_session_factory(engine)
    try:
        _, job_id = ingest()
        before = count(job_id)
        metrics = drill.db.runs_root / drill.db.ava_experiment / "evaluate.val.sf8x8" / "metrics.jsonl"
        bad_line = len(metrics.read_text().splitlines()) + 2
        with metrics.open("a") as handle:
            handle.write(line(200) + '{"step": 201, "split": "train", "name": "lo\n' + line(202))
        drill.caplog.clear()
        with nothing_lost(metrics.parent), drill.caplog.at_level(logging.WARNING, logger="orchestrator"):
            report, _ = ingest()
        assert report.corrupt_line_numbers == [bad_line] and report.metrics_inserted == 2
        (warning,) = [r.getMessage() for r in drill.caplog.records if r.levelno == logging.WARNING]
        assert "\n" not in warning and f"{metrics}:{bad_line}: corrupt metrics line skipped" in warning
        with session_scope(factory) as session:
            job = session.get(Job, job_id)
            assert (job.metrics_corrupt_lines, job.metrics_corrupt_first) == (1, [bad_line])
        with metrics.open("a") as handle:
            handle.write(line(203))
        report, _ = ingest()
        assert (report.corrupt_line_numbers, report.metrics_inserted) == ([], 1)
        assert count(job_id) == before + 3
    finally:
        engine.dispose()


# =========================================================================== the catalogue
@dataclass(frozen=True)
class Case:
    kind: str
    area: str  # data, config, checkpoint, CSV, CLI, metrics
    check: Callable[[Drill], None]
    database: bool = False

    @property
    def id(self) -> str:
        return self.check.__name__.removeprefix("case_")


CASES = [
    Case("truncated MP4 (decoded with PyAV)", "data", case_truncated_mp4),
    Case("missing video file", "data", case_missing_video),
    Case("AVA annotation CSV: wrong column count", "data", case_ava_csv_wrong_column_count),
    Case("AVA annotation CSV: box outside [0, 1]", "data", case_ava_csv_box_out_of_range),
    Case("AVA annotation CSV: action id not in the label map", "data", case_ava_csv_unknown_action_id),
    Case("AVA keyframe list (person proposals) missing", "data", case_ava_missing_keyframe_list),
    Case("Kinetics CSV: non-integer field", "data", case_kinetics_csv_bad_field),
    Case("Kinetics CSV: label not in the class list", "data", case_kinetics_label_not_in_class_list),
    Case("Kinetics class list: duplicate class", "data", case_kinetics_class_list_duplicate),
    Case("unknown experiment", "config", case_unknown_experiment),
    Case("unknown override key", "config", case_unknown_override_key),
    Case("override value of the wrong type", "config", case_override_of_the_wrong_type),
    Case("scalar given for a per-task mapping", "config", case_scalar_for_a_per_task_mapping),
    Case("unknown config group option (scale=nonexistent)", "config", case_unknown_config_option),
    Case("job config.yaml that is not YAML", "config", case_job_config_not_yaml),
    Case("truncated checkpoint", "checkpoint", case_truncated_checkpoint),
    Case("checkpoint failing its checksum", "checkpoint", case_checkpoint_bad_checksum),
    Case("checkpoint of another shape (class count)", "checkpoint", case_checkpoint_of_another_shape),
    Case("pickle that is not weights (weights_only refuses it)", "checkpoint", case_checkpoint_not_weights),
    Case("AVA detections CSV with a bad row (evaluator)", "CSV", case_evaluator_detections_bad_row),
    Case("AVA submission: box outside [0, 1]", "CSV", case_submission_box_out_of_range),
    Case("AVA submission: class not evaluated", "CSV", case_submission_unknown_class),
    Case("AVA submission: duplicate key", "CSV", case_submission_duplicate_key),
    Case("Kinetics submission JSON: unknown label", "CSV", case_kinetics_json_wrong_label),
    Case("validator reference file missing", "CSV", case_validator_reference_missing),
    Case("invalid submission written over a valid one", "CSV", case_submission_writer_keeps_the_old_file),
    Case("unknown command", "CLI", case_unknown_command),
    Case("unreachable database URL", "CLI", case_unreachable_database),
    Case("export path escaping its folder", "CLI", case_export_path_escapes, database=True),
    Case("export against a malformed label map", "CLI", case_export_reference_malformed, database=True),
    Case("database newer than the code", "CLI", case_database_newer_than_code, database=True),
    Case("retry of an unknown job", "CLI", case_retry_unknown_job, database=True),
    Case("logs --attempt out of range", "CLI", case_logs_attempt_out_of_range, database=True),
    Case("cluster=slurm with no sbatch on PATH", "CLI", case_slurm_without_sbatch, database=True),
    Case("corrupt metrics.jsonl line", "metrics", case_corrupt_metrics_line, database=True),
]


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite orchestrator database at the code's head revision, migrated once."""
    from orchestrator.db import upgrade

    path = tmp_path_factory.mktemp("template") / "orchestrator.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.mark.parametrize("case", [c for c in CASES if not c.database], ids=lambda c: c.id)
def test_bad_input(case: Case, tmp_path: Path, caplog, migrated_sqlite) -> None:
    case.check(Drill(tmp_path, caplog, migrated_sqlite=migrated_sqlite))


@pytest.mark.parametrize("case", [c for c in CASES if c.database], ids=lambda c: c.id)
def test_bad_input_with_database(case: Case, seeded_db, tmp_path: Path, caplog) -> None:
    case.check(Drill(tmp_path, caplog, db=seeded_db))


def test_the_catalogue_covers_every_area_with_enough_kinds() -> None:
    assert len(CASES) >= 24 and len({c.id for c in CASES}) == len(CASES)
    assert {c.area for c in CASES} == {"data", "config", "checkpoint", "CSV", "CLI", "metrics"}
