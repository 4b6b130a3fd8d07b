"""Ingest of the job contract's files: incremental, idempotent, crash-safe, corrupt-tolerant."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from orchestrator.db import Artifact, Attempt, Experiment, Job, Metric, session_scope
from orchestrator.ingest import ingest_job

REPO_ROOT = Path(__file__).resolve().parents[2]


def _line(step: int, name: str = "loss", value: float | None = None, split: str = "train", attempt: int = 1) -> str:
    return json.dumps({"step": step, "split": split, "name": name,
                       "value": float(step) / 10 if value is None else value, "time": 1.7e9 + step,
                       "attempt": attempt}) + "\n"


def _make_job(session_factory, run_dir: Path, attempts: int = 1) -> int:
    run_dir.mkdir(parents=True, exist_ok=True)
    with session_scope(session_factory) as session:
        job = Job(name="finetune", kind="finetune_ava", content_hash="f" * 64, run_dir=str(run_dir))
        for number in range(1, attempts + 1):
            job.attempts.append(Attempt(number=number, executor="local"))
        session.add(Experiment(name="exp", task="ava", scale="demo", jobs=[job]))
    return job.id


def _ingest(session_factory, job_id: int):
    with session_scope(session_factory) as session:
        return ingest_job(session, session.get(Job, job_id))


def _metric_rows(session_factory, job_id: int) -> list[tuple]:
    with session_scope(session_factory) as session:
        return session.execute(select(Metric.step, Metric.split, Metric.name, Metric.value, Metric.attempt_id)
                               .where(Metric.job_id == job_id).order_by(Metric.step, Metric.name)).all()


def test_only_complete_lines_are_ingested_and_the_rest_waits(session_factory, tmp_path):
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir)
    metrics = run_dir / "metrics.jsonl"
    half = _line(2)[:15]
    metrics.write_text(_line(0) + _line(1) + half)
    report = _ingest(session_factory, job_id)
    assert (report.lines_read, report.metrics_inserted) == (2, 2)
    with metrics.open("a") as handle:
        handle.write(_line(2)[15:] + _line(3))
    report = _ingest(session_factory, job_id)
    assert (report.lines_read, report.metrics_inserted) == (2, 2)
    assert [row.step for row in _metric_rows(session_factory, job_id)] == [0, 1, 2, 3]
    with session_scope(session_factory) as session:
        assert session.get(Job, job_id).metrics_offset == metrics.stat().st_size


def test_reingest_and_resumed_attempts_never_duplicate(session_factory, tmp_path):
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir, attempts=2)
    metrics = run_dir / "metrics.jsonl"
    metrics.write_text("".join(_line(s) for s in range(5)))
    _ingest(session_factory, job_id)
    assert _ingest(session_factory, job_id).lines_read == 0
    # Attempt 2 resumed from the checkpoint at step 3: it rewrites steps 3-4 identically, then goes on.
    with metrics.open("a") as handle:
        handle.write("".join(_line(s, attempt=2) for s in range(3, 8)))
    report = _ingest(session_factory, job_id)
    assert (report.lines_read, report.metrics_inserted, report.duplicates) == (5, 3, 2)
    rows = _metric_rows(session_factory, job_id)
    assert [row.step for row in rows] == list(range(8))
    with session_scope(session_factory) as session:
        attempt_ids = {a.number: a.id for a in session.get(Job, job_id).attempts}
    assert [row.attempt_id for row in rows] == [attempt_ids[1]] * 5 + [attempt_ids[2]] * 3


def test_corrupt_lines_are_skipped_recorded_and_ingest_goes_on(session_factory, tmp_path):
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir)
    lines = [_line(0), "{not json\n", _line(1), json.dumps({"step": "x", "split": "train", "name": "loss",
                                                            "value": 1}) + "\n",
             json.dumps([1, 2]) + "\n", _line(2), '{"step": 3, "split": "val", "name": "frame_map"}\n']
    (run_dir / "metrics.jsonl").write_text("".join(lines))
    report = _ingest(session_factory, job_id)
    assert report.corrupt_line_numbers == [2, 4, 5, 7]
    assert report.metrics_inserted == 3
    (run_dir / "metrics.jsonl").open("a").write("\x00garbage\n" + _line(9))
    report = _ingest(session_factory, job_id)
    assert report.corrupt_line_numbers == [8]
    with session_scope(session_factory) as session:
        job = session.get(Job, job_id)
        assert (job.metrics_corrupt_lines, job.metrics_corrupt_first) == (5, [2, 4, 5, 7, 8])
    assert [row.step for row in _metric_rows(session_factory, job_id)] == [0, 1, 2, 9]


def test_values_the_database_cannot_hold_are_corrupt_lines_not_a_failed_batch(session_factory, tmp_path):
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir)
    bad = ['{"step": 1, "split": "train", "name": "loss", "value": NaN}',
           '{"step": 2, "split": "train", "name": "loss", "value": Infinity}',
           json.dumps({"step": 2**63, "split": "train", "name": "loss", "value": 1.0}),
           json.dumps({"step": 3, "split": "train", "name": "x" * 129, "value": 1.0}),
           json.dumps({"step": 4, "split": "train", "name": "loss", "value": True})]
    (run_dir / "metrics.jsonl").write_text(_line(0) + "\n".join(bad) + "\n" + _line(5))
    report = _ingest(session_factory, job_id)
    assert report.corrupt_line_numbers == [2, 3, 4, 5, 6]
    assert [row.step for row in _metric_rows(session_factory, job_id)] == [0, 5]


def test_a_replaced_metrics_file_is_reread_without_duplicates(session_factory, tmp_path):
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir)
    metrics = run_dir / "metrics.jsonl"
    metrics.write_text("".join(_line(s) for s in range(10)))
    _ingest(session_factory, job_id)
    metrics.write_text(_line(0) + _line(100))
    report = _ingest(session_factory, job_id)
    assert report.metrics_inserted == 1 and report.warnings
    assert len(_metric_rows(session_factory, job_id)) == 11


def test_status_result_and_artifacts(session_factory, tmp_path):
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir)
    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir()
    payload = os.urandom(5000)
    (checkpoints / "step_000010.pt").write_bytes(payload)
    (checkpoints / "latest").symlink_to("step_000010.pt")
    (checkpoints / "step_000020.pt.tmp").write_bytes(b"in flight")
    (run_dir / "status.json").write_text(json.dumps({"state": "running", "step": 10, "total_steps": 40,
                                                     "message": "epoch 1"}))
    report = _ingest(session_factory, job_id)
    assert not report.done and report.artifacts_added == 1
    with session_scope(session_factory) as session:
        job = session.get(Job, job_id)
        assert (job.progress_step, job.progress_total, job.progress_message) == (10, 40, "epoch 1")
        (artifact,) = job.artifacts
        assert (artifact.path, artifact.kind, artifact.bytes) == ("checkpoints/step_000010.pt", "checkpoint", 5000)
        assert artifact.sha256 == hashlib.sha256(payload).hexdigest()

    assert _ingest(session_factory, job_id).artifacts_added == 0  # unchanged files are not re-hashed/added
    (run_dir / "predictions").mkdir()
    (run_dir / "predictions" / "val.csv").write_text("video,0902,0.1,0.1,0.5,0.5,1,0.9\n")
    (run_dir / "metrics.jsonl").write_text(_line(40, "frame_map", 0.3, split="val"))
    (run_dir / "result.json").write_text(json.dumps({"frame_map": 0.3}))
    report = _ingest(session_factory, job_id)
    assert report.done and report.result == {"frame_map": 0.3}
    with session_scope(session_factory) as session:
        job = session.get(Job, job_id)
        assert job.result == {"frame_map": 0.3}
        assert {(a.path, a.kind) for a in job.artifacts} == {
            ("checkpoints/step_000010.pt", "checkpoint"), ("predictions/val.csv", "predictions"),
            ("metrics.jsonl", "metrics")}


def test_an_unreadable_status_file_is_a_warning_not_a_crash(session_factory, tmp_path):
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir)
    (run_dir / "status.json").write_text("{half")
    report = _ingest(session_factory, job_id)
    assert report.progress is None and "status.json" in report.warnings[0]


_INGEST_SCRIPT = """
import sys
import orchestrator.ingest as ingest
from orchestrator.db import Job, make_engine, make_session_factory, session_scope
ingest.BATCH_LINES = 500
factory = make_session_factory(make_engine(sys.argv[1]))
with session_scope(factory) as session:
    ingest.ingest_job(session, session.get(Job, int(sys.argv[2])))
