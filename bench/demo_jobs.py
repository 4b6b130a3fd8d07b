"""Per job kind of the demo: wall and CPU seconds of one job, two code trees, same load.

    .venv/bin/python bench/demo_jobs.py --runs /path/to/demo/runs --before /work/main \
        --after . [--jobs finetune_ava.train.sf8x8 evaluate.val.sf8x8] [--repeats 2]

Copies the named jobs' config.yaml from a finished demo run (``<runs>/ensemble_ava/<job>``),
and the demo data (``<runs>/data/demo``) into a temporary folder, points ``data.root`` at the
copy (the run's own folders are only read; its checkpoints are the jobs' inputs), and runs
each job as SLURM's local executor does, ``python -m jobs.<kind> --run-dir DIR``, with
``PYTHONPATH`` set to each tree in turn, before and after alternating. Per run: wall seconds
and user+sys CPU seconds of the child (``resource.getrusage(RUSAGE_CHILDREN)``; CPU time is
the figure that does not grow with the machine's load). The "after" tree's first run of each
job starts with no frame cache (``cold``), later ones find the videos decoded (``warm``,
as every job after the first in a demo does).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def _prepare(runs: Path, job: str, data_copy: Path, where: Path) -> Path:
    config = yaml.safe_load((runs / "ensemble_ava" / job / "config.yaml").read_text())
    dataset = Path(config["data"]["root"]).name
    config["data"]["root"] = str(data_copy / dataset)
    where.mkdir(parents=True)
    (where / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return where


def _run(tree: Path, kind: str, run_dir: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", f"jobs.{kind}", "--run-dir", str(run_dir)],
                          cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"jobs.{kind} in {run_dir} failed (tree {tree}):\n{done.stderr[-2000:]}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, required=True, help="a finished demo's runs root")
    parser.add_argument("--before", type=Path, required=True, help="code tree before the change")
    parser.add_argument("--after", type=Path, required=True, help="code tree after the change")
    parser.add_argument("--jobs", nargs="+", default=["finetune_ava.train.sf8x8",
                                                      "evaluate.val.sf8x8"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="demo_jobs_") as tmp:
        work = Path(tmp)
        data = work / "data"
        shutil.copytree(args.runs / "data" / "demo", data)
        rows = []
        for job in args.jobs:
            kind = job.split(".")[0]
            for repeat in range(args.repeats):
                for label, tree in (("before", args.before), ("after", args.after)):
                    if label == "after" and repeat == 0:
                        for cache in data.glob("*/.frame_cache"):
                            shutil.rmtree(cache)
                    state = "" if label == "before" else (" cold" if repeat == 0 else " warm")
                    run_dir = _prepare(args.runs, job, data, work / f"{job}.{label}.{repeat}")
                    wall, cpu = _run(tree.resolve(), kind, run_dir)
                    rows.append((job, label + state, wall, cpu))
                    print(f"{job:40s} {label + state:12s} wall {wall:6.2f} s  cpu {cpu:6.2f} s",
                          flush=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
