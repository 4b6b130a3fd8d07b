"""The state machine's decisions, one poll at a time (pure function, no scheduler)."""

from __future__ import annotations

import pytest

from orchestrator.executors import ProcessOutcome, SchedulerObservation
from orchestrator.job_states import Clocks, IllegalTransition, check_transition, judge_attempt
from orchestrator.run_dir import RunDirSnapshot

NO_FILES = RunDirSnapshot(status=None, result=None)
RUNNING_FILES = RunDirSnapshot(status={"state": "running", "step": 3, "total_steps": 10}, result=None)
DONE_FILES = RunDirSnapshot(status={"state": "completed"}, result={"final": 1})
FAILED_FILES = RunDirSnapshot(status={"state": "failed", "message": "loss is NaN at step 7"}, result=None)
NONE = ProcessOutcome("none")
OLD = Clocks(seconds_since_submit=600, seconds_in_state=600)
FRESH = Clocks(seconds_since_submit=2, seconds_in_state=2)


def obs(state: str, **kw) -> SchedulerObservation:
    return SchedulerObservation(state=state, **kw)


def test_job_reported_failure_is_final_and_deterministic() -> None:
    verdict = judge_attempt("RUNNING", obs("RUNNING"), FAILED_FILES, NONE, OLD)
    assert (verdict.state, verdict.final, verdict.deterministic_failure) == ("FAILED", True, True)
    assert verdict.reason == "loss is NaN at step 7"


def test_python_exception_shows_the_exception_line() -> None:
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad data in clip 3\n'
    verdict = judge_attempt("RUNNING", obs("FAILED"), NO_FILES, ProcessOutcome("error", traceback), OLD)
    assert verdict.deterministic_failure and verdict.reason == "ValueError: bad data in clip 3"


def test_completed_needs_result_json() -> None:
    assert judge_attempt("RUNNING", obs("COMPLETED"), DONE_FILES, ProcessOutcome("success"), OLD).state == "COMPLETED"
    # result.json may appear while sacct still says RUNNING: the process outcome decides.
    assert judge_attempt("RUNNING", obs("RUNNING"), DONE_FILES, ProcessOutcome("success"), OLD).state == "COMPLETED"
    missing = judge_attempt("RUNNING", obs("COMPLETED"), RUNNING_FILES, ProcessOutcome("success"), OLD)
    assert missing.deterministic_failure and "result.json" in missing.reason


def test_uncertain_scheduler_keeps_the_state() -> None:
    verdict = judge_attempt("RUNNING", obs("UNKNOWN", uncertain=True), RUNNING_FILES, NONE, OLD)
    assert (verdict.state, verdict.uncertain, verdict.final) == ("RUNNING", True, False)


def test_vanished_waits_for_the_grace_period_then_is_lost() -> None:
    assert judge_attempt("SUBMITTED", obs("VANISHED"), NO_FILES, NONE, FRESH).uncertain
    lost = judge_attempt("RUNNING", obs("VANISHED"), RUNNING_FILES, NONE, OLD)
    assert (lost.state, lost.final, lost.deterministic_failure) == ("NODE_FAIL", True, False)
    assert lost.reason.startswith("lost:")


@pytest.mark.parametrize("scheduler_state", ["FAILED", "CANCELLED"])
def test_killed_from_outside_without_result_is_lost_not_failed(scheduler_state: str) -> None:
    verdict = judge_attempt("RUNNING", obs(scheduler_state, exit_code="0:9"), RUNNING_FILES, NONE, OLD)
    assert verdict.state == "NODE_FAIL" and verdict.final and "0:9" in verdict.reason


def test_a_lost_rank_is_resubmitted_like_a_node_failure_once_the_scheduler_ended_the_job() -> None:
    lost = RunDirSnapshot(status={"state": "failed", "error_kind": "rank_lost", "step": 7,
                                  "message": "rank 1 of 2 (pid 42 on vm) stopped answering"}, result=None)
    assert lost.failed_message is None  # not the job's deterministic failure
    while_running = judge_attempt("RUNNING", obs("RUNNING"), lost, NONE, OLD)
    assert while_running.state == "RUNNING" and not while_running.final  # e.g. a new attempt
    verdict = judge_attempt("RUNNING", obs("FAILED", exit_code="1:0"), lost, NONE, OLD)
    assert verdict.state == "NODE_FAIL" and verdict.final and not verdict.deterministic_failure
    assert verdict.reason == "lost: rank 1 of 2 (pid 42 on vm) stopped answering"


def test_out_of_memory_is_deterministic() -> None:
    verdict = judge_attempt("RUNNING", obs("FAILED", raw_state="OUT_OF_MEMORY"), RUNNING_FILES, NONE, OLD)
    assert verdict.deterministic_failure


def test_preemption_waits_for_the_scheduler_requeue() -> None:
    first = judge_attempt("RUNNING", obs("PREEMPTED"), RUNNING_FILES, NONE, OLD)
    assert (first.state, first.final) == ("PREEMPTED", False)
    waiting = judge_attempt("PREEMPTED", obs("PREEMPTED"), RUNNING_FILES, NONE,
                            Clocks(seconds_since_submit=600, seconds_in_state=5))
    assert (waiting.state, waiting.final) == ("PREEMPTED", False)
    requeued = judge_attempt("PREEMPTED", obs("PENDING", restarts=1), RUNNING_FILES, NONE, OLD)
    assert (requeued.state, requeued.via_requeued) == ("PENDING", True)
    abandoned = judge_attempt("PREEMPTED", obs("PREEMPTED"), RUNNING_FILES, NONE, OLD)
    assert abandoned.final and abandoned.state == "PREEMPTED"


def test_a_requeue_missed_between_polls_is_recorded_from_restarts() -> None:
    verdict = judge_attempt("RUNNING", obs("RUNNING", restarts=1), RUNNING_FILES, NONE, OLD, requeues_seen=0)
    assert verdict.via_requeued and verdict.state == "RUNNING"
    again = judge_attempt("RUNNING", obs("RUNNING", restarts=1), RUNNING_FILES, NONE, OLD, requeues_seen=1)
    assert not again.via_requeued


def test_requeues_are_numbered_from_the_recorded_ones_not_slurms_lagging_count() -> None:
    # The third requeue, seen while SLURM still reports 2 restarts (it counts at the restart).
    third = judge_attempt("RUNNING", obs("PENDING", restarts=2), RUNNING_FILES, NONE, OLD, requeues_seen=2)
    assert third.via_requeued and third.reason.endswith("requeue 3 of this attempt")


def test_running_back_to_pending_is_a_requeue() -> None:
    verdict = judge_attempt("RUNNING", obs("PENDING"), RUNNING_FILES, NONE, OLD)
    assert verdict.via_requeued and verdict.state == "PENDING"
    assert not judge_attempt("SUBMITTED", obs("PENDING"), NO_FILES, NONE, FRESH).via_requeued


def test_timeout_ends_the_attempt_at_once() -> None:
    verdict = judge_attempt("RUNNING", obs("TIMEOUT"), RUNNING_FILES, NONE, FRESH)
    assert (verdict.state, verdict.final, verdict.deterministic_failure) == ("TIMEOUT", True, False)


def test_transition_table() -> None:
    check_transition("PLANNED", "SUBMITTED")
    check_transition("RUNNING", "PREEMPTED")
    check_transition("PREEMPTED", "REQUEUED")
    check_transition("FAILED", "PLANNED")  # retry
    for current, new in [("COMPLETED", "RUNNING"), ("PLANNED", "RUNNING"), ("FAILED", "RUNNING")]:
        with pytest.raises(IllegalTransition):
            check_transition(current, new)