"""


def test_kill_9_mid_ingest_loses_and_duplicates_nothing(session_factory, db_url, tmp_path):
    """A real SIGKILL between batches: rows and offset must always agree."""
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir)
    total = 30_000
    (run_dir / "metrics.jsonl").write_text("".join(_line(s) for s in range(total)))
    process = subprocess.Popen([sys.executable, "-c", _INGEST_SCRIPT, db_url, str(job_id)], cwd=REPO_ROOT)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with session_scope(session_factory) as session:
                if session.get(Job, job_id).metrics_lines >= 1000:
                    break
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    with session_scope(session_factory) as session:
        job = session.get(Job, job_id)
        lines = job.metrics_lines
        count = session.scalar(select(func.count()).select_from(Metric).where(Metric.job_id == job_id))
    assert count == lines, "rows and the ingest offset disagree after a kill"
    assert 0 < lines  # it got killed after committing some batches
    _ingest(session_factory, job_id)
    with session_scope(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Metric).where(Metric.job_id == job_id)) == total
        assert session.get(Job, job_id).metrics_offset == (run_dir / "metrics.jsonl").stat().st_size


def test_values_names_and_missing_fields_arrive_exactly(session_factory, tmp_path):
    """Every field as the job wrote it, bit for bit, through both ways in: a batch of new rows
    (PostgreSQL: binary COPY into the table) and a batch that overlaps stored rows (through the
    staging table): doubles that decimal text would round, names with tabs, backslashes and
    non-ASCII characters, a missing time and an attempt the database does not know."""
    run_dir = tmp_path / "job"
    job_id = _make_job(session_factory, run_dir)
    written = [
        {"step": 0, "split": "train", "name": "loss", "value": 0.1 + 0.2, "time": 1.7e9 + 1 / 3, "attempt": 1},
        {"step": 1, "split": "val", "name": "ap/ré\tsume\\x", "value": 5e-324, "attempt": 7},
        {"step": 2**62, "split": "val", "name": "top1", "value": -1.7976931348623157e308, "time": None},
    ]
    metrics = run_dir / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(line) + "\n" for line in written[:2]))
    assert _ingest(session_factory, job_id).metrics_inserted == 2
    metrics.write_text("".join(json.dumps(line) + "\n" for line in written))  # replaced: overlaps
    assert _ingest(session_factory, job_id).metrics_inserted == 1
    with session_scope(session_factory) as session:
        attempt_id = session.get(Job, job_id).attempts[0].id
        stored = session.execute(select(Metric.step, Metric.split, Metric.name, Metric.value, Metric.time,
                                        Metric.attempt_id).where(Metric.job_id == job_id)
                                 .order_by(Metric.step)).all()
    assert [tuple(row) for row in stored] == [
        (0, "train", "loss", 0.1 + 0.2, 1.7e9 + 1 / 3, attempt_id),
        (1, "val", "ap/ré\tsume\\x", 5e-324, None, None),
        (2**62, "val", "top1", -1.7976931348623157e308, None, None),
    ]
