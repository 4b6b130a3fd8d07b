"""Orchestrator benchmarks (figures go to bench/RESULTS.md, section "orchestrator").

1. `status` and `leaderboard` queries on a database with 10k jobs and 1M metric rows
   (goal: < 0.5 s each), on SQLite and PostgreSQL; plus `python -m orchestrator status`
   end to end (interpreter start included).
2. Metrics ingest rate (rows/s) of `ingest_job` (reading metrics.jsonl, parsing, inserting)
   vs MLflow's `MlflowClient.log_batch` (the peer, in its own venv) into the same kind of
   database, measured in the same run. Goal: >= 20x.

    .venv/bin/python bench/orchestrator.py --mlflow-python /tmp/mlflow-peer/bin/python

The peer venv: `python3 -m venv /tmp/mlflow-peer && /tmp/mlflow-peer/bin/pip install
mlflow==3.17.2 psycopg2-binary`. Extra measurements (e.g. the planner's plan+record time)
plug in through `EXTRA_MEASUREMENTS`: callables `(engine, label) -> {figure: seconds}`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import Engine, insert, select, text  # noqa: E402

from orchestrator.db import (Attempt, Experiment, Job, make_session_factory, open_database,  # noqa: E402
                             session_scope, upgrade)
from orchestrator.ingest import ingest_job  # noqa: E402
from orchestrator.views.leaderboard import ava_leaderboard, kinetics_leaderboard  # noqa: E402
from orchestrator.views.status import job_status_rows  # noqa: E402

EXTRA_MEASUREMENTS: list[Callable[[Engine, str], dict[str, float]]] = []
EXPERIMENTS = 20
KINDS = ("pretrain", "finetune_ava", "evaluate", "ensemble", "export")


# --- databases ------------------------------------------------------------------------------

class Databases:
    """Fresh SQLite files and PostgreSQL databases, removed at the end."""

    def __init__(self, pg_admin_url: str, workdir: Path) -> None:
        self.pg_admin_url, self.workdir, self.created = pg_admin_url, workdir, []

    def new(self, kind: str, tag: str, driver: str = "psycopg") -> str:
        name = f"orch_bench_{tag}_{uuid.uuid4().hex[:8]}"
        if kind == "sqlite":
            return f"sqlite:///{self.workdir / (name + '.sqlite')}"
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        base = self.pg_admin_url.rsplit("/", 1)[0].replace("postgresql://", f"postgresql+{driver}://" if driver else "postgresql://")
        return f"{base}/{name}"

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin_url, autocommit=True) as admin:
            for name in self.created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- 1. status / leaderboard -----------------------------------------------------------------

def populate(engine: Engine, jobs: int, metrics: int) -> None:
    """10k jobs in 20 experiments (half AVA, half Kinetics), 1 attempt each, `metrics` rows."""
    per_experiment = jobs // EXPERIMENTS
    per_job = metrics // jobs
    with engine.begin() as connection:
        connection.execute(insert(Experiment), [
            {"id": e + 1, "name": f"bench_{e:02d}", "task": "ava" if e % 2 == 0 else "kinetics", "scale": "paper",
             "config": {}} for e in range(EXPERIMENTS)])
        connection.execute(insert(Job), [
            {"id": j + 1, "experiment_id": j // per_experiment + 1, "name": f"job_{j:05d}", "kind": KINDS[j % 5],
             "config": {"job": {"name": f"job_{j:05d}"}}, "content_hash": f"{j:064x}",
             "state": ("COMPLETED", "RUNNING", "PENDING", "PLANNED")[j % 4], "run_dir": f"/runs/{j}",
             "resources": {}, "progress_step": j % 1000, "progress_total": 1000} for j in range(jobs)])
        connection.execute(insert(Attempt), [
            {"id": j + 1, "job_id": j + 1, "number": 1, "executor": "slurm", "scheduler_job_id": str(1000 + j),
             "state": "RUNNING"} for j in range(jobs)])
    rows = []
    for j in range(jobs):
        ava = (j // per_experiment) % 2 == 0
        evaluated = ["frame_map"] if ava else ["top1", "top5"]
        for step in range(per_job - 2 * len(evaluated)):
            rows.append((j + 1, j + 1, step, "train", "loss", 1.0 / (1 + step), 1.7e9 + step))
        for step in (per_job, 2 * per_job):
            for name in evaluated:
                rows.append((j + 1, j + 1, step, "val", name, ((j * 7919) % 1000) / 1000, 1.7e9 + step))
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor, cursor.copy(
                    "COPY metrics (job_id, attempt_id, step, split, name, value, time) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO metrics (job_id, attempt_id, step, split, name, value, time) VALUES (?,?,?,?,?,?,?)", rows)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the CLI subprocess)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed(fn: Callable[[], object], repeats: int = 5) -> tuple[float, float, float]:
    """(median wall, best wall, median CPU of this process) seconds over `repeats` runs after
    a warm-up. CPU time tells the work apart from waiting on a loaded machine; for
    PostgreSQL it leaves out the server's share."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), _cpu_seconds()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu_seconds() - start_cpu)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def measure_queries(url: str, engine: Engine, jobs: int) -> dict[str, tuple[float, float, float]]:
    factory = make_session_factory(engine)

    def query(fn):
        def run():
            with session_scope(factory) as session:
                return fn(session)
        return run

    figures = {
        f"status, all {jobs:,} jobs": timed(query(lambda s: job_status_rows(s))),
        f"status, one experiment ({jobs // EXPERIMENTS:,} jobs)": timed(query(lambda s: job_status_rows(s, "bench_03"))),
        f"leaderboard AVA ({jobs // 2:,} jobs)": timed(query(ava_leaderboard)),
        f"leaderboard Kinetics ({jobs // 2:,} jobs)": timed(query(kinetics_leaderboard)),
    }
    cli = [sys.executable, "-m", "orchestrator", "status", "bench_03", "--json", "--db-url", url]
    figures["`python -m orchestrator status EXP --json` (process)"] = timed(
        lambda: subprocess.run(cli, cwd=REPO_ROOT, check=True, capture_output=True), repeats=3)
    return figures


