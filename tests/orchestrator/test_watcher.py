"""The watcher on a real database and real local subprocesses (toy Counter jobs).

A scripted executor stands in for the scheduler only where a unit needs a scheduler answer
that cannot be produced on demand (uncertain sacct, a job lost on every attempt).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

import pytest
import yaml
from sqlalchemy import func, select

from orchestrator.db import Attempt, Job, Metric, session_scope
from orchestrator.executors import ClusterSettings, SchedulerObservation, SubmittedAttempt, attempt_log_folder
from orchestrator.executors.local import LocalProcessExecutor
from orchestrator.watcher import Watcher
from tests.orchestrator.dag_support import job_states, migrated_sqlite, record_toy_dag
from tests.orchestrator.toy_jobs import expected_final_value

FAST = ClusterSettings(backend="local", max_parallel=2, resubmit_backoff_s=(0.0,), poll_interval_s=0.1)


@pytest.fixture
def engine(tmp_path):
    engine = migrated_sqlite(tmp_path)
    yield engine
    engine.dispose()


def _watch(engine, settings=FAST, timeout_s=60, **kwargs):
    watcher = Watcher(engine, "toy", settings, backend="local", **kwargs)
    return watcher, watcher.run(timeout_s=timeout_s, poll_interval_s=0.1)


def _attempts(engine, name: str) -> list[tuple[int, str, list[str], int | None]]:
    with session_scope(engine) as session:
        job = session.scalars(select(Job).where(Job.name == name)).one()
        return [(a.number, a.state, [t.state for t in a.transitions], a.resumed_from_step) for a in job.attempts]


def test_a_dag_runs_in_dependency_order_and_its_metrics_are_ingested(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"a": {"total_steps": 3}, "b": {"total_steps": 4}, "c": {}},
                   {"b": ["a"], "c": ["a"]})
    _, summary = _watch(engine)
    assert summary.succeeded and summary.done == 3
    assert job_states(engine) == {"a": "COMPLETED", "b": "COMPLETED", "c": "COMPLETED"}
    with session_scope(engine) as session:
        jobs = {job.name: job for job in session.scalars(select(Job))}
        # b was submitted only after a had finished: its attempt starts after a's ended.
        assert jobs["b"].attempts[0].submitted_at >= jobs["a"].attempts[0].ended_at
        assert session.scalar(select(func.count()).select_from(Metric).where(Metric.job_id == jobs["b"].id)) == 4
        assert jobs["b"].result["final_value"] == expected_final_value(4)
        assert jobs["a"].attempts[0].transitions[-1].state == "COMPLETED"
        # No accounting on the local executor: usage is the process's wall time x its CPUs.
        attempt = jobs["b"].attempts[0]
        wall = (attempt.ended_at - attempt.submitted_at).total_seconds()
        cpus = jobs["b"].resources.get("cpus_per_task") or 1
        assert attempt.cpu_seconds == round(wall * cpus) and attempt.gpu_seconds == 0


def test_a_deterministic_failure_is_not_retried_and_blocks_its_dependents(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"a": {}, "bad": {"fail": "nan", "fail_at": 2}, "after": {}, "last": {}},
                   {"bad": ["a"], "after": ["bad"], "last": ["after"]})
    _, summary = _watch(engine)
    assert summary.finished and not summary.succeeded
    assert summary.failed == [("bad", "loss is NaN at step 2")]
    assert job_states(engine) == {"a": "COMPLETED", "bad": "FAILED", "after": "CANCELLED", "last": "CANCELLED"}
    assert [state for _, state, _, _ in _attempts(engine, "bad")] == ["FAILED"]  # attempted once
    with session_scope(engine) as session:
        jobs = {job.name: job for job in session.scalars(select(Job))}
        blocked = jobs["after"]
        assert blocked.error == "blocked: dependency bad is FAILED" and not blocked.attempts
        assert (blocked.blocked_by_job_id, jobs["last"].blocked_by_job_id) == (jobs["bad"].id, blocked.id)
        assert jobs["a"].blocked_by_job_id is None and jobs["bad"].blocked_by_job_id is None


def test_an_exception_in_the_job_is_shown_and_not_retried(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"boom": {"fail": "exception", "fail_at": 1}}, {})
    _, summary = _watch(engine)
    assert summary.failed == [("boom", "ValueError: bad data in clip 1")]
    assert len(_attempts(engine, "boom")) == 1


def test_local_parallelism_is_bounded(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {name: {"total_steps": 20} for name in "abcd"}, {})
    watcher = Watcher(engine, "toy", FAST, backend="local")
    watcher.poll()
    assert sorted(job_states(engine).values()) == ["PLANNED", "PLANNED", "SUBMITTED", "SUBMITTED"]
    summary = watcher.run(timeout_s=60, poll_interval_s=0.1)
    assert summary.succeeded


def test_a_job_killed_from_outside_is_resubmitted_and_resumes_from_its_checkpoint(engine, tmp_path) -> None:
    total = 30
    record_toy_dag(engine, tmp_path / "runs", {"long": {"total_steps": total, "step_seconds": 0.05}}, {})
    local = LocalProcessExecutor()
    watcher = Watcher(engine, "toy", FAST, backend="local", executors={"local": local})
    run_dir = tmp_path / "runs" / "toy" / "long"
    deadline = time.monotonic() + 60
    killed = False
    while time.monotonic() < deadline:
        summary = watcher.poll()
        status = run_dir / "status.json"
        if not killed and status.exists() and json.loads(status.read_text())["step"] >= 5:
            with session_scope(engine) as session:
                attempt = session.scalars(select(Attempt)).one()
                local.kill(SubmittedAttempt(attempt.scheduler_job_id, "local", attempt_log_folder(run_dir, 1)))
            killed = True
        if summary.finished:
            break
        time.sleep(0.05)
    assert killed and summary.succeeded
    (first, first_state, first_path, _), (second, second_state, _, resumed) = _attempts(engine, "long")
    assert first_state == "REQUEUED" and "NODE_FAIL" in first_path  # lost -> resubmitted
    assert second_state == "COMPLETED" and resumed >= 5
    result = json.loads((run_dir / "result.json").read_text())
    assert result["resumed_from_step"] >= 5  # the second attempt did not start from scratch
    assert result["final_value"] == expected_final_value(total)  # equal to an uninterrupted run


class ScriptedScheduler:
    """Answers observe() with a fixed state; submit() hands out ids (no process runs)."""

    backend = "local"

    def __init__(self, state: str, uncertain: bool = False) -> None:
        self.state, self.uncertain, self.submitted = state, uncertain, []

    def submit(self, kind, run_dir, resources, attempt_number, job_name):
        self.submitted.append(job_name)
        return SubmittedAttempt(str(1000 + len(self.submitted)), self.backend, attempt_log_folder(run_dir, attempt_number))

    def observe(self, attempts):
        return {a.scheduler_id: SchedulerObservation(self.state, uncertain=self.uncertain) for a in attempts}

    def cancel(self, attempt):
        pass


def test_resubmission_is_bounded_and_backs_off(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"doomed": {}}, {})
    clock = [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)]
    scheduler = ScriptedScheduler("VANISHED")
    settings = ClusterSettings(backend="local", max_resubmits=2, resubmit_backoff_s=(100.0, 200.0))
    watcher = Watcher(engine, "toy", settings, backend="local", executors={"local": scheduler}, now=lambda: clock[0])
    watcher.poll()  # submit attempt 1
    watcher.poll()  # lost
    assert job_states(engine)["doomed"] == "NODE_FAIL" and len(scheduler.submitted) == 1
    clock[0] += dt.timedelta(seconds=99)
    watcher.poll()
    assert len(scheduler.submitted) == 1  # back-off not over
    clock[0] += dt.timedelta(seconds=2)
    watcher.poll()
    assert len(scheduler.submitted) == 2
    for _ in range(3):
        clock[0] += dt.timedelta(seconds=500)
        watcher.poll()
    assert len(scheduler.submitted) == 3  # 1 + max_resubmits
    with session_scope(engine) as session:
        job = session.scalars(select(Job)).one()
        assert job.state == "FAILED" and job.error.startswith("gave up after 2 restart(s): restart bound reached")


class RequeueingScheduler(ScriptedScheduler):
    """A scheduler that requeues the job by itself (SLURM's PreemptMode=REQUEUE) on demand."""

    def __init__(self) -> None:
        super().__init__("RUNNING")
        self.restarts, self.cancelled = 0, []

    def observe(self, attempts):
        return {a.scheduler_id: SchedulerObservation(self.state, restarts=self.restarts) for a in attempts}

    def cancel(self, attempt):
        self.cancelled.append(attempt.scheduler_id)


def test_scheduler_requeues_count_toward_the_bound_and_stop_a_preemption_loop(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"storm": {}, "after": {}}, {"after": ["storm"]})
    scheduler = RequeueingScheduler()
    settings = ClusterSettings(backend="local", max_resubmits=2, resubmit_backoff_s=(0.0,))
    watcher = Watcher(engine, "toy", settings, backend="local", executors={"local": scheduler})
    watcher.poll()  # submitted
    for restart in (1, 2):  # within the bound: followed, recorded, not cancelled
        scheduler.state = "PENDING"
        watcher.poll()
        scheduler.state, scheduler.restarts = "RUNNING", restart
        watcher.poll()
    assert job_states(engine)["storm"] == "RUNNING" and scheduler.cancelled == []
    scheduler.state = "PENDING"  # the third requeue: one past the bound
    watcher.poll()
    watcher.poll()
    assert scheduler.cancelled == ["1001"] and len(scheduler.submitted) == 1
    assert job_states(engine) == {"storm": "FAILED", "after": "CANCELLED"}
    (number, state, transitions, _), = _attempts(engine, "storm")
    assert state == "CANCELLED" and transitions.count("REQUEUED") == 3
    with session_scope(engine) as session:
        error = session.scalars(select(Job.error).where(Job.name == "storm")).one()
    assert error.startswith("gave up after 3 restart(s): restart bound reached (cluster.max_resubmits=2")


