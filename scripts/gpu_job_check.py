"""The demo's AVA chain run as real jobs on a CUDA device: pretrain -> finetune_ava -> evaluate.

Two halves, so the GPU machine needs only the job code (``jobs/``, ``model/``) and no database:

    python scripts/gpu_job_check.py prepare DIR   # here: plan at scale=demo, generate the data
    python scripts/gpu_job_check.py run DIR       # on the GPU machine: run the three jobs

``prepare`` writes the three jobs' ``config.yaml`` exactly as the planner writes them for
``submit ensemble_ava scale=demo`` (``job.device: auto``, so CUDA where there is one) and the
generated Kinetics-like and AVA-like datasets. ``run`` lays the run directories out under
``DIR/runs`` (inputs chained the way the watcher chains them: the pretraining checkpoint
initialises the fine-tune, whose checkpoint the evaluation reads), runs each job as
``python -m jobs.<kind> --run-dir``, and prints one line per job: state, the device its
result.json names, wall time, steps, the memory it peaked at (``max_mem_mb``: CUDA allocations
on a GPU, the process's RSS on the CPU) and its metrics. It exits 1 if a job did not complete or
did not run on CUDA when CUDA was visible.
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the project's packages, also where it is not installed
CHAIN = (("pretrain", "pretrain.k600.slowfast_8x8", {}),
         ("finetune_ava", "finetune_ava.train.sf8x8", {"init_checkpoint": "pretrain"}),
         ("evaluate", "evaluate.val.sf8x8", {"checkpoint": "finetune_ava"}))


def prepare(out: Path) -> None:
    from orchestrator.planner import compose_experiment, plan_experiment, to_plain  # noqa: PLC0415
    from orchestrator.planner.demo_data import ensure_demo_datasets  # noqa: PLC0415

    plan = plan_experiment(to_plain(compose_experiment("ensemble_ava", ["scale=demo", "cluster=local"])),
                           runs_root=out)
    ensure_demo_datasets(plan)
    configs = {job.name: copy.deepcopy(job.config) for job in plan.jobs}
    chosen = {name: configs[name] for _, name, _ in CHAIN}
    for config in chosen.values():  # dataset roots relative to DIR: the machine's path differs
        config["data"]["root"] = str(Path(config["data"]["root"]).relative_to(out))
    (out / "chain.yaml").write_text(yaml.safe_dump(chosen, sort_keys=False))
    print(f"prepared {', '.join(chosen)} under {out}")


def run(out: Path) -> int:
    import torch  # noqa: PLC0415

    cuda = torch.cuda.is_available()
    configs = yaml.safe_load((out / "chain.yaml").read_text())
    checkpoints: dict[str, str] = {}
    failed = False
    for kind, name, inputs in CHAIN:
        config = copy.deepcopy(configs[name])
        config["data"]["root"] = str((out / config["data"]["root"]).resolve())
        config["inputs"] = {key: checkpoints[source] for key, source in inputs.items()}
        run_dir = out / "runs" / name
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", f"jobs.{kind}", "--run-dir", str(run_dir)],
                                   cwd=REPO, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        status = _read_json(run_dir / "status.json")
        result = _read_json(run_dir / "result.json")
        peak = _peak_memory_mb(run_dir / "metrics.jsonl")
        if result.get("checkpoint") and kind != "evaluate":
            checkpoints[kind] = str(run_dir / result["checkpoint"])
        device = str(result.get("device", "?"))
        ok = completed.returncode == 0 and status.get("state") == "completed" and (
            device.startswith("cuda") or not cuda)
        failed |= not ok
        print(f"{name}: {status.get('state')} rc={completed.returncode} on {device} {wall:.1f} s "
              f"step {status.get('step')}/{status.get('total_steps')} max_mem_mb={peak} "
              f"metrics={json.dumps(result.get('metrics', {}))[:300]}", flush=True)
        if not ok:
            print(completed.stderr[-4000:], flush=True)
            break
    print(f"cuda visible: {cuda}; {'all jobs completed' if not failed else 'FAILED'}")
    return 1 if failed else 0


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _peak_memory_mb(metrics: Path) -> float | None:
    """The largest ``train/max_mem_mb`` a training job logged (None for a job that logs none)."""
    if not metrics.exists():
        return None
    from model.engine.reporting import read_metrics  # noqa: PLC0415  (torch: not for prepare)

    values = [row["value"] for row in read_metrics(metrics) if row["name"] == "max_mem_mb"]
    return max(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("prepare", "run"))
    parser.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.action == "prepare":
        prepare(args.dir.resolve())
        return 0
    return run(args.dir)


if __name__ == "__main__":
    sys.exit(main())
