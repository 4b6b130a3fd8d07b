"""Drill: a preemption storm on the real local SLURM cluster.

One checkpointing Counter job (tests/orchestrator/toy_jobs.py: a checkpoint after every step,
a deterministic value per step) is submitted by the watcher with cluster=slurm on the `debug`
partition and preempted again and again by jobs of the `high` partition that need the whole
node, each at a later step than the one before. SLURM requeues it itself
(PreemptMode=REQUEUE) after submitit's checkpoint, so every restart happens inside one
orchestrator attempt.

- With the configured bound (`configs/cluster/slurm.yaml` max_resubmits) and as many
  preemptions, the job completes; every requeue is a REQUEUED transition of its one attempt;
  each run resumes from a later step than the previous one; the metrics and the checkpoint
  equal an uninterrupted run's.
- With a bound lower than the number of preemptions, the watcher cancels the job at the first
  requeue past the bound and shows "restart bound reached" in `status`; the job stays
  cancelled at the scheduler and is never submitted again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from orchestrator.db import Job, Metric, session_scope
from orchestrator.executors import ClusterSettings
from orchestrator.resubmission import restarts_so_far
from orchestrator.slurm import query_states
from orchestrator.watcher import Watcher
from tests.orchestrator.dag_support import migrated_sqlite, record_toy_dag
from tests.orchestrator.toy_jobs import Counter

pytestmark = [pytest.mark.slurm, pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGURED_BOUND = int(yaml.safe_load((REPO_ROOT / "configs" / "cluster" / "slurm.yaml").read_text())["max_resubmits"])
STEP_SECONDS = 0.5


@pytest.fixture
def engine(tmp_path, slurm_cluster):
    engine = migrated_sqlite(tmp_path)
    yield engine
    engine.dispose()


class Storm:
    """Records a victim job and preempts it once per threshold step, in order."""

    def __init__(self, engine, runs_root: Path, cluster, *, total_steps: int, thresholds: list[int],
                 max_resubmits: int, log_dir: Path) -> None:
        self.engine, self.cluster, self.thresholds, self.log_dir = engine, cluster, thresholds, log_dir
        self.name = f"storm-{uuid.uuid4().hex[:8]}"  # also the sbatch name: unique on a shared cluster
        self.run_dir = runs_root / "toy" / self.name
        self.settings = {"executor": "slurm", "partition": cluster.default_partition, "signal_delay_s": 30,
                         "max_resubmits": max_resubmits, "resubmit_backoff_s": [0], "max_parallel": 4,
                         "poll_interval_s": 1}
        record_toy_dag(engine, runs_root, {self.name: {"total_steps": total_steps, "step_seconds": STEP_SECONDS}},
                       {}, cluster=self.settings)
        with session_scope(engine) as session:
            job = session.scalars(select(Job)).one()
            # >= 10 min: with a shorter limit submitit counts every USR2 as a time-out (docs/slurm.md).
            job.resources = {**job.resources, "timeout_min": 15}
        self.watcher = Watcher(engine, "toy", ClusterSettings.from_mapping(self.settings), backend="slurm",
                               vanish_grace_s=20, requeue_grace_s=90)
        self.preemptors: list[str] = []

    def step(self) -> int:
        try:
            return int(json.loads((self.run_dir / "status.json").read_text()).get("step", 0))
        except (FileNotFoundError, json.JSONDecodeError):
            return 0

    def preempt_when_due(self) -> None:
        """A `high` job needing every CPU of the node, once the victim has reached the next threshold."""
        if len(self.preemptors) < len(self.thresholds) and self.step() >= self.thresholds[len(self.preemptors)]:
            out = subprocess.run(
                ["sbatch", "--parsable", f"--partition={self.cluster.preempting_partition}",
                 f"--cpus-per-task={self.cluster.cpus}", "--mem=100", f"--job-name={self.name}-high",
                 f"--output={self.log_dir}/high-%j.out", "--wrap=sleep 2"],
                capture_output=True, text=True, check=True)
            self.preemptors.append(out.stdout.strip().split(";")[0])

    def drive(self, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            summary = self.watcher.poll()
            self.preempt_when_due()
            if summary.finished:
                return summary
            time.sleep(0.5)
        raise AssertionError(f"not finished after {timeout_s} s at step {self.step()}, "
                             f"{len(self.preemptors)} preemption(s): {self.watcher.summarise()}")

    def job_record(self) -> dict:
        """The job's state, error, restarts and attempts (with their transitions) from the database."""
        with session_scope(self.engine) as session:
            job = session.scalars(select(Job).where(Job.name == self.name)).one()
            return {"state": job.state, "error": job.error, "restarts": restarts_so_far(job),
                    "attempts": [(a.scheduler_job_id, a.state, [t.state for t in a.transitions])
                                 for a in job.attempts]}

    def cleanup(self) -> None:
        """scancel only what this drill created and is still queued or running."""
        ids = [*self.preemptors, *(scheduler_id for scheduler_id, _, _ in self.job_record()["attempts"])]
        live = [i for i, record in query_states(ids).items() if record.state in ("PENDING", "RUNNING", "REQUEUED")]
        if live:
            subprocess.run(["scancel", *live], check=False)


def _runs_by_restart(run_dir: Path) -> dict[int, list[int]]:
    """metrics.jsonl steps grouped by the SLURM restart count the job ran under."""
    steps: dict[int, list[int]] = defaultdict(list)
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        steps[record["attempt"]].append(record["step"])
    return dict(steps)