def test_an_uncertain_scheduler_answer_changes_nothing(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"x": {}}, {})
    scheduler = ScriptedScheduler("UNKNOWN", uncertain=True)
    watcher = Watcher(engine, "toy", FAST, backend="local", executors={"local": scheduler})
    watcher.poll()
    summary = watcher.poll()
    assert job_states(engine) == {"x": "SUBMITTED"}
    assert summary.running[0].uncertain
    assert _attempts(engine, "x")[0][2] == ["SUBMITTED"]


class AccountingScheduler(ScriptedScheduler):
    """Answers like sacct: RUNNING with the allocation's GPU- and CPU-seconds so far."""

    def __init__(self) -> None:
        super().__init__("RUNNING")
        self.usage: tuple[int, int] | None = (7200, 36000)

    def observe(self, attempts):
        if self.usage is None:
            return {a.scheduler_id: SchedulerObservation("UNKNOWN", uncertain=True) for a in attempts}
        gpu, cpu = self.usage
        return {a.scheduler_id: SchedulerObservation("RUNNING", gpu_seconds=gpu, cpu_seconds=cpu) for a in attempts}


def test_the_attempt_keeps_what_the_schedulers_accounting_says_it_used(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"x": {}}, {})
    scheduler = AccountingScheduler()
    watcher = Watcher(engine, "toy", FAST, backend="local", executors={"local": scheduler})
    watcher.poll()  # submit
    watcher.poll()
    scheduler.usage = None  # sacct unreachable: the last known figures stay
    watcher.poll()
    with session_scope(engine) as session:
        attempt = session.scalars(select(Attempt)).one()
        assert (attempt.gpu_seconds, attempt.cpu_seconds) == (7200, 36000)


