"""Generate the demo-scale datasets a plan reads, once, before any job is submitted.

At ``scale=demo`` (``scale.generate_data``) every data root lives under
``<runs_root>/data/<scale>/<dataset>``. Jobs run concurrently and must not race to create
the same dataset, so the submitting process generates each missing one first (a
subprocess: ``python -m model.data.synthetic``, which keeps torch out of the CLI process)
and marks it complete with ``.generated``; an interrupted generation is simply redone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from orchestrator.planner.dag import Plan

MARKER = ".generated"


class DemoDataError(RuntimeError):
    """Generating a demo dataset failed; names the dataset root and the generator's error."""


def demo_datasets(plan: Plan) -> dict[Path, list[str]]:
    """Dataset root -> generator arguments, for every generated dataset the plan reads."""
    wanted: dict[Path, list[str]] = {}
    for job in plan.jobs:
        data, model = job.config.get("data") or {}, job.config.get("model") or {}
        if "generate_seed" not in data or not model:
            continue
        root = Path(data["root"])
        if data["dataset"] == "kinetics":
            arguments = ["--kind", "kinetics", "--version", str(data["version"]),
                         "--num-classes", str(model["num_classes"])]
        else:
            arguments = ["--kind", "ava"]
        wanted.setdefault(root, [*arguments, "--seed", str(data["generate_seed"])])
    return wanted


def ensure_demo_datasets(plan: Plan, *, echo=print) -> list[Path]:
    """Generate the missing datasets; returns the roots generated now."""
    generated = []
    for root, arguments in demo_datasets(plan).items():
        marker = root / MARKER
        if marker.exists() and json.loads(marker.read_text()).get("arguments") == arguments:
            continue
        if root.exists():
            shutil.rmtree(root)
        echo(f"generating demo dataset {root} ...")
        completed = subprocess.run([sys.executable, "-m", "model.data.synthetic", "--out", str(root), *arguments],
                                   capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise DemoDataError(f"generating {root} failed: {tail}")
        marker.write_text(json.dumps({"arguments": arguments}))
        generated.append(root)
    return generated
