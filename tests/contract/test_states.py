"""The job-state vocabulary: strings as stored, sets that partition what the watcher needs."""

from __future__ import annotations

import pytest

from contract.states import (FINISHED_STATES, INTERRUPTED_STATES, LIVE_STATES, QUEUED_STATES,
                             SCHEDULER_REPORTED_STATES, TERMINAL_STATES, UNSUCCESSFUL_STATES, JobState,
                             ObservedState)


def test_every_member_is_its_own_stored_string():
    for state in JobState:
        assert state.name == state.value == str(state) == f"{state}"
    assert JobState("NODE_FAIL") is JobState.NODE_FAIL


@pytest.mark.parametrize("states", [FINISHED_STATES, UNSUCCESSFUL_STATES, TERMINAL_STATES, QUEUED_STATES,
                                    LIVE_STATES, INTERRUPTED_STATES, SCHEDULER_REPORTED_STATES])
def test_a_string_read_from_the_database_is_found_in_a_named_set(states):
    for state in states:
        assert str(state.value) in states
    assert "PLANNED" not in states or JobState.PLANNED in states


def test_the_named_sets_say_what_the_watcher_does():
    assert FINISHED_STATES == {"COMPLETED", "REUSED"}
    assert UNSUCCESSFUL_STATES == {"FAILED", "CANCELLED"}
    assert TERMINAL_STATES == {"COMPLETED", "REUSED", "FAILED", "CANCELLED"}
    assert QUEUED_STATES == {"SUBMITTED", "PENDING"}
    assert LIVE_STATES == {"SUBMITTED", "PENDING", "RUNNING", "REQUEUED"}
    assert INTERRUPTED_STATES == {"PREEMPTED", "TIMEOUT", "NODE_FAIL"}
    # every job state is exactly one of: planned, live, interrupted, terminal
    groups = [{JobState.PLANNED}, LIVE_STATES, INTERRUPTED_STATES, TERMINAL_STATES]
    assert sum(len(group) for group in groups) == len(JobState)
    assert set().union(*groups) == set(JobState)


def test_the_scheduler_reports_nine_states_and_never_the_orchestrators_own():
    assert len(SCHEDULER_REPORTED_STATES) == 9
    assert not SCHEDULER_REPORTED_STATES & {JobState.PLANNED, JobState.SUBMITTED, JobState.REUSED}


def test_observed_states_are_not_job_states():
    assert {state.value for state in ObservedState} == {"UNKNOWN", "VANISHED"}
    for observed in ObservedState:
        with pytest.raises(ValueError):
            JobState(observed.value)