def test_two_watchers_never_double_submit(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"a": {}, "b": {}}, {})
    first, second = ScriptedScheduler("RUNNING"), ScriptedScheduler("RUNNING")
    one = Watcher(engine, "toy", FAST, backend="local", executors={"local": first}, owner="one")
    two = Watcher(engine, "toy", FAST, backend="local", executors={"local": second}, owner="two")
    assert one.poll().lease_held
    summary = two.poll()
    assert not summary.lease_held and second.submitted == []
    assert sorted(first.submitted) == ["a", "b"]


def test_a_long_poll_renews_its_lease_and_stops_when_it_was_lost(engine, tmp_path, monkeypatch) -> None:
    """The lease is renewed between jobs within one poll; if another watcher took it meanwhile
    (the poll outlasted the TTL), the poll stops before touching the next job."""
    import orchestrator.ingest
    from orchestrator.db import WatcherLease

    record_toy_dag(engine, tmp_path / "runs", {"a": {}, "b": {}}, {})
    one = Watcher(engine, "toy", FAST, backend="local", executors={"local": ScriptedScheduler("RUNNING")},
                  owner="one")
    assert one.poll().lease_held  # submits a and b
    one.lease_renew_every_s = 0.0

    def lease_expiry():
        with session_scope(engine) as session:
            return session.scalars(select(WatcherLease.expires_at)).one()

    before = lease_expiry()
    time.sleep(0.01)
    assert one.poll().lease_held and lease_expiry() > before  # renewed while going through the jobs

    ingested: list[str] = []

    def ingest_then_lose_the_lease(session, job):
        ingested.append(job.name)
        with session_scope(engine) as other:  # another host's watcher took the expired lease
            other.execute(WatcherLease.__table__.update().values(owner="two"))
        return real_ingest(session, job)

    real_ingest = orchestrator.ingest.ingest_job
    monkeypatch.setattr(orchestrator.ingest, "ingest_job", ingest_then_lose_the_lease)
    summary = one.poll()
    assert not summary.lease_held and ingested == ["a"]  # b was left to the new holder


