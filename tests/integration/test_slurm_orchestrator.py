"""The orchestrator against the real one-node SLURM cluster (scripts/slurm/start-local-cluster.sh).

Toy Counter jobs (tests/orchestrator/toy_jobs.py) keep each scenario to seconds: they follow
the run-directory contract (checkpoint every step, metrics.jsonl, status.json, result.json)
and their final value is a deterministic function of the step count, so "resumed equals
uninterrupted" is checked exactly.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orchestrator.db import Attempt, Job, Metric, session_scope
from orchestrator.executors import ClusterSettings
from orchestrator.watcher import Watcher
from tests.orchestrator.dag_support import job_states, migrated_sqlite, record_toy_dag
from tests.orchestrator.toy_jobs import expected_final_value

pytestmark = [pytest.mark.slurm, pytest.mark.integration, pytest.mark.slow]


def _cluster(**overrides) -> dict:
    return {"executor": "slurm", "partition": "debug", "signal_delay_s": 30, "max_resubmits": 3,
            "resubmit_backoff_s": [0], "max_parallel": 8, "poll_interval_s": 1, **overrides}


@pytest.fixture
def engine(tmp_path, slurm_cluster):
    engine = migrated_sqlite(tmp_path)
    yield engine
    engine.dispose()


def _watcher(engine, cluster: dict) -> Watcher:
    return Watcher(engine, "toy", ClusterSettings.from_mapping(cluster), backend="slurm", vanish_grace_s=20,
                   requeue_grace_s=90)


def _drive(watcher: Watcher, timeout_s: float, on_poll=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        summary = watcher.poll()
        if on_poll is not None:
            on_poll()
        if summary.finished:
            return summary
        time.sleep(0.5)
    raise AssertionError(f"not finished after {timeout_s} s: {watcher.summarise()}")


def _step(run_dir: Path) -> int:
    try:
        return int(json.loads((run_dir / "status.json").read_text()).get("step", 0))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _attempts(engine, name: str) -> list[Attempt]:
    """The job's attempts with their transitions loaded (usable after the session closes)."""
    with session_scope(engine) as session:
        job = session.scalars(select(Job).where(Job.name == name)).one()
        for attempt in job.attempts:
            list(attempt.transitions)
        return list(job.attempts)


def _scheduler_id(engine, name: str) -> str:
    return _attempts(engine, name)[-1].scheduler_job_id


def test_a_small_dag_completes_through_slurm_with_metrics_ingested(engine, tmp_path) -> None:
    runs = tmp_path / "runs"
    record_toy_dag(engine, runs, {"a": {"total_steps": 3}, "b": {"total_steps": 4}, "c": {"total_steps": 2}},
                   {"b": ["a"], "c": ["a"]}, cluster=_cluster())
    summary = _drive(_watcher(engine, _cluster()), 120)
    assert summary.succeeded
    assert job_states(engine) == {"a": "COMPLETED", "b": "COMPLETED", "c": "COMPLETED"}
    with session_scope(engine) as session:
        per_job = select(Job.name, func.count()).join(Metric, Metric.job_id == Job.id).group_by(Job.name)
        counts = dict(session.execute(per_job).all())
        assert counts == {"a": 3, "b": 4, "c": 2}
        attempts = session.scalars(select(Attempt)).all()
        assert {a.executor for a in attempts} == {"slurm"} and all(a.node for a in attempts)
    assert (runs / "toy" / "b" / "logs" / "attempt_001").is_dir()


def test_preempted_job_is_checkpointed_requeued_and_finishes_like_an_uninterrupted_run(engine, tmp_path) -> None:
    total = 30
    run_dir = tmp_path / "runs" / "toy" / "victim"
    cluster = _cluster(signal_delay_s=30)
    record_toy_dag(engine, tmp_path / "runs", {"victim": {"total_steps": total, "step_seconds": 0.5}}, {},
                   cluster=cluster)
    watcher = _watcher(engine, cluster)
    preemptor: list[str] = []

    def preempt_once() -> None:
        if not preemptor and _step(run_dir) >= 4:
            # A job of the high-priority partition that needs every CPU of the node.
            out = subprocess.run(["sbatch", "--parsable", "--partition=high", "--cpus-per-task=2", "--mem=100",
                                  f"--output={tmp_path}/high-%j.out", "--wrap=sleep 4"],
                                 capture_output=True, text=True, check=True)
            preemptor.append(out.stdout.strip().split(";")[0])

    summary = _drive(watcher, 240, on_poll=preempt_once)
    assert preemptor and summary.succeeded
    attempts = _attempts(engine, "victim")
    assert len(attempts) == 1  # SLURM + submitit requeued it: the orchestrator did not resubmit
    states = [t.state for t in attempts[0].transitions]
    assert ("PREEMPTED" in states or "REQUEUED" in states) and states[-1] == "COMPLETED"
    result = json.loads((run_dir / "result.json").read_text())
    assert result["resumed_from_step"] >= 4  # resumed from its checkpoint, not from step 0
    assert result["final_value"] == expected_final_value(total)


