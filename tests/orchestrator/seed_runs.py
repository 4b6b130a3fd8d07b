"""Builds small, realistic orchestrator databases for tests: run directories with the job
contract's files, recorded as experiments/jobs/attempts and ingested with the real ingest.

The metric values are chosen here (not read back from our own output) so tests can state
the expected leaderboard order independently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from contract.states import JobState
from orchestrator.db import Attempt, Experiment, Job, session_scope
from orchestrator.ingest import ingest_job

# job name -> (kind, state, val metrics written at the final step)
AVA_JOBS = {
    "pretrain_k600.sf8x8": ("pretrain", JobState.COMPLETED, {}),
    "finetune_ava.train.sf8x8": ("finetune_ava", JobState.COMPLETED, {}),
    "evaluate.val.sf8x8": ("evaluate", JobState.COMPLETED, {"frame_map": 0.281, "ap/1": 0.5, "ap/12": 0.25}),
    "evaluate.val.fast32x2": ("evaluate", JobState.COMPLETED, {"frame_map": 0.215}),
    "evaluate.val.sf16x8_ctx": ("evaluate", JobState.COMPLETED, {"frame_map": 0.301}),
    "ensemble.val": ("ensemble", JobState.COMPLETED, {"frame_map": 0.334}),
    "finetune_ava.trainval.sf16x8_ctx": ("finetune_ava", JobState.RUNNING, {}),
}
KINETICS_JOBS = {
    "evaluate.val.sf8x8_k700": ("evaluate", JobState.COMPLETED, {"top1": 0.75, "top5": 0.91}),
    "evaluate.val.fast32x2_k700": ("evaluate", JobState.COMPLETED, {"top1": 0.70, "top5": 0.89}),
    "ensemble.val.k700": ("ensemble", JobState.COMPLETED, {"top1": 0.79, "top5": 0.94}),
}


@dataclass
class SeededDb:
    url: str
    runs_root: Path
    ava_experiment: str = "ensemble_ava_demo"
    kinetics_experiment: str = "kinetics_challenge_demo"


def write_metrics(run_dir: Path, records: list[dict]) -> None:
    with (run_dir / "metrics.jsonl").open("a") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def write_run_dir(run_dir: Path, *, total_steps: int, done_steps: int, val: dict[str, float],
                  finished: bool) -> None:
    """A run directory as a job leaves it: training curve, checkpoint, status, result."""
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    records = [{"step": s, "split": "train", "name": "loss", "value": 2.0 / (1 + s), "time": 1.7e9 + s,
                "attempt": 1} for s in range(0, done_steps + 1, 10)]
    records += [{"step": done_steps, "split": "val", "name": n, "value": v, "time": 1.7e9 + done_steps,
                 "attempt": 1} for n, v in val.items()]
    write_metrics(run_dir, records)
    (run_dir / "checkpoints" / f"step_{done_steps:06d}.pt").write_bytes(b"weights-" + run_dir.name.encode())
    (run_dir / "status.json").write_text(json.dumps(
        {"state": "completed" if finished else "running", "step": done_steps, "total_steps": total_steps,
         "message": ""}))
    if finished:
        (run_dir / "result.json").write_text(json.dumps({"metrics": val, "step": done_steps}))


def _record_experiment(session, runs_root: Path, name: str, task: str, jobs: dict, now: dt.datetime) -> None:
    experiment = Experiment(name=name, task=task, scale="demo", config={"experiment": name},
                            runs_root=str(runs_root))
    session.add(experiment)
    previous: Job | None = None
    for job_name, (kind, state, val) in jobs.items():
        run_dir = runs_root / name / job_name
        finished = state == JobState.COMPLETED
        write_run_dir(run_dir, total_steps=100, done_steps=100 if finished else 40, val=val, finished=finished)
        job = Job(name=job_name, kind=kind, config={"job": {"name": job_name, "kind": kind}},
                  content_hash=hashlib.sha256(job_name.encode()).hexdigest(), state=state.value, run_dir=str(run_dir),
                  resources={"nodes": 1, "gpus_per_node": 0})
        if previous is not None:
            job.dependencies.append(previous)
        experiment.jobs.append(job)
        attempt = Attempt(number=1, executor="local", scheduler_job_id=str(zlib.crc32(job_name.encode()) % 10**6),
                          submitted_at=now - dt.timedelta(minutes=10), started_at=now - dt.timedelta(minutes=9))
        job.attempts.append(attempt)
        attempt.record_transition(JobState.SUBMITTED, at=now - dt.timedelta(minutes=10))
        attempt.record_transition(JobState.RUNNING, at=now - dt.timedelta(minutes=9))
        if finished:
            attempt.record_transition(JobState.COMPLETED, at=now)
        previous = job


def seed_experiments(*, db_url: str, engine, session_factory, runs_root: Path) -> SeededDb:
    seeded = SeededDb(url=db_url, runs_root=runs_root)
    now = dt.datetime.now(dt.timezone.utc)
    with session_scope(session_factory) as session:
        _record_experiment(session, runs_root, seeded.ava_experiment, "ava", AVA_JOBS, now)
        _record_experiment(session, runs_root, seeded.kinetics_experiment, "kinetics", KINETICS_JOBS, now)
    with session_scope(session_factory) as session:
        from sqlalchemy import select

        for job in session.scalars(select(Job).order_by(Job.id)):
            ingest_job(session, job)
    return seeded