def _args(**values) -> argparse.Namespace:
    return argparse.Namespace(quiet=True, poll_interval=0.1, timeout=60, **values)


def test_retry_plans_a_failed_job_again_and_unblocks_its_dependents(engine, tmp_path) -> None:
    from orchestrator.commands import retry

    runs = tmp_path / "runs"
    record_toy_dag(engine, runs, {"bad": {"fail": "nan", "fail_at": 1}, "after": {}}, {"after": ["bad"]})
    _watch(engine)
    assert job_states(engine) == {"bad": "FAILED", "after": "CANCELLED"}
    config_path = runs / "toy" / "bad" / "config.yaml"  # the user fixes the cause ...
    config = yaml.safe_load(config_path.read_text())
    config["toy"]["fail"] = None
    config_path.write_text(yaml.safe_dump(config))
    db_url = str(engine.url)
    assert retry.run(_args(job="bad", experiment=None, wait=True, db_url=db_url)) == 0
    assert job_states(engine) == {"bad": "COMPLETED", "after": "COMPLETED"}
    assert [state for _, state, _, _ in _attempts(engine, "bad")] == ["FAILED", "COMPLETED"]
    assert retry.run(_args(job="bad", experiment=None, wait=False, db_url=db_url)) == 2  # not FAILED any more


