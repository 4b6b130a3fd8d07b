"""Drill: kill -9 the real watcher mid-ingest ten times; no metric is lost or duplicated.

Two jobs run as local submitit processes (``tests/drills/appender.py``) whose metrics.jsonl
files start with a large history and keep growing while ``python -m orchestrator watch``
ingests them. The watcher process is SIGKILLed ten times, each time at a random moment after
it has committed at least one ingest batch of its own while lines are still unread (so the
kill lands inside the ingest loop, usually inside an uncommitted batch), and restarted at once.
At the end the database must hold exactly the lines of the files -- same keys, same values,
no extra row -- with the ingest offsets at the files' sizes and no corrupt line, and no
restarted watcher may have waited for the killed one's lease to expire.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from orchestrator.db import Experiment, Job, Metric, session_scope
from orchestrator.db.lease import DEFAULT_TTL, experiment_lease_key
from orchestrator.db.models import WatcherLease
from tests.drills.appender import APPENDER_KIND, STOP_FILE, write_history

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "kill_drill"
JOBS = ("alpha", "beta")
KILLS = 10
NAMES_PER_STEP = 10
HISTORY_STEPS = 20_000  # 200k lines (~22 MB) per job already on disk when the watcher starts
POLL_INTERVAL_S = 0.2
# A restarted watcher must hold the lease after its start-up (imports, first connection) and
# one poll: far below the lease TTL that a dead owner's lease would otherwise need to expire.
STARTUP_ALLOWANCE_S = 15.0
TAKEOVER_BOUND_S = STARTUP_ALLOWANCE_S + POLL_INTERVAL_S
assert TAKEOVER_BOUND_S < DEFAULT_TTL.total_seconds() / 10


def _record_experiment(engine, runs_root: Path) -> dict[str, Path]:
    cluster = {"executor": "local", "max_parallel": 2, "poll_interval_s": POLL_INTERVAL_S, "resubmit_backoff_s": [0]}
    run_dirs = {}
    with session_scope(engine) as session:
        experiment = Experiment(name=EXPERIMENT, task="ava", scale="demo", config={"cluster": cluster},
                                runs_root=str(runs_root))
        session.add(experiment)
        for name in JOBS:
            run_dir = runs_root / EXPERIMENT / name
            run_dir.mkdir(parents=True)
            config = {"job": {"kind": APPENDER_KIND, "name": name, "experiment": EXPERIMENT},
                      "appender": {"first_step": HISTORY_STEPS, "names_per_step": NAMES_PER_STEP, "chunk_steps": 50,
                                   "pause_s": 0.1, "max_steps": HISTORY_STEPS + 400_000},
                      "resources": {"nodes": 1, "gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 1,
                                    "timeout_min": 30}}
            (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
            write_history(run_dir / "metrics.jsonl", HISTORY_STEPS, NAMES_PER_STEP)
            experiment.jobs.append(Job(name=name, kind=APPENDER_KIND, config=config, run_dir=str(run_dir),
                                       content_hash=name.ljust(64, "0"), resources=config["resources"]))
            run_dirs[name] = run_dir
    return run_dirs


def _start_watcher(db_url: str, log: Path) -> subprocess.Popen:
    with log.open("a") as stream:
        return subprocess.Popen([sys.executable, "-m", "orchestrator", "watch", EXPERIMENT, "--db-url", db_url,
                                 "--quiet", "--timeout", "300"], cwd=REPO_ROOT, stdout=stream, stderr=stream)


def _offsets(engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return dict(session.execute(select(Job.name, Job.metrics_offset)).all())


def _lease_owner(engine) -> str | None:
    with session_scope(engine) as session:
        return session.scalar(select(WatcherLease.owner).where(
            WatcherLease.key == experiment_lease_key(EXPERIMENT)))


def _wait(condition, timeout_s: float, what: str, poll_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def _file_metrics(run_dirs: dict[str, Path]) -> Counter:
    """Every (job, split, name, step, value) line of the files, counted."""
    lines = Counter()
    for name, run_dir in run_dirs.items():
        with (run_dir / "metrics.jsonl").open("rb") as handle:
            for raw in handle:
                record = json.loads(raw)
                lines[(name, record["split"], record["name"], record["step"], float(record["value"]))] += 1
    return lines


def _db_metrics(engine) -> Counter:
    with session_scope(engine) as session:
        rows = session.execute(select(Job.name, Metric.split, Metric.name, Metric.step, Metric.value)
                               .join(Job, Job.id == Metric.job_id))
        return Counter((job, split, name, step, value) for job, split, name, step, value in rows)


def _kill_mid_ingest(engine, process: subprocess.Popen, run_dirs: dict[str, Path], rng: random.Random) -> dict:
    """SIGKILL ``process`` a random moment after it committed an ingest batch of its own."""
    started = time.monotonic()
    owner = _wait(lambda: (o := _lease_owner(engine)) and f":{process.pid}:" in o and o, TAKEOVER_BOUND_S + 5,
                  f"watcher {process.pid} taking the lease")
    took_lease_s = time.monotonic() - started
    assert process.poll() is None, "the watcher exited before it could be killed"
    baseline = _offsets(engine)
    _wait(lambda: _offsets(engine) != baseline, 60, f"watcher {process.pid} committing an ingest batch")
    time.sleep(rng.uniform(0.0, 0.6))
    sizes = {name: (run_dir / "metrics.jsonl").stat().st_size for name, run_dir in run_dirs.items()}
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    after = _offsets(engine)
    mid_ingest = any(0 < after[name] < sizes[name] for name in sizes) and after != baseline
    return {"pid": process.pid, "owner": owner, "took_lease_s": took_lease_s, "sizes": sizes, "offsets": after,
            "mid_ingest": mid_ingest}


def test_ten_kill_9s_mid_ingest_lose_and_duplicate_no_metric(engine, db_url, tmp_path) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    run_dirs = _record_experiment(engine, tmp_path / "runs")
    log = tmp_path / "watcher.log"
    started = time.monotonic()
    kills: list[dict] = []
    try:
        for _ in range(KILLS):
            kills.append(_kill_mid_ingest(engine, _start_watcher(db_url, log), run_dirs, rng))
        for run_dir in run_dirs.values():
            (run_dir / STOP_FILE).touch()
        last = _start_watcher(db_url, log)
        returncode = last.wait(timeout=180)
    finally:
        for run_dir in run_dirs.values():
            (run_dir / STOP_FILE).touch()  # the appenders outlive killed watchers: end them
    elapsed = time.monotonic() - started
    detail = f"watcher log:\n{log.read_text()[-3000:]}"
    assert returncode == 0, detail

    # Every kill landed while the watcher was ingesting, and none made the next one wait.
    assert len({kill["pid"] for kill in kills}) == KILLS
    assert sum(kill["mid_ingest"] for kill in kills) >= KILLS - 2, kills
    assert max(kill["took_lease_s"] for kill in kills) <= TAKEOVER_BOUND_S, kills
    assert _lease_owner(engine) is None  # the last watcher released it

    with session_scope(engine) as session:
        jobs = session.scalars(select(Job).join(Experiment).where(Experiment.name == EXPERIMENT)).all()
        assert {job.name: job.state for job in jobs} == {name: "COMPLETED" for name in JOBS}
        assert all(len(job.attempts) == 1 for job in jobs)  # a killed watcher never causes a resubmission
        for job in jobs:
            path = run_dirs[job.name] / "metrics.jsonl"
            assert job.metrics_offset == path.stat().st_size
            assert job.metrics_corrupt_lines == 0
            assert job.metrics_lines == sum(1 for _ in path.open("rb"))
    in_files = _file_metrics(run_dirs)
    assert max(in_files.values()) == 1  # the appender never writes a key twice
    assert sum(in_files.values()) > len(JOBS) * HISTORY_STEPS * NAMES_PER_STEP  # the files grew meanwhile
    in_db = _db_metrics(engine)
    assert max(in_db.values()) == 1
    assert in_db == in_files
    print(f"\n{KILLS} kills, {sum(k['mid_ingest'] for k in kills)} mid-ingest, lease taken over in "
          f"{max(k['took_lease_s'] for k in kills):.2f} s at most, {sum(in_files.values())} metric lines, "
          f"{elapsed:.1f} s")
