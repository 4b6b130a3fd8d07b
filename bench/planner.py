"""Planning + recording cost of the experiments (target: ensemble_ava < 1 s).

Measures, median of N repeats on a fresh SQLite file each time:
  compose   Hydra compose of the experiment (the floor any Hydra-configured planner pays);
  plan      DAG + resolved configs + content hashes (in memory);
  record    one transaction inserting every job + dependency, and the config.yaml files;
  re-record the same plan again (every job kept: the "submit again" path);
  CLI       wall time of `python -m orchestrator submit <exp> --dry-run` (a fresh process).

    .venv/bin/python bench/planner.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _median(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} ms"


def measure(experiment: str, repeats: int) -> dict[str, list[float]]:
    from orchestrator.db import make_engine, session_scope, upgrade
    from orchestrator.planner import compose_experiment, plan_experiment, record_plan, to_plain

    out: dict[str, list[float]] = {"compose": [], "plan": [], "record": [], "plan+record": [], "re-record": [],
                                   "plan+record cpu": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/orchestrator.sqlite"
            upgrade(url)
            engine = make_engine(url)
            began = time.perf_counter()
            cfg = to_plain(compose_experiment(experiment, ["scale=demo", f"runs_root={tmp}/runs"]))
            composed = time.perf_counter()
            cpu_before = time.process_time()
            plan = plan_experiment(cfg)
            planned = time.perf_counter()
            with session_scope(engine) as session:
                record_plan(session, plan)
            recorded = time.perf_counter()
            cpu = time.process_time() - cpu_before
            with session_scope(engine) as session:
                record_plan(session, plan_experiment(cfg))
            rerecorded = time.perf_counter()
            engine.dispose()
        out["compose"].append(composed - began)
        out["plan"].append(planned - composed)
        out["record"].append(recorded - planned)
        out["plan+record"].append(recorded - composed)
        out["re-record"].append(rerecorded - recorded)
        out["plan+record cpu"].append(cpu)
    return out


def cli_dry_run(experiment: str, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "orchestrator", "submit", experiment, "scale=demo", "--dry-run"],
                       cwd=REPO, check=True, capture_output=True)
        samples.append(time.perf_counter() - began)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}, "
          f"Python {platform.python_version()}")
    print("| experiment | jobs | compose | plan | record | plan+record (wall) | plan+record (CPU) | re-record (kept) "
          "| CLI --dry-run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for experiment, jobs in (("ensemble_ava", 34), ("kinetics_challenge", 15)):
        figures = measure(experiment, args.repeats)
        cli = cli_dry_run(experiment, max(1, args.repeats // 2))
        print(f"| {experiment} | {jobs} | {_median(figures['compose'])} | {_median(figures['plan'])} | "
              f"{_median(figures['record'])} | {_median(figures['plan+record'])} | {_median(figures['plan+record cpu'])} | "
              f"{_median(figures['re-record'])} | "
              f"{_median(cli)} |")


if __name__ == "__main__":
    main()