def test_retry_plans_again_the_dependents_the_column_says_were_blocked(engine, tmp_path) -> None:
    """The column, not the message, says what a job was blocked by: a job the user cancelled
    stays cancelled whatever its message says."""
    from orchestrator.commands import retry

    record_toy_dag(engine, tmp_path / "runs", {"bad": {}, "blocked": {}, "also_blocked": {}, "by_user": {}},
                   {"blocked": ["bad"], "also_blocked": ["blocked"], "by_user": ["bad"]})
    with session_scope(engine) as session:
        jobs = {job.name: job for job in session.scalars(select(Job))}
        jobs["bad"].state, jobs["bad"].error = "FAILED", "nan_loss: loss is NaN"
        for name, blocker in (("blocked", "bad"), ("also_blocked", "blocked")):
            jobs[name].state, jobs[name].blocked_by_job_id = "CANCELLED", jobs[blocker].id
            jobs[name].error = "the message is for people" if name == "blocked" else None
        jobs["by_user"].state, jobs["by_user"].error = "CANCELLED", "blocked: the user cancelled it"
    assert retry.run(_args(job="bad", experiment=None, wait=False, db_url=str(engine.url))) == 0
    assert job_states(engine) == {"bad": "PLANNED", "blocked": "PLANNED", "also_blocked": "PLANNED",
                                  "by_user": "CANCELLED"}
    with session_scope(engine) as session:
        assert {job.name: (job.blocked_by_job_id, job.error) for job in session.scalars(select(Job))
                if job.state == "PLANNED"} == {name: (None, None) for name in ("bad", "blocked", "also_blocked")}


def test_cancel_stops_running_jobs_and_marks_them(engine, tmp_path) -> None:
    from orchestrator.commands import cancel

    record_toy_dag(engine, tmp_path / "runs", {"slow": {"total_steps": 500, "step_seconds": 0.1}, "next": {}},
                   {"next": ["slow"]})
    watcher = Watcher(engine, "toy", FAST, backend="local")
    watcher.poll()
    with session_scope(engine) as session:
        pid = session.scalars(select(Attempt)).one().scheduler_job_id
    assert cancel.run(_args(experiment="toy", job=None, db_url=str(engine.url))) == 0
    assert job_states(engine) == {"slow": "CANCELLED", "next": "CANCELLED"}
    from orchestrator.executors.local import is_local_controller

    deadline = time.monotonic() + 10
    while is_local_controller(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_local_controller(pid)
    assert watcher.poll().finished


def test_the_watch_command_drives_an_experiment_to_the_end(engine, tmp_path, capsys) -> None:
    from orchestrator.cli import main

    record_toy_dag(engine, tmp_path / "runs", {"a": {}, "b": {"fail": "exception", "fail_at": 1}}, {})
    url = str(engine.url)
    assert main(["watch", "toy", "--db-url", url, "--poll-interval", "0.1", "--timeout", "60"]) == 1
    assert "FAILED b: ValueError: bad data in clip 1" in capsys.readouterr().err
    assert job_states(engine) == {"a": "COMPLETED", "b": "FAILED"}
    assert main(["watch", "nope", "--db-url", url]) == 2


class RefusingScheduler(ScriptedScheduler):
    def submit(self, kind, run_dir, resources, attempt_number, job_name):
        from orchestrator.executors import ExecutorError

        self.submitted.append(job_name)
        raise ExecutorError("sbatch: error: invalid partition specified: gpu")


def test_a_refused_submission_is_tried_again_then_fails_with_the_schedulers_message(engine, tmp_path) -> None:
    record_toy_dag(engine, tmp_path / "runs", {"x": {}}, {})
    scheduler = RefusingScheduler("RUNNING")
    watcher = Watcher(engine, "toy", FAST, backend="local", executors={"local": scheduler})
    watcher.poll()
    assert job_states(engine) == {"x": "PLANNED"}  # a refusal may be momentary
    watcher.poll()
    summary = watcher.poll()
    assert len(scheduler.submitted) == 3 and job_states(engine) == {"x": "FAILED"}
    assert "invalid partition specified: gpu" in summary.failed[0][1]


def test_watcher_and_planner_on_both_databases(db_url, tmp_path) -> None:
    """The same DAG (completion, failure, blocking) on SQLite and PostgreSQL."""
    from orchestrator.db import make_engine

    engine = make_engine(db_url)
    try:
        record_toy_dag(engine, tmp_path / "runs", {"a": {}, "bad": {"fail": "nan", "fail_at": 1}, "after": {}},
                       {"after": ["bad"]})
        _, summary = _watch(engine)
        assert job_states(engine) == {"a": "COMPLETED", "bad": "FAILED", "after": "CANCELLED"}
        assert summary.failed == [("bad", "loss is NaN at step 1")]
    finally:
        engine.dispose()
