"""Constraints the rest of the system relies on, checked on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from contract.states import JobState
from orchestrator.db import (Artifact, Attempt, AttemptTransition, Experiment, Job, Metric,
                             session_scope)


def _experiment_with_two_jobs(session) -> tuple[Job, Job]:
    experiment = Experiment(name="exp", task="ava", scale="demo", config={"a": 1})
    upstream = Job(name="pretrain", kind="pretrain", content_hash="a" * 64, run_dir="/r/p")
    downstream = Job(name="finetune", kind="finetune_ava", content_hash="b" * 64, run_dir="/r/f")
    downstream.dependencies.append(upstream)
    experiment.jobs.extend([upstream, downstream])
    session.add(experiment)
    session.flush()
    return upstream, downstream


def test_dag_edges_and_defaults(session_factory):
    with session_scope(session_factory) as session:
        upstream, downstream = _experiment_with_two_jobs(session)
    with session_scope(session_factory) as session:
        downstream = session.scalars(select(Job).where(Job.name == "finetune")).one()
        assert [job.name for job in downstream.dependencies] == ["pretrain"]
        assert [job.name for job in downstream.dependencies[0].dependents] == ["finetune"]
        assert downstream.state == JobState.PLANNED.value
        assert downstream.metrics_offset == 0 and downstream.metrics_corrupt_first == []
        assert downstream.created_at.tzinfo is not None


def test_job_names_are_unique_within_an_experiment(session_factory):
    with pytest.raises(IntegrityError):
        with session_scope(session_factory) as session:
            upstream, _ = _experiment_with_two_jobs(session)
            upstream.experiment.jobs.append(Job(name="pretrain", kind="pretrain", content_hash="c" * 64,
                                                run_dir="/r/x"))
            session.flush()


def test_attempt_transitions_keep_the_history(session_factory):
    with session_scope(session_factory) as session:
        upstream, _ = _experiment_with_two_jobs(session)
        first = Attempt(number=1, executor="slurm", scheduler_job_id="101")
        upstream.attempts.append(first)
        for state in (JobState.PENDING, JobState.RUNNING, JobState.PREEMPTED, JobState.REQUEUED):
            first.record_transition(state, reason="preempted by higher priority" if state is JobState.PREEMPTED else None)
        second = Attempt(number=2, executor="slurm", scheduler_job_id="102", resumed_from_step=500)
        upstream.attempts.append(second)
        second.record_transition(JobState.COMPLETED)
    with session_scope(session_factory) as session:
        job = session.scalars(select(Job).where(Job.name == "pretrain")).one()
        assert [a.number for a in job.attempts] == [1, 2]
        assert [t.state for t in job.attempts[0].transitions] == ["PENDING", "RUNNING", "PREEMPTED", "REQUEUED"]
        assert job.attempts[0].state == "REQUEUED"
        assert job.attempts[0].reason == "preempted by higher priority"
        assert job.latest_attempt.resumed_from_step == 500
    with pytest.raises(ValueError):
        Attempt(number=3, executor="local").record_transition("EXPLODED")


def test_deleting_an_experiment_cascades_in_the_database(session_factory):
    with session_scope(session_factory) as session:
        upstream, downstream = _experiment_with_two_jobs(session)
        attempt = Attempt(number=1, executor="local")
        upstream.attempts.append(attempt)
        attempt.record_transition(JobState.RUNNING)
        session.flush()
        session.add(Metric(job_id=upstream.id, attempt_id=attempt.id, step=1, split="train", name="loss", value=1.0))
        session.add(Artifact(job_id=upstream.id, path="checkpoints/step_000001.pt", kind="checkpoint",
                             sha256="0" * 64, bytes=3))
    with session_scope(session_factory) as session:
        session.delete(session.scalars(select(Experiment)).one())
    with session_scope(session_factory) as session:
        for model in (Job, Attempt, AttemptTransition, Metric, Artifact):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model.__name__


def test_foreign_keys_are_enforced(session_factory):
    with pytest.raises(IntegrityError):
        with session_scope(session_factory) as session:
            session.add(Artifact(job_id=424242, path="checkpoints/step_000001.pt", kind="checkpoint",
                                 sha256="0" * 64, bytes=3))


def test_metrics_have_no_foreign_key_and_go_with_their_job(session_factory):
    """Revision 0005: no per-row check of the job at insert (ingest, the only writer, writes rows
    of a job it has just read); deleting a job deletes its metrics, and only its own."""
    with session_scope(session_factory) as session:
        session.add(Metric(job_id=424242, step=1, split="train", name="loss", value=1.0))
    with session_scope(session_factory) as session:
        upstream, downstream = _experiment_with_two_jobs(session)
        for job in (upstream, downstream):
            session.add(Metric(job_id=job.id, step=1, split="val", name="frame_map", value=0.5))
        upstream_id, downstream_id = upstream.id, downstream.id
    with session_scope(session_factory) as session:
        session.delete(session.get(Job, upstream_id))
    with session_scope(session_factory) as session:
        assert session.scalars(select(Metric.job_id).order_by(Metric.job_id)).all() == [downstream_id, 424242]


def test_metric_natural_key_is_unique(session_factory):
    with pytest.raises(IntegrityError):
        with session_scope(session_factory) as session:
            upstream, _ = _experiment_with_two_jobs(session)
            for _ in range(2):
                session.add(Metric(job_id=upstream.id, step=7, split="val", name="frame_map", value=0.1))
            session.flush()
