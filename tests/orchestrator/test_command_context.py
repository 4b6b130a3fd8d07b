"""What the commands share: the experiment a command means when none is named, and the
one definition of --db-url/--runs-root (SQLite and PostgreSQL)."""

from __future__ import annotations

import argparse

import pytest

from contract.states import JobState
from orchestrator.commands.context import CommandError, add_database_arguments, find_experiment
from orchestrator.db import Experiment, Job, session_scope


def _experiment(session, name: str, *states: JobState) -> None:
    experiment = Experiment(name=name, task="ava", scale="demo")
    experiment.jobs = [Job(name=f"job{index}", kind="evaluate", content_hash=f"{index:064x}", run_dir="/r",
                           state=state.value) for index, state in enumerate(states)]
    session.add(experiment)


def test_without_a_name_the_only_experiment_with_unfinished_jobs_is_meant(session_factory):
    with session_scope(session_factory) as session:
        _experiment(session, "done", JobState.COMPLETED, JobState.REUSED, JobState.FAILED, JobState.CANCELLED)
        _experiment(session, "going", JobState.COMPLETED, JobState.PREEMPTED)
    with session_scope(session_factory) as session:
        assert find_experiment(session, None).name == "going"
        _experiment(session, "planned", JobState.PLANNED)
        session.flush()
        with pytest.raises(CommandError, match="going, planned"):
            find_experiment(session, None)


def test_database_options_are_defined_once_and_never_twice_on_a_parser():
    top, sub = argparse.ArgumentParser(), argparse.ArgumentParser()
    add_database_arguments(top, suppress=False)
    add_database_arguments(top, suppress=False)  # a second call adds nothing
    add_database_arguments(sub, runs_root=False)
    add_database_arguments(sub)
    assert vars(top.parse_args([])) == {"db_url": None, "runs_root": None}
    assert vars(sub.parse_args([])) == {}  # SUPPRESS: the top-level value survives
    assert vars(sub.parse_args(["--runs-root", "r", "--db-url", "u"])) == {"db_url": "u", "runs_root": "r"}
