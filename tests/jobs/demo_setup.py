"""Run directories for the job tests: config.yaml exactly as the real planner writes it at
``scale=demo`` (so the jobs are tested against the contract the orchestrator produces), on
datasets made by the real generator (H.264 MP4 + official-format annotations)."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def planned_configs(experiment: str, runs_root: Path) -> dict[str, dict[str, Any]]:
    """job name -> config.yaml content (without inputs) of the demo-scale plan."""
    from orchestrator.planner import compose_experiment, plan_experiment, to_plain

    plan = plan_experiment(to_plain(compose_experiment(experiment, ["scale=demo", "cluster=local"])),
                           runs_root=runs_root)
    return {job.name: copy.deepcopy(job.config) for job in plan.jobs}


def generate(out: Path, *args: str) -> Path:
    if not (out / ".done").exists():
        subprocess.run([sys.executable, "-m", "model.data.synthetic", "--out", str(out), *args],
                       check=True, capture_output=True, cwd=ROOT)
        (out / ".done").write_text("")
    return out


def write_run_dir(run_dir: Path, config: dict[str, Any], **inputs: Any) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(config)
    config["inputs"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in inputs.items()}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return run_dir


def shrink(config: dict[str, Any], *, model: str | None = None, frames: int = 4, alpha: int = 4,
           crop: int = 32, iters: int | None = None, base_lr: float | None = None,
           warmup: int | None = None, checkpoint_every: int | None = None) -> dict[str, Any]:
    """A faster variant of a demo config for the 2-core test machine (same code paths)."""
    config = copy.deepcopy(config)
    if model and config.get("model"):
        config["model"]["name"] = model
    data = config["data"]
    if "num_frames" in data:
        data.update(num_frames=frames, alpha=alpha, train_crop_size=crop,
                    train_jitter_scales=[crop + crop // 8, crop + crop // 4],
                    test_crop_size=crop + crop // 8, tta_scales=[crop + crop // 8])
    schedule = config.get("schedule")
    if schedule:
        if iters is not None:
            schedule["max_iters"] = iters
            schedule["steps"] = [round(f * iters) for f in (0.5, 0.75)] if schedule["steps"] else []
        if base_lr is not None:
            schedule["base_lr"] = base_lr
            schedule["warmup_start_lr"] = base_lr / 10
        if warmup is not None:
            schedule["warmup_iters"] = warmup
        if checkpoint_every is not None:
            schedule["checkpoint_every"] = checkpoint_every
    return config