def test_a_job_killed_from_outside_is_resubmitted_from_its_checkpoint(engine, tmp_path) -> None:
    total = 24
    run_dir = tmp_path / "runs" / "toy" / "victim"
    record_toy_dag(engine, tmp_path / "runs", {"victim": {"total_steps": total, "step_seconds": 0.5}}, {},
                   cluster=_cluster())
    watcher = _watcher(engine, _cluster())
    killed: list[str] = []

    def kill_once() -> None:
        if not killed and _step(run_dir) >= 4:
            scheduler_id = _scheduler_id(engine, "victim")
            subprocess.run(["scancel", "--signal=KILL", "--full", scheduler_id], check=True)
            killed.append(scheduler_id)

    summary = _drive(watcher, 240, on_poll=kill_once)
    assert killed and summary.succeeded
    first, second = _attempts(engine, "victim")
    assert "NODE_FAIL" in [t.state for t in first.transitions] and first.state == "REQUEUED"
    assert first.reason.startswith("resubmitted as attempt 2")
    assert second.state == "COMPLETED" and second.resumed_from_step >= 4
    result = json.loads((run_dir / "result.json").read_text())
    assert result["resumed_from_step"] >= 4 and result["final_value"] == expected_final_value(total)


def test_a_job_past_its_time_limit_is_checkpointed_and_requeued_until_done(engine, tmp_path) -> None:
    # --time=1 min with USR2 40 s before it: each run gets ~20 s, the job needs ~30 s of work.
    total = 60
    run_dir = tmp_path / "runs" / "toy" / "long"
    cluster = _cluster(signal_delay_s=40, max_resubmits=5)
    record_toy_dag(engine, tmp_path / "runs", {"long": {"total_steps": total, "step_seconds": 0.5}}, {},
                   cluster=cluster)
    with session_scope(engine) as session:
        job = session.scalars(select(Job)).one()
        job.resources = {**job.resources, "timeout_min": 1}
    summary = _drive(_watcher(engine, cluster), 300)
    assert summary.succeeded
    result = json.loads((run_dir / "result.json").read_text())
    assert result["resumed_from_step"] > 0 and result["final_value"] == expected_final_value(total)
    transitions = [t.state for a in _attempts(engine, "long") for t in a.transitions]
    assert "REQUEUED" in transitions or "TIMEOUT" in transitions
    assert transitions[-1] == "COMPLETED"


def test_a_deterministic_failure_is_attempted_once_and_shows_its_error(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"bad": {"fail": "nan", "fail_at": 2}, "after": {}},
                   {"after": ["bad"]}, cluster=_cluster())
    summary = _drive(_watcher(engine, _cluster()), 120)
    assert summary.failed == [("bad", "loss is NaN at step 2")]
    assert len(_attempts(engine, "bad")) == 1
    assert job_states(engine) == {"bad": "FAILED", "after": "CANCELLED"}


def test_cancel_scancels_the_running_job(engine, tmp_path) -> None:
    import argparse

    from orchestrator.commands import cancel
    from orchestrator.slurm import query_states

    run_dir = tmp_path / "runs" / "toy" / "slow"
    record_toy_dag(engine, tmp_path / "runs", {"slow": {"total_steps": 200, "step_seconds": 0.5}, "next": {}},
                   {"next": ["slow"]}, cluster=_cluster())
    watcher = _watcher(engine, _cluster())
    deadline = time.monotonic() + 60
    while _step(run_dir) < 1 and time.monotonic() < deadline:
        watcher.poll()
        time.sleep(0.5)
    scheduler_id = _scheduler_id(engine, "slow")
    args = argparse.Namespace(experiment="toy", job=None, db_url=str(engine.url))
    assert cancel.run(args) == 0
    assert job_states(engine) == {"slow": "CANCELLED", "next": "CANCELLED"}
    deadline = time.monotonic() + 30
    while query_states([scheduler_id])[scheduler_id].state != "CANCELLED" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert query_states([scheduler_id])[scheduler_id].state == "CANCELLED"
    assert watcher.poll().finished  # nothing left to watch, nothing resubmitted
    assert len(_attempts(engine, "slow")) == 1
