"""The demo end to end, timed and broken down (figures go to bench/RESULTS.md, section "demo").

Runs what `make demo` runs after its setup step, in a fresh runs root:

    .venv/bin/python bench/demo.py [--experiment ensemble_ava]

and prints, from the orchestrator's own database: the wall time of the command, the time
before the first job was submitted (planning and data generation), the span from the first
submission to the last job's end, the job-seconds by kind, and the idle slot-seconds (slots
x span - job-seconds). The peer is the same DAG replayed with the measured durations on the
same number of slots in plan order, against the watcher's order (longest chain of dependents
first) and the lower bound, job-seconds / slots.
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import select  # noqa: E402

from orchestrator.db import Experiment, Job, open_database, session_scope  # noqa: E402
from orchestrator.submission_order import priority_keys  # noqa: E402


class _Node:
    def __init__(self, job_id: int, seconds: float) -> None:
        self.id, self.seconds, self.dependencies = job_id, seconds, []


def replay(nodes: list[_Node], slots: int, key: Callable[[_Node], object]) -> float:
    """List scheduling of measured durations: the span with `slots` and ready jobs by `key`."""
    clock, running, done, started = 0.0, [], set(), set()
    while len(done) < len(nodes):
        ready = sorted((n for n in nodes if n.id not in started
                        and all(d.id in done for d in n.dependencies)), key=key)
        while len(running) < slots and ready:
            node = ready.pop(0)
            started.add(node.id)
            heapq.heappush(running, (clock + node.seconds, node.id))
        clock, finished = heapq.heappop(running)
        done.add(finished)
    return clock


def demo_command(experiment: str, *overrides: str) -> list[str]:
    """What `make demo` runs after setup (with the local executor), plus ``overrides``."""
    return [sys.executable, "-m", "orchestrator", "submit", experiment, "scale=demo", "cluster=local",
            *overrides, "--wait", "--quiet"]


def run_demo(runs_root: Path, experiment: str, *overrides: str) -> tuple[int, float]:
    """Runs :func:`demo_command` in ``runs_root`` (its own database there):
    -> (exit status, wall seconds)."""
    env = {**os.environ, "ORCH_RUNS_ROOT": str(runs_root)}
    env.pop("ORCH_DB_URL", None)
    began = time.monotonic()
    completed = subprocess.run(demo_command(experiment, *overrides), cwd=REPO_ROOT, env=env,
                               stdin=subprocess.DEVNULL)
    return completed.returncode, time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="ensemble_ava")
    parser.add_argument("--runs-root", type=Path, default=None, help="default: a fresh temporary folder")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. cluster.warm_start=false")
    args = parser.parse_args()
    runs_root = args.runs_root or Path(tempfile.mkdtemp(prefix="demo-bench-"))
    returncode, wall = run_demo(runs_root, args.experiment, *args.overrides)
    if returncode != 0:
        print(f"the demo failed (exit {returncode}); runs in {runs_root}", file=sys.stderr)
        return 1

    engine = open_database(runs_root=runs_root)
    with session_scope(engine) as session:
        experiment = session.scalars(select(Experiment).where(Experiment.name == args.experiment)).one()
        slots = int(experiment.config["cluster"]["max_parallel"])
        jobs = list(session.scalars(select(Job).where(Job.experiment_id == experiment.id).order_by(Job.id)))
        nodes = {job.id: _Node(job.id, sum((a.ended_at - a.submitted_at).total_seconds() for a in job.attempts))
                 for job in jobs}
        for job in jobs:
            nodes[job.id].dependencies = [nodes[d.id] for d in job.dependencies]
        first_submit = min(a.submitted_at for job in jobs for a in job.attempts)
        last_end = max(a.ended_at for job in jobs for a in job.attempts)
        by_kind: dict[str, float] = defaultdict(float)
        for job in jobs:
            by_kind[job.kind] += nodes[job.id].seconds
        created = experiment.created_at
    engine.dispose()
    span = (last_end - first_submit).total_seconds()
    job_seconds = sum(node.seconds for node in nodes.values())
    keys = priority_keys(list(nodes.values()))
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print(f"command: {' '.join(demo_command(args.experiment, *args.overrides)[1:])} (runs in {runs_root})")
    print(f"wall {wall:.1f} s; before the first submission {(first_submit - created).total_seconds():.1f} s; "
          f"span {span:.1f} s; {len(jobs)} jobs on {slots} slots")
    print("job-seconds by kind: " + ", ".join(f"{kind} {seconds:.0f}" for kind, seconds in sorted(by_kind.items())))
    print(f"job-seconds {job_seconds:.0f}; idle slot-seconds {slots * span - job_seconds:.0f}")
    print(f"replayed on {slots} slots: plan order {replay(list(nodes.values()), slots, lambda n: n.id):.1f} s, "
          f"watcher order {replay(list(nodes.values()), slots, lambda n: keys[n.id]):.1f} s, "
          f"lower bound {job_seconds / slots:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
