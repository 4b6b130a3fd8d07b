"""Generate the demo-scale datasets a plan reads, once, before any job is submitted.

At ``scale=demo`` (``scale.generate_data``) every data root lives under
``<runs_root>/data/<scale>/<dataset>``. Jobs run concurrently and must not race to create
the same dataset, so the submitting process generates each missing one first (a
subprocess each, side by side: ``python -m model.data.synthetic``, which keeps torch out of
the CLI process) and marks it complete with ``.generated``; an interrupted generation is
simply redone.
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
    """Generate the missing datasets, all at once (one process each); returns the roots generated now.

    The generators are independent (one seed and one folder each) and single-threaded, so
    running them side by side uses the machine's other cores and changes no byte they write.
    """
    started: list[tuple[Path, list[str], subprocess.Popen]] = []
    for root, arguments in demo_datasets(plan).items():
        marker = root / MARKER
        if marker.exists() and json.loads(marker.read_text()).get("arguments") == arguments:
            continue
        if root.exists():
            shutil.rmtree(root)
        echo(f"generating demo dataset {root} ...")
        process = subprocess.Popen([sys.executable, "-m", "model.data.synthetic", "--out", str(root), *arguments],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started.append((root, arguments, process))
    failures = []
    try:
        for root, arguments, process in started:
            _, stderr = process.communicate()
            if process.returncode != 0:
                tail = (stderr.strip().splitlines() or ["no output"])[-1]
                failures.append(f"generating {root} failed: {tail}")
                continue
            (root / MARKER).write_text(json.dumps({"arguments": arguments}))
    finally:  # interrupted (Ctrl-C): no generator outlives the command
        for _, _, process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    if failures:
        raise DemoDataError("; ".join(failures))
    return [root for root, _, _ in started]
