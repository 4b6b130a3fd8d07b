"""Builders for watcher/executor tests: a migrated SQLite database and small toy DAGs."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import Engine, select

from orchestrator.db import Experiment, Job, make_engine, session_scope, upgrade
from tests.orchestrator.toy_jobs import COUNTER_KIND


def migrated_sqlite(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'orchestrator.sqlite'}"
    upgrade(url)
    return make_engine(url)


def toy_config(name: str, **toy) -> dict:
    return {"job": {"kind": COUNTER_KIND, "name": name, "experiment": "toy", "seed": 0, "device": "cpu"},
            "toy": {"total_steps": 3, "step_seconds": 0.05, **toy},
            "resources": {"nodes": 1, "gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 1, "timeout_min": 5}}


def record_toy_dag(engine: Engine, runs_root: Path, jobs: dict[str, dict], edges: dict[str, list[str]],
                   experiment: str = "toy", cluster: dict | None = None) -> None:
    """Insert an experiment whose jobs are Counters. ``jobs``: name -> toy overrides;
    ``edges``: name -> names it depends on (listed before it)."""
    with session_scope(engine) as session:
        cluster = cluster or {"executor": "local", "max_parallel": 2, "resubmit_backoff_s": [0], "poll_interval_s": 0.1}
        exp = Experiment(name=experiment, task="ava", scale="demo", config={"cluster": cluster},
                         runs_root=str(runs_root))
        session.add(exp)
        by_name: dict[str, Job] = {}
        for name, toy in jobs.items():
            run_dir = runs_root / experiment / name
            run_dir.mkdir(parents=True, exist_ok=True)
            config = toy_config(name, **toy)
            (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
            job = Job(name=name, kind=COUNTER_KIND, config=config, content_hash=name.ljust(64, "0")[:64],
                      run_dir=str(run_dir), resources=config["resources"])
            job.dependencies = [by_name[dep] for dep in edges.get(name, [])]
            exp.jobs.append(job)
            by_name[name] = job


def job_states(engine: Engine, experiment: str = "toy") -> dict[str, str]:
    with session_scope(engine) as session:
        rows = session.execute(select(Job.name, Job.state).join(Experiment).where(Experiment.name == experiment))
        return dict(rows.all())
