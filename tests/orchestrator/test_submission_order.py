"""Ready jobs are submitted longest chain of dependents first, then by fan-out, then plan order."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from orchestrator.db import Job, session_scope
from orchestrator.executors import ClusterSettings
from orchestrator.executors.local import LocalProcessExecutor
from orchestrator.planner import compose_experiment, plan_experiment, to_plain
from orchestrator.submission_order import SubmissionOrder, priority_keys
from orchestrator.watcher import Watcher
from tests.orchestrator.dag_support import migrated_sqlite, record_toy_dag


@dataclass(eq=False)
class Node:
    id: int
    dependencies: list["Node"] = field(default_factory=list)


def _order(nodes: list[Node]) -> list[int]:
    return [node.id for node in SubmissionOrder().sorted(nodes, nodes)]


def test_the_longest_chain_goes_first_whatever_the_plan_order():
    a, b = Node(1), Node(2)  # a: alone; b: head of a chain of three
    c = Node(3, [b])
    d = Node(4, [c])
    assert _order([a, b, c, d])[:2] == [2, 3]
    assert priority_keys([a, b, c, d])[2] == (-3, -1, 2)


def test_equal_chains_go_to_the_job_that_unblocks_more_then_plan_order():
    a, b, c = Node(1), Node(2), Node(3)
    children = [Node(10, [a]), Node(11, [b]), Node(12, [b]), Node(13, [c])]
    assert _order([a, b, c, *children])[:3] == [2, 1, 3]


def test_a_cycle_is_refused():
    a = Node(1)
    b = Node(2, [a])
    a.dependencies.append(b)
    with pytest.raises(ValueError, match="cycle"):
        priority_keys([a, b])


def test_a_chain_of_ten_thousand_is_ranked_without_recursion():
    nodes = [Node(0)]
    for index in range(1, 10_000):
        nodes.append(Node(index, [nodes[-1]]))
    assert priority_keys(nodes)[0] == (-10_000, -1, 0)


def test_in_ensemble_ava_the_pretraining_that_gates_five_members_goes_first(tmp_path):
    plan = plan_experiment(to_plain(compose_experiment("ensemble_ava", ["scale=demo", "cluster=local"])),
                           runs_root=tmp_path)
    by_name = {job.name: Node(index) for index, job in enumerate(plan.jobs)}
    for job in plan.jobs:
        by_name[job.name].dependencies = [by_name[name] for name in job.dependencies]
    names = {node.id: name for name, node in by_name.items()}
    pretrainings = [name for name in (names[i] for i in _order(list(by_name.values())))
                    if name.startswith("pretrain.")]
    assert pretrainings[0] == "pretrain.k600.slowfast_16x8"
    assert [job.name for job in plan.jobs if job.name.startswith("pretrain.")][0] != pretrainings[0]


def test_the_watcher_submits_by_priority(tmp_path):
    """One slot, plan order a, b, c -> d: b (the chain's head) runs before a."""
    engine = migrated_sqlite(tmp_path)
    record_toy_dag(engine, tmp_path / "runs", {"a": {}, "b": {}, "c": {}, "d": {}}, {"c": ["b"], "d": ["c"]})
    settings = ClusterSettings(backend="local", max_parallel=1, resubmit_backoff_s=(0.0,), poll_interval_s=0.1)
    summary = Watcher(engine, "toy", settings, backend="local").run(timeout_s=60, poll_interval_s=0.1)
    assert summary.succeeded
    with session_scope(engine) as session:
        submitted = {job.name: job.attempts[0].submitted_at for job in session.scalars(select(Job))}
    assert submitted["b"] < submitted["a"]
    engine.dispose()


def test_the_local_executor_wakes_the_watcher_when_a_job_exits(tmp_path):
    """A job that ends a moment after the watcher went to sleep is noticed long before the
    next poll (the sleep is 30 s here)."""
    engine = migrated_sqlite(tmp_path)
    record_toy_dag(engine, tmp_path / "runs", {"a": {"total_steps": 1}}, {})
    settings = ClusterSettings(backend="local", max_parallel=1, resubmit_backoff_s=(0.0,), poll_interval_s=30)
    watcher = Watcher(engine, "toy", settings, backend="local")
    began = time.monotonic()
    summary = watcher.run(timeout_s=120)
    assert summary.succeeded
    assert time.monotonic() - began < 25, "the watcher slept through the job's exit"
    assert isinstance(watcher.executor("local"), LocalProcessExecutor)
    engine.dispose()
