"""The queries behind status/leaderboard/logs, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.db import Experiment, Job, Metric, session_scope
from orchestrator.views.jobs import JobNotFound, find_job
from contract.metric_names import VAL_FRAME_MAP as FRAME_MAP
from orchestrator.views.metrics import latest_metric_values
from orchestrator.views.status import estimate_eta_seconds


def _two_experiments_with_same_job_name(session_factory) -> tuple[int, int]:
    with session_scope(session_factory) as session:
        jobs = []
        for name in ("exp_a", "exp_b"):
            job = Job(name="evaluate.val.m1", kind="evaluate", content_hash="0" * 64, run_dir=f"/r/{name}")
            session.add(Experiment(name=name, task="ava", scale="demo", jobs=[job]))
            jobs.append(job)
    return jobs[0].id, jobs[1].id


def test_latest_metric_is_the_highest_step_not_the_best_value(session_factory):
    first, second = _two_experiments_with_same_job_name(session_factory)
    with session_scope(session_factory) as session:
        for step, value in ((100, 0.30), (200, 0.25)):  # the later evaluation is worse
            session.add(Metric(job_id=first, step=step, split="val", name="frame_map", value=value))
        session.add(Metric(job_id=first, step=300, split="train", name="frame_map", value=0.9))  # other split
        session.add(Metric(job_id=second, step=5, split="val", name="frame_map", value=0.1))
    with session_scope(session_factory) as session:
        assert latest_metric_values(session, [FRAME_MAP]) == {first: {FRAME_MAP: 0.25}, second: {FRAME_MAP: 0.1}}
        assert latest_metric_values(session, [FRAME_MAP], [second]) == {second: {FRAME_MAP: 0.1}}
        assert latest_metric_values(session, []) == {}


def test_find_job_by_reference(session_factory):
    first, second = _two_experiments_with_same_job_name(session_factory)
    with session_scope(session_factory) as session:
        assert find_job(session, "exp_b/evaluate.val.m1").id == second
        assert find_job(session, str(first)).id == first
        with pytest.raises(JobNotFound, match="ambiguous"):
            find_job(session, "evaluate.val.m1")
        with pytest.raises(JobNotFound, match="no job"):
            find_job(session, "exp_c/evaluate.val.m1")


def test_eta_uses_the_current_attempts_rate():
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    started = now - dt.timedelta(seconds=100)
    # Resumed at step 40, now at 60 after 100 s: 0.2 steps/s, 40 steps left -> 200 s.
    assert estimate_eta_seconds(step=60, total=100, started_at=started, resumed_from_step=40, now=now) == 200
    assert estimate_eta_seconds(step=40, total=100, started_at=started, resumed_from_step=40, now=now) is None
    assert estimate_eta_seconds(step=None, total=100, started_at=started, resumed_from_step=None, now=now) is None
    assert estimate_eta_seconds(step=10, total=None, started_at=started, resumed_from_step=None, now=now) is None
