"""A small orchestrator database for the dashboard tests, built with the real orchestrator code.

Experiments, jobs, DAG edges and attempts are recorded through the ORM models; every metric,
progress, result and artefact row comes from run directories holding the job contract's files
(metrics.jsonl, status.json, result.json, checkpoints/, predictions/, submission/) passed
through `orchestrator.ingest.ingest_job`. The scores are chosen here, so the tests can state the
expected ranking independently of the dashboard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from contract.states import JobState
from jobs.predictions import write_kinetics_predictions
from orchestrator.db import (Attempt, Experiment, Job, Submission, make_session_factory,
                             open_database, session_scope, upgrade)
from orchestrator.ingest import ingest_job

AVA_EVAL_SCORES = {  # member -> val frame-mAP (fraction)
    "sf8x8": 0.2815, "fast32x2": 0.2473, "sf16x8_ctx_iou09_18k": 0.3052, "ensemble": 0.3391}
KINETICS_EVAL_SCORES = {  # member -> (top1, top5)
    "sf8x8": (0.706, 0.892), "fast32x2": (0.698, 0.901), "ensemble": (0.731, 0.915)}
MODELS = {"sf8x8": "slowfast_8x8_r101_nl_tiny", "fast32x2": "fast_b1_32x2_r101_tiny",
          "sf16x8_ctx_iou09_18k": "slowfast_16x8_r101_nl_tiny", "ensemble": ""}
TRAIN_STEPS = 48


@dataclass
class SeededDashboardDb:
    url: str
    runs_root: Path
    ava_experiment_id: int = 0
    kinetics_experiment_id: int = 0
    job_ids: dict[str, int] = field(default_factory=dict)  # "<experiment>/<job>" -> id
    submission_path: Path | None = None
    per_class_ap: dict[int, float] = field(default_factory=dict)


def _write_lines(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def _step_lr(step: int) -> float:
    """The AVA step schedule shape: linear warm-up, then 10x drops at 2/3 and 5/6 of training."""
    if step < 4:
        return 0.01 + (0.1 - 0.01) * step / 4
    return 0.1 * (0.1 ** sum(step >= s for s in (32, 40)))


def _training_records(steps: int, attempt: int = 1) -> list[dict]:
    records = []
    for step in range(1, steps + 1):
        for name, value in (("loss", 2.5 * math.exp(-step / 20) + 0.1), ("lr", _step_lr(step)),
                            ("clips_per_s", 30.0 + (step % 5))):
            records.append({"step": step, "split": "train", "name": name, "value": value,
                            "time": 1.76e9 + step, "attempt": attempt})
    return records


def _run_dir(runs_root: Path, experiment: str, job: str) -> Path:
    path = runs_root / experiment / job
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    return path


def _finish(run_dir: Path, step: int, total: int, result: dict | None) -> None:
    (run_dir / "status.json").write_text(json.dumps(
        {"state": "completed" if result is not None else "running", "step": step, "total_steps": total,
         "message": ""}))
    (run_dir / "checkpoints" / f"step_{step:06d}.pt").write_bytes(b"weights " + run_dir.name.encode())
    if result is not None:
        (run_dir / "result.json").write_text(json.dumps(result))


def _job(experiment: Experiment, name: str, kind: str, state: JobState, run_dir: Path, config: dict,
         gpus: int = 1) -> Job:
    job = Job(name=name, kind=kind, config=config, state=state.value, run_dir=str(run_dir),
              content_hash=hashlib.sha256(f"{experiment.name}/{name}".encode()).hexdigest(),
              resources={"nodes": 1, "gpus_per_node": gpus})
    experiment.jobs.append(job)
    return job


def _attempt(job: Job, number: int, state: JobState, start: dt.datetime, minutes: float, *,
             node: str = "node01", resumed_from: int | None = None, reason: str | None = None) -> Attempt:
    attempt = Attempt(number=number, executor="slurm", scheduler_job_id=str(4100 + job_counter()),
                      node=node, submitted_at=start - dt.timedelta(minutes=1), started_at=start,
                      ended_at=start + dt.timedelta(minutes=minutes) if state != JobState.RUNNING else None,
                      resumed_from_step=resumed_from, exit_code=0 if state == JobState.COMPLETED else None)
    job.attempts.append(attempt)
    attempt.record_transition(JobState.PENDING, at=start - dt.timedelta(minutes=1))
    attempt.record_transition(JobState.RUNNING, at=start)
    if state != JobState.RUNNING:
        attempt.record_transition(state, reason=reason, at=start + dt.timedelta(minutes=minutes))
    return attempt


_counter = [0]


def job_counter() -> int:
    _counter[0] += 1
    return _counter[0]


def _config(model: str, dataset: str, version: str, member: str, **extra) -> dict:
    return {"model": {"name": model, "num_frames": 8}, "dataset": {"dataset": dataset, "version": version},
            "member": member, "schedule": {"name": "steps", "base_lr": 0.1, "max_iters": TRAIN_STEPS}, **extra}


def _seed_ava(session, seeded: SeededDashboardDb, start: dt.datetime) -> None:
    root = seeded.runs_root
    experiment = Experiment(name="ensemble_ava", task="ava", scale="demo", runs_root=str(root),
                            config={"experiment": {"name": "ensemble_ava"}})
    session.add(experiment)
    rng = np.random.default_rng(7)
    evaluated = [i for i in range(1, 81) if i not in {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39,
                                                      40, 42, 44, 50, 53, 55, 71, 75}]
    evaluate_jobs = []
    for member in ("sf8x8", "fast32x2", "sf16x8_ctx_iou09_18k"):
        config = _config(MODELS[member], "ava", "v2.2", member, seed=1)
        pre_dir = _run_dir(root, "ensemble_ava", f"pretrain_k600.{member}")
        _write_lines(pre_dir / "metrics.jsonl", _training_records(TRAIN_STEPS))
        _finish(pre_dir, TRAIN_STEPS, TRAIN_STEPS, {"step": TRAIN_STEPS})
        pretrain = _job(experiment, f"pretrain_k600.{member}", "pretrain", JobState.COMPLETED, pre_dir,
                        _config(MODELS[member], "kinetics", "600", member))
        _attempt(pretrain, 1, JobState.COMPLETED, start, 30)

        ft_dir = _run_dir(root, "ensemble_ava", f"finetune_ava.train.{member}")
        running = member == "fast32x2"
        _write_lines(ft_dir / "metrics.jsonl", _training_records(TRAIN_STEPS if not running else 30))
        if running:  # a line cut off mid-write (e.g. a full disk): ingest skips and records it
            with (ft_dir / "metrics.jsonl").open("a") as handle:
                handle.write('{"step": 31, "split": "train", "na\n')
        _finish(ft_dir, TRAIN_STEPS if not running else 30, TRAIN_STEPS,
                None if running else {"step": TRAIN_STEPS})
        finetune = _job(experiment, f"finetune_ava.train.{member}", "finetune_ava",
                        JobState.RUNNING if running else JobState.COMPLETED, ft_dir, config)
        finetune.dependencies.append(pretrain)
        # Preempted once, requeued, resumed from its checkpoint at step 20.
        _attempt(finetune, 1, JobState.PREEMPTED, start + dt.timedelta(minutes=31), 20, node="node02",
                 reason="PREEMPTED by a higher-priority job")
        _attempt(finetune, 2, JobState.RUNNING if running else JobState.COMPLETED,
                 start + dt.timedelta(minutes=55), 25, node="node03", resumed_from=20)
        if running:
            continue
        ev_dir = _run_dir(root, "ensemble_ava", f"evaluate.val.{member}")
        aps = {i: float(rng.uniform(0.02, 0.9)) for i in evaluated}
        if member == "sf8x8":
            seeded.per_class_ap = aps
        records = [{"step": TRAIN_STEPS, "split": "val", "name": f"ap/{i}", "value": v, "attempt": 1}
                   for i, v in aps.items()]
        records.append({"step": TRAIN_STEPS, "split": "val", "name": "frame_map",
                        "value": AVA_EVAL_SCORES[member], "attempt": 1})
        _write_lines(ev_dir / "metrics.jsonl", records)
        _finish(ev_dir, 1, 1, {"frame_map": AVA_EVAL_SCORES[member]})
        evaluate = _job(experiment, f"evaluate.val.{member}", "evaluate", JobState.COMPLETED, ev_dir, config)
        evaluate.dependencies.append(finetune)
        _attempt(evaluate, 1, JobState.COMPLETED, start + dt.timedelta(minutes=90), 5)
        evaluate_jobs.append(evaluate)

    ens_dir = _run_dir(root, "ensemble_ava", "ensemble.val")
    _write_lines(ens_dir / "metrics.jsonl", [{"step": 0, "split": "val", "name": "frame_map",
                                              "value": AVA_EVAL_SCORES["ensemble"], "attempt": 1}])
    _finish(ens_dir, 1, 1, {"frame_map": AVA_EVAL_SCORES["ensemble"]})
    ensemble = _job(experiment, "ensemble.val", "ensemble", JobState.COMPLETED, ens_dir,
                    {"dataset": {"dataset": "ava", "version": "v2.2"}, "members": ["sf8x8"]}, gpus=0)
    ensemble.dependencies.extend(evaluate_jobs)
    _attempt(ensemble, 1, JobState.COMPLETED, start + dt.timedelta(minutes=100), 2)

    export_dir = _run_dir(root, "ensemble_ava", "export.test")
    submission = export_dir / "submission" / "ava_test_submission.csv"
    submission.parent.mkdir(parents=True, exist_ok=True)
    submission.write_bytes(b"".join(f"vid{i:03d},0902,0.1,0.2,0.5,0.9,{a},{0.5 + i / 1000:.6f}\n".encode()
                                    for i in range(40) for a in (1, 12, 80)))
    # A manifest with member -> checkpoint provenance (the dashboard reads its "members").
    manifest = {"members": {m: {"checkpoint_job": f"finetune_ava.trainval.{m}",
                                "checkpoint": f"finetune_ava.trainval.{m}/checkpoints/step_000072.pt",
                                "checkpoint_sha256": "ab" * 32, "config_sha256": "cd" * 32,
                                "jobs": {f"finetune_ava.trainval.{m}": {"kind": "finetune_ava"}}}
                            for m in ("sf8x8", "sf16x8_ctx_iou09_18k")},
                "submission": submission.name, "sha256": hashlib.sha256(submission.read_bytes()).hexdigest()}
    (submission.parent / "manifest.json").write_text(json.dumps(manifest))
    _finish(export_dir, 1, 1, {"rows": 120})
    export = _job(experiment, "export.test", "export", JobState.COMPLETED, export_dir, {}, gpus=0)
    export.dependencies.append(ensemble)
    _attempt(export, 1, JobState.COMPLETED, start + dt.timedelta(minutes=103), 1)
    broken = _job(experiment, "export.test_v2", "export", JobState.FAILED, _run_dir(root, "ensemble_ava", "x"),
                  {}, gpus=0)
    broken.error = "ExportError: predictions/test.csv line 3: score 'nan' is not a number"
    broken.dependencies.append(ensemble)
    _attempt(broken, 1, JobState.FAILED, start + dt.timedelta(minutes=104), 1, reason="exit code 1")
    experiment.submissions.append(Submission(
        path=str(submission.relative_to(root)), format="ava_csv", ok=True,
        sha256=manifest["sha256"], validation={"rows": 120, "errors": [], "video_ids": 40},
        members=manifest["members"], manifest_path=str((submission.parent / "manifest.json").relative_to(root))))
    experiment.submissions.append(Submission(
        path="../../etc/passwd", format="ava_csv", ok=False, validation={"errors": ["outside"]}, members={}))
    seeded.submission_path = submission


def _seed_kinetics(session, seeded: SeededDashboardDb, start: dt.datetime) -> None:
    root = seeded.runs_root
    experiment = Experiment(name="kinetics_challenge", task="kinetics", scale="demo", runs_root=str(root),
                            config={"experiment": {"name": "kinetics_challenge"}})
    session.add(experiment)
    rng = np.random.default_rng(3)
    for member, (top1, top5) in KINETICS_EVAL_SCORES.items():
        run_dir = _run_dir(root, "kinetics_challenge", f"evaluate.val.{member}")
        _write_lines(run_dir / "metrics.jsonl", [
            {"step": 10, "split": "val", "name": "top1", "value": top1 - 0.1, "attempt": 1},
            {"step": 20, "split": "val", "name": "top1", "value": top1, "attempt": 1},
            {"step": 20, "split": "val", "name": "top5", "value": top5, "attempt": 1}])
        labels = rng.integers(0, 8, size=64)
        scores = rng.random((64, 8)) + np.eye(8)[labels] * 0.8
        (run_dir / "predictions").mkdir(exist_ok=True)
        # The evaluate job's own writer, so the dashboard reads what jobs really produce.
        write_kinetics_predictions(run_dir / "predictions" / "val.npz",
                                   np.array([f"video{i:03d}" for i in range(64)]), scores / scores.sum(1, keepdims=True),
                                   [f"action {i}" for i in range(8)], labels)
        _finish(run_dir, 20, 20, {"top1": top1, "top5": top5})
        kind = "ensemble" if member == "ensemble" else "evaluate"
        job = _job(experiment, f"evaluate.val.{member}" if kind == "evaluate" else "ensemble.val", kind,
                   JobState.COMPLETED, run_dir, _config(MODELS[member], "kinetics", "700", member))
        _attempt(job, 1, JobState.COMPLETED, start, 10)


def seed_dashboard_db(db_url: str, runs_root: Path) -> SeededDashboardDb:
    """Migrate `db_url` to head, record the two experiments and ingest their run directories."""
    upgrade(db_url)
    seeded = SeededDashboardDb(url=db_url, runs_root=runs_root)
    engine = open_database(db_url)
    try:
        factory = make_session_factory(engine)
        start = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)
        with session_scope(factory) as session:
            _seed_ava(session, seeded, start)
            _seed_kinetics(session, seeded, start)
        with session_scope(factory) as session:
            for job in session.scalars(select(Job).order_by(Job.id)):
                ingest_job(session, job)
            for experiment_id, name in session.execute(select(Experiment.id, Experiment.name)):
                if name == "ensemble_ava":
                    seeded.ava_experiment_id = experiment_id
                else:
                    seeded.kinetics_experiment_id = experiment_id
            seeded.job_ids = {f"{e}/{j}": i for i, e, j in session.execute(
                select(Job.id, Experiment.name, Job.name).join(Experiment))}
    finally:
        engine.dispose()
    return seeded
