"""A database with the shape of a real `ensemble_ava` run, built in seconds for the tests.

A real demo run takes about half an hour on this machine, far too long for a fixture; the
seeded database of `seed_dashboard.py` has two members and no ensemble per-class AP. This
one is what a user of `make demo` has, with the numbers invented:

- the jobs, their configs, resources and DAG recorded by the real planner (`ensemble_ava` at
  demo scale: 35 jobs, seven members, the "++" member's single-scale twin, the ensembles);
- every job COMPLETED through one local CPU attempt (what the watcher records: cpu_seconds
  from wall x cpus_per_task, no GPU) and a dry-run estimate in CPU core-hours;
- through the orchestrator's ingest of job files: training curves (loss, lr, clips_per_s
  every 10 steps) for the fine-tunes, val frame-mAP and per-class AP for all 60 evaluated
  classes of the AVA label map for the members' evaluations, the twin and the val ensemble.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from model.data.ava_labelmap import AVA_EVALUATED_IDS
from contract.states import JobState
from orchestrator.db import Attempt, Job, make_session_factory, open_database, session_scope, upgrade
from orchestrator.ingest import ingest_job
from orchestrator.planner import compose_experiment, plan_experiment, record_plan, to_plain

__all__ = ["RealRunShape", "seed_real_run_shape", "TRAIN_STEPS"]

TRAIN_STEPS = 50
START = dt.datetime(2026, 12, 5, 7, 20, tzinfo=dt.timezone.utc)


@dataclass
class RealRunShape:
    url: str
    runs_root: Path
    experiment_id: int = 0
    job_ids: dict[str, int] = field(default_factory=dict)          # job name -> id
    frame_map: dict[str, float] = field(default_factory=dict)      # scored job name -> fraction
    per_class_ap: dict[str, dict[int, float]] = field(default_factory=dict)  # job -> {action id: AP}


def _write_lines(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def _training(rng: random.Random, floor: float) -> list[dict]:
    records = []
    for step in range(10, TRAIN_STEPS + 1, 10):
        for name, value in (("loss", floor + 0.4 * (TRAIN_STEPS - step) / TRAIN_STEPS + rng.uniform(0, 0.03)),
                            ("lr", 0.1 * (0.1 if step > 40 else 1.0)), ("clips_per_s", 3.0 + rng.random())):
            records.append({"step": step, "split": "train", "name": name, "value": value, "attempt": 1})
    return records


def _evaluation(rng: random.Random, level: float) -> tuple[float, dict[int, float], list[dict]]:
    aps = {action_id: min(1.0, max(0.0, level + rng.uniform(-0.25, 0.35))) for action_id in AVA_EVALUATED_IDS}
    frame_map = sum(aps.values()) / len(aps)
    records = [{"step": 0, "split": "val", "name": f"ap/{i}", "value": v, "attempt": 1} for i, v in aps.items()]
    records.append({"step": 0, "split": "val", "name": "frame_map", "value": frame_map, "attempt": 1})
    return frame_map, aps, records


def seed_real_run_shape(db_url: str, runs_root: Path, *, seed: int = 0) -> RealRunShape:
    rng = random.Random(seed)
    upgrade(db_url)
    shape = RealRunShape(url=db_url, runs_root=runs_root)
    engine = open_database(db_url)
    try:
        factory = make_session_factory(engine)
        plan = plan_experiment(to_plain(compose_experiment("ensemble_ava", ["scale=demo", "cluster=local"])),
                               runs_root=runs_root)
        estimates = {job.name: {"unit": "core-h", "device": "cpu", "devices": 1,
                                "device_hours": 0.004 + 0.01 * rng.random(), "wall_s": 30.0,
                                "disk_bytes": 5_000_000, "rate_source": "assumed"} for job in plan.jobs}
        with session_scope(factory) as session:
            record_plan(session, plan, estimates=estimates)
        with session_scope(factory) as session:
            jobs = list(session.scalars(select(Job).order_by(Job.id)))
            for index, job in enumerate(jobs):
                run_dir = Path(job.run_dir)
                run_dir.mkdir(parents=True, exist_ok=True)
                records: list[dict] = []
                if job.kind == "finetune_ava":
                    records = _training(rng, floor=0.05 if "sf16x8_ctx" in job.name else 0.25)
                elif job.name.startswith(("evaluate.val", "ensemble.val")):
                    level = 0.36 if job.kind == "ensemble" else rng.uniform(0.22, 0.34)
                    frame_map, aps, records = _evaluation(rng, level)
                    shape.frame_map[job.name], shape.per_class_ap[job.name] = frame_map, aps
                _write_lines(run_dir / "metrics.jsonl", records)
                (run_dir / "status.json").write_text(json.dumps({"state": "completed", "step": TRAIN_STEPS,
                                                                 "total_steps": TRAIN_STEPS, "message": ""}))
                (run_dir / "result.json").write_text(json.dumps({"metrics": {}}))
                started = START + dt.timedelta(seconds=40 * index)
                wall = 20 + rng.randint(0, 60)
                attempt = Attempt(number=1, executor="local", scheduler_job_id=str(14800 + index), node="vm",
                                  submitted_at=started - dt.timedelta(seconds=2), started_at=started,
                                  ended_at=started + dt.timedelta(seconds=wall), exit_code=0,
                                  reason=f"local job {14800 + index}", gpu_seconds=0,
                                  cpu_seconds=wall * int(job.resources.get("cpus_per_task") or 1))
                job.attempts.append(attempt)
                attempt.record_transition(JobState.RUNNING, at=started)
                attempt.record_transition(JobState.COMPLETED, at=started + dt.timedelta(seconds=wall))
                job.state = JobState.COMPLETED.value
                session.flush()
                ingest_job(session, job)
        with session_scope(factory) as session:
            rows = session.execute(select(Job.id, Job.name, Job.experiment_id)).all()
            shape.job_ids = {name: job_id for job_id, name, _ in rows}
            shape.experiment_id = rows[0][2]
    finally:
        engine.dispose()
    return shape