# --- 2. ingest vs MLflow --------------------------------------------------------------------

MLFLOW_SCRIPT = r"""
import json, sys, time
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
uri, rows = sys.argv[1], int(sys.argv[2])
client = MlflowClient(tracking_uri=uri)
run = client.create_run(client.create_experiment("bench"))
metrics = [Metric("loss", 1.0 / (1 + s), int(1.7e12) + s, s) for s in range(rows)]
start, start_cpu = time.perf_counter(), time.process_time()
for i in range(0, rows, 1000):          # log_batch accepts at most 1000 metrics per call
    client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000])
elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
print(json.dumps({"rows": rows, "seconds": elapsed, "cpu": cpu}))
"""


def measure_ours(url: str, rows: int, workdir: Path) -> float:
    upgrade(url)
    engine = open_database(url)
    factory = make_session_factory(engine)
    run_dir = workdir / f"ingest_{uuid.uuid4().hex[:6]}"
    run_dir.mkdir()
    with (run_dir / "metrics.jsonl").open("w") as handle:
        for step in range(rows):
            handle.write(json.dumps({"step": step, "split": "train", "name": "loss", "value": 1.0 / (1 + step),
                                     "time": 1.7e9 + step, "attempt": 1}) + "\n")
    with session_scope(factory) as session:
        job = Job(name="ingest", kind="pretrain", content_hash="0" * 64, run_dir=str(run_dir))
        session.add(Experiment(name="ingest", task="kinetics", scale="paper", jobs=[job]))
    start, start_cpu = time.perf_counter(), _cpu_seconds()
    with session_scope(factory) as session:
        report = ingest_job(session, session.get(Job, job.id))
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - start_cpu
    assert report.metrics_inserted == rows, report
    engine.dispose()
    print(f"  ours on {url.split(':')[0]}: {elapsed:.1f} s wall, {cpu:.1f} s client CPU for {rows} rows")
    return rows / elapsed


def measure_mlflow(python: str, uri: str, rows: int) -> float:
    done = subprocess.run([python, "-c", MLFLOW_SCRIPT, uri, str(rows)], capture_output=True, text=True,
                          env={**os.environ, "MLFLOW_TRACKING_URI": uri}, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"MLflow peer failed on {uri}:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  MLflow on {uri.split(':')[0]}: {result['seconds']:.1f} s wall, {result['cpu']:.1f} s client CPU "
          f"for {result['rows']} rows")
    return result["rows"] / result["seconds"]


def measure_query_part(dbs: Databases, kind: str, args: argparse.Namespace) -> None:
    url = dbs.new(kind, "queries")
    upgrade(url)
    engine = open_database(url)
    start = time.perf_counter()
    populate(engine, args.jobs, args.metrics)
    print(f"\n## {kind}: {args.jobs} jobs, {args.metrics} metric rows (built in "
          f"{time.perf_counter() - start:.0f} s), load average {os.getloadavg()[0]:.1f}\n\n"
          "| query | median wall s | best wall s | median CPU s (client process) |\n|---|---|---|---|")
    for name, (median, best, cpu) in measure_queries(url, engine, args.jobs).items():
        print(f"| {name} | {median:.3f} | {best:.3f} | {cpu:.3f} |")
    for extra in EXTRA_MEASUREMENTS:
        for name, seconds in extra(engine, kind).items():
            print(f"| {name} | {seconds:.3f} | |")
    engine.dispose()


def measure_ingest_part(dbs: Databases, kind: str, args: argparse.Namespace, scratch: Path) -> None:
    ours = measure_ours(dbs.new(kind, "ingest"), args.ingest_rows, scratch)
    line = (f"\ningest {kind} (load average {os.getloadavg()[0]:.1f}): ours {ours:,.0f} rows/s "
            f"({args.ingest_rows} rows)")
    if args.mlflow_python:
        peer_url = dbs.new(kind, "mlflow", driver="psycopg2")
        peer = measure_mlflow(args.mlflow_python, peer_url, args.mlflow_rows)
        line += f"; MLflow log_batch {peer:,.0f} rows/s ({args.mlflow_rows} rows); ratio {ours / peer:.1f}x"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=1_000_000)
    parser.add_argument("--ingest-rows", type=int, default=200_000)
    parser.add_argument("--mlflow-rows", type=int, default=50_000)
    parser.add_argument("--mlflow-python", default=None, help="python of a venv with mlflow (peer); omitted: skip")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--parts", default="queries,ingest", help="which measurements: queries, ingest")
    parser.add_argument("--pg-admin-url", default=os.environ.get("ORCH_BENCH_PG_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="orch_bench_") as scratch:
        dbs = Databases(args.pg_admin_url, Path(scratch))
        try:
            for kind in args.databases.split(","):
                if "queries" in args.parts:
                    measure_query_part(dbs, kind, args)
                if "ingest" in args.parts:
                    measure_ingest_part(dbs, kind, args, Path(scratch))
        finally:
            if "postgresql" in args.databases:
                dbs.drop_all()


if __name__ == "__main__":
    main()