def _uninterrupted(tmp_path: Path, total_steps: int) -> tuple[dict[int, float], dict, dict]:
    """The same Counter run start to end in this process: its metrics, checkpoint and result."""
    run_dir = tmp_path / "uninterrupted"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"toy": {"total_steps": total_steps, "step_seconds": 0}}))
    result = Counter(run_dir)()
    metrics = {json.loads(line)["step"]: json.loads(line)["value"]
               for line in (run_dir / "metrics.jsonl").read_text().splitlines()}
    return metrics, json.loads((run_dir / "checkpoints" / "latest.json").read_text()), result


def test_a_job_preempted_up_to_the_bound_completes_like_an_uninterrupted_run(engine, slurm_cluster, tmp_path):
    total = 26
    thresholds = [3, 7, 11, 15, 19][:CONFIGURED_BOUND]
    assert len(thresholds) == CONFIGURED_BOUND == 5
    storm = Storm(engine, tmp_path / "runs", slurm_cluster, total_steps=total, thresholds=thresholds,
                  max_resubmits=CONFIGURED_BOUND, log_dir=tmp_path)
    started = time.monotonic()
    try:
        summary = storm.drive(300)
    finally:
        storm.cleanup()
    elapsed = time.monotonic() - started
    record = storm.job_record()
    assert summary.succeeded and record["state"] == "COMPLETED", record
    assert len(storm.preemptors) == CONFIGURED_BOUND

    # One attempt: SLURM requeued it every time, the watcher never resubmitted; each requeue recorded.
    (scheduler_id, state, transitions), = record["attempts"]
    assert state == "COMPLETED" and transitions[0] == "SUBMITTED" and transitions[-1] == "COMPLETED"
    assert transitions.count("REQUEUED") == len(storm.preemptors) == record["restarts"] <= CONFIGURED_BOUND
    assert query_states([scheduler_id])[scheduler_id].restarts == len(storm.preemptors)

    # Each run resumed from its checkpoint, later than the run before, past the step it was preempted at.
    runs = _runs_by_restart(storm.run_dir)
    assert sorted(runs) == list(range(len(storm.preemptors) + 1)), runs
    resumed_from = [min(runs[restart]) - 1 for restart in sorted(runs)]
    assert resumed_from[0] == 0
    assert all(later > earlier for earlier, later in zip(resumed_from, resumed_from[1:])), resumed_from
    assert all(resume >= threshold for resume, threshold in zip(resumed_from[1:], thresholds)), resumed_from

    # The result equals an uninterrupted run's: every metric, the final checkpoint, result.json.
    metrics, checkpoint, result = _uninterrupted(tmp_path, total)
    with session_scope(engine) as session:
        rows = session.execute(select(Metric.step, Metric.value).join(Job, Job.id == Metric.job_id)
                               .where(Job.name == storm.name)).all()
    assert dict(rows) == metrics and len(rows) == total
    assert json.loads((storm.run_dir / "checkpoints" / "latest.json").read_text()) == checkpoint
    final = json.loads((storm.run_dir / "result.json").read_text())
    assert final["final_value"] == result["final_value"] and final["resumed_from_step"] == resumed_from[-1]
    print(f"\n{len(storm.preemptors)} preemptions, resumed from {resumed_from[1:]}, completed in {elapsed:.0f} s")


def test_a_storm_past_the_bound_stops_the_job_instead_of_looping(engine, slurm_cluster, tmp_path):
    bound = 2
    thresholds = [3, 7, 11, 15]  # the third preemption is one past the bound; the fourth must never come
    storm = Storm(engine, tmp_path / "runs", slurm_cluster, total_steps=80, thresholds=thresholds,
                  max_resubmits=bound, log_dir=tmp_path)
    started = time.monotonic()
    try:
        summary = storm.drive(240)
        stopped = time.monotonic() - started
        record = storm.job_record()
        assert summary.finished and not summary.succeeded, record
        (scheduler_id, state, transitions), = record["attempts"]
        assert len(storm.preemptors) == bound + 1
        assert record["state"] == "FAILED" and state == "CANCELLED", record
        assert transitions.count("REQUEUED") == record["restarts"] == bound + 1
        assert "restart bound reached" in record["error"] and f"cluster.max_resubmits={bound}" in record["error"]

        # Watch a while longer: nothing is submitted again and SLURM does not run it again either.
        step_at_stop = storm.step()
        at_stop = query_states([scheduler_id])[scheduler_id]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            storm.watcher.poll()
            time.sleep(1)
        assert storm.job_record()["attempts"] == record["attempts"]
        scheduler = query_states([scheduler_id])[scheduler_id]
        # Cancelled while its next run had started: the last run is CANCELLED. Cancelled while
        # it waited to run again after the requeue: accounting keeps the last run's REQUEUED,
        # and no run follows. Either way no run starts after the stop, and it is not queued.
        assert scheduler.state in {"CANCELLED", "REQUEUED"}, scheduler
        # slurmdbd may record the last requeue after the stop was read (under load: 2 at the stop,
        # 3 fifteen seconds later), but never a restart the watcher had not seen before it stopped.
        assert at_stop.restarts <= scheduler.restarts <= record["restarts"], (at_stop, scheduler)
        assert scheduler.restarts in {bound, bound + 1}, scheduler
        queued = subprocess.run(["squeue", "-h", "-j", scheduler_id, "-t", "PENDING,RUNNING,REQUEUED", "-o", "%T"],
                                capture_output=True, text=True)
        assert queued.stdout.strip() == "", queued.stdout
        assert storm.step() == step_at_stop
    finally:
        storm.cleanup()

    status = subprocess.run([sys.executable, "-m", "orchestrator", "status", "toy", "--json",
                             "--db-url", str(engine.url)], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    shown, = [row for row in json.loads(status.stdout) if row["job"] == storm.name]
    assert shown["state"] == "FAILED" and "restart bound reached" in shown["error"], shown
    print(f"\nstopped after {len(storm.preemptors)} preemptions in {stopped:.0f} s: {record['error']}")
