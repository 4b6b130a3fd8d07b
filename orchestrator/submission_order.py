"""Which ready job goes first when there are more ready jobs than free slots.

With a bounded number of concurrent jobs (``cluster.max_parallel``: 2 on the demo machine),
plan order wastes slots: in ``ensemble_ava`` the SlowFast 16x8 pretraining gates five of the
seven members, yet it is planned after the 8x8 and Fast 32x2 ones and would wait for a slot
while the others run. List scheduling by "upward rank" fixes that: a job's rank is the
length of the longest chain of jobs that still depend on it (itself included), ties going
to the job with more direct dependents (it unblocks more work), then to plan order. Run time is
not estimated: chain length and fan-out need nothing but the DAG, and on the demo they give
most of the gain of an order by measured durations (bench/RESULTS.md, demo section).

The DAG of an experiment does not change while a watcher runs except by re-planning, so the
ranks are cached per set of job ids.
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence


class _DagNode(Protocol):
    id: int
    dependencies: Sequence["_DagNode"]


class SubmissionOrder:
    """Orders jobs by (longest dependent chain, direct dependents, id); computed once per DAG."""

    def __init__(self) -> None:
        self._key_of: dict[int, tuple[int, int, int]] = {}
        self._ids: frozenset[int] = frozenset()

    def sorted(self, jobs: Iterable[_DagNode]) -> list[_DagNode]:
        jobs = list(jobs)
        ids = frozenset(job.id for job in jobs)
        if ids != self._ids:
            self._key_of, self._ids = priority_keys(jobs), ids
        return sorted(jobs, key=lambda job: self._key_of[job.id])


def priority_keys(jobs: Sequence[_DagNode]) -> dict[int, tuple[int, int, int]]:
    """job id -> sort key (smaller first): (-chain length, -direct dependents, id).

    Iterative (no recursion limit on long chains) and linear in jobs + edges, so a DAG of
    10,000 jobs costs milliseconds.
    """
    known = {job.id for job in jobs}
    dependents: dict[int, list[int]] = {job.id: [] for job in jobs}
    for job in jobs:
        for dependency in job.dependencies:
            if dependency.id in known:
                dependents[dependency.id].append(job.id)
    chain: dict[int, int] = {}
    for job_id in _dependents_first(dependents):
        chain[job_id] = 1 + max((chain[child] for child in dependents[job_id]), default=0)
    return {job_id: (-chain[job_id], -len(dependents[job_id]), job_id) for job_id in dependents}


def _dependents_first(dependents: dict[int, list[int]]) -> list[int]:
    """Every job after all jobs that depend on it (reverse topological order)."""
    remaining = {job_id: len(children) for job_id, children in dependents.items()}
    parents: dict[int, list[int]] = {job_id: [] for job_id in dependents}
    for job_id, children in dependents.items():
        for child in children:
            parents[child].append(job_id)
    ready = sorted(job_id for job_id, count in remaining.items() if count == 0)
    order: list[int] = []
    while ready:
        job_id = ready.pop()
        order.append(job_id)
        for parent in parents[job_id]:
            remaining[parent] -= 1
            if remaining[parent] == 0:
                ready.append(parent)
    if len(order) != len(dependents):
        raise ValueError("the job dependencies form a cycle")
    return order
