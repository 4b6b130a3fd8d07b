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

    def sorted(self, candidates: Iterable[_DagNode], dag: Sequence[_DagNode]) -> list[_DagNode]:
        """``candidates`` (some jobs of ``dag``) in priority order; ranks come from all of ``dag``."""
        ids = frozenset(job.id for job in dag)
        if ids != self._ids:
            self._key_of, self._ids = priority_keys(dag), ids
        return sorted(candidates, key=lambda job: self._key_of[job.id])


def priority_keys(jobs: Sequence[_DagNode]) -> dict[int, tuple[int, int, int]]:
    """job id -> sort key (smaller first): (-chain length, -direct dependents, id).

    Iterative (no recursion limit on long chains) and linear in jobs + edges, so a DAG of
    10,000 jobs costs milliseconds. Jobs are ranked dependents first (a reverse topological
    order, Kahn's algorithm over each job's own ``dependencies``).
    """
    known = {job.id for job in jobs}
    upstream = {job.id: [dep.id for dep in job.dependencies if dep.id in known] for job in jobs}
    dependents: dict[int, list[int]] = {job_id: [] for job_id in upstream}
    for job_id, dependencies in upstream.items():
        for dependency in dependencies:
            dependents[dependency].append(job_id)
    unranked = {job_id: len(children) for job_id, children in dependents.items()}
    ready = [job_id for job_id, count in unranked.items() if count == 0]
    chain: dict[int, int] = {}
    while ready:
        job_id = ready.pop()
        chain[job_id] = 1 + max((chain[child] for child in dependents[job_id]), default=0)
        for dependency in upstream[job_id]:
            unranked[dependency] -= 1
            if unranked[dependency] == 0:
                ready.append(dependency)
    if len(chain) != len(upstream):
        raise ValueError("the job dependencies form a cycle")
    return {job_id: (-chain[job_id], -len(dependents[job_id]), job_id) for job_id in upstream}
